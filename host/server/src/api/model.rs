//! The JSON documents the API answers with (and their OpenAPI schemas).

use std::collections::BTreeMap;

use serde::Serialize;
use tessera_core::manifest::Manifest;
use tessera_store::{Deployment, RunRecord, RunState, Version};
use utoipa::ToSchema;

/// A deployed version of a product's code.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionInfo {
    /// Product name.
    pub product: String,
    /// Semantic version from the manifest.
    pub version: String,
    /// SHA-256 of the component.
    pub hash: String,
    /// Size of the component in bytes.
    pub bytes: u64,
    /// When it was deployed (RFC 3339, UTC).
    pub deployed_at: String,
    /// Whether runs use this version.
    pub active: bool,
    /// The federation's decision on this deploy, when policies applied (deploy answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionSummary>,
}

/// A decision in brief: its id, outcome and the warnings of `warn` policies.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionSummary {
    /// The decision record's id.
    pub id: String,
    /// allowed or warned (a denial is an error answer).
    pub outcome: String,
    /// What `warn` policies said.
    pub warnings: Vec<crate::error::PolicyViolation>,
}

impl From<&tessera_store::DecisionRecord> for DecisionSummary {
    fn from(d: &tessera_store::DecisionRecord) -> DecisionSummary {
        DecisionSummary {
            id: d.id.clone(),
            outcome: crate::governance::outcome_name(d.outcome).to_string(),
            warnings: crate::governance::warnings_of(d),
        }
    }
}

impl VersionInfo {
    /// From a stored deployment.
    pub fn new(deployment: &Deployment, active: Option<&str>) -> Self {
        VersionInfo {
            product: deployment.product.clone(),
            version: deployment.version.clone(),
            hash: deployment.hash.clone(),
            bytes: deployment.bytes,
            deployed_at: rfc3339(deployment.deployed_at_us),
            active: active == Some(deployment.version.as_str()),
            decision: None,
        }
    }
}

pub use crate::catalog::{CatalogEntry, CatalogPage};

/// An output port as described to consumers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortInfo {
    /// Port name.
    pub name: String,
    /// public, domain or restricted.
    pub access: String,
    /// What the port holds.
    pub description: String,
    /// Column name → type and whether it is required.
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
    /// Rows in the current published version, if any.
    pub rows: Option<u64>,
    /// Where to read it.
    pub url: String,
}

/// Everything about one product.
#[derive(Debug, Serialize, ToSchema)]
pub struct Descriptor {
    /// Product name.
    pub name: String,
    /// The active version's manifest.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    /// The version runs use.
    pub active_version: Option<String>,
    /// State of the last run, or `never-run`.
    pub status: String,
    /// How old its data is against its freshness SLO.
    pub freshness: crate::freshness::Freshness,
    /// The last run.
    pub last_run: Option<RunInfo>,
    /// The current published data version.
    pub data_version: Option<DataVersionInfo>,
    /// Input ports: where each one's data comes from and its current version.
    pub inputs: Vec<InputInfo>,
    /// Output ports.
    pub outputs: Vec<PortInfo>,
    /// Deployed code versions, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Earlier majors still running beside the active version for the consumers that pin
    /// them, oldest first.
    pub retained_majors: Vec<RetainedMajorInfo>,
}

/// An earlier major version kept running beside the active one for the consumers that pin it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetainedMajorInfo {
    /// The major number.
    pub major: u64,
    /// The deployed version that runs for it.
    pub version: String,
    /// When it stops running and serving (RFC 3339).
    pub deprecation: String,
    /// Whether that date has come.
    pub retired: bool,
    /// Its newest published data version, if it published one.
    pub data_version: Option<u64>,
    /// The products still reading it, pinned to `product/port@MAJOR`, with the input that
    /// does.
    pub consumers: Vec<String>,
}

/// One input port of a product.
#[derive(Debug, Serialize, ToSchema)]
pub struct InputInfo {
    /// Port name.
    pub name: String,
    /// `ingest`, or `upstream` for another product's output.
    pub kind: &'static str,
    /// For upstream ports: `product/port` (with `@MAJOR` if pinned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What the port holds.
    pub description: String,
    /// The current input version (ingest) or upstream data version, if any.
    pub version: Option<u64>,
    /// Rows in that version, where known.
    pub rows: Option<u64>,
    /// For ingest ports: where to push data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_url: Option<String>,
}

/// A published version of a product's outputs.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataVersionInfo {
    /// Version number, from 1.
    pub number: u64,
    /// When it was published.
    pub published_at: String,
    /// The run that produced it.
    pub run: String,
    /// Rows per port.
    pub rows: BTreeMap<String, u64>,
}

impl From<&Version> for DataVersionInfo {
    fn from(v: &Version) -> Self {
        DataVersionInfo {
            number: v.number,
            published_at: rfc3339(v.published_at_us),
            run: v.run_id.clone(),
            rows: v.ports.iter().map(|(k, p)| (k.clone(), p.rows)).collect(),
        }
    }
}

/// One line a run logged.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogLineInfo {
    /// trace, debug, info, warn or error.
    pub level: String,
    /// The line.
    pub message: String,
    /// Milliseconds since the run started.
    pub at_ms: u64,
}

