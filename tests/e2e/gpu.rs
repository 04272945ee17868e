//! GPU compute through the sandbox with a real product (`tests/fixtures/gpu-probe`): host
//! matmul and a product WGSL kernel on the host's GPU (lavapipe in CI), the CPU path for
//! `optional`, a fast failure for `required` without a GPU, `denied` for `none`, and misuse
//! reported to the product as errors while the host and the device carry on.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use tessera_core::io::{MemorySink, MemorySource};
use tessera_runtime::{FailureKind, Product, RunOutcome, RunRequest, Runtime};

use crate::server::repackage;

pub(crate) fn probe() -> Vec<u8> {
    std::fs::read(tessera_tests::built("tests/fixtures/gpu-probe")).unwrap()
}

pub(crate) fn run(product: &Product, mode: &str, n: i64) -> (RunOutcome, f64, String) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("mode", DataType::Utf8, false),
        Field::new("n", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![mode])),
            Arc::new(Int64Array::from(vec![n])),
        ],
    )
    .unwrap();
    let sink = MemorySink::new();
    let outcome = product.run_blocking(
        RunRequest::new(format!("gpu-{mode}"), 0)
            .input("control", Box::new(MemorySource::new(schema, vec![batch])))
            .output("result", Box::new(sink.clone())),
    );
    let batches = sink.batches();
    let (value, detail) = match batches.first() {
        Some(b) => (
            b.column_by_name("value")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(0),
            b.column_by_name("detail")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0)
                .to_string(),
        ),
        None => (f64::NAN, String::new()),
    };
    (outcome, value, detail)
}

/// The sum of A · B for the probe's matrices, in f64.
fn expected_sum(n: usize) -> f64 {
    let (a, b) = gpu_probe::matrices(n);
    gpu_probe::plain_matmul(&a, &b, n)
        .iter()
        .map(|v| f64::from(*v))
        .sum()
}

fn load(runtime: &Runtime, wasm: &[u8]) -> Product {
    runtime.load(wasm).unwrap()
}

#[test]
fn matmul_and_a_product_kernel_run_on_the_gpu() {
    let runtime = tessera_tests::runtime();
    if !tessera_tests::gpu_available(&runtime) {
        return;
    }
    let product = load(&runtime, &probe());
    let (outcome, value, detail) = run(&product, "matmul", 150);
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert_eq!(value, expected_sum(150), "{detail}");
    assert!(detail.starts_with("vulkan"), "{detail}");
    let gpu = outcome.gpu.expect("GPU use is reported");
    assert_eq!(gpu.path, "gpu");
    assert!(gpu.adapter.is_some());
    assert!(gpu.gpu_time > std::time::Duration::ZERO);
    assert_eq!(gpu.dispatches, 1);

    let (outcome, value, _) = run(&product, "kernel", 1000);
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    let expected: f64 = (0..1000).map(|i| f64::from(i * i) + 0.5).sum();
    assert_eq!(value, expected);
}

#[test]
fn misuse_is_an_error_the_product_sees() {
    let runtime = tessera_tests::runtime();
    if !tessera_tests::gpu_available(&runtime) {
        return;
    }
    let product = load(&runtime, &probe());
    for (mode, needle) in [
        ("invalid-wgsl", "at line 3, column"),
        ("wrong-bindings", "binds 3 buffers"),
        ("zero-workgroups", "at least 1"),
        (
            "too-much-memory",
            "8 buffers, then: limit: a buffer of 120000000 bytes would take",
        ),
        ("never-ends", "was stopped"),
    ] {
        let (outcome, _, detail) = run(&product, mode, 1);
        assert!(outcome.succeeded(), "{mode}: {:?}", outcome.status);
        assert!(detail.contains(needle), "{mode}: {detail}");
    }
    // The device serves the next run as before.
    let (outcome, value, _) = run(&product, "matmul", 33);
    assert!(outcome.succeeded());
    assert_eq!(value, expected_sum(33));
}

#[test]
fn optional_falls_back_to_the_cpu_and_required_fails_fast() {
    let runtime = tessera_tests::runtime_without_gpu();
    let product = load(&runtime, &probe());
    let (outcome, value, detail) = run(&product, "matmul", 40);
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert_eq!(value, expected_sum(40));
    assert!(detail.starts_with("cpu"), "{detail}");
    assert_eq!(outcome.gpu.unwrap().path, "cpu");
    let (outcome, _, _) = run(&product, "kernel", 10);
    let (kind, reason) = outcome.failure().unwrap();
    assert_eq!(kind, FailureKind::ProductError);
    assert!(reason.contains("need a GPU"), "{reason}");

    let required = repackage(&probe(), |m| {
        m.replace("gpu = \"optional\"", "gpu = \"required\"")
    });
    let product = load(&runtime, &required);
    let (outcome, _, _) = run(&product, "matmul", 4);
    let (kind, reason) = outcome.failure().unwrap();
    assert_eq!(kind, FailureKind::GpuUnavailable);
    assert!(reason.contains("requires a GPU"), "{reason}");

    let none = repackage(&probe(), |m| {
        m.replace("gpu = \"optional\"", "gpu = \"none\"")
    });
    let product = load(&runtime, &none);
    let (outcome, _, _) = run(&product, "matmul", 4);
    let (kind, reason) = outcome.failure().unwrap();
    assert_eq!(kind, FailureKind::ProductError);
    assert!(
        reason.contains("denied") && reason.contains("did not declare a GPU"),
        "{reason}"
    );
}

#[tokio::test]
async fn the_server_records_gpu_time_with_the_run() {
    use axum::http::StatusCode;
    let api = crate::server::Api::with_config(crate::server::config());
    if !tessera_tests::gpu_available(api.state.runtime()) {
        return;
    }
    assert_eq!(api.deploy(probe()).await.status, StatusCode::CREATED);
    let answer = api
        .post_data(
            "/v1/products/gpu-probe/inputs/control",
            "application/x-ndjson",
            &[],
            "{\"mode\": \"matmul\", \"n\": 64}\n".to_string(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let runs = api.settled_runs("gpu-probe", 1).await;
    let run = api.get(runs[0]["url"].as_str().unwrap()).await.json();
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["gpu"]["path"], "gpu", "{run}");
    assert_eq!(run["gpu"]["dispatches"], 1);
    assert!(run["gpu"]["gpu_ms"].as_f64().unwrap() > 0.0, "{run}");
    let metrics = api.get("/v1/products/gpu-probe/metrics").await.json();
    assert!(
        metrics["runs"]["gpu_ms_total"].as_f64().unwrap() > 0.0,
        "{metrics}"
    );
    assert_eq!(metrics["last_run"]["gpu_path"], "gpu", "{metrics}");
}

#[test]
fn concurrent_runs_share_the_device() {
    let runtime = tessera_tests::runtime();
    if !tessera_tests::gpu_available(&runtime) {
        return;
    }
    let product = load(&runtime, &probe());
    let results: Vec<(bool, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i: i64| {
                let product = product.clone();
                scope.spawn(move || {
                    let (outcome, value, _) = run(&product, "matmul", 60 + i);
                    (outcome.succeeded(), value)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (succeeded, value)) in results.into_iter().enumerate() {
        assert!(succeeded, "run {i}");
        assert_eq!(value, expected_sum(60 + i), "run {i}");
    }
}
