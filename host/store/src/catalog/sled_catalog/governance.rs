//! Governance records in sled: policies by `id \0 version`, waivers by id, and decisions by
//! `at id` mesh-wide with a `product \0 at id` index, so both listings read only their page.

use std::sync::atomic::{AtomicUsize, Ordering};

use sled::Transactional;

use super::keys::{product_prefix, time_bytes};
use super::{compare_and_swap_outcome, decode};
use crate::StoreError;
use crate::governance::{DECISIONS_KEPT, DecisionRecord, GovernanceCatalog, PolicyRecord, Waiver};

/// The governance trees of a sled catalog.
pub(crate) struct SledGovernance {
    db: sled::Db,
    policies: sled::Tree,
    waivers: sled::Tree,
    /// Decisions by `at (8 bytes) id`.
    decisions: sled::Tree,
    /// `product \0 at (8 bytes) id` → the key in `decisions`.
    decisions_by_product: sled::Tree,
    /// Decisions recorded since the last trim.
    since_trim: AtomicUsize,
}

/// Decisions recorded between two trims of the oldest.
const TRIM_EVERY: usize = 256;

impl SledGovernance {
    pub(crate) fn open(db: &sled::Db) -> Result<SledGovernance, StoreError> {
        Ok(SledGovernance {
            policies: db.open_tree("policies")?,
            waivers: db.open_tree("waivers")?,
            decisions: db.open_tree("decisions")?,
            decisions_by_product: db.open_tree("decisions_by_product")?,
            db: db.clone(),
            since_trim: AtomicUsize::new(TRIM_EVERY),
        })
    }

    /// Drops the oldest decisions beyond [`DECISIONS_KEPT`].
    fn trim(&self) -> Result<(), StoreError> {
        let excess = self.decisions.len().saturating_sub(DECISIONS_KEPT);
        for entry in self.decisions.iter().take(excess) {
            let (key, value) = entry?;
            let decision: DecisionRecord = decode(&value)?;
            self.decisions.remove(&key)?;
            self.decisions_by_product
                .remove(by_product_key(&decision.product, &key))?;
        }
        Ok(())
    }
}

fn policy_key(id: &str, version: u32) -> Vec<u8> {
    let mut key = product_prefix(id);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn decision_key(decision: &DecisionRecord) -> Vec<u8> {
    let mut key = time_bytes(decision.at_us).to_vec();
    key.extend_from_slice(decision.id.as_bytes());
    key
}

fn by_product_key(product: &str, decision_key: &[u8]) -> Vec<u8> {
    let mut key = product_prefix(product);
    key.extend_from_slice(decision_key);
    key
}

impl GovernanceCatalog for SledGovernance {
    fn add_policy(&self, policy: &PolicyRecord) -> Result<(), StoreError> {
        let record = serde_json::to_vec(policy)?;
        let key = policy_key(&policy.id, policy.version);
        let newest = self
            .policies
            .scan_prefix(product_prefix(&policy.id))
            .next_back()
            .transpose()?
            .map(|(_, v)| decode::<PolicyRecord>(&v))
            .transpose()?;
        let expected = newest.as_ref().map_or(1, |p| p.version.saturating_add(1));
        if policy.version != expected {
            return Err(StoreError::Conflict(format!(
                "policy `{}` is at version {}; the next version is {expected}",
                policy.id,
                expected.saturating_sub(1)
            )));
        }
        if let Some(newest) = newest
            && newest.scope != policy.scope
        {
            return Err(StoreError::Conflict(format!(
                "policy `{}` is {}; a new version keeps its scope (choose another id)",
                policy.id,
                newest.scope.describe()
            )));
        }
        // The version check again inside a transaction: two writers cannot both add it.
        let tree = &self.policies;
        let committed = tree.transaction(|tx| {
            if tx.get(&key)?.is_some() {
                return sled::transaction::abort(format!(
                    "policy `{}` version {} was added meanwhile",
                    policy.id, policy.version
                ));
            }
            tx.insert(key.clone(), record.clone())?;
            Ok(())
        });
        compare_and_swap_outcome(committed, "policy")?;
        self.db.flush()?;
        Ok(())
    }

    fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.policies.iter().map(|e| decode(&e?.1)).collect()
    }

    fn put_waiver(&self, waiver: &Waiver) -> Result<(), StoreError> {
        self.waivers
            .insert(waiver.id.as_bytes(), serde_json::to_vec(waiver)?)?;
        self.db.flush()?;
        Ok(())
    }

    fn waivers(&self) -> Result<Vec<Waiver>, StoreError> {
        let mut waivers: Vec<Waiver> = self
            .waivers
            .iter()
            .map(|e| decode(&e?.1))
            .collect::<Result<_, _>>()?;
        waivers.sort_by_key(|w| w.created_at_us);
        Ok(waivers)
    }

    fn record_decision(&self, decision: &DecisionRecord) -> Result<(), StoreError> {
        let key = decision_key(decision);
        let record = serde_json::to_vec(decision)?;
        let index = by_product_key(&decision.product, &key);
        let committed =
            (&self.decisions, &self.decisions_by_product).transaction(|(decisions, by_product)| {
                decisions.insert(key.clone(), record.clone())?;
                by_product.insert(index.clone(), key.clone())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<String>>(())
            });
        compare_and_swap_outcome(committed, "decision")?;
        if self.since_trim.fetch_add(1, Ordering::Relaxed) >= TRIM_EVERY {
            self.since_trim.store(0, Ordering::Relaxed);
            self.trim()?;
        }
        Ok(())
    }

    fn decisions(
        &self,
        product: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let mut out = Vec::new();
        match product {
            None => {
                for entry in self.decisions.iter().rev().take(limit) {
                    out.push(decode(&entry?.1)?);
                }
            }
            Some(product) => {
                for entry in self
                    .decisions_by_product
                    .scan_prefix(product_prefix(product))
                    .rev()
                    .take(limit)
                {
                    let (_, key) = entry?;
                    if let Some(value) = self.decisions.get(&key)? {
                        out.push(decode(&value)?);
                    }
                }
            }
        }
        Ok(out)
    }
}
