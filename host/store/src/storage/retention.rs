//! Retention: dropping old published versions and input versions by policy, counting the bytes
//! each product keeps, and deleting the blobs nothing names once their grace period is over.
//!
//! Append ingest ports with an append window lose the segments older than it (never the last
//! ingest's) in a new input version of mode `expire`; the input versions older than the window
//! then go too, unless a kept version read them, and with them the segments' bytes.
//!
//! Records go first, in one catalog commit that also records the blobs no kept record names as
//! garbage. Those are deleted by a later sweep, [`Storage::deletion_grace`] after the commit,
//! so a reader that opened them before still finishes.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::Storage;
use crate::StoreError;
use crate::catalog::{DropCommit, InputCommit, InputCommitted};
use crate::model::{IngestMode, InputVersion, PruneReport, RetentionPolicy, Version, major_of};

impl Storage {
    pub(super) fn prune_impl(
        &self,
        product: &str,
        policy: RetentionPolicy,
        now_us: i64,
    ) -> Result<PruneReport, StoreError> {
        let _guard = self.lock_commits()?;
        let mut report = PruneReport::default();
        let horizon = policy
            .append_window_us
            .map(|window| now_us.saturating_sub(window));
        if let Some(horizon) = horizon {
            report.input_versions_expired = self.expire_segments(product, horizon, now_us)?;
        }
        let versions = self.catalog.versions(product)?;
        let newest = versions.len();
        // The current version and the newest of each retained major stay whatever the policy
        // says: unpinned consumers and those pinned to a major read them.
        let retained: HashSet<u64> = self
            .catalog
            .retained_majors(product)?
            .iter()
            .map(|r| r.major)
            .collect();
        let mut newest_of_major: HashMap<u64, u64> = HashMap::new();
        for version in &versions {
            if let Some(major) = major_of(&version.product_version)
                && retained.contains(&major)
            {
                newest_of_major.insert(major, version.number);
            }
        }
        let current = self.catalog.current_version_number(product)?;
        let mut kept: Vec<&Version> = Vec::new();
        let mut dropped: Vec<&Version> = Vec::new();
        for (i, version) in versions.iter().enumerate() {
            let newer = (newest - 1 - i) as u64;
            let serving = current == Some(version.number)
                || major_of(&version.product_version).and_then(|major| newest_of_major.get(&major))
                    == Some(&version.number);
            if serving || policy.keeps(newer, version.published_at_us, now_us) {
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
        for port in self.catalog.ingest_ports(product)? {
            let all = self.catalog.input_versions(product, &port)?;
            let count = all.len();
            for (i, version) in all.into_iter().enumerate() {
                let newer = (count - 1 - i) as u64;
                let within_window =
                    newer == 0 || horizon.is_none_or(|horizon| version.ingested_at_us >= horizon);
                let recent = policy.keeps(newer, version.ingested_at_us, now_us) && within_window;
                if recent || pinned.contains(&(port.clone(), version.number)) {
                    input_kept.push(version);
                } else {
                    input_drops.push(version);
                }
            }
        }
        if !dropped.is_empty() || !input_drops.is_empty() {
            let still_used: HashSet<&str> = kept
                .iter()
                .flat_map(|v| v.ports.values().map(|p| p.file.as_str()))
                .chain(
                    input_kept
                        .iter()
                        .flat_map(|v| v.segments.iter().map(|s| s.file.as_str())),
                )
                .collect();
            let garbage: BTreeSet<(&str, u64)> = dropped
                .iter()
                .flat_map(|v| v.ports.values().map(|p| (p.file.as_str(), p.bytes)))
                .chain(
                    input_drops
                        .iter()
                        .flat_map(|v| v.segments.iter().map(|s| (s.file.as_str(), s.bytes))),
                )
                .filter(|(file, _)| !still_used.contains(file))
                .collect();
            // The bytes no kept record names leave the product's usage in the same commit.
            let freed: u64 = garbage.iter().map(|(_, bytes)| bytes).sum();
            let usage_after = self.usage_locked(product)?.saturating_sub(freed);
            self.catalog.drop_versions(&DropCommit {
                product: product.to_string(),
                versions: dropped.iter().map(|v| v.number).collect(),
                inputs: input_drops
                    .iter()
                    .map(|v| (v.port.clone(), v.number))
                    .collect(),
                garbage: garbage
                    .iter()
                    .map(|(file, bytes)| ((*file).to_string(), *bytes))
                    .collect(),
                at_us: now_us,
                usage_after,
            })?;
            report.versions_removed = dropped.iter().map(|v| v.number).collect();
            report.input_versions_removed = input_drops.len() as u64;
            report.bytes_freed = freed;
        }
        let (files, bytes) = self.sweep_garbage(now_us)?;
        report.files_removed = files;
        report.bytes_deleted = bytes;
        Ok(report)
    }

    /// Gives every append port of `product` whose current input version holds segments
    /// committed before `horizon` (other than its last) a new input version without them.
    /// Returns how many ports it changed.
    fn expire_segments(&self, product: &str, horizon: i64, now_us: i64) -> Result<u64, StoreError> {
        let mut expired = 0;
        for port in self.catalog.ingest_ports(product)? {
            let Some(current) = self.catalog.current_input(product, &port)? else {
                continue;
            };
            let last = current.segments.len().saturating_sub(1);
            let kept: Vec<_> = current
                .segments
                .iter()
                .enumerate()
                .filter(|(i, s)| *i == last || s.added_at_us.is_none_or(|at| at >= horizon))
                .map(|(_, s)| s.clone())
                .collect();
            if kept.len() == current.segments.len() {
                continue;
            }
            let version = InputVersion {
                number: current.number + 1,
                ingested_at_us: now_us,
                mode: IngestMode::Expire,
                added_rows: 0,
                segments: kept,
                idempotency_key: None,
                ..current
            };
            // The bytes stay counted until no kept version names the segments.
            let usage_after = self.usage_locked(product)?;
            match self.catalog.commit_input(&InputCommit {
                version,
                usage_after,
            })? {
                InputCommitted::Committed => expired += 1,
                InputCommitted::Repeated(_) => {}
            }
        }
        Ok(expired)
    }

    /// Deletes the blobs whose grace period ended by `now_us`. Returns how many and their
    /// bytes.
    pub(crate) fn sweep_garbage(&self, now_us: i64) -> Result<(u64, u64), StoreError> {
        let due = self.catalog.garbage(
            now_us
                .saturating_sub(self.deletion_grace_us)
                .saturating_add(1),
        )?;
        let (mut files, mut bytes) = (0, 0);
        for entry in &due {
            if self.blobs.delete(&entry.key)? {
                files += 1;
                bytes += entry.bytes;
            }
        }
        if !due.is_empty() {
            self.catalog.forget_garbage(&due)?;
        }
        Ok((files, bytes))
    }

    /// The bytes `product` keeps, computing and recording the figure the first time. Call with
    /// the commit lock held.
    pub(super) fn usage_locked(&self, product: &str) -> Result<u64, StoreError> {
        if let Some(bytes) = self.catalog.usage(product)? {
            return Ok(bytes);
        }
        // From the records: every published port blob, and every ingested segment once
        // (appends share segments, also ones whose first version retention dropped).
        let mut bytes: u64 = self
            .catalog
            .versions(product)?
            .iter()
            .map(Version::bytes)
            .sum();
        let mut segments = HashMap::new();
        for port in self.catalog.ingest_ports(product)? {
            for version in self.catalog.input_versions(product, &port)? {
                for segment in version.segments {
                    segments.insert(segment.file, segment.bytes);
                }
            }
        }
        bytes += segments.values().sum::<u64>();
        self.catalog.set_usage(product, bytes)?;
        Ok(bytes)
    }
}
