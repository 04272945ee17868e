//! The records the store keeps: runs and published versions.

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
