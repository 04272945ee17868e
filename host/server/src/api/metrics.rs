//! `GET /v1/products/{p}/metrics`: how fresh and how healthy a product is, from the records the
//! host keeps: freshness against the SLO, the ages of the inputs the newest version read, rows,
//! bytes and column statistics per port, the last checks and their pass rates, run durations and
//! resource use, and the product's own gauges as series by run.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use tessera_quality::{CheckResult, PortStats};
use tessera_store::{RunRecord, RunState};
use utoipa::ToSchema;

use crate::api::error_shape::ErrorBody;
use crate::api::model::{rfc3339, state_name};
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::ServiceResult;
use crate::freshness::{self, Freshness};
use crate::registry::deployed_manifest;
use crate::state::AppState;

/// Runs the metrics look back over, unless `?runs=` says otherwise.
const WINDOW: u64 = 50;

/// The most runs `?runs=` may ask for.
const MAX_WINDOW: u64 = 1000;

/// Everything the metrics endpoint answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductMetrics {
    /// Product name.
    pub product: String,
    /// Freshness against the SLO.
    pub freshness: Freshness,
    /// The newest run.
    pub last_run: Option<RunSummary>,
    /// The newest successful run.
    pub last_success: Option<RunSummary>,
    /// The current published version.
    pub last_publish: Option<PublishSummary>,
    /// The input versions the current version read, and how old each was.
    pub inputs: Vec<InputAge>,
    /// Output ports of the current version the caller may read: rows, bytes, statistics.
    pub outputs: Vec<PortMetrics>,
    /// The checks of the newest run that ran checks.
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<CheckResult>,
    /// Per check, how often it passed over the window.
    pub check_pass_rates: Vec<PassRate>,
    /// Run counts and durations over the window.
    pub runs: RunWindow,
    /// The product's gauges: per name, the value of each run that reported it, oldest first.
    pub gauges: BTreeMap<String, Vec<GaugePoint>>,
}

/// A run in brief.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    /// Run id.
    pub id: String,
    /// Its state.
    pub state: String,
    /// Why it ran.
    pub cause: String,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Milliseconds it ran.
    pub duration_ms: Option<u64>,
    /// Peak linear memory in bytes.
    pub peak_memory: u64,
    /// CPU time of the run's thread, in milliseconds.
    pub cpu_ms: Option<u64>,
    /// GPU time, in milliseconds, for runs that used the GPU.
    pub gpu_ms: Option<f64>,
    /// `gpu` or `cpu` (the CPU reference), for runs that used the GPU interface.
    pub gpu_path: Option<String>,
}

/// The current published version in brief.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishSummary {
    /// Data version.
    pub version: u64,
    /// When it was published.
    pub published_at: String,
    /// The run that produced it.
    pub run: String,
}

/// How old one input version was.
#[derive(Debug, Serialize, ToSchema)]
pub struct InputAge {
    /// Input port.
    pub input: String,
    /// `ingest` or `upstream`.
    pub kind: &'static str,
    /// Whose data.
    pub product: String,
    /// Which port.
    pub port: String,
    /// The version read.
    pub version: u64,
    /// When that version was made (ingested or published).
    pub made_at: Option<String>,
    /// Its age now, in seconds.
    pub age_seconds: Option<f64>,
}

/// One output port of the current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortMetrics {
    /// Port name.
    pub port: String,
    /// Rows.
    pub rows: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Column statistics.
    #[schema(value_type = Option<Object>)]
    pub stats: Option<PortStats>,
}

/// How often one check passed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassRate {
    /// Output port.
    pub port: String,
    /// The check.
    pub check: String,
    /// Runs that evaluated it.
    pub runs: u64,
    /// Runs where it passed.
    pub passed: u64,
    /// `passed / runs`.
    pub rate: f64,
}

/// Runs over the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunWindow {
    /// Runs looked at (the newest ones).
    pub count: usize,
    /// Finished runs by state.
    pub by_state: BTreeMap<String, u64>,
    /// Median duration of finished runs, in milliseconds.
    pub duration_p50_ms: Option<u64>,
    /// 95th percentile duration, in milliseconds.
    pub duration_p95_ms: Option<u64>,
    /// Largest peak memory, in bytes.
    pub peak_memory_max: u64,
    /// CPU time of the runs' threads, in milliseconds, in all.
    pub cpu_ms_total: u64,
    /// GPU time of the runs, in milliseconds, in all.
    pub gpu_ms_total: f64,
}

/// One value of a gauge.
#[derive(Debug, Serialize, ToSchema)]
pub struct GaugePoint {
    /// The run that reported it.
    pub run: String,
    /// When the run finished.
    pub at: Option<String>,
    /// The value.
    pub value: f64,
}

fn summary(run: &RunRecord) -> RunSummary {
    RunSummary {
        id: run.id.clone(),
        state: state_name(run.state).into(),
        cause: run.cause.name().to_string(),
        finished_at: run.finished_at_us.map(rfc3339),
        duration_ms: duration_ms(run),
        peak_memory: run.peak_memory,
        cpu_ms: run.cpu_ms,
        gpu_ms: run.gpu.as_ref().map(|g| g.gpu_ms),
        gpu_path: run.gpu.as_ref().map(|g| g.path.clone()),
    }
}

