//! Data tests on a run's staged outputs, before anything is published: each output port's
//! declared checks, with what they need from outside the run (the clock, the previous version,
//! referenced columns of other products).

use std::collections::{BTreeMap, HashSet};

use tessera_core::io::BatchSource;
use tessera_core::manifest::{CheckRule, Manifest, OutputPort};
use tessera_quality::{CheckEnv, CheckResult, check_source, numbers, reference_key, texts};
use tessera_store::{RunRecord, StoreError};

use crate::state::AppState;

/// Evaluates every output port's checks on what run `run_id` staged.
pub fn check_outputs(
    state: &AppState,
    manifest: &Manifest,
    run: &RunRecord,
) -> Result<Vec<CheckResult>, String> {
    let run_id = run.id.as_str();
    let mut results = Vec::new();
    for output in manifest.outputs.iter().filter(|o| !o.checks.is_empty()) {
        let env = environment(state, manifest, output, run).map_err(|e| e.to_string())?;
        let mut source = state
            .store()
            .read_staged(run_id, &output.name)
            .map_err(|e| e.to_string())?;
        results.extend(
            check_source(&output.name, &output.checks, source.as_mut(), &env)
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(results)
}

/// The clock, the previous published version of the port, and the referenced columns.
fn environment(
    state: &AppState,
    manifest: &Manifest,
    output: &OutputPort,
    run: &RunRecord,
) -> Result<CheckEnv, StoreError> {
    let store = state.store();
    let product = &manifest.product.name;
    let run_id = run.id.as_str();
    // A retained major's run compares with its own major's previous version.
    let previous = match run.line {
        Some(major) => store.current_of_major(product, major)?,
        None => store.current_version(product)?,
    };
    let mut env = CheckEnv {
        now_us: state.scheduler().clock().now_us(),
        previous_rows: previous
            .as_ref()
            .and_then(|v| v.ports.get(&output.name))
            .map(|p| p.rows),
        ..CheckEnv::default()
    };
    let mean_columns: Vec<&str> = output
        .checks
        .iter()
        .filter_map(|c| match &c.rule {
            CheckRule::Change {
                column: Some(column),
                ..
            } => Some(column.as_str()),
            _ => None,
        })
        .collect();
    if let Some(previous) = previous
        .as_ref()
        .filter(|v| v.ports.contains_key(&output.name))
        && !mean_columns.is_empty()
    {
        let source = store.read(product, previous.number, &output.name)?;
        env.previous_means = means(source, &mean_columns)?;
    }
    for check in &output.checks {
        let CheckRule::Relationships { to, field, .. } = &check.rule else {
            continue;
        };
        let Some((other, port)) = to.split_once('/') else {
            continue;
        };
        // A port of this product is checked against what this run wrote; another product's
        // against its current published version.
        let source = if other == product {
            Some(store.read_staged(run_id, port)?)
        } else {
            match store.current_version(other)? {
                Some(v) if v.ports.contains_key(port) => Some(store.read(other, v.number, port)?),
                _ => None,
            }
        };
        if let Some(source) = source {
            env.references
                .insert(reference_key(to, field), values(source, field)?);
        }
    }
    Ok(env)
}

fn means(
    mut source: Box<dyn BatchSource>,
    columns: &[&str],
) -> Result<BTreeMap<String, f64>, StoreError> {
    let mut sums: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    while let Some(batch) = source
        .next_batch()
        .map_err(|e| StoreError::Io(e.to_string()))?
    {
        for column in columns {
            if let Ok(index) = batch.schema().index_of(column) {
                let entry = sums.entry(column.to_string()).or_default();
                for v in numbers(batch.column(index)).into_iter().flatten() {
                    entry.0 += v;
                    entry.1 += 1;
                }
            }
        }
    }
    Ok(sums
        .into_iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(c, (sum, n))| (c, sum / n as f64))
        .collect())
}

fn values(mut source: Box<dyn BatchSource>, field: &str) -> Result<HashSet<String>, StoreError> {
    let mut found = HashSet::new();
    while let Some(batch) = source
        .next_batch()
        .map_err(|e| StoreError::Io(e.to_string()))?
    {
        if let Ok(index) = batch.schema().index_of(field) {
            found.extend(texts(batch.column(index)).into_iter().flatten());
        }
    }
    Ok(found)
}

/// A product's custom check results as [`CheckResult`]s, with the values of the first failing
/// rows read from `read` (the port's staged data).
pub fn custom_results(
    checks: Vec<tessera_runtime::CustomCheck>,
    mut read: impl FnMut(&str) -> Result<Box<dyn BatchSource>, String>,
) -> Result<Vec<CheckResult>, String> {
    let mut results = Vec::with_capacity(checks.len());
    for check in checks {
        let sample = if check.failing_rows.is_empty() {
            Vec::new()
        } else {
            let mut source = read(&check.port)?;
            tessera_quality::sample_rows(source.as_mut(), &check.failing_rows)
                .map_err(|e| e.to_string())?
        };
        results.push(CheckResult {
            port: check.port,
            check: check.name,
            kind: "custom".to_string(),
            column: None,
            severity: check.severity,
            passed: check.passed,
            evaluated: check.evaluated,
            failed: check.failed,
            mostly: None,
            observed: None,
            message: check.message,
            description: String::new(),
            sample,
        });
    }
    Ok(results)
}
