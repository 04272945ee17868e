//! Tessera's storage: run records and published versions as metadata, output data as immutable
//! Arrow IPC files.
//!
//! A run's outputs are first *staged* (one file per port, written through a [`BatchSink`] and
//! fsynced), then *published* together: the files are renamed into place and a single metadata
//! transaction records the new version of every port at once. Until that transaction commits
//! nobody can see the new files; a crash at any point leaves the previous version whole, and
//! [`Store::recover`] removes what a crash left behind and marks interrupted runs.
//!
//! [`SledStore`] keeps metadata in sled under a data directory; [`MemoryStore`] keeps everything
//! in memory, for tests. Both pass the same contract tests.

mod memory;
mod model;
mod sled_store;

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;
use tessera_core::io::{BatchSink, BatchSource};

pub use memory::MemoryStore;
pub use model::{
    Deployment, PortVersion, RecoveryReport, Role, RunLogLine, RunRecord, RunState, TokenRecord,
    Version,
};
pub use sled_store::SledStore;

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

    /// Publishes the staged outputs of a run as the product's next version, all ports at once.
    /// `ports` maps every port to its row count; each must have been staged and finished.
    fn publish(
        &self,
        product: &str,
        run_id: &str,
        ports: &BTreeMap<String, u64>,
    ) -> Result<Version, StoreError>;

    /// Drops whatever a run staged (after a failed run).
    fn discard(&self, run_id: &str) -> Result<(), StoreError>;

    /// The newest published version of a product.
    fn current_version(&self, product: &str) -> Result<Option<Version>, StoreError>;

    /// One published version.
    fn version(&self, product: &str, number: u64) -> Result<Option<Version>, StoreError>;

    /// All published versions of a product, oldest first.
    fn versions(&self, product: &str) -> Result<Vec<Version>, StoreError>;

    /// Reads one port of one published version.
    fn read(
        &self,
        product: &str,
        number: u64,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError>;

    /// Creates or replaces a run record.
    fn put_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// One run record.
    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// A product's runs, oldest first.
    fn runs(&self, product: &str) -> Result<Vec<RunRecord>, StoreError>;

    /// Stores a deployed component. A version is immutable: deploying the same product and
    /// version again is a conflict (even with the same code; check [`Store::deployments`]).
    fn deploy(&self, deployment: &Deployment, component: &[u8]) -> Result<(), StoreError>;

    /// The deployed versions of a product, oldest first (empty when none).
    fn deployments(&self, product: &str) -> Result<Vec<Deployment>, StoreError>;

    /// The bytes of a deployed component.
    fn component(&self, product: &str, version: &str) -> Result<Vec<u8>, StoreError>;

    /// Makes a deployed version the one runs use.
    fn activate(&self, product: &str, version: &str) -> Result<(), StoreError>;

    /// The version runs use, if any.
    fn active(&self, product: &str) -> Result<Option<String>, StoreError>;

    /// Every product with at least one deployment, by name.
    fn products(&self) -> Result<Vec<String>, StoreError>;

    /// Stores a token (by the hash of its secret).
    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    /// The token whose secret hashes to `hash`.
    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Cleans up after a crash: removes staged and unreferenced files and marks runs that were
    /// running as interrupted. Call once at start-up.
    fn recover(&self) -> Result<RecoveryReport, StoreError>;
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
