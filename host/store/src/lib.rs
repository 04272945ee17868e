//! Tessera's storage: a catalog of records and immutable blobs of bytes, behind two narrow
//! traits, and the rules that need both written once on top of them.
//!
//! - [`Catalog`] holds every record: deployments, published versions with their lineage and
//!   statistics, input versions, runs, tokens, idempotency keys, schedules, usage, garbage.
//!   Policies, waivers and decision records are behind [`GovernanceCatalog`], Delta Sharing's
//!   shares behind [`SharingCatalog`].
//!   Changes that must be atomic are single commits with a compare-and-swap on the pointer
//!   they move. [`SledCatalog`] keeps it in sled.
//! - [`Blobs`] holds bytes by key: components, ingested segments, staged and published
//!   outputs. Written whole, never changed, read by ranges, deleted by key; no rename, no
//!   listing on a request's path. [`LocalBlobs`] keeps them in files, [`ObjectBlobs`] in an
//!   object store (S3 or local files, read through a bounded [`BlobCache`]: what a cluster's
//!   hosts share), [`MemoryBlobs`] in memory with an object store's semantics.
//! - [`Storage`] implements [`Store`] over one of each. A run's outputs are *staged* (one blob
//!   per port, hashed as written), then *published* together by one catalog commit that makes
//!   the version naming them current: a crash at any point leaves the previous version whole,
//!   and [`Store::recover`] deletes the blobs no record names. Ingested data follows the same
//!   path, committed as the port's next *input version* with its `Idempotency-Key`.
//!
//! Every published version records the input versions its run read (its lineage) and the
//! content hash of each output, so it can be traced upstream and reproduced. [`Store::prune`]
//! applies a retention policy; the blobs no kept version names are deleted after a grace
//! period, so readers of a dropped version finish first.

// Guest- and client-supplied sizes and offsets never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod blobs;
pub mod bridge;
mod catalog;
mod governance;
mod model;
mod sharing;
mod storage;

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;
use tessera_core::io::{BatchSink, BatchSource};

pub use blobs::{
    BlobCache, BlobCursor, BlobReader, BlobWriter, Blobs, LocalBlobs, MemoryBlobs, ObjectBlobs,
    PART_BYTES,
};
pub use catalog::{
    Catalog, DropCommit, Garbage, InputCommit, InputCommitted, SledCatalog, UnfinishedRuns,
    VersionCommit,
};
pub use governance::{
    DECISIONS_KEPT, DecisionOutcome, DecisionRecord, Effect, GovernanceCatalog, PolicyEvent,
    PolicyRecord, PolicyScope, PolicyVerdict, VerdictResult, Waiver,
};
pub use model::{
    Deployment, FailureKind, GpuRecord, IngestMode, IngestOutcome, InputPin, InputVersion,
    LogicalRun, PortMatch, PortVersion, PruneReport, Publication, RecoveryReport, ReplayReport,
    RetainedMajor, RetentionPolicy, Role, RunCause, RunLogLine, RunRecord, RunState, TokenRecord,
    Version, major_of,
};
pub use sharing::{ShareRecord, SharedTable, SharingCatalog};
pub use storage::{DEFAULT_DELETION_GRACE, EncodedMessage, EncodedMessages, Storage};

/// How long an `Idempotency-Key` keeps answering with what it made: 24 hours from its first
/// use, whatever retention does to the input version meanwhile. A key used again after the
/// window is a new request.
pub const IDEMPOTENCY_WINDOW_US: i64 = 24 * 3600 * 1_000_000;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the stored state (for example publishing a port never staged).
    #[error("{0}")]
    Conflict(String),
    /// Disk or database trouble.
    #[error("storage I/O failed: {0}")]
    Io(String),
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Io(format!("corrupt metadata record: {e}"))
    }
}

/// Metadata and output data of a Tessera host.
pub trait Store: Send + Sync {
    /// Opens the staging sink of one output port of a run.
    fn stage(
        &self,
        product: &str,
        run_id: &str,
        port: &str,
        schema: SchemaRef,
    ) -> Result<Box<dyn BatchSink>, StoreError>;

