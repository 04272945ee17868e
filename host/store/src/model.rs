//! The records the store keeps: deployments, runs and published versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Waiting for a slot.
    Queued,
    /// Executing.
    Running,
    /// Finished and published.
    Succeeded,
    /// Finished without publishing.
    Failed,
    /// The host stopped while it ran.
    Interrupted,
}

/// One run of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id.
    pub id: String,
    /// Product name.
    pub product: String,
    /// Product code version (semver from the manifest).
    pub product_version: String,
    /// Current state.
    pub state: RunState,
    /// Why it failed or was interrupted.
    pub reason: Option<String>,
    /// When it was requested (µs since the epoch).
    pub created_at_us: i64,
    /// When it finished.
    pub finished_at_us: Option<i64>,
    /// Peak linear memory in bytes.
    pub peak_memory: u64,
    /// Published version number, if it published.
    pub published_version: Option<u64>,
    /// When it started executing.
    #[serde(default)]
    pub started_at_us: Option<i64>,
    /// The kind of failure (`product-error`, `timeout`, `out-of-memory`, ...).
    #[serde(default)]
    pub failure: Option<String>,
    /// Rows written per output port.
    #[serde(default)]
    pub outputs: BTreeMap<String, u64>,
    /// What the run logged, with its standard output and error.
    #[serde(default)]
    pub log: Vec<RunLogLine>,
}

impl RunRecord {
    /// A run just requested.
    pub fn queued(id: impl Into<String>, product: &str, product_version: &str, at_us: i64) -> Self {
        RunRecord {
            id: id.into(),
            product: product.to_string(),
            product_version: product_version.to_string(),
            state: RunState::Queued,
            reason: None,
            created_at_us: at_us,
            finished_at_us: None,
            peak_memory: 0,
            published_version: None,
            started_at_us: None,
            failure: None,
            outputs: BTreeMap::new(),
            log: Vec::new(),
        }
    }
}

/// One line of a run's captured log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The line.
    pub message: String,
    /// Milliseconds since the run started.
    pub at_ms: u64,
}

/// A deployed version of a product's code. Deployed versions are immutable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Product name.
    pub product: String,
    /// Semantic version from its manifest.
    pub version: String,
    /// Owning domain.
    pub domain: String,
    /// SHA-256 of the component, hex.
    pub hash: String,
    /// Size of the component in bytes.
    pub bytes: u64,
    /// When it was deployed (µs since the epoch).
    pub deployed_at_us: i64,
    /// The embedded `product.toml`, as text.
    pub manifest: String,
}

/// One port of a published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortVersion {
    /// File name relative to the store's data directory.
    pub file: String,
    /// Rows.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// A published version of all of a product's output ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Product name.
    pub product: String,
    /// Version number, from 1.
    pub number: u64,
    /// The run that produced it.
    pub run_id: String,
    /// When it was published (µs since the epoch).
    pub published_at_us: i64,
    /// Its ports.
    pub ports: BTreeMap<String, PortVersion>,
}

/// What [`crate::Store::recover`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// Staged or unreferenced files removed.
    pub files_removed: u64,
    /// Runs marked interrupted.
    pub runs_interrupted: Vec<String>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Deploy, run and read everything of one domain.
    Owner,
    /// Read.
    Reader,
}

/// An API token. Only the SHA-256 of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// A short public id (the secret's first characters), for logs and messages.
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// Its role.
    pub role: Role,
    /// The domain an owner owns, or a reader belongs to.
    pub domain: Option<String>,
    /// Restricted output ports this token may read, as `product/port`.
    pub grants: Vec<String>,
    /// What it is for.
    pub description: String,
    /// When it was created (µs since the epoch).
    pub created_at_us: i64,
}
