//! The catalog: every record a Tessera host keeps about its data (deployments, published
//! versions with their lineage and statistics, input versions, runs, tokens, idempotency keys,
//! schedules, usage, and the blobs waiting to be deleted), behind one trait that knows nothing
//! of bytes or files.
//!
//! Every change that must be atomic is one method taking one commit: publishing a version,
//! committing an ingest, dropping versions. Each is a compare-and-swap on the pointer it moves
//! (the current version, the current input version, a run's state), so a backend without
//! multi-key transactions can still make it safe, and two writers can never both win. sled is
//! the backend today ([`SledCatalog`]).

mod sled_catalog;

use std::collections::{BTreeMap, HashSet};

use crate::StoreError;
use crate::model::{Deployment, InputVersion, RetainedMajor, RunRecord, TokenRecord, Version};
pub use sled_catalog::SledCatalog;
use tessera_core::quality::PortStats;

/// A product's next published version, with what must change with it.
#[derive(Debug, Clone)]
pub struct VersionCommit {
    /// The version; its number must be one past the current one (or 1).
    pub version: Version,
    /// Column statistics by port (may be empty).
    pub stats: BTreeMap<String, PortStats>,
    /// The record of the run that published, already marked succeeded with the version. The
    /// commit is refused when the stored record is interrupted (its retry publishes instead).
    pub run: Option<RunRecord>,
    /// The product's usage once committed.
    pub usage_after: u64,
    /// Whether the version becomes the product's current one (a retained major's does not;
    /// it still takes the next number).
    pub moves_current: bool,
}

/// A port's next input version.
#[derive(Debug, Clone)]
pub struct InputCommit {
    /// The version; its number must be one past the current one (or 1).
    pub version: InputVersion,
    /// The product's usage once committed.
    pub usage_after: u64,
}

/// What [`Catalog::commit_input`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum InputCommitted {
    /// The version is now current.
    Committed,
    /// The version's `Idempotency-Key` had already made this version: nothing changed.
    Repeated(InputVersion),
}

/// Versions retention drops from one product, with the blobs nothing kept names any more.
#[derive(Debug, Clone, Default)]
pub struct DropCommit {
    /// The product.
    pub product: String,
    /// Published version numbers to drop.
    pub versions: Vec<u64>,
    /// Input versions to drop, as (port, number).
    pub inputs: Vec<(String, u64)>,
    /// Blobs to delete once the grace period after `at_us` has passed, with their sizes.
    pub garbage: Vec<(String, u64)>,
    /// When the drop happens (µs since the epoch).
    pub at_us: i64,
    /// The product's usage once committed.
    pub usage_after: u64,
}

/// A blob no record names, waiting out the grace period before its deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garbage {
    /// The blob's key.
    pub key: String,
    /// Its size.
    pub bytes: u64,
    /// When the last record naming it went (µs since the epoch).
    pub since_us: i64,
}

/// Runs found unfinished when a host starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnfinishedRuns {
    /// Runs that were running, now interrupted.
    pub interrupted: Vec<String>,
    /// Runs still queued.
    pub queued: Vec<String>,
}

/// The records of a Tessera host.
pub trait Catalog: Send + Sync {
    /// Records a deployment whose component blob is at `component`. `false`, changing nothing,
    /// when the version is already deployed (versions are immutable).
    fn create_deployment(
        &self,
        deployment: &Deployment,
        component: &str,
    ) -> Result<bool, StoreError>;

    /// One deployment.
    fn deployment(&self, product: &str, version: &str) -> Result<Option<Deployment>, StoreError>;

    /// The key of a deployed version's component blob.
    fn component_key(&self, product: &str, version: &str) -> Result<Option<String>, StoreError>;

    /// A product's deployments, oldest first.
    fn deployments(&self, product: &str) -> Result<Vec<Deployment>, StoreError>;

    /// Points the product's active version at `version` (which the caller checked is
    /// deployed) and sets the earlier majors that keep running beside it, in one write.
    fn set_active(
        &self,
        product: &str,
        version: &str,
        retained: &[RetainedMajor],
    ) -> Result<(), StoreError>;

    /// The product's active version.
    fn active(&self, product: &str) -> Result<Option<String>, StoreError>;

    /// The earlier majors kept running beside the active version, oldest first.
    fn retained_majors(&self, product: &str) -> Result<Vec<RetainedMajor>, StoreError>;

    /// Every product with a deployment, by name.
    fn products(&self) -> Result<Vec<String>, StoreError>;

    /// The number of the product's current version (the active major's newest; retained
    /// majors publish beside it without moving it).
    fn current_version_number(&self, product: &str) -> Result<Option<u64>, StoreError>;

    /// The highest version number the product published (its own or a retained major's).
    fn latest_version_number(&self, product: &str) -> Result<Option<u64>, StoreError>;

    /// One published version.
    fn version(&self, product: &str, number: u64) -> Result<Option<Version>, StoreError>;

