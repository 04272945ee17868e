//! Start-up recovery of the sled store: whatever a crash left half-done is removed, so only
//! committed versions are visible, and runs that were executing are marked interrupted.

use std::collections::HashSet;
use std::path::Path;

use crate::model::{InputVersion, RecoveryReport, RunRecord, RunState, Version};
use crate::sled_store::{SledStore, count_files};
use crate::{StoreError, now_us};

impl SledStore {
    /// Files (relative to the data directory) that a committed record refers to.
    pub(crate) fn referenced_files(&self) -> Result<HashSet<String>, StoreError> {
        let mut files = HashSet::new();
        for entry in self.versions.iter() {
            let (_, value) = entry?;
            let version: Version = serde_json::from_slice(&value)?;
            files.extend(version.ports.into_values().map(|p| p.file));
        }
        for entry in self.input_versions.iter() {
            let (_, value) = entry?;
            let version: InputVersion = serde_json::from_slice(&value)?;
            files.extend(version.segments.into_iter().map(|s| s.file));
        }
        Ok(files)
    }

    pub(crate) fn recover_impl(&self) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport::default();
        let staging = self.root.join("staging");
        for entry in std::fs::read_dir(&staging)? {
            let path = entry?.path();
            report.files_removed += count_files(&path);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?
            } else {
                std::fs::remove_file(&path)?
            }
        }
        let referenced = self.referenced_files()?;
        // outputs/PRODUCT/N/PORT.arrow and inputs/PRODUCT/PORT/N.arrow: two levels of
        // directories above each data file.
        for tree in ["outputs", "inputs"] {
            for product in std::fs::read_dir(self.root.join(tree))? {
                let product = product?.path();
                for group in std::fs::read_dir(&product)? {
                    let group = group?.path();
                    self.remove_unreferenced(&group, &referenced, &mut report)?;
                }
            }
        }
        self.collect_orphan_components(&mut report)?;
        for entry in self.runs.iter() {
            let mut run: RunRecord = serde_json::from_slice(&entry?.1)?;
            match run.state {
                RunState::Running => {
                    run.reason = Some("the host stopped while this run was running".into());
                    run.state = RunState::Interrupted;
                    run.finished_at_us = Some(now_us());
                    self.runs
                        .insert(run.id.as_bytes(), serde_json::to_vec(&run)?)?;
                    report.runs_interrupted.push(run.id);
                }
                RunState::Queued => report.runs_queued.push(run.id),
                _ => {}
            }
        }
        self.db.flush()?;
        Ok(report)
    }

    /// Deletes the files in `dir` no record refers to, and `dir` itself once empty.
    fn remove_unreferenced(
        &self,
        dir: &Path,
        referenced: &HashSet<String>,
        report: &mut RecoveryReport,
    ) -> Result<(), StoreError> {
        if !dir.is_dir() {
            return Ok(());
        }
        for file in std::fs::read_dir(dir)? {
            let file = file?.path();
            let relative = file
                .strip_prefix(&self.root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if !referenced.contains(&relative) {
                std::fs::remove_file(&file)?;
                report.files_removed += 1;
            }
        }
        if std::fs::read_dir(dir)?.next().is_none() {
            std::fs::remove_dir(dir)?;
        }
        Ok(())
    }
}