    /// Publishes the staged outputs of a run as the product's next version, all ports at once,
    /// with the run's lineage. Every port in `publication.ports` must have been staged and
    /// finished. Where the run has a record, the same transaction marks it succeeded with the
    /// new version, so a crash right after cannot make the run publish twice; a run that was
    /// interrupted meanwhile is refused (a conflict), its retry publishes instead.
    fn publish(
        &self,
        product: &str,
        run_id: &str,
        publication: &Publication,
    ) -> Result<Version, StoreError>;

    /// Reads a staged, finished output file (to check it before publishing).
    fn read_staged(&self, run_id: &str, port: &str) -> Result<Box<dyn BatchSource>, StoreError>;

    /// Sets a run's staged outputs aside instead of publishing them (a failed `error` check);
    /// they stay readable through [`Store::read_quarantined`].
    fn quarantine(&self, run_id: &str) -> Result<(), StoreError>;

    /// Reads one port a quarantined run wrote.
    fn read_quarantined(
        &self,
        run_id: &str,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError>;

    /// The size in bytes of what a run (or an ingest) staged for `port`, without reading it.
    fn staged_size(&self, run_id: &str, port: &str) -> Result<u64, StoreError>;

    /// Content hash (`xxh3-128:…`) and size of a staged, finished output file.
    fn staged_file(&self, run_id: &str, port: &str) -> Result<(String, u64), StoreError>;

    /// Drops whatever a run (or an ingest) staged.
    fn discard(&self, run_id: &str) -> Result<(), StoreError>;

    /// Commits what ingest `staged_id` staged for `port` (through [`Store::stage`]) as the
    /// port's next input version. With an `idempotency_key` already used on this port, the
    /// staged rows are dropped and the earlier version is returned as `repeated`.
    fn commit_ingest(
        &self,
        product: &str,
        port: &str,
        staged_id: &str,
        mode: IngestMode,
        rows: u64,
        idempotency_key: Option<&str>,
    ) -> Result<IngestOutcome, StoreError>;

    /// The input version an earlier request with this `Idempotency-Key` made, if any.
    fn ingested_with_key(
        &self,
        product: &str,
        port: &str,
        key: &str,
    ) -> Result<Option<InputVersion>, StoreError>;

    /// The newest input version of an ingest port.
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

    /// Reads one input version (all its segments, in order). Retention deletes blobs only
    /// after a grace period, so pruning meanwhile does not disturb the reader.
    fn read_input(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Box<dyn BatchSource>, StoreError>;

    /// Applies a retention policy to a product's published versions (never the newest), drops
    /// input versions that are neither among the newest `policy.keep_versions` nor read by a
    /// kept version, and schedules the deletion of the blobs nothing kept names; deletes those
    /// whose grace period is over.
    fn prune(
        &self,
        product: &str,
        policy: RetentionPolicy,
        now_us: i64,
    ) -> Result<PruneReport, StoreError>;

    /// The bytes a product keeps: its published versions and its ingested data (each file
    /// once). Maintained by publishes, ingest commits and retention; reads one record.
    fn stored_bytes(&self, product: &str) -> Result<u64, StoreError>;

    /// The newest published version of a product.
    fn current_version(&self, product: &str) -> Result<Option<Version>, StoreError>;

    /// One published version.
    fn version(&self, product: &str, number: u64) -> Result<Option<Version>, StoreError>;

    /// The column statistics of each port of a published version (empty when none were
    /// computed).
    fn stats(
        &self,
        product: &str,
        number: u64,
    ) -> Result<BTreeMap<String, tessera_core::quality::PortStats>, StoreError>;

    /// All published versions of a product, oldest first.
    fn versions(&self, product: &str) -> Result<Vec<Version>, StoreError>;

    /// Reads one port of one published version.
    fn read(
        &self,
        product: &str,
        number: u64,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError>;

    /// Reads one port of one published version as its stored Arrow IPC messages, for
    /// protocols that send them as they are.
    fn read_encoded(
        &self,
        product: &str,
        number: u64,
        port: &str,
    ) -> Result<EncodedMessages, StoreError>;

    /// Creates or replaces a run record.
    fn put_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Replaces a run record unless the stored one is interrupted: an interrupted run stays
    /// interrupted (its retry carries on). Returns whether it was written.
    fn update_run(&self, run: &RunRecord) -> Result<bool, StoreError>;

    /// Marks a running run interrupted, with `reason`. Returns `false`, changing nothing, when
    /// the run is not running (it finished or published meanwhile).
    fn interrupt_run(&self, id: &str, reason: &str) -> Result<bool, StoreError>;

    /// One run record.
    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// A product's runs, oldest first. Reads every kept run: for history pages use
    /// [`Store::runs_page`].
    fn runs(&self, product: &str) -> Result<Vec<RunRecord>, StoreError>;

    /// At most `limit` of a product's runs, newest first, starting after run `before` when
    /// given (the last id of the previous page). Reads only the page.
    fn runs_page(
        &self,
        product: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// A product's newest run, without reading the others.
    fn last_run(&self, product: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Deletes a product's oldest run records beyond the newest `keep` (never a queued or
    /// running one), with the outputs of the quarantined ones. Returns the deleted ids.
    fn prune_runs(&self, product: &str, keep: usize) -> Result<Vec<String>, StoreError>;

    /// When a product's cron schedule last fired (µs since the epoch), if it ever did.
    fn schedule_fired(&self, product: &str) -> Result<Option<i64>, StoreError>;

    /// Records that a product's cron schedule fired for the occurrence at `at_us`.
    fn set_schedule_fired(&self, product: &str, at_us: i64) -> Result<(), StoreError>;

    /// Stores a deployed component. A version is immutable: deploying the same product and
    /// version again is a conflict (even with the same code; check [`Store::deployments`]).
    fn deploy(&self, deployment: &Deployment, component: &[u8]) -> Result<(), StoreError>;

    /// The deployed versions of a product, oldest first (empty when none).
    fn deployments(&self, product: &str) -> Result<Vec<Deployment>, StoreError>;

    /// The bytes of a deployed component.
    fn component(&self, product: &str, version: &str) -> Result<Vec<u8>, StoreError>;

    /// Makes a deployed version the one runs use, with the earlier majors that keep running
    /// beside it for the consumers that pin them (empty: none).
    fn activate(
        &self,
        product: &str,
        version: &str,
        retained: &[RetainedMajor],
    ) -> Result<(), StoreError>;

    /// The version runs use, if any.
    fn active(&self, product: &str) -> Result<Option<String>, StoreError>;

    /// The earlier majors kept running beside the active version.
    fn retained_majors(&self, product: &str) -> Result<Vec<RetainedMajor>, StoreError>;

    /// The newest published version that code of major `major` produced: what a consumer
    /// pinned to `product/port@MAJOR` reads.
    fn current_of_major(&self, product: &str, major: u64) -> Result<Option<Version>, StoreError>;

    /// Every product with at least one deployment, by name.
    fn products(&self) -> Result<Vec<String>, StoreError>;

    /// Stores a token (by the hash of its secret).
    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    /// The token whose secret hashes to `hash`.
    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Deletes the token with public id `id`; `false` when there is none.
    fn revoke_token(&self, id: &str) -> Result<bool, StoreError>;

    /// Policies, waivers and decision records.
    fn governance(&self) -> &dyn GovernanceCatalog;

    /// Shares for Delta Sharing.
    fn sharing(&self) -> &dyn SharingCatalog;

    /// Cleans up after a crash: deletes blobs no record names, marks runs that were running
    /// as interrupted and lists the queued ones. Call once at start-up.
    fn recover(&self) -> Result<RecoveryReport, StoreError>;
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
