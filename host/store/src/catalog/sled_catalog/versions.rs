//! Published versions in the sled catalog: the commit that makes a version current (with its
//! run's record and the product's usage), retention's drop, and the garbage it leaves.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError::Abort;

use super::SledCatalog;
use super::keys::{
    decode_number, garbage_key, input_key, latest_version_key, time_bytes, version_key,
};
use crate::StoreError;
use crate::catalog::{DropCommit, Garbage, VersionCommit};
use crate::model::{RunRecord, RunState, Version};

impl SledCatalog {
    pub(super) fn version_record(
        &self,
        product: &str,
        number: u64,
    ) -> Result<Option<Version>, StoreError> {
        match self.versions.get(version_key(product, number))? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    pub(super) fn commit_version_impl(&self, commit: &VersionCommit) -> Result<(), StoreError> {
        let version = &commit.version;
        let product = version.product.as_str();
        let number = version.number;
        let record = serde_json::to_vec(version)?;
        let stats = serde_json::to_vec(&commit.stats)?;
        let run = commit.run.as_ref().map(serde_json::to_vec).transpose()?;
        let run_id = version.run_id.as_str();
        let committed = (
            &self.versions,
            &self.current,
            &self.stats,
            &self.runs,
            &self.usage,
        )
            .transaction(|(versions, current, stats_tree, runs, usage)| {
                // The highest number taken; stores from before retained majors have only the
                // current pointer.
                let previous = match current.get(latest_version_key(product))? {
                    Some(latest) => Some(decode_number(&latest)),
                    None => current.get(product.as_bytes())?.map(|v| decode_number(&v)),
                };
                if previous.unwrap_or(0) + 1 != number {
                    return Err(Abort(format!(
                        "{product} is at version {} now, not {}: another publish came first",
                        previous.unwrap_or(0),
                        number - 1
                    )));
                }
                if let Some(stored) = runs.get(run_id.as_bytes())? {
                    let stored: RunRecord = serde_json::from_slice(&stored)
                        .map_err(|e| Abort(format!("corrupt run record {run_id}: {e}")))?;
                    if stored.state == RunState::Interrupted {
                        return Err(Abort(format!(
                            "run {run_id} was interrupted before it could publish; its retry \
                             publishes instead"
                        )));
                    }
                    if let Some(run) = &run {
                        runs.insert(run_id.as_bytes(), run.clone())?;
                    }
                }
                versions.insert(version_key(product, number), record.clone())?;
                if !commit.stats.is_empty() {
                    stats_tree.insert(version_key(product, number), stats.clone())?;
                }
                current.insert(latest_version_key(product), &number.to_be_bytes())?;
                if commit.moves_current {
                    current.insert(product.as_bytes(), &number.to_be_bytes())?;
                }
                usage.insert(product.as_bytes(), &commit.usage_after.to_be_bytes())?;
                Ok(())
            });
        super::compare_and_swap_outcome(committed, "publish")?;
        self.db.flush()?;
        Ok(())
    }

    pub(super) fn drop_versions_impl(&self, commit: &DropCommit) -> Result<(), StoreError> {
        let product = commit.product.as_str();
        (
            &self.versions,
            &self.input_versions,
            &self.stats,
            &self.usage,
            &self.garbage,
        )
            .transaction(|(versions, inputs, stats, usage, garbage)| {
                usage.insert(product.as_bytes(), &commit.usage_after.to_be_bytes())?;
                for number in &commit.versions {
                    versions.remove(version_key(product, *number))?;
                    stats.remove(version_key(product, *number))?;
                }
                for (port, number) in &commit.inputs {
                    inputs.remove(input_key(product, port, *number))?;
                }
                for (blob, bytes) in &commit.garbage {
                    garbage.insert(garbage_key(commit.at_us, blob), &bytes.to_be_bytes())?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Io(format!("retention transaction failed: {e:?}")))?;
        self.db.flush()?;
        Ok(())
    }

    pub(super) fn garbage_impl(&self, before_us: i64) -> Result<Vec<Garbage>, StoreError> {
        let mut found = Vec::new();
        for entry in self.garbage.range(..time_bytes(before_us).to_vec()) {
            let (key, bytes) = entry?;
            let (Some(since), Some(blob)) = (key.get(..8), key.get(8..)) else {
                continue;
            };
            found.push(Garbage {
                key: String::from_utf8_lossy(blob).into_owned(),
                bytes: decode_number(&bytes),
                since_us: i64::try_from(decode_number(since)).unwrap_or(i64::MAX),
            });
        }
        Ok(found)
    }
}
