//! Custom checks: a call of the product's optional `check` export after a successful run, in a
//! fresh store where the output ports read back what `run` staged and nothing can be written.
//! The results are validated (a declared port, a name, no duplicates) before anyone sees them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tessera_core::custom_checks;
use tessera_core::manifest::Manifest;

use crate::bindings::tessera::product::types::RunInfo;
use crate::bindings::{CheckResult, Severity};
use crate::outcome::{CheckOutcome, CustomCheck, FailureKind, RunStatus};
use crate::run::{classify, collect_log, describe, new_store};
use crate::{Product, RunRequest};

/// Calls the product's `check` export; a product without one reports no checks.
pub(crate) fn execute(product: &Product, request: RunRequest) -> CheckOutcome {
    let began = Instant::now();
    let cpu_before = crate::cpu::thread_cpu_time();
    let Some(pre) = &product.inner.checks_pre else {
        return CheckOutcome {
            status: RunStatus::Succeeded,
            checks: Vec::new(),
            duration: Duration::ZERO,
            cpu_time: None,
            peak_memory: 0,
            log: Vec::new(),
        };
    };
    let manifest = product.inner.manifest.clone();
    let RunRequest {
        run_id,
        started_at_us,
        seed,
        inputs,
        parameters,
        ..
    } = request;
    let inputs = inputs.into_iter().map(|(k, v)| (k, Some(v))).collect();
    let (mut store, pipes) = new_store(
        product,
        &run_id,
        (started_at_us, seed),
        inputs,
        HashMap::new(),
        (true, parameters),
    );
    let info = RunInfo {
        run_id: run_id.clone(),
        product: manifest.product.name.clone(),
        version: manifest.product.version.to_string(),
        started_at: started_at_us,
    };
    let span = tracing::info_span!("check", product = %manifest.product.name, run = %run_id);
    let _entered = span.enter();
    let result = pre
        .instantiate(&mut store)
        .and_then(|bindings| bindings.call_check(&mut store, &info));
    let duration = began.elapsed();
    let mut state = store.into_data();
    let (log, stderr) = collect_log(&mut state, &pipes, duration);

    let (status, checks) = match result {
        _ if state.input_fault.is_some() => (
            RunStatus::Failed {
                kind: FailureKind::InputData,
                reason: state.input_fault.clone().unwrap_or_default(),
            },
            Vec::new(),
        ),
        Ok(Ok(results)) => match validate(results, &manifest) {
            Ok(checks) => (RunStatus::Succeeded, checks),
            Err(reason) => (
                RunStatus::Failed {
                    kind: FailureKind::ProductError,
                    reason,
                },
                Vec::new(),
            ),
        },
        Ok(Err(e)) => (
            RunStatus::Failed {
                kind: FailureKind::ProductError,
                reason: format!("the product's checks returned an error: {}", describe(&e)),
            },
            Vec::new(),
        ),
        Err(e) => {
            let (kind, reason) =
                classify(&e, &state, &stderr, &manifest.resources.timeout.to_string());
            (
                RunStatus::Failed {
                    kind,
                    reason: format!("while checking the outputs, {reason}"),
                },
                Vec::new(),
            )
        }
    };
    if let RunStatus::Failed { kind, reason } = &status {
        tracing::warn!(?kind, %reason, "custom checks failed to run");
    }
    CheckOutcome {
        status,
        checks,
        duration,
        cpu_time: state.cpu_since(cpu_before),
        peak_memory: state.limiter.peak as u64,
        log,
    }
}

/// Turns the reported results into [`CustomCheck`]s, refusing results the host cannot place
/// ([`custom_checks::validate`]).
fn validate(results: Vec<CheckResult>, manifest: &Manifest) -> Result<Vec<CustomCheck>, String> {
    custom_checks::validate(
        results.iter().map(|r| (r.port.as_str(), r.name.as_str())),
        manifest,
    )?;
    Ok(results
        .into_iter()
        .map(|result| {
            let mut failing_rows = result.failing_rows;
            failing_rows.truncate(custom_checks::MAX_FAILING_ROWS);
            CustomCheck {
                port: result.port,
                name: result.name,
                severity: match result.severity {
                    Severity::Error => tessera_core::manifest::Severity::Error,
                    Severity::Warn => tessera_core::manifest::Severity::Warn,
                },
                passed: result.passed,
                evaluated: result.evaluated,
                failed: result.failed,
                failing_rows,
                message: result.message,
            }
        })
        .collect())
}
