//! The records the store keeps: deployments, runs and published versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use tessera_core::failure::FailureKind;

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
    /// Finished, but an `error` check failed: its outputs are kept aside, not published.
    Quarantined,
    /// Not run: an upstream product it reads has published nothing yet. The upstream's first
    /// publication wakes the product again.
    Waiting,
}

impl RunState {
    /// The state's name in the API and in logs.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
            RunState::Quarantined => "quarantined",
            RunState::Waiting => "waiting",
        }
    }
}

/// A run's use of the GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuRecord {
    /// `gpu` (the host's adapter) or `cpu` (the CPU reference of the built-in operations).
    pub path: String,
    /// The adapter's name, on the GPU path.
    pub adapter: Option<String>,
    /// Milliseconds the GPU worked for the run (submission to completion).
    pub gpu_ms: f64,
    /// Operations and kernel dispatches.
    pub dispatches: u64,
    /// Most bytes of GPU buffers held at once.
    pub peak_memory: u64,
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
    /// CPU time the run's thread used, in milliseconds, where the platform reports it.
    #[serde(default)]
    pub cpu_ms: Option<u64>,
    /// What the run did with the GPU, if it used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuRecord>,
    /// Published version number, if it published.
    pub published_version: Option<u64>,
    /// When it started executing.
    #[serde(default)]
    pub started_at_us: Option<i64>,
    /// The kind of failure (`product-error`, `timeout`, `out-of-memory`, ...).
    #[serde(default)]
    pub failure: Option<FailureKind>,
    /// Rows written per output port.
    #[serde(default)]
    pub outputs: BTreeMap<String, u64>,
    /// What the run logged, with its standard output and error.
    #[serde(default)]
    pub log: Vec<RunLogLine>,
    /// Why it runs.
    #[serde(default)]
    pub cause: RunCause,
    /// 1 for a first attempt; retries of interrupted or host-failed runs count up.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The run this one retries.
    #[serde(default)]
    pub retry_of: Option<String>,
    /// The earliest time it may start (µs since the epoch): a retry's backoff.
    #[serde(default)]
    pub not_before_us: Option<i64>,
    /// The input versions it read, pinned when it started.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputPin>,
    /// The retained major it runs for (see [`RetainedMajor`]); `None` for a run of the
    /// active version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What the product sees as its run: the id, clock and seed that make it reproducible.
    #[serde(default)]
    pub logical: Option<LogicalRun>,
    /// For a replay: what it reproduced and whether the outputs matched.
    #[serde(default)]
    pub replay: Option<ReplayReport>,
    /// The data tests of its outputs.
    #[serde(default)]
    pub checks: Vec<tessera_core::quality::CheckResult>,
    /// The gauges the product reported (last value per name).
    #[serde(default)]
    pub gauges: BTreeMap<String, f64>,
}

/// Why a run was asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunCause {
    /// Someone asked for it (API or CLI).
    #[default]
    Manual,
    /// Data was ingested into one of its ports.
    Input,
    /// An upstream product published a version it reads.
    Upstream,
    /// Its cron schedule came due.
    Schedule,
    /// An earlier attempt was interrupted or failed through the host's fault.
    Retry,
    /// A re-run of a published version, compared with it and never published.
    Replay,
    /// At start: acknowledged input that no settled run had read.
    PendingInput,
}

impl RunCause {
    /// The kebab-case name (`manual`, `pending-input`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RunCause::Manual => "manual",
            RunCause::Input => "input",
            RunCause::Upstream => "upstream",
            RunCause::Schedule => "schedule",
            RunCause::Retry => "retry",
            RunCause::Replay => "replay",
            RunCause::PendingInput => "pending-input",
        }
    }
}

fn first_attempt() -> u32 {
    1
}

/// The identity a product observes in a run. A replay presents the original run's identity, so
/// a run is a pure function of its code, its input versions and this record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogicalRun {
    /// The run id the product sees.
    pub run_id: String,
    /// The fixed wall-clock time the product sees (µs since the epoch).
    pub clock_us: i64,
    /// The seed of the product's random numbers.
    pub seed: u64,
}

