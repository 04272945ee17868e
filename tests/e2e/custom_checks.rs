//! Custom checks exported by a real component (`tests/fixtures/hostile`): in the sandbox they
//! read back what `run` staged and cannot write; on the server a failing `error` check
//! quarantines the run with its failing rows, a warning publishes, and a check that traps or
//! misbehaves fails the run and publishes nothing.

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use axum::http::StatusCode;
use serde_json::Value;
use tessera_core::io::{BatchSource, MemorySink, MemorySource};
use tessera_runtime::{CheckOutcome, FailureKind, Product, RunRequest, RunStatus};
use tessera_store::Store;

use crate::server::{Api, config};

fn hostile_wasm() -> Vec<u8> {
    std::fs::read(tessera_tests::built("tests/fixtures/hostile")).unwrap()
}

fn control(mode: &str) -> Box<dyn BatchSource> {
    let schema = Arc::new(Schema::new(vec![Field::new("mode", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![mode]))],
    )
    .unwrap();
    Box::new(MemorySource::new(schema, vec![batch]))
}

/// Runs hostile in `mode`, then calls its checks on what the run wrote.
fn run_then_check(product: &Product, mode: &str) -> CheckOutcome {
    let sink = MemorySink::new();
    let id = format!("custom-{mode}");
    let outcome = product.run_blocking(
        RunRequest::new(id.clone(), 0)
            .input("control", control(mode))
            .output("result", Box::new(sink.clone())),
    );
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    let staged = sink.batches();
    let schema = staged[0].schema();
    product.check_blocking(
        RunRequest::new(id, 0)
            .input("control", control(mode))
            .input("result", Box::new(MemorySource::new(schema, staged))),
    )
}

fn failure(outcome: &CheckOutcome) -> (FailureKind, String) {
    match &outcome.status {
        RunStatus::Failed { kind, reason } => (*kind, reason.clone()),
        RunStatus::Succeeded => panic!("expected a failure, got {:?}", outcome.checks),
    }
}

#[test]
fn checks_read_the_staged_outputs_in_the_sandbox() {
    let runtime = tessera_tests::runtime();
    let product = runtime.load(&hostile_wasm()).unwrap();
    assert!(product.has_custom_checks());

    let passing = run_then_check(&product, "ok");
    assert_eq!(passing.status, RunStatus::Succeeded);
    assert_eq!(passing.checks.len(), 1);
    let written = &passing.checks[0];
    assert_eq!(
        (
            written.port.as_str(),
            written.name.as_str(),
            written.passed,
            written.evaluated,
            written.failed
        ),
        ("result", "outcome-is-written", true, 1, 0)
    );

    let failing = run_then_check(&product, "check-fail");
    let planted = &failing.checks[1];
    assert_eq!(
        (
            planted.severity.name(),
            planted.passed,
            planted.failed,
            planted.failing_rows.clone()
        ),
        ("error", false, 1, vec![0])
    );
    assert_eq!(planted.message, "the planted failure, on row 0");

    let warning = run_then_check(&product, "check-warn");
    assert_eq!(warning.checks[1].severity.name(), "warn");
    assert!(!warning.checks[1].passed);
}

#[test]
fn checks_that_misbehave_fail_with_the_reason() {
    let runtime = tessera_tests::runtime();
    let product = runtime.load(&hostile_wasm()).unwrap();

    let (kind, reason) = failure(&run_then_check(&product, "check-panic"));
    assert_eq!(kind, FailureKind::Panic, "{reason}");
    assert!(
        reason.contains("while checking the outputs")
            && reason.contains("planted panic in hostile's checks"),
        "{reason}"
    );

    let (kind, reason) = failure(&run_then_check(&product, "check-loop"));
    assert_eq!(kind, FailureKind::Timeout, "{reason}");

    let (kind, reason) = failure(&run_then_check(&product, "check-write"));
    assert_eq!(kind, FailureKind::ProductError, "{reason}");
    assert!(
        reason.contains("cannot be written while checking"),
        "{reason}"
    );

    let (kind, reason) = failure(&run_then_check(&product, "check-bad-port"));
    assert_eq!(kind, FailureKind::ProductError, "{reason}");
    assert!(
        reason.contains("reports on port `nope`, which is not an output"),
        "{reason}"
    );

    // The sandbox is fine afterwards.
    assert_eq!(run_then_check(&product, "ok").status, RunStatus::Succeeded);
}

async fn trigger(api: &Api, mode: &str, expected: usize) -> Value {
    let answer = api
        .post_data(
            "/v1/products/hostile/inputs/control?mode=replace",
            "application/x-ndjson",
            &[],
            format!("{{\"mode\": \"{mode}\"}}\n"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let runs = api.settled_runs("hostile", expected).await;
    api.get(runs[0]["url"].as_str().unwrap()).await.json()
}

#[tokio::test]
async fn custom_checks_gate_publication_on_the_server() {
    let api = Api::with_config(config());
    assert_eq!(api.deploy(hostile_wasm()).await.status, StatusCode::CREATED);

    let run = trigger(&api, "ok", 1).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["checks"][0]["kind"], "custom");
    assert_eq!(run["checks"][0]["check"], "outcome-is-written");
    assert_eq!(run["checks"][0]["passed"], true);
    assert_eq!(run["published_version"], 1);

    // A failing error check: quarantined, with the failing row and its values.
    let run = trigger(&api, "check-fail", 2).await;
    assert_eq!(run["state"], "quarantined", "{run}");
    let planted = &run["checks"][1];
    assert_eq!(planted["check"], "planted-failure");
    assert_eq!(planted["sample"][0]["row"], 1);
    assert_eq!(planted["sample"][0]["values"]["mode"], "check-fail");
    assert_eq!(planted["sample"][0]["values"]["outcome"], "fine");
    assert!(
        run["reason"]
            .as_str()
            .unwrap()
            .contains("result planted-failure: the planted failure, on row 0"),
        "{run}"
    );
    assert_eq!(
        api.store
            .current_version("hostile")
            .unwrap()
            .unwrap()
            .number,
        1
    );

    // A warning publishes.
    let run = trigger(&api, "check-warn", 3).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["checks"][1]["severity"], "warn");
    assert_eq!(run["checks"][1]["passed"], false);
    assert_eq!(run["published_version"], 2);

    // A check that panics fails the run; nothing is published.
    let run = trigger(&api, "check-panic", 4).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["failure"], "panic", "{run}");
    assert!(
        run["reason"]
            .as_str()
            .unwrap()
            .contains("planted panic in hostile's checks"),
        "{run}"
    );
    assert_eq!(run["published_version"], Value::Null);
    assert_eq!(
        api.store
            .current_version("hostile")
            .unwrap()
            .unwrap()
            .number,
        2
    );
}
