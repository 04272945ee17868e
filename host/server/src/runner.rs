//! Runs a product on the server: record the run, pin and wire its inputs and outputs to the
//! store, execute it in the sandbox without blocking the async runtime, then publish its
//! outputs atomically (or discard them) and record how it went.
//!
//! The [`crate::schedule`] module decides *when* a run executes; this module does the run.
//! Before publishing, the output ports' checks run ([`crate::quality`]): a failed `error` check
//! quarantines the outputs instead. Publishing checks the product's storage quota, applies its
//! retention policy afterwards and wakes the products downstream.

use std::collections::BTreeMap;

use tessera_core::io::{BatchSource, MemorySource};
use tessera_core::manifest::{InputSource, Manifest};
use tessera_runtime::{Product, RunOutcome, RunRequest, RunStatus, seed_from_run_id};
use tessera_store::{
    FailureKind, InputPin, LogicalRun, Publication, RetentionPolicy, RunLogLine, RunRecord,
    RunState, now_us,
};

use crate::dag::Mesh;
use crate::error::ServiceResult;
use crate::events::Event;
use crate::quality;
use crate::replay;
use crate::schedule::Cause;
use crate::state::AppState;

/// Records a queued run of the product's active version, or of its retained major `line`
/// (the scheduler decides when it runs).
pub fn queue(
    state: &AppState,
    name: &str,
    line: Option<u64>,
    cause: &Cause,
) -> ServiceResult<RunRecord> {
    let version = match line {
        None => state.active_version(name)?,
        Some(major) => retained_line(state, name, major)?.version,
    };
    let mut record = RunRecord::queued(new_run_id(), name, &version, now_us());
    record.line = line;
    record.cause = cause.kind();
    if let Cause::Retry { of, attempt, after } = cause {
        record.attempt = *attempt;
        record.retry_of = Some(of.clone());
        record.not_before_us =
            Some(now_us() + i64::try_from(after.as_micros()).unwrap_or(i64::MAX / 2));
    }
    state.store().put_run(&record)?;
    announce(state, &record);
    Ok(record)
}

/// The live retained major `major` of `name`, or a 409 saying it is retired or was never kept.
fn retained_line(
    state: &AppState,
    name: &str,
    major: u64,
) -> ServiceResult<tessera_store::RetainedMajor> {
    match state
        .store()
        .retained_majors(name)?
        .into_iter()
        .find(|line| line.major == major)
    {
        Some(line) if !line.retired(now_us()) => Ok(line),
        Some(line) => Err(crate::error::ServiceError::conflict(format!(
            "{name} {major}.x was retired on {} (its deprecation date)",
            crate::schedule::clock::rfc3339(line.deprecation_us)
        ))),
        None => Err(crate::error::ServiceError::conflict(format!(
            "{name} keeps no {major}.x beside its active version"
        ))),
    }
}

/// A unique, time-ordered run id.
pub fn new_run_id() -> String {
    // UUIDv7: milliseconds since the epoch, then 74 random bits. Ids sort by time, and a clock
    // that steps back (after a restart, say) to a moment that already has ids still makes new
    // ones.
    format!("r{}", uuid::Uuid::now_v7().simple())
}