/// One input version a run read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPin {
    /// The product whose data it is (the reading product itself for an ingest port).
    pub product: String,
    /// The port: an ingest port of the reading product, or an upstream output port.
    pub port: String,
    /// The input version (ingest) or published version (upstream).
    pub version: u64,
    /// Whether the data was ingested (rather than published by a product).
    pub ingested: bool,
}

/// The result of replaying a published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// The version replayed.
    pub of_version: u64,
    /// The run that produced it.
    pub of_run: String,
    /// Whether every output matched by content hash; `None` until the replay finishes.
    pub matches: Option<bool>,
    /// Port by port.
    pub ports: Vec<PortMatch>,
}

/// One output port compared by a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMatch {
    /// Output port.
    pub port: String,
    /// Content hash of the published file.
    pub published: String,
    /// Content hash of the replay's output.
    pub replayed: String,
    /// Whether they are equal.
    pub matches: bool,
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
            cpu_ms: None,
            gpu: None,
            published_version: None,
            started_at_us: None,
            failure: None,
            outputs: BTreeMap::new(),
            log: Vec::new(),
            cause: RunCause::Manual,
            attempt: 1,
            retry_of: None,
            not_before_us: None,
            inputs: BTreeMap::new(),
            line: None,
            logical: None,
            replay: None,
            checks: Vec::new(),
            gauges: BTreeMap::new(),
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

/// An earlier major version kept running beside the active one for the consumers that pin it
/// (`from = "product/port@MAJOR"`), until its deprecation date. Its runs publish versions of
/// their own major; those never become the product's current version, which stays the active
/// major's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedMajor {
    /// The major version number.
    pub major: u64,
    /// The deployed version that runs for it (the newest of that major when it was retained).
    pub version: String,
    /// From when it no longer runs or serves (µs since the epoch).
    pub deprecation_us: i64,
    /// When a newer major replaced it as the active version.
    pub retained_at_us: i64,
}

impl RetainedMajor {
    /// Whether its deprecation date has come.
    pub fn retired(&self, now_us: i64) -> bool {
        now_us >= self.deprecation_us
    }
}

/// The major number of a semantic version string (`"2.1.0"` → 2).
pub fn major_of(version: &str) -> Option<u64> {
    version.split('.').next()?.parse().ok()
}

/// One port of a published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortVersion {
    /// The key of the blob that holds it (for local blobs, its path relative to the data
    /// directory).
    pub file: String,
    /// Rows.
    pub rows: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Content hash of the blob (`xxh3-128:…`; replays compare it). Empty for ingest
    /// segments committed before segments were hashed as written.
    #[serde(default)]
    pub hash: String,
    /// When an ingest segment was committed (µs since the epoch); `None` for outputs and for
    /// segments committed before this was recorded (those never leave by the append window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_at_us: Option<i64>,
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
    /// The product code version that produced it.
    #[serde(default)]
    pub product_version: String,
    /// The input versions the run read, by input port: its lineage.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputPin>,
}

impl Version {
    /// Bytes on disk over all ports.
    pub fn bytes(&self) -> u64 {
        self.ports.values().map(|p| p.bytes).sum()
    }
}

/// What a run hands to [`crate::Store::publish`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publication {
    /// Rows per staged output port; every declared port must be here.
    pub ports: BTreeMap<String, u64>,
    /// The product code version of the run.
    pub product_version: String,
    /// The input versions the run read.
    pub inputs: BTreeMap<String, InputPin>,
    /// Column statistics per port, stored beside the version.
    pub stats: BTreeMap<String, tessera_core::quality::PortStats>,
    /// The retained major whose run publishes (see [`RetainedMajor`]); `None` for a run of
    /// the active version. A retained major's version does not become the current one.
    pub line: Option<u64>,
    /// The run's record as it reads once published (outputs, checks, log); the publish
    /// transaction writes it, marked succeeded with the new version, so no reader sees the run
    /// succeeded without what it did. Without it the stored record is marked.
    pub record: Option<Box<RunRecord>>,
}

impl Publication {
    /// Ports and row counts without lineage (for tools and tests that publish directly).
    pub fn outputs(ports: BTreeMap<String, u64>) -> Self {
        Publication {
            ports,
            ..Publication::default()
        }
    }
}