/// A run, as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunInfo {
    /// Run id.
    pub id: String,
    /// Product name.
    pub product: String,
    /// Product code version it ran.
    pub product_version: String,
    /// The retained major it ran for, beside the active version (see `retained_majors` on the
    /// product); absent for a run of the active version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_major: Option<u64>,
    /// queued, running, succeeded, failed or interrupted.
    pub state: String,
    /// The kind of failure (product-error, panic, timeout, out-of-memory, ...).
    pub failure: Option<String>,
    /// Why it failed, in words.
    pub reason: Option<String>,
    /// When it was requested.
    pub created_at: String,
    /// When it started executing.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Milliseconds from start to end.
    pub duration_ms: Option<u64>,
    /// Peak linear memory in bytes.
    pub peak_memory: u64,
    /// CPU time of the run's thread, in milliseconds, where the platform reports it.
    pub cpu_ms: Option<u64>,
    /// What the run did with the GPU, if it used it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuUse>,
    /// Rows written per output port.
    pub outputs: BTreeMap<String, u64>,
    /// The data version it published.
    pub published_version: Option<u64>,
    /// What it logged (with standard output and error).
    pub log: Vec<LogLineInfo>,
    /// Why it ran: manual, input, upstream, schedule, retry or replay.
    pub cause: String,
    /// 1 for a first attempt, more for retries.
    pub attempt: u32,
    /// The run this one retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// The input versions it read, by input port.
    pub inputs: BTreeMap<String, InputPinInfo>,
    /// For a replay: what it reproduced and whether every output matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub replay: Option<tessera_store::ReplayReport>,
    /// The data tests of its outputs: each check, whether it passed, what it saw, and the
    /// first failing rows.
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<tessera_quality::CheckResult>,
    /// The run's URL.
    pub url: String,
}

/// One input version a run read.
#[derive(Debug, Serialize, ToSchema)]
pub struct InputPinInfo {
    /// `ingest` for data pushed into the product, `upstream` for another product's output.
    pub kind: &'static str,
    /// The product whose data it is.
    pub product: String,
    /// Its port.
    pub port: String,
    /// The input version (ingest) or published version (upstream).
    pub version: u64,
}

impl From<&tessera_store::InputPin> for InputPinInfo {
    fn from(pin: &tessera_store::InputPin) -> Self {
        InputPinInfo {
            kind: if pin.ingested { "ingest" } else { "upstream" },
            product: pin.product.clone(),
            port: pin.port.clone(),
            version: pin.version,
        }
    }
}

impl RunInfo {
    /// From a stored record; `with_log` includes the captured log.
    pub fn new(run: &RunRecord, with_log: bool) -> Self {
        RunInfo {
            id: run.id.clone(),
            product: run.product.clone(),
            product_version: run.product_version.clone(),
            retained_major: run.line,
            state: state_name(run.state).into(),
            failure: run.failure.map(|f| f.name().to_string()),
            reason: run.reason.clone(),
            created_at: rfc3339(run.created_at_us),
            started_at: run.started_at_us.map(rfc3339),
            finished_at: run.finished_at_us.map(rfc3339),
            duration_ms: run
                .started_at_us
                .zip(run.finished_at_us)
                .map(|(s, f)| u64::try_from((f - s) / 1000).unwrap_or(0)),
            peak_memory: run.peak_memory,
            cpu_ms: run.cpu_ms,
            gpu: run.gpu.as_ref().map(GpuUse::from),
            outputs: run.outputs.clone(),
            published_version: run.published_version,
            log: if with_log {
                run.log
                    .iter()
                    .map(|l| LogLineInfo {
                        level: l.level.clone(),
                        message: l.message.clone(),
                        at_ms: l.at_ms,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            cause: run.cause.name().to_string(),
            attempt: run.attempt,
            retry_of: run.retry_of.clone(),
            inputs: run
                .inputs
                .iter()
                .map(|(k, v)| (k.clone(), v.into()))
                .collect(),
            replay: run.replay.clone(),
            checks: run.checks.clone(),
            url: format!("/v1/runs/{}", run.id),
        }
    }
}

/// The lowercase name of a run state.
pub fn state_name(state: RunState) -> &'static str {
    state.name()
}

/// The name serde gives a unit enum value (such as `source-aligned`).
pub fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// The manifest as JSON.
pub fn manifest_json(manifest: &Manifest) -> serde_json::Value {
    serde_json::to_value(manifest).unwrap_or(serde_json::Value::Null)
}

/// Microseconds since the epoch as RFC 3339 UTC with microseconds.
pub use crate::schedule::clock::rfc3339;

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_timestamps_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_709_251_199_000_001),
            "2024-02-29T23:59:59.000001Z"
        );
    }
}

/// A run's use of the GPU.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GpuUse {
    /// `gpu` (the host's adapter) or `cpu` (the CPU reference of the built-in operations).
    pub path: String,
    /// The adapter's name, on the GPU path.
    pub adapter: Option<String>,
    /// Milliseconds the GPU worked for the run.
    pub gpu_ms: f64,
    /// Operations and kernel dispatches.
    pub dispatches: u64,
    /// Most bytes of GPU buffers held at once.
    pub peak_memory: u64,
}

impl From<&tessera_store::GpuRecord> for GpuUse {
    fn from(g: &tessera_store::GpuRecord) -> Self {
        GpuUse {
            path: g.path.clone(),
            adapter: g.adapter.clone(),
            gpu_ms: g.gpu_ms,
            dispatches: g.dispatches,
            peak_memory: g.peak_memory,
        }
    }
}
