//! Retention in the sled store: dropping old published versions and input versions by policy,
//! then deleting the files that no kept version refers to.
//!
//! Metadata goes first, in one transaction; files are deleted after it commits. A crash in
//! between leaves unreferenced files, which [`crate::Store::recover`] removes.

use std::collections::{BTreeSet, HashSet};

use sled::Transactional;

use crate::StoreError;
use crate::ingest::input_key;
use crate::model::{InputVersion, PruneReport, RetentionPolicy, Version};
use crate::sled_store::{SledStore, version_key};

impl SledStore {
    pub(crate) fn prune_impl(
        &self,
        product: &str,
        policy: RetentionPolicy,
        now_us: i64,
    ) -> Result<PruneReport, StoreError> {
        let _guard = self
            .publish_lock
            .lock()
            .map_err(|_| StoreError::Io("publish lock poisoned".into()))?;
        let mut report = PruneReport::default();
        let versions: Vec<Version> = {
            let mut prefix = product.as_bytes().to_vec();
            prefix.push(0);
            self.versions
                .scan_prefix(prefix)
                .map(|e| Ok(serde_json::from_slice(&e?.1)?))
                .collect::<Result<_, StoreError>>()?
        };
        let newest = versions.len();
        let mut kept: Vec<&Version> = Vec::new();
        let mut dropped: Vec<&Version> = Vec::new();
        for (i, version) in versions.iter().enumerate() {
            let newer = (newest - 1 - i) as u64;
            if policy.keeps(newer, version.published_at_us, now_us) {
                kept.push(version);
            } else {
                dropped.push(version);
            }
        }
        // Ingest ports of this product: keep the newest `keep_versions` input versions and
        // every one a kept output version read.
        let pinned: HashSet<(String, u64)> = kept
            .iter()
            .flat_map(|v| v.inputs.values())
            .filter(|pin| pin.ingested && pin.product == product)
            .map(|pin| (pin.port.clone(), pin.version))
            .collect();
        let mut input_drops: Vec<InputVersion> = Vec::new();
        let mut input_kept: Vec<InputVersion> = Vec::new();
        for port in self.ingest_ports(product)? {
            let all = self.input_versions_impl(product, &port)?;
            let count = all.len();
            for (i, version) in all.into_iter().enumerate() {
                let newer = (count - 1 - i) as u64;
                let recent = policy.keeps(newer, version.ingested_at_us, now_us);
                if recent || pinned.contains(&(port.clone(), version.number)) {
                    input_kept.push(version);
                } else {
                    input_drops.push(version);
                }
            }
        }
        if dropped.is_empty() && input_drops.is_empty() {
            return Ok(report);
        }
        let still_used: HashSet<&str> = kept
            .iter()
            .flat_map(|v| v.ports.values().map(|p| p.file.as_str()))
            .chain(
                input_kept
                    .iter()
                    .flat_map(|v| v.segments.iter().map(|s| s.file.as_str())),
            )
            .collect();
        let candidates: BTreeSet<(&str, u64)> = dropped
            .iter()
            .flat_map(|v| v.ports.values().map(|p| (p.file.as_str(), p.bytes)))
            .chain(
                input_drops
                    .iter()
                    .flat_map(|v| v.segments.iter().map(|s| (s.file.as_str(), s.bytes))),
            )
            .collect();
        // The bytes of the files no kept record refers to leave the product's usage in the
        // same transaction as the records.
        let freed: u64 = candidates
            .iter()
            .filter(|(file, _)| !still_used.contains(file))
            .map(|(_, bytes)| bytes)
            .sum();
        let usage = crate::usage::moved(self.usage_locked(product)?, -i128::from(freed));
        (
            &self.versions,
            &self.input_versions,
            &self.stats,
            &self.usage,
        )
            .transaction(|(versions, inputs, stats, usage_tree)| {
                usage_tree.insert(product.as_bytes(), &usage)?;
                for version in &dropped {
                    versions.remove(version_key(product, version.number))?;
                    stats.remove(version_key(product, version.number))?;
                }
                for version in &input_drops {
                    inputs.remove(input_key(product, &version.port, version.number))?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Io(format!("retention transaction failed: {e:?}")))?;
        self.db.flush()?;
        for (file, bytes) in candidates {
            if still_used.contains(file) {
                continue;
            }
            let path = self.root.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    report.files_removed += 1;
                    report.bytes_freed += bytes;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            if let Some(dir) = path.parent()
                && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
            {
                let _ = std::fs::remove_dir(dir);
            }
        }
        report.versions_removed = dropped.iter().map(|v| v.number).collect();
        report.input_versions_removed = input_drops.len() as u64;
        Ok(report)
    }

    /// The ingest ports of a product that have data.
    fn ingest_ports(&self, product: &str) -> Result<Vec<String>, StoreError> {
        let mut prefix = product.as_bytes().to_vec();
        prefix.push(0);
        let mut ports = Vec::new();
        for entry in self.current_inputs.scan_prefix(prefix) {
            let (key, _) = entry?;
            let port = key
                .splitn(2, |b| *b == 0)
                .nth(1)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default();
            ports.push(port);
        }
        Ok(ports)
    }
}
