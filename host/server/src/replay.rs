//! Deterministic replay: re-running the code that produced a published version on the exact
//! input versions it read, with the same logical run (id, clock, seed), and comparing every
//! output by content hash. A replay publishes nothing.

use tessera_store::{
    FailureKind, LogicalRun, PortMatch, ReplayReport, RunCause, RunRecord, now_us,
};

use crate::error::{ServiceError, ServiceResult};
use crate::runner::{announce, new_run_id};
use crate::state::AppState;

/// Queues a replay of the version of `product` that holds `port` at `number`; it runs through
/// the product's run queue like any run.
pub fn request(
    state: &AppState,
    product: &str,
    port: &str,
    number: u64,
) -> ServiceResult<RunRecord> {
    let store = state.store();
    let Some(version) = store.version(product, number)? else {
        let known: Vec<String> = store
            .versions(product)?
            .iter()
            .map(|v| v.number.to_string())
            .collect();
        return Err(ServiceError::not_found(
            format!("{product} has no published version {number}"),
            &known,
        ));
    };
    if !version.ports.contains_key(port) {
        return Err(ServiceError::not_found(
            format!("version {number} of {product} has no output port `{port}`"),
            &version.ports.keys().cloned().collect::<Vec<_>>(),
        ));
    }
    if version.product_version.is_empty() {
        return Err(ServiceError::conflict(format!(
            "version {number} of {product} was published before lineage was recorded; it \
             cannot be replayed"
        )));
    }
    for (input, pin) in &version.inputs {
        let exists = if pin.ingested {
            store
                .input_version(&pin.product, &pin.port, pin.version)?
                .is_some()
        } else {
            store.version(&pin.product, pin.version)?.is_some()
        };
        if !exists {
            return Err(ServiceError::conflict(format!(
                "input `{input}` of version {number} read {}/{} version {}, which retention has \
                 dropped; it cannot be replayed",
                pin.product, pin.port, pin.version
            ))
            .hint("keep more versions with [retention] to replay older ones"));
        }
    }
    let original = store.run(&version.run_id)?;
    let logical = original
        .as_ref()
        .and_then(|r| r.logical.clone())
        .unwrap_or_else(|| LogicalRun {
            run_id: version.run_id.clone(),
            clock_us: original
                .as_ref()
                .and_then(|r| r.started_at_us)
                .unwrap_or(version.published_at_us),
            seed: tessera_runtime::seed_from_run_id(&version.run_id),
        });
    let mut record = RunRecord::queued(new_run_id(), product, &version.product_version, now_us());
    record.cause = RunCause::Replay;
    record.inputs = version.inputs.clone();
    record.logical = Some(logical);
    record.replay = Some(ReplayReport {
        of_version: number,
        of_run: version.run_id.clone(),
        matches: None,
        ports: Vec::new(),
    });
    let record = state.scheduler().request_replay(state, record)?;
    announce(state, &record);
    Ok(record)
}

/// Compares a finished replay's staged outputs with the version it replays, records the
/// result in the run, and drops the staged files.
pub fn compare(state: &AppState, record: &mut RunRecord) -> Result<(), (FailureKind, String)> {
    let store = state.store();
    let Some(report) = record.replay.as_mut() else {
        return Ok(());
    };
    let version = store
        .version(&record.product, report.of_version)
        .map_err(|e| (FailureKind::Host, e.to_string()))?
        .ok_or_else(|| {
            (
                FailureKind::Host,
                format!(
                    "version {} disappeared during the replay",
                    report.of_version
                ),
            )
        })?;
    report.ports = version
        .ports
        .iter()
        .map(|(port, published)| {
            let replayed = store
                .staged_file(&record.id, port)
                .map(|(hash, _)| hash)
                .unwrap_or_default();
            PortMatch {
                port: port.clone(),
                published: published.hash.clone(),
                matches: !replayed.is_empty() && replayed == published.hash,
                replayed,
            }
        })
        .collect();
    report.matches = Some(report.ports.iter().all(|p| p.matches));
    if let Err(e) = store.discard(&record.id) {
        tracing::warn!(run = %record.id, error = %e, "cannot discard a replay's outputs");
    }
    Ok(())
}