    /// Every kept version of a product, oldest first.
    fn versions(&self, product: &str) -> Result<Vec<Version>, StoreError>;

    /// The column statistics of one version (empty when none were kept).
    fn stats(&self, product: &str, number: u64) -> Result<BTreeMap<String, PortStats>, StoreError>;

    /// Makes `commit.version` current, with its statistics, its run's record and the
    /// product's usage, all or nothing. A conflict when the current version is no longer the
    /// one before it, or when the run was interrupted.
    fn commit_version(&self, commit: &VersionCommit) -> Result<(), StoreError>;

    /// The newest input version of a port.
    fn current_input(&self, product: &str, port: &str) -> Result<Option<InputVersion>, StoreError>;

    /// One input version.
    fn input_version(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Option<InputVersion>, StoreError>;

    /// Every kept input version of a port, oldest first.
    fn input_versions(&self, product: &str, port: &str) -> Result<Vec<InputVersion>, StoreError>;

    /// The ingest ports of a product that have data.
    fn ingest_ports(&self, product: &str) -> Result<Vec<String>, StoreError>;

    /// Makes `commit.version` the port's current input version, with its idempotency key and
    /// the product's usage, all or nothing; a conflict when the current input version is no
    /// longer the one before it. With a key already used within the window, nothing changes.
    fn commit_input(&self, commit: &InputCommit) -> Result<InputCommitted, StoreError>;

    /// The input version an `Idempotency-Key` made on a port, while its window lasts.
    fn keyed_input(
        &self,
        product: &str,
        port: &str,
        key: &str,
        now_us: i64,
    ) -> Result<Option<InputVersion>, StoreError>;

    /// Drops versions and records garbage, all or nothing.
    fn drop_versions(&self, commit: &DropCommit) -> Result<(), StoreError>;

    /// Garbage recorded before `before_us`, oldest first.
    fn garbage(&self, before_us: i64) -> Result<Vec<Garbage>, StoreError>;

    /// Forgets garbage whose blobs are deleted.
    fn forget_garbage(&self, garbage: &[Garbage]) -> Result<(), StoreError>;

    /// The bytes a product keeps, if recorded.
    fn usage(&self, product: &str) -> Result<Option<u64>, StoreError>;

    /// Records the bytes a product keeps (its first computation; commits move it after).
    fn set_usage(&self, product: &str, bytes: u64) -> Result<(), StoreError>;

    /// Creates or replaces a run record.
    fn put_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Replaces a run record unless the stored one is interrupted. Whether it was written.
    fn update_run(&self, run: &RunRecord) -> Result<bool, StoreError>;

    /// Marks a running run interrupted; `false` when it is not running.
    fn interrupt_run(&self, id: &str, reason: &str) -> Result<bool, StoreError>;

    /// One run record.
    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// A product's runs, oldest first.
    fn runs(&self, product: &str) -> Result<Vec<RunRecord>, StoreError>;

    /// A page of a product's runs, newest first, after run `before` when given.
    fn runs_page(
        &self,
        product: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// Deletes a product's oldest finished run records beyond the newest `keep`; the blobs a
    /// deleted quarantined run set aside become garbage as of `at_us`. Returns the deleted ids.
    fn prune_runs(&self, product: &str, keep: usize, at_us: i64)
    -> Result<Vec<String>, StoreError>;

    /// Marks every running run interrupted and lists the queued ones (at start-up).
    fn interrupt_unfinished(&self, reason: &str) -> Result<UnfinishedRuns, StoreError>;

    /// Records the blobs a quarantined run set aside, by port.
    fn set_quarantined(
        &self,
        run: &str,
        ports: &BTreeMap<String, String>,
    ) -> Result<(), StoreError>;

    /// The blobs a quarantined run set aside, by port.
    fn quarantined(&self, run: &str) -> Result<Option<BTreeMap<String, String>>, StoreError>;

    /// When a product's cron schedule last fired.
    fn schedule_fired(&self, product: &str) -> Result<Option<i64>, StoreError>;

    /// Records that a product's cron schedule fired for the occurrence at `at_us`.
    fn set_schedule_fired(&self, product: &str, at_us: i64) -> Result<(), StoreError>;

    /// Stores a token.
    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    /// The token whose secret hashes to `hash`.
    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Deletes the token with public id `id`; `false` when there is none.
    fn revoke_token(&self, id: &str) -> Result<bool, StoreError>;

    /// Policies, waivers and decision records.
    fn governance(&self) -> &dyn crate::GovernanceCatalog;

    /// Shares for Delta Sharing.
    fn sharing(&self) -> &dyn crate::SharingCatalog;

    /// Every blob key a record names (versions, input versions, quarantined runs, components,
    /// garbage not yet deleted). For recovery: reads every record.
    fn referenced_blobs(&self) -> Result<HashSet<String>, StoreError>;
}