/// Executes a queued run to its end and returns its final record.
pub async fn execute(state: &AppState, mut record: RunRecord) -> RunRecord {
    state.run_started(&record.id);
    // Old records go before this run can end, so the history a client reads once it has
    // ended is already pruned.
    prune_runs(state, &record.product);
    record.state = RunState::Running;
    let started = now_us();
    record.started_at_us = Some(started);
    let logical = record.logical.clone().unwrap_or_else(|| LogicalRun {
        run_id: record.id.clone(),
        clock_us: started,
        seed: seed_from_run_id(&record.id),
    });
    record.logical = Some(logical.clone());
    let retired = match record.line {
        // A retained major's run runs its version while the major is kept.
        Some(major) if record.replay.is_none() => {
            match retained_line(state, &record.product, major) {
                Ok(line) => {
                    record.product_version = line.version;
                    None
                }
                Err(e) => Some(e.message),
            }
        }
        Some(_) => None,
        None => {
            if record.replay.is_none()
                && let Ok(active) = state.active_version(&record.product)
            {
                // A run queued before an activation runs the version active when it starts.
                record.product_version = active;
            }
            None
        }
    };
    let finished = match (
        retired,
        state.product(&record.product, &record.product_version),
    ) {
        (Some(reason), _) => Ok(Ending::Retired(reason)),
        (None, Ok(product)) => {
            // A replay comes with its pins; any other run pins what is current now.
            let pinned = match record.replay {
                Some(_) => Ok(()),
                None => pin_inputs(state, product.manifest()).map(|pins| record.inputs = pins),
            };
            let unpublished = first_unpublished_upstream(product.manifest(), &record.inputs);
            state.metrics().run_started();
            match (pinned, unpublished) {
                (Err(reason), _) => Err((FailureKind::Host, reason)),
                (Ok(()), Some(upstream)) if record.replay.is_none() => {
                    Ok(Ending::Waiting(upstream))
                }
                (Ok(()), _) => run_and_finish(state, &product, &mut record, &logical).await,
            }
        }
        (None, Err(e)) => Err((
            FailureKind::Host,
            format!(
                "cannot load {} {}: {}",
                record.product, record.product_version, e.message
            ),
        )),
    };
    match finished {
        Ok(Ending::Published) => record.state = RunState::Succeeded,
        Ok(Ending::Retired(reason)) => {
            record.state = RunState::Interrupted;
            record.reason = Some(reason);
        }
        Ok(Ending::Waiting(upstream)) => {
            record.state = RunState::Waiting;
            record.reason = Some(format!(
                "waiting for {upstream} to publish its first version; the product runs when it \
                 does"
            ));
        }
        Ok(Ending::Quarantined(reason)) => {
            if let Err(e) = state.store().quarantine(&record.id) {
                tracing::error!(run = %record.id, error = %e, "cannot quarantine the outputs");
            }
            record.state = RunState::Quarantined;
            record.reason = Some(reason);
            state.events().emit(Event::Quarantined {
                product: record.product.clone(),
                run: record.id.clone(),
                failed_checks: record
                    .checks
                    .iter()
                    .filter(|c| !c.passed && c.severity == tessera_core::manifest::Severity::Error)
                    .map(|c| format!("{}: {}", c.port, c.check))
                    .collect(),
            });
        }
        Err((kind, reason)) => {
            if let Err(e) = state.store().discard(&record.id) {
                tracing::warn!(run = %record.id, error = %e, "cannot discard staged outputs");
            }
            record.state = RunState::Failed;
            record.failure = Some(kind);
            record.reason = Some(reason);
        }
    }
    record.finished_at_us = Some(now_us());
    tracing::info!(
        run = %record.id,
        product = %record.product,
        version = %record.product_version,
        cause = record.cause.name(),
        state = ?record.state,
        "run finished"
    );
    if !save(state, &record) {
        // A shutdown interrupted the run and queued its retry: what it did here is void.
        tracing::warn!(run = %record.id, "the run finished after it was marked interrupted");
        if let Ok(Some(stored)) = state.store().run(&record.id) {
            record = stored;
        }
        state.run_finished(&record.id);
        return record;
    }
    crate::lineage::run_ended(state, &record);
    let seconds = record
        .started_at_us
        .zip(record.finished_at_us)
        .map_or(0.0, |(s, f)| (f - s) as f64 / 1e6);
    state
        .metrics()
        .run_finished(&record.product, record.state.name(), seconds);
    // A run that waited for its upstream neither succeeded nor failed.
    if record.replay.is_none() && record.state != RunState::Waiting {
        state.metrics().product_run(
            &record.product,
            record.state == RunState::Succeeded,
            record.checks.iter().filter(|c| !c.passed).count(),
            record.published_version.map(|_| &record.outputs),
        );
    }
    if let Some(version) = record.published_version {
        state.events().emit(Event::Published {
            product: record.product.clone(),
            version,
            run: record.id.clone(),
        });
    }
    announce(state, &record);
    state.run_finished(&record.id);
    if record.published_version.is_some() {
        wake_downstream(state, &record);
    }
    record
}

/// How a run that did not fail ended.
enum Ending {
    /// Published (or, for a replay, compared).
    Published,
    /// An `error` check failed; the reason lists which.
    Quarantined(String),
    /// Not run: this upstream (`product/port`) has published nothing yet.
    Waiting(String),
    /// Not run: the retained major it was queued for is retired or no longer kept.
    Retired(String),
}