/// How an ingest changes its port's data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestMode {
    /// The new rows follow the rows of the previous version.
    #[default]
    Append,
    /// The new rows are the whole new version.
    Replace,
    /// Nothing was added: the rows older than the port's append window left it (see
    /// [`RetentionPolicy::append_window_us`]).
    Expire,
}

/// One version of an ingest port's data: the rows of every segment, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputVersion {
    /// Product name.
    pub product: String,
    /// Ingest port.
    pub port: String,
    /// Version number, from 1.
    pub number: u64,
    /// When it was accepted (µs since the epoch).
    pub ingested_at_us: i64,
    /// How it was made from the previous version.
    pub mode: IngestMode,
    /// Rows the ingest added.
    pub added_rows: u64,
    /// The files that hold its rows, oldest first; appends share the files before them.
    pub segments: Vec<PortVersion>,
    /// The `Idempotency-Key` of the request that made it.
    pub idempotency_key: Option<String>,
}

impl InputVersion {
    /// Rows in this version.
    pub fn rows(&self) -> u64 {
        self.segments.iter().map(|s| s.rows).sum()
    }

    /// Bytes on disk over its segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// What [`crate::Store::commit_ingest`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The new version, or the one an earlier request with the same key made.
    pub version: InputVersion,
    /// Whether the request repeated an earlier one (by `Idempotency-Key`) and changed nothing.
    pub repeated: bool,
}

/// How many versions a product keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep at most this many newest versions.
    pub keep_versions: Option<u64>,
    /// Drop versions older than this (µs).
    pub max_age_us: Option<i64>,
    /// Append ingest ports keep the rows they took in within this window (µs), and always the
    /// last ingest's; input versions older than it go unless a kept version read them.
    pub append_window_us: Option<i64>,
}

impl RetentionPolicy {
    /// Whether a version published at `published_at_us`, `newer` versions behind the newest,
    /// is kept at `now_us`. The newest version (`newer == 0`) is always kept.
    pub fn keeps(&self, newer: u64, published_at_us: i64, now_us: i64) -> bool {
        if newer == 0 {
            return true;
        }
        let by_count = self.keep_versions.is_none_or(|n| newer < n);
        let by_age = self
            .max_age_us
            .is_none_or(|age| now_us.saturating_sub(published_at_us) <= age);
        by_count && by_age
    }
}

/// What [`crate::Store::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// Output versions dropped.
    pub versions_removed: Vec<u64>,
    /// Input versions dropped.
    pub input_versions_removed: u64,
    /// Append ports that lost rows older than the append window (each in a new input version).
    #[serde(default)]
    pub input_versions_expired: u64,
    /// Blobs deleted now: garbage whose grace period was over, from this prune or earlier
    /// ones.
    pub files_removed: u64,
    /// Bytes the dropped versions released from the product's usage (their blobs are deleted
    /// once the grace period is over).
    pub bytes_freed: u64,
    /// Bytes the blobs deleted now held.
    #[serde(default)]
    pub bytes_deleted: u64,
}

/// What [`crate::Store::recover`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// Blobs removed: staged, unnamed by any record, or garbage past its grace period.
    pub files_removed: u64,
    /// Runs that were running, now marked interrupted.
    pub runs_interrupted: Vec<String>,
    /// Runs still queued, to be resumed.
    pub runs_queued: Vec<String>,
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
    /// The federation: manages global policies and waivers, reads every decision; reads the
    /// catalog like a reader without a domain.
    Governance,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Owner, Role::Reader, Role::Governance];

    /// The role's name, as the API and the CLI write it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Reader => "reader",
            Role::Governance => "governance",
        }
    }

    /// The role called `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// An API token. Only the SHA-256 of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// A public id, for logs, messages and revocation: random, independent of the secret
    /// (tokens made before ids were independent keep the secret's first characters).
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
    /// When it stops being accepted (µs since the epoch); never when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_us: Option<i64>,
}

impl TokenRecord {
    /// Whether the token has expired at `now_us`.
    pub fn expired(&self, now_us: i64) -> bool {
        self.expires_at_us.is_some_and(|at| at <= now_us)
    }
}
