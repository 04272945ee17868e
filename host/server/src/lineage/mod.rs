//! OpenLineage events about runs, for Marquez, DataHub, OpenMetadata, Airflow and the other
//! tools that read the standard: a `START` when a run has pinned its inputs and starts
//! executing, then one of `COMPLETE` (it published), `FAIL` (it failed, or its checks or the
//! federation's policies kept its outputs back) or `ABORT` (a shutdown or a retired major
//! stopped it). The job is the product; datasets are ports, named as the API names them.
//!
//! - [`model`]: the event and facets as the spec writes them;
//! - [`build`]: a run record and its manifest as an event;
//! - [`emitter`]: the bounded queue and the thread that POSTs events to `[lineage]
//!   openlineage_url`, with retries, never making a run wait.

pub mod build;
pub mod emitter;
pub mod model;

use std::collections::BTreeMap;

use tessera_core::manifest::{InputSource, Manifest};
use tessera_core::schema::Schema;
use tessera_store::RunRecord;

use crate::state::AppState;
use build::RunFacts;
use model::EventType;

/// Sends the `START` of a run that pinned its inputs and starts executing.
pub fn run_started(state: &AppState, manifest: &Manifest, record: &RunRecord) {
    let emitter = state.lineage();
    if !emitter.enabled() {
        return;
    }
    emitter.mark_started(&record.id);
    send(state, EventType::Start, manifest, record);
}

/// Sends the end of a run (`COMPLETE`, `FAIL` or `ABORT`), after its `START` if none was sent
/// (a run that failed before it executed). A run that ended waiting for its upstream never ran
/// and sends nothing.
pub fn run_ended(state: &AppState, record: &RunRecord) {
    let emitter = state.lineage();
    if !emitter.enabled() {
        return;
    }
    let Some(kind) = build::terminal_type(record.state) else {
        return;
    };
    let manifest = match state.version_manifest(&record.product, &record.product_version) {
        Ok(Some(manifest)) => manifest,
        Ok(None) => {
            tracing::debug!(run = %record.id, "no manifest for the run's version; no lineage event");
            let _ = emitter.take_started(&record.id);
            return;
        }
        Err(e) => {
            tracing::warn!(run = %record.id, error = %e.message, "cannot read the run's manifest; no lineage event");
            let _ = emitter.take_started(&record.id);
            return;
        }
    };
    if !emitter.take_started(&record.id) {
        send(state, EventType::Start, &manifest, record);
    }
    send(state, kind, &manifest, record);
}

fn send(state: &AppState, kind: EventType, manifest: &Manifest, record: &RunRecord) {
    let upstream_schemas = upstream_schemas(state, manifest, record);
    let published = record.published_version.and_then(|number| {
        state
            .store()
            .version(&record.product, number)
            .ok()
            .flatten()
    });
    let facts = RunFacts {
        namespace: &state.config().lineage.namespace,
        manifest,
        record,
        upstream_schemas: &upstream_schemas,
        published: published.as_ref(),
    };
    state.lineage().send(&build::event(kind, &facts));
}

/// The schema of each upstream input, as the version of the upstream that published the
/// pinned data declared it (the active version's, for an input not pinned yet).
fn upstream_schemas(
    state: &AppState,
    manifest: &Manifest,
    record: &RunRecord,
) -> BTreeMap<String, Schema> {
    let mut schemas = BTreeMap::new();
    for input in &manifest.inputs {
        let InputSource::Upstream(upstream) = &input.source else {
            continue;
        };
        let producer_version = match record.inputs.get(&input.name) {
            Some(pin) => state
                .store()
                .version(&upstream.product, pin.version)
                .ok()
                .flatten()
                .map(|v| v.product_version),
            None => state.store().active(&upstream.product).ok().flatten(),
        };
        let schema = producer_version
            .and_then(|v| state.version_manifest(&upstream.product, &v).ok().flatten())
            .and_then(|m| {
                m.outputs
                    .iter()
                    .find(|o| o.name == upstream.port)
                    .map(|o| o.schema.clone())
            });
        if let Some(schema) = schema {
            schemas.insert(input.name.clone(), schema);
        }
    }
    schemas
}
