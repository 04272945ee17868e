//! Start-up recovery: whatever a crash left half-done goes, so only committed versions are
//! visible, and runs that were executing are marked interrupted.
//!
//! A crash before a commit leaves blobs no record names (staged outputs, an ingest's segment,
//! a component); they are found by listing, once, here, and deleted. Garbage whose grace period
//! is over goes too.

use super::Storage;
use crate::model::RecoveryReport;
use crate::{StoreError, now_us};

/// Where blobs that records name live; anything under them no record names is left over from
/// a crash. (`staging/`, `outputs/` and `inputs/` hold what data directories written before
/// blobs had keys of their own kept there.)
const RECORDED_PREFIXES: [&str; 5] = ["data/", "components/", "staging/", "outputs/", "inputs/"];

impl Storage {
    pub(super) fn recover_impl(&self) -> Result<RecoveryReport, StoreError> {
        let _guard = self.lock_commits()?;
        let mut report = RecoveryReport::default();
        let runs = self
            .catalog
            .interrupt_unfinished("the host stopped while this run was running")?;
        report.runs_interrupted = runs.interrupted;
        report.runs_queued = runs.queued;
        let referenced = self.catalog.referenced_blobs()?;
        let staged: Vec<String> = self
            .staged
            .lock()
            .map_err(|_| StoreError::Io("staging lock poisoned".into()))?
            .values()
            .flat_map(|ports| ports.values().map(|b| b.key.clone()))
            .collect();
        for prefix in RECORDED_PREFIXES {
            for key in self.blobs.list(prefix)? {
                if !referenced.contains(&key)
                    && !staged.contains(&key)
                    && self.blobs.delete(&key)?
                {
                    report.files_removed += 1;
                }
            }
        }
        // Outputs quarantined before quarantine was recorded: kept while their run is.
        for key in self.blobs.list("quarantine/")? {
            let run = key.split('/').nth(1).unwrap_or_default();
            if self.catalog.run(run)?.is_none() && self.blobs.delete(&key)? {
                report.files_removed += 1;
            }
        }
        drop(_guard);
        let (files, _) = self.sweep_garbage(now_us())?;
        report.files_removed += files;
        Ok(report)
    }
}