/// Wires, runs, checks and then publishes (or, for a replay, compares) one run.
async fn run_and_finish(
    state: &AppState,
    product: &Product,
    record: &mut RunRecord,
    logical: &LogicalRun,
) -> Result<Ending, (FailureKind, String)> {
    let mut repins = 0;
    let (request, notes, stats, check_inputs) = loop {
        match open_all(state, product, record, logical) {
            Ok(opened) => break opened,
            // Retention dropped a pinned version between the pin and the open: what is
            // current now is what the run reads.
            Err(OpenError::Dropped(reason)) if record.replay.is_none() && repins < MAX_REPINS => {
                repins += 1;
                tracing::info!(run = %record.id, %reason, "a pinned input went before it was opened; pinning again");
                record.inputs =
                    pin_inputs(state, product.manifest()).map_err(|r| (FailureKind::Host, r))?;
                record.log.push(RunLogLine {
                    level: "info".into(),
                    message: format!(
                        "a pinned input went before the run could open it ({reason}); pinned \
                         again: {}",
                        describe_pins(&record.inputs)
                    ),
                    at_ms: 0,
                });
            }
            Err(e) => return Err((FailureKind::InputData, e.into_message())),
        }
    };
    record.log.extend(notes);
    // `running` from here: its inputs are pinned and open, whatever retention does next.
    save(state, record);
    announce(state, record);
    crate::lineage::run_started(state, product.manifest(), record);
    let outcome = state.runtime().run(product, request).await;
    record.peak_memory = outcome.peak_memory;
    record.cpu_ms = outcome
        .cpu_time
        .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    record.gauges = outcome.gauges.clone();
    record.gpu = outcome.gpu.as_ref().map(|g| tessera_store::GpuRecord {
        path: g.path.clone(),
        adapter: g.adapter.clone(),
        gpu_ms: g.gpu_time.as_secs_f64() * 1000.0,
        dispatches: g.dispatches,
        peak_memory: g.peak_memory,
    });
    record.log.extend(outcome.log.iter().map(|line| RunLogLine {
        level: line.level.name().to_string(),
        message: line.message.clone(),
        at_ms: line.at_ms,
    }));
    if let RunStatus::Failed { kind, reason } = &outcome.status {
        return Err((*kind, reason.clone()));
    }
    record.outputs = outcome
        .outputs
        .iter()
        .map(|(port, summary)| (port.clone(), summary.rows))
        .collect();
    if record.replay.is_some() {
        return replay::compare(state, record).map(|()| Ending::Published);
    }
    record.checks = quality::check_outputs(state, product.manifest(), record)
        .map_err(|e| (FailureKind::Host, format!("the checks could not run: {e}")))?;
    if let Some(inputs) = check_inputs {
        let custom = custom_checks(state, product, record, logical, inputs).await?;
        record.checks.extend(custom);
    }
    if tessera_quality::blocking(&record.checks) {
        let failed: Vec<String> = record
            .checks
            .iter()
            .filter(|c| !c.passed && c.severity == tessera_core::manifest::Severity::Error)
            .map(|c| format!("{} {}: {}", c.port, c.check, c.message))
            .collect();
        return Ok(Ending::Quarantined(format!(
            "{} check{} failed, so nothing was published: {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join("; ")
        )));
    }
    let stats = stats
        .into_iter()
        .filter_map(|(port, handle)| handle.take().map(|s| (port, s)))
        .collect();
    if let Some(refusal) = judge_publication(state, product.manifest(), record, &stats).await? {
        return Ok(Ending::Quarantined(refusal));
    }
    publish(state, product.manifest(), record, &outcome, stats).map(|()| Ending::Published)
}

