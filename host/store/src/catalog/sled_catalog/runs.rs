//! Run records in the sled catalog: written, advanced under the rule that an interrupted run
//! stays interrupted, paged newest first from the by-product index, and pruned.
//!
//! A run is interrupted at most once (by a shutdown's drain or by the recovery after a crash)
//! and is retried under a new id. Writes that would take an interrupted run's record back to
//! `running` or on to an outcome are refused, and so is its publication (see
//! [`crate::Store::publish`]): an interrupted run never publishes, so its retry is the one run
//! that does.

use sled::Transactional;

use std::collections::BTreeMap;

use super::SledCatalog;
use super::keys::{garbage_key, index_key_id, prefix_end, product_prefix, run_index_key};
use crate::catalog::UnfinishedRuns;
use crate::model::{RunRecord, RunState};
use crate::{StoreError, now_us};

/// How many times a compare-and-swap on one run record is tried against concurrent writers.
const SWAP_ATTEMPTS: usize = 16;

impl SledCatalog {
    /// Builds the by-product index of runs when a database written before it has runs but no
    /// index.
    pub(super) fn index_runs(&self) -> Result<(), StoreError> {
        if !self.runs_by_product.is_empty() || self.runs.is_empty() {
            return Ok(());
        }
        for entry in self.runs.iter() {
            let run: RunRecord = serde_json::from_slice(&entry?.1)?;
            self.runs_by_product.insert(run_index_key(&run), &[])?;
        }
        Ok(())
    }

    pub(super) fn put_run_impl(&self, run: &RunRecord) -> Result<(), StoreError> {
        let record = serde_json::to_vec(run)?;
        let index = run_index_key(run);
        (&self.runs, &self.runs_by_product)
            .transaction(|(runs, by_product)| {
                runs.insert(run.id.as_bytes(), record.clone())?;
                by_product.insert(index.clone(), &[])?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Io(format!("run transaction failed: {e:?}")))?;
        self.db.flush()?;
        Ok(())
    }

    /// Swaps the stored record of `id` for what `change` makes of it, as long as `change`
    /// says yes. Returns whether the swap happened.
    fn swap_run(
        &self,
        id: &str,
        mut change: impl FnMut(Option<RunRecord>) -> Option<RunRecord>,
    ) -> Result<bool, StoreError> {
        for _ in 0..SWAP_ATTEMPTS {
            let old = self.runs.get(id.as_bytes())?;
            let current = match &old {
                Some(bytes) => Some(serde_json::from_slice::<RunRecord>(bytes)?),
                None => None,
            };
            let Some(new) = change(current) else {
                return Ok(false);
            };
            let encoded = serde_json::to_vec(&new)?;
            let swapped = self
                .runs
                .compare_and_swap(id.as_bytes(), old, Some(encoded))?;
            if swapped.is_ok() {
                self.runs_by_product.insert(run_index_key(&new), &[])?;
                self.db.flush()?;
                return Ok(true);
            }
        }
        Err(StoreError::Conflict(format!(
            "run {id} changed {SWAP_ATTEMPTS} times while being written; try again"
        )))
    }

    pub(super) fn update_run_impl(&self, run: &RunRecord) -> Result<bool, StoreError> {
        self.swap_run(&run.id, |stored| match stored {
            Some(stored) if stored.state == RunState::Interrupted => None,
            _ => Some(run.clone()),
        })
    }

    pub(super) fn interrupt_run_impl(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        self.swap_run(id, |stored| match stored {
            Some(mut run) if run.state == RunState::Running => {
                run.state = RunState::Interrupted;
                run.reason = Some(reason.to_string());
                run.finished_at_us = Some(now_us());
                Some(run)
            }
            _ => None,
        })
    }

    pub(super) fn run_impl(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        match self.runs.get(id)? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    /// The run an index key names: `product \0 created_at (8 bytes) \0 id`.
    fn run_by_index_key(&self, key: &[u8]) -> Result<Option<RunRecord>, StoreError> {
        let id = index_key_id(key);
        match self.runs.get(id)? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    pub(super) fn runs_impl(&self, product: &str) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = Vec::new();
        for entry in self.runs_by_product.scan_prefix(product_prefix(product)) {
            let (key, _) = entry?;
            if let Some(run) = self.run_by_index_key(&key)? {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    pub(super) fn runs_page_impl(
        &self,
        product: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let prefix = product_prefix(product);
        let upper = match before {
            Some(id) => match self.run_impl(id)? {
                Some(run) if run.product == product => run_index_key(&run),
                _ => {
                    return Err(StoreError::NotFound(format!(
                        "{product} has no run `{id}` to page from"
                    )));
                }
            },
            None => prefix_end(&prefix),
        };
        let mut page = Vec::new();
        for entry in self.runs_by_product.range(prefix.clone()..upper).rev() {
            if page.len() >= limit {
                break;
            }
            let (key, _) = entry?;
            if let Some(run) = self.run_by_index_key(&key)? {
                page.push(run);
            }
        }
        Ok(page)
    }

    pub(super) fn prune_runs_impl(
        &self,
        product: &str,
        keep: usize,
        at_us: i64,
    ) -> Result<Vec<String>, StoreError> {
        let keys: Vec<sled::IVec> = self
            .runs_by_product
            .scan_prefix(product_prefix(product))
            .keys()
            .collect::<Result<_, _>>()?;
        let excess = keys.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for key in keys.iter().take(excess) {
            let Some(run) = self.run_by_index_key(key)? else {
                self.runs_by_product.remove(key)?;
                continue;
            };
            // Runs still in line or executing stay, however old.
            if matches!(run.state, RunState::Queued | RunState::Running) {
                continue;
            }
            (
                &self.runs,
                &self.runs_by_product,
                &self.quarantine,
                &self.garbage,
            )
                .transaction(|(runs, by_product, quarantine, garbage)| {
                    runs.remove(run.id.as_bytes())?;
                    by_product.remove(key.as_ref())?;
                    // What a quarantined run set aside goes with its record.
                    if let Some(ports) = quarantine.remove(run.id.as_bytes())? {
                        let ports: BTreeMap<String, String> = serde_json::from_slice(&ports)
                            .map_err(|e| {
                                sled::transaction::ConflictableTransactionError::Abort(format!(
                                    "corrupt quarantine record of {}: {e}",
                                    run.id
                                ))
                            })?;
                        for blob in ports.values() {
                            garbage.insert(garbage_key(at_us, blob), &0u64.to_be_bytes())?;
                        }
                    }
                    Ok::<(), sled::transaction::ConflictableTransactionError<String>>(())
                })
                .map_err(|e| StoreError::Io(format!("run transaction failed: {e:?}")))?;
            removed.push(run.id);
        }
        if !removed.is_empty() {
            self.db.flush()?;
        }
        Ok(removed)
    }

    pub(super) fn interrupt_unfinished_impl(
        &self,
        reason: &str,
    ) -> Result<UnfinishedRuns, StoreError> {
        let mut found = UnfinishedRuns::default();
        for entry in self.runs.iter() {
            let mut run: RunRecord = serde_json::from_slice(&entry?.1)?;
            match run.state {
                RunState::Running => {
                    run.reason = Some(reason.to_string());
                    run.state = RunState::Interrupted;
                    run.finished_at_us = Some(now_us());
                    self.runs
                        .insert(run.id.as_bytes(), serde_json::to_vec(&run)?)?;
                    found.interrupted.push(run.id);
                }
                RunState::Queued => found.queued.push(run.id),
                _ => {}
            }
        }
        self.db.flush()?;
        Ok(found)
    }
}