fn duration_ms(run: &RunRecord) -> Option<u64> {
    run.started_at_us
        .zip(run.finished_at_us)
        .map(|(s, f)| u64::try_from((f - s) / 1000).unwrap_or(0))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

/// Freshness, inputs, outputs, checks, runs and gauges of one product.
#[utoipa::path(
    get, path = "/v1/products/{product}/metrics", tag = "quality",
    params(
        ("product" = String, Path, description = "Product name"),
        ("runs" = Option<u64>, Query, description = "How many of the newest runs to look at (default 50)"),
    ),
    responses(
        (status = 200, body = ProductMetrics),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn product(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> ServiceResult<Json<ProductMetrics>> {
    caller.require_reader(state.config().public_reads)?;
    let window = params
        .allow(&["runs"])?
        .number("runs")?
        .unwrap_or(WINDOW)
        .clamp(1, MAX_WINDOW);
    let manifest = deployed_manifest(&state, &name)?;
    let readable = |port: &str| {
        manifest.output(port).is_some_and(|o| {
            caller
                .require_port(
                    state.config().public_reads,
                    &name,
                    &manifest.product.domain,
                    port,
                    o.access,
                )
                .is_ok()
        })
    };
    let store = state.store();
    let now = state.scheduler().clock().now_us();
    // Only the window is read, newest first, from the by-product index.
    let window_runs =
        store.runs_page(&name, None, usize::try_from(window).unwrap_or(usize::MAX))?;
    let recent: Vec<&RunRecord> = window_runs.iter().collect();
    let current = store.current_version(&name)?;
    // The last success published the current version (a replay publishes nothing).
    let last_success = match &current {
        Some(version) => store.run(&version.run_id)?,
        None => None,
    };

    let mut inputs = Vec::new();
    for (input, pin) in current.iter().flat_map(|v| v.inputs.iter()) {
        let made_at = if pin.ingested {
            store
                .input_version(&pin.product, &pin.port, pin.version)?
                .map(|v| v.ingested_at_us)
        } else {
            store
                .version(&pin.product, pin.version)?
                .map(|v| v.published_at_us)
        };
        inputs.push(InputAge {
            input: input.clone(),
            kind: if pin.ingested { "ingest" } else { "upstream" },
            product: pin.product.clone(),
            port: pin.port.clone(),
            version: pin.version,
            made_at: made_at.map(rfc3339),
            age_seconds: made_at.map(|t| (now - t).max(0) as f64 / 1e6),
        });
    }

    let mut outputs = Vec::new();
    if let Some(version) = &current {
        let mut stats = store.stats(&name, version.number)?;
        for (port, stored) in version.ports.iter().filter(|(p, _)| readable(p)) {
            outputs.push(PortMetrics {
                port: port.clone(),
                rows: stored.rows,
                bytes: stored.bytes,
                stats: stats.remove(port),
            });
        }
    }

    let checks: Vec<CheckResult> = recent
        .iter()
        .find(|r| !r.checks.is_empty())
        .map(|r| {
            r.checks
                .iter()
                .filter(|c| readable(&c.port))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut rates: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for run in &recent {
        for check in &run.checks {
            let entry = rates
                .entry((check.port.clone(), check.check.clone()))
                .or_default();
            entry.0 += 1;
            entry.1 += u64::from(check.passed);
        }
    }
    let check_pass_rates = rates
        .into_iter()
        .map(|((port, check), (runs, passed))| PassRate {
            port,
            check,
            runs,
            passed,
            rate: passed as f64 / runs as f64,
        })
        .collect();

    let mut by_state = BTreeMap::new();
    let mut durations = Vec::new();
    let mut gauges: BTreeMap<String, Vec<GaugePoint>> = BTreeMap::new();
    for run in recent.iter().rev() {
        *by_state
            .entry(state_name(run.state).to_string())
            .or_insert(0) += 1;
        if !matches!(run.state, RunState::Queued | RunState::Running)
            && let Some(ms) = duration_ms(run)
        {
            durations.push(ms);
        }
        for (gauge, value) in &run.gauges {
            gauges.entry(gauge.clone()).or_default().push(GaugePoint {
                run: run.id.clone(),
                at: run.finished_at_us.map(rfc3339),
                value: *value,
            });
        }
    }
    durations.sort_unstable();

    Ok(Json(ProductMetrics {
        freshness: freshness::of(&state, &name, &manifest)?,
        last_run: window_runs.first().map(summary),
        last_success: last_success.as_ref().map(summary),
        last_publish: current.as_ref().map(|v| PublishSummary {
            version: v.number,
            published_at: rfc3339(v.published_at_us),
            run: v.run_id.clone(),
        }),
        inputs,
        outputs,
        checks,
        check_pass_rates,
        runs: RunWindow {
            count: recent.len(),
            by_state,
            duration_p50_ms: percentile(&durations, 0.5),
            duration_p95_ms: percentile(&durations, 0.95),
            peak_memory_max: recent.iter().map(|r| r.peak_memory).max().unwrap_or(0),
            cpu_ms_total: recent.iter().filter_map(|r| r.cpu_ms).sum(),
            gpu_ms_total: recent
                .iter()
                .filter_map(|r| r.gpu.as_ref())
                .map(|g| g.gpu_ms)
                .sum(),
        },
        gauges,
        product: name,
    }))
}