/// The federation's `publish` policies, after the checks and before the version becomes
/// visible: a denial sets the outputs aside like a failed check, with the policies' messages.
async fn judge_publication(
    state: &AppState,
    manifest: &Manifest,
    record: &RunRecord,
    stats: &BTreeMap<String, tessera_quality::PortStats>,
) -> Result<Option<String>, (FailureKind, String)> {
    let host = |e: crate::error::ServiceError| (FailureKind::Host, e.message);
    let policies = crate::governance::in_force(
        state,
        tessera_store::PolicyEvent::Publish,
        &manifest.product.domain,
    )
    .map_err(host)?;
    if policies.is_empty() {
        return Ok(None);
    }
    let mut input = crate::governance::input_for(
        state,
        tessera_store::PolicyEvent::Publish,
        crate::governance::host_actor(),
        manifest,
    )
    .map_err(host)?;
    input.run = Some(tessera_governance::input::RunFacts {
        id: record.id.clone(),
        checks: record
            .checks
            .iter()
            .map(|c| tessera_governance::input::CheckFacts {
                port: c.port.clone(),
                check: c.check.clone(),
                severity: c.severity.name().to_string(),
                passed: c.passed,
                failed_rows: c.failed,
            })
            .collect(),
        stats: stats.clone(),
        rows: record.outputs.clone(),
    });
    match crate::governance::judge_with(state, policies, input, record.id.clone()).await {
        Ok(_) => Ok(None),
        Err(e) if e.code == "policy_denied" => Ok(Some(format!(
            "the federation's policies refuse to publish, so nothing was published: {}",
            e.violations
                .iter()
                .map(|v| format!("{}@{}: {}", v.policy, v.version, v.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        Err(e) => Err(host(e)),
    }
}

/// How often a run pins its inputs again when a pinned version went before it was opened.
const MAX_REPINS: u32 = 3;

/// `input@version` for each pin, as a run's log says them.
fn describe_pins(pins: &std::collections::BTreeMap<String, InputPin>) -> String {
    pins.iter()
        .map(|(input, pin)| format!("{input}@{}", pin.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the inputs and outputs of a run could not be opened.
enum OpenError {
    /// A pinned version no longer exists (retention dropped it).
    Dropped(String),
    /// Anything else.
    Failed(String),
}

impl OpenError {
    fn into_message(self) -> String {
        match self {
            OpenError::Dropped(m) | OpenError::Failed(m) => m,
        }
    }

    fn from_store(e: tessera_store::StoreError) -> OpenError {
        match e {
            tessera_store::StoreError::NotFound(m) => OpenError::Dropped(m),
            other => OpenError::Failed(other.to_string()),
        }
    }
}

/// What a run needs open before it starts: the request (inputs and staged outputs), notes on
/// empty inputs, the statistics handles, and the inputs again for the custom checks.
type Opened = (
    RunRequest,
    Vec<RunLogLine>,
    StatsHandles,
    Option<Vec<(String, Box<dyn BatchSource>)>>,
);

/// Opens everything a run reads and writes at its pinned versions.
fn open_all(
    state: &AppState,
    product: &Product,
    record: &RunRecord,
    logical: &LogicalRun,
) -> Result<Opened, OpenError> {
    let (request, notes, stats) = wire(state, product, record, logical)?;
    // Custom checks read the same input versions: open them now, so a version that retention
    // drops while the run goes on stays readable through these handles.
    let check_inputs = if product.has_custom_checks() && record.replay.is_none() {
        Some(open_inputs(state, product.manifest(), record)?.0)
    } else {
        None
    };
    Ok((request, notes, stats, check_inputs))
}

/// Calls the product's `check` export on what the run staged and on `inputs` (the pinned
/// inputs, opened before the run), with the run's logical clock and seed. A check that errs or
/// traps fails the run.
async fn custom_checks(
    state: &AppState,
    product: &Product,
    record: &mut RunRecord,
    logical: &LogicalRun,
    inputs: Vec<(String, Box<dyn BatchSource>)>,
) -> Result<Vec<tessera_quality::CheckResult>, (FailureKind, String)> {
    let host = |e: String| (FailureKind::Host, e);
    let manifest = product.manifest();
    let store = state.store();
    let mut request = RunRequest::new(logical.run_id.clone(), logical.clock_us).seed(logical.seed);
    for (name, source) in inputs {
        request = request.input(name, source);
    }
    for output in &manifest.outputs {
        let staged = store
            .read_staged(&record.id, &output.name)
            .map_err(|e| host(e.to_string()))?;
        request = request.input(output.name.clone(), staged);
    }
    let outcome = state.runtime().check(product, request).await;
    record.peak_memory = record.peak_memory.max(outcome.peak_memory);
    if let Some(cpu) = outcome.cpu_time {
        let ms = u64::try_from(cpu.as_millis()).unwrap_or(u64::MAX);
        record.cpu_ms = Some(record.cpu_ms.unwrap_or(0).saturating_add(ms));
    }
    record.log.extend(outcome.log.iter().map(|line| RunLogLine {
        level: line.level.name().to_string(),
        message: line.message.clone(),
        at_ms: line.at_ms,
    }));
    if let RunStatus::Failed { kind, reason } = outcome.status {
        return Err((kind, reason));
    }
    quality::custom_results(outcome.checks, |port| {
        store
            .read_staged(&record.id, port)
            .map_err(|e| e.to_string())
    })
    .map_err(|e| {
        host(format!(
            "the custom checks' failing rows could not be read: {e}"
        ))
    })
}

/// Checks the quota, publishes the staged outputs with the run's lineage, then applies the
/// retention policy.
fn publish(
    state: &AppState,
    manifest: &Manifest,
    record: &mut RunRecord,
    outcome: &RunOutcome,
    stats: BTreeMap<String, tessera_quality::PortStats>,
) -> Result<(), (FailureKind, String)> {
    let store = state.store();
    let policy = retention_policy(manifest);
    let now = now_us();
    let new_bytes: u64 = outcome.outputs.values().map(|s| s.bytes).sum();
    let quota = manifest.resources.storage.bytes();
    let host = |e: tessera_store::StoreError| (FailureKind::Host, e.to_string());
    let versions = store.versions(&record.product).map_err(host)?;
    let kept_outputs: u64 = versions
        .iter()
        .rev()
        .enumerate()
        .filter(|(i, v)| policy.keeps(*i as u64 + 1, v.published_at_us, now))
        .map(|(_, v)| v.bytes())
        .sum();
    // What the product keeps besides its published versions is its ingested data.
    let all_outputs: u64 = versions.iter().map(|v| v.bytes()).sum();
    let ingested = store
        .stored_bytes(&record.product)
        .map_err(host)?
        .saturating_sub(all_outputs);
    let kept_bytes = kept_outputs + ingested;
    if kept_bytes + new_bytes > quota {
        return Err((
            FailureKind::Quota,
            format!(
                "publishing would keep {} of data, over the product's storage quota of {} \
                 (this version {}, kept versions {}); raise resources.storage or keep fewer \
                 versions with [retention]",
                tessera_core::manifest::ByteSize(kept_bytes + new_bytes),
                manifest.resources.storage,
                tessera_core::manifest::ByteSize(new_bytes),
                tessera_core::manifest::ByteSize(kept_bytes),
            ),
        ));
    }
    let publication = Publication {
        ports: record.outputs.clone(),
        product_version: record.product_version.clone(),
        inputs: record.inputs.clone(),
        stats,
        line: record.line,
        record: Some(Box::new(record.clone())),
    };
    let version = store
        .publish(&record.product, &record.id, &publication)
        .map_err(|e| (FailureKind::Host, format!("publishing failed: {e}")))?;
    record.published_version = Some(version.number);
    if policy.keep_versions.is_some() || policy.max_age_us.is_some() {
        match store.prune(&record.product, policy, now_us()) {
            Ok(report) if !report.versions_removed.is_empty() => {
                tracing::info!(
                    product = %record.product,
                    versions = ?report.versions_removed,
                    files = report.files_removed,
                    bytes = report.bytes_freed,
                    "retention dropped old versions"
                );
                for number in &report.versions_removed {
                    state.forget_renditions(&record.product, *number);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(product = %record.product, error = %e, "retention failed"),
        }
    }
    Ok(())
}

/// The store's form of a manifest's `[retention]`.
pub fn retention_policy(manifest: &Manifest) -> RetentionPolicy {
    RetentionPolicy {
        keep_versions: manifest.retention.keep_versions,
        max_age_us: manifest.retention.max_age.map(span_us),
        append_window_us: manifest.retention.append_window.map(span_us),
    }
}

fn span_us(span: tessera_core::manifest::Span) -> i64 {
    i64::try_from(span.duration().as_micros()).unwrap_or(i64::MAX)
}

/// Queues a run of every product that reads what `record` published and runs on new input.
fn wake_downstream(state: &AppState, record: &RunRecord) {
    let product = &record.product;
    let major = tessera_store::major_of(&record.product_version).unwrap_or(0);
    let downstream = match Mesh::load(state) {
        Ok(mesh) => mesh.downstream(product, major, record.line.is_some()),
        Err(e) => {
            tracing::error!(%product, error = %e.message, "cannot find downstream products");
            return;
        }
    };
    for reader in downstream {
        if let Err(e) = state.scheduler().request(state, &reader, Cause::Upstream) {
            tracing::warn!(product = %reader, error = %e.message, "downstream run not queued");
        }
    }
}

/// Writes the run's record unless the run was interrupted meanwhile (a shutdown's drain marks
/// runs that outlive its grace period); returns `false` then.
fn save(state: &AppState, record: &RunRecord) -> bool {
    match state.store().update_run(record) {
        Ok(written) => written,
        Err(e) => {
            tracing::error!(run = %record.id, error = %e, "cannot record the run");
            true
        }
    }
}

/// The first input of `manifest` whose current version no settled run of the product has
/// read: neither the published version nor the newest run that ended for the product's own
/// reasons (a quarantine, a failure of its code or data). A run should read it.
pub fn unread_input(state: &AppState, manifest: &Manifest) -> Result<Option<String>, String> {
    let store = state.store();
    let product = &manifest.product.name;
    let current = pin_inputs(state, manifest)?;
    if current.is_empty() {
        return Ok(None);
    }
    let published = store
        .current_version(product)
        .map_err(|e| e.to_string())?
        .map(|v| v.inputs)
        .unwrap_or_default();
    let settled = store
        .runs_page(product, None, SETTLED_RUN_SEARCH)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|run| run.replay.is_none() && settled_by_product(run))
        .map(|run| run.inputs)
        .unwrap_or_default();
    Ok(current
        .iter()
        .find(|(name, pin)| {
            let read_by = |pins: &BTreeMap<String, InputPin>| {
                pins.get(*name).is_some_and(|p| p.version == pin.version)
            };
            !read_by(&published) && !read_by(&settled)
        })
        .map(|(name, _)| name.clone()))
}

/// How many of a product's newest runs [`unread_input`] looks through for a settled one.
const SETTLED_RUN_SEARCH: usize = 32;

/// Whether a run ended for the product's own reasons: it published, its checks stopped it, or
/// its code or data failed (not the host, not a shutdown).
fn settled_by_product(run: &RunRecord) -> bool {
    match run.state {
        RunState::Succeeded | RunState::Quarantined => true,
        RunState::Failed => !run.failure.is_some_and(FailureKind::is_host_fault),
        RunState::Queued | RunState::Running | RunState::Interrupted | RunState::Waiting => false,
    }
}

/// Deletes the product's run records beyond the configured number kept.
fn prune_runs(state: &AppState, product: &str) {
    match state
        .store()
        .prune_runs(product, state.config().scheduler.keep_runs)
    {
        Ok(removed) if !removed.is_empty() => {
            tracing::debug!(%product, runs = removed.len(), "old run records deleted")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(%product, error = %e, "cannot delete old run records"),
    }
}

/// Tells event subscribers the run's state.
pub fn announce(state: &AppState, record: &RunRecord) {
    state.events().emit(Event::Run {
        product: record.product.clone(),
        run: record.id.clone(),
        state: record.state.name().to_string(),
        reason: record.reason.clone(),
    });
}

/// The first `from` input of `manifest` that `pins` has no version of (its upstream has
/// published nothing yet), as `product/port`.
fn first_unpublished_upstream(
    manifest: &Manifest,
    pins: &BTreeMap<String, InputPin>,
) -> Option<String> {
    manifest
        .inputs
        .iter()
        .find_map(|input| match &input.source {
            InputSource::Upstream(upstream) if !pins.contains_key(&input.name) => {
                Some(format!("{}/{}", upstream.product, upstream.port))
            }
            _ => None,
        })
}

/// The current version of every declared input, pinned for this run (snapshot isolation: the
/// run reads these whatever is published meanwhile). Ingest ports with no data yet are left
/// out and read as empty.
fn pin_inputs(state: &AppState, manifest: &Manifest) -> Result<BTreeMap<String, InputPin>, String> {
    let store = state.store();
    let product = &manifest.product.name;
    let mut pins = BTreeMap::new();
    for input in &manifest.inputs {
        let pin = match &input.source {
            InputSource::Ingest(_) => store
                .current_input(product, &input.name)
                .map_err(|e| e.to_string())?
                .map(|v| InputPin {
                    product: product.clone(),
                    port: input.name.clone(),
                    version: v.number,
                    ingested: true,
                }),
            InputSource::Upstream(upstream) => match upstream.major {
                // A pinned reader reads its major's newest version, from the active version
                // or a retained major.
                Some(major) => store.current_of_major(&upstream.product, major),
                None => store.current_version(&upstream.product),
            }
            .map_err(|e| e.to_string())?
            .map(|v| InputPin {
                product: upstream.product.clone(),
                port: upstream.port.clone(),
                version: v.number,
                ingested: false,
            }),
        };
        if let Some(pin) = pin {
            pins.insert(input.name.clone(), pin);
        }
    }
    Ok(pins)
}

/// Statistics handles of the output ports, by port.
type StatsHandles = BTreeMap<String, tessera_quality::StatsHandle>;

/// Opens every declared input at its pinned version and stages every declared output (through
/// a sink that computes column statistics as the product writes, except for replays).
fn wire(
    state: &AppState,
    product: &Product,
    record: &RunRecord,
    logical: &LogicalRun,
) -> Result<(RunRequest, Vec<RunLogLine>, StatsHandles), OpenError> {
    let manifest = product.manifest();
    let store = state.store();
    let mut request = RunRequest::new(logical.run_id.clone(), logical.clock_us).seed(logical.seed);
    let (inputs, notes) = open_inputs(state, manifest, record)?;
    for (name, source) in inputs {
        request = request.input(name, source);
    }
    let mut handles = StatsHandles::new();
    for output in &manifest.outputs {
        let schema = output.schema.to_arrow();
        let sink = store
            .stage(&record.product, &record.id, &output.name, schema.clone())
            .map_err(|e| {
                OpenError::Failed(format!("cannot stage output `{}`: {e}", output.name))
            })?;
        let sink: Box<dyn tessera_core::io::BatchSink> = if record.replay.is_some() {
            sink
        } else {
            let (sink, handle) = tessera_quality::StatsSink::wrap(sink, &schema);
            handles.insert(output.name.clone(), handle);
            Box::new(sink)
        };
        request = request.output(output.name.clone(), sink);
    }
    Ok((request, notes, handles))
}

/// Every declared input at the version pinned in `record`, with a note for each ingest port
/// that has no data yet (read as empty).
type OpenedInputs = (Vec<(String, Box<dyn BatchSource>)>, Vec<RunLogLine>);

fn open_inputs(
    state: &AppState,
    manifest: &Manifest,
    record: &RunRecord,
) -> Result<OpenedInputs, OpenError> {
    let store = state.store();
    let mut sources = Vec::new();
    let mut notes = Vec::new();
    for input in &manifest.inputs {
        let pin = record.inputs.get(&input.name);
        let source: Box<dyn BatchSource> = match (&input.source, pin) {
            (InputSource::Ingest(_), Some(pin)) => store
                .read_input(&record.product, &input.name, pin.version)
                .map_err(OpenError::from_store)?,
            (InputSource::Ingest(schema), None) => {
                notes.push(RunLogLine {
                    level: "warn".into(),
                    message: format!(
                        "input `{}` has no ingested data yet; the run reads it as empty",
                        input.name
                    ),
                    at_ms: 0,
                });
                Box::new(MemorySource::new(schema.to_arrow(), Vec::new()))
            }
            (InputSource::Upstream(upstream), Some(pin)) => store
                .read(&upstream.product, pin.version, &upstream.port)
                .map_err(OpenError::from_store)?,
            (InputSource::Upstream(upstream), None) => {
                return Err(OpenError::Failed(format!(
                    "input `{}` reads {}/{}, which has published nothing yet",
                    input.name, upstream.product, upstream.port
                )));
            }
        };
        sources.push((input.name.clone(), source));
    }
    Ok((sources, notes))
}

#[cfg(test)]
mod tests {
    /// A run id for a moment given in milliseconds since the epoch: UUIDv7, the time then 74
    /// random bits. Ids sort by time, and a clock that steps back (after a restart, say) to a
    /// moment that already has ids still makes new ones.
    fn run_id_at(unix_ms: u64) -> String {
        let at = uuid::Timestamp::from_unix(
            uuid::NoContext,
            unix_ms / 1000,
            (unix_ms % 1000) as u32 * 1_000_000,
        );
        format!("r{}", uuid::Uuid::new_v7(at).simple())
    }

    #[test]
    fn run_ids_do_not_collide_when_the_clock_steps_back() {
        let mut seen = std::collections::HashSet::new();
        // The same millisecond again and again, as after a clock step back to it.
        for _ in 0..10_000 {
            assert!(seen.insert(run_id_at(1_700_000_000_000)));
        }
        for ms in (1_600_000_000_000..1_600_000_000_100).rev() {
            assert!(seen.insert(run_id_at(ms)));
        }
        // Later moments sort after earlier ones.
        assert!(run_id_at(1_700_000_000_001) > run_id_at(1_700_000_000_000));
        assert!(super::new_run_id() > run_id_at(1_700_000_000_000));
    }
}
