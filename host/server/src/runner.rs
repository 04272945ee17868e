//! Runs a product on the server: record the run, wire its inputs and outputs to the store,
//! execute it in the sandbox without blocking the async runtime, then publish its outputs
//! atomically (or discard them) and record how it went.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_core::io::{BatchSource, MemorySource};
use tessera_core::manifest::InputSource;
use tessera_runtime::{Product, RunRequest, RunStatus};
use tessera_store::{RunLogLine, RunRecord, RunState, now_us};

use crate::api::model::state_name;
use crate::error::ApiResult;
use crate::events::Event;
use crate::state::AppState;

/// Records a queued run of the product's active version and starts it in the background.
pub fn trigger(state: &AppState, name: &str) -> ApiResult<RunRecord> {
    let version = state.active_version(name)?;
    let product = state.product(name, &version)?;
    let record = RunRecord::queued(new_run_id(), name, &version, now_us());
    state.store().put_run(&record)?;
    announce(state, &record);
    let state = state.clone();
    let queued = record.clone();
    tokio::spawn(async move { execute(state, product, queued).await });
    Ok(record)
}

/// A unique, time-ordered run id.
fn new_run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("r{:x}{:04x}", now_us(), n & 0xffff)
}

async fn execute(state: AppState, product: Product, mut record: RunRecord) {
    state.run_started(&record.id);
    record.state = RunState::Running;
    record.started_at_us = Some(now_us());
    if let Err(e) = state.store().put_run(&record) {
        tracing::error!(run = %record.id, error = %e, "cannot record the run as running");
    }
    state.metrics().run_started();
    announce(&state, &record);
    let finished = match wire(&state, &product, &record) {
        Ok((request, notes)) => {
            record.log.extend(notes);
            let outcome = state.runtime().run(&product, request).await;
            record.peak_memory = outcome.peak_memory;
            record.log.extend(outcome.log.iter().map(|line| RunLogLine {
                level: line.level.name().to_string(),
                message: line.message.clone(),
                at_ms: line.at_ms,
            }));
            match &outcome.status {
                RunStatus::Succeeded => {
                    let rows: BTreeMap<String, u64> = outcome
                        .outputs
                        .iter()
                        .map(|(port, summary)| (port.clone(), summary.rows))
                        .collect();
                    record.outputs = rows.clone();
                    match state.store().publish(&record.product, &record.id, &rows) {
                        Ok(version) => {
                            record.published_version = Some(version.number);
                            Ok(())
                        }
                        Err(e) => Err(("host".to_string(), format!("publishing failed: {e}"))),
                    }
                }
                RunStatus::Failed { kind, reason } => {
                    Err((kind.name().to_string(), reason.clone()))
                }
            }
        }
        Err(reason) => Err(("input-data".to_string(), reason)),
    };
    match finished {
        Ok(()) => record.state = RunState::Succeeded,
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
        state = ?record.state,
        "run finished"
    );
    if let Err(e) = state.store().put_run(&record) {
        tracing::error!(run = %record.id, error = %e, "cannot record the run's end");
    }
    let seconds = record
        .started_at_us
        .zip(record.finished_at_us)
        .map_or(0.0, |(s, f)| (f - s) as f64 / 1e6);
    state
        .metrics()
        .run_finished(&record.product, state_name(record.state), seconds);
    if let Some(version) = record.published_version {
        state.events().emit(Event::Published {
            product: record.product.clone(),
            version,
            run: record.id.clone(),
        });
    }
    announce(&state, &record);
    state.run_finished(&record.id);
}

/// Tells event subscribers the run's state.
fn announce(state: &AppState, record: &RunRecord) {
    state.events().emit(Event::Run {
        product: record.product.clone(),
        run: record.id.clone(),
        state: state_name(record.state).to_string(),
        reason: record.reason.clone(),
    });
}

/// Opens every declared input (at the version current now) and stages every declared output.
fn wire(
    state: &AppState,
    product: &Product,
    record: &RunRecord,
) -> Result<(RunRequest, Vec<RunLogLine>), String> {
    let manifest = product.manifest();
    let store = state.store();
    let mut request = RunRequest::new(record.id.clone(), record.created_at_us);
    let mut notes = Vec::new();
    for input in &manifest.inputs {
        let source: Box<dyn BatchSource> = match &input.source {
            InputSource::Ingest(schema) => {
                notes.push(RunLogLine {
                    level: "warn".into(),
                    message: format!(
                        "input `{}` has no ingested data; the run reads it as empty",
                        input.name
                    ),
                    at_ms: 0,
                });
                Box::new(MemorySource::new(schema.to_arrow(), Vec::new()))
            }
            InputSource::Upstream(upstream) => {
                let version = store
                    .current_version(&upstream.product)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| {
                        format!(
                            "input `{}` reads {}/{}, which has published nothing yet",
                            input.name, upstream.product, upstream.port
                        )
                    })?;
                store
                    .read(&upstream.product, version.number, &upstream.port)
                    .map_err(|e| e.to_string())?
            }
        };
        request = request.input(input.name.clone(), source);
    }
    for output in &manifest.outputs {
        let sink = store
            .stage(
                &record.product,
                &record.id,
                &output.name,
                output.schema.to_arrow(),
            )
            .map_err(|e| format!("cannot stage output `{}`: {e}", output.name))?;
        request = request.output(output.name.clone(), sink);
    }
    Ok((request, notes))
}
