//! The sandbox against a product that misbehaves on request (`tests/fixtures/hostile`): each
//! misbehaviour fails that run with the right reason, and nothing else is affected.

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use tessera_core::io::{MemorySink, MemorySource};
use tessera_runtime::{FailureKind, LogLevel, Product, RunOutcome, RunRequest, Runtime};

pub(crate) fn hostile() -> (Runtime, Product) {
    let wasm = std::fs::read(tessera_tests::built("tests/fixtures/hostile")).unwrap();
    let runtime = tessera_tests::runtime();
    let product = runtime.load(&wasm).unwrap();
    (runtime, product)
}

pub(crate) fn request(mode: &str, sink: &MemorySink) -> RunRequest {
    let schema = Arc::new(Schema::new(vec![Field::new("mode", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![mode]))],
    )
    .unwrap();
    RunRequest::new(format!("hostile-{mode}"), 0)
        .input("control", Box::new(MemorySource::new(schema, vec![batch])))
        .output("result", Box::new(sink.clone()))
}

pub(crate) fn run(product: &Product, mode: &str) -> (RunOutcome, MemorySink) {
    let sink = MemorySink::new();
    (product.run_blocking(request(mode, &sink)), sink)
}

fn outcome_text(sink: &MemorySink) -> String {
    let batches = sink.batches();
    let column = batches[0]
        .column_by_name("outcome")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    column.value(0).to_string()
}

pub(crate) fn assert_failed(outcome: &RunOutcome, kind: FailureKind, needle: &str) {
    let (got, reason) = outcome
        .failure()
        .unwrap_or_else(|| panic!("expected a failure, got {:?}", outcome.status));
    assert_eq!(got, kind, "{reason}");
    assert!(
        reason.contains(needle),
        "`{reason}` should mention `{needle}`"
    );
}

#[test]
fn a_product_without_a_gpu_never_makes_the_host_look_for_one() {
    // `hostile` declares no GPU: loading and running it must not list adapters (listing them
    // wakes the Vulkan loader and its layers, which print to the terminal).
    let (runtime, product) = hostile();
    let (outcome, _) = run(&product, "ok");
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert!(!runtime.gpu().searched(), "the host looked for an adapter");
}

#[test]
fn an_infinite_loop_times_out() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "loop");
    assert_failed(&outcome, FailureKind::Timeout, "timeout of 1s");
    assert!(
        outcome.duration.as_secs_f64() < 5.0,
        "{:?}",
        outcome.duration
    );
}

#[test]
fn growing_past_the_memory_limit_fails_the_run() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "grow");
    assert_failed(&outcome, FailureKind::OutOfMemory, "limit of 32MiB");
    assert!(outcome.peak_memory <= 32 << 20, "{}", outcome.peak_memory);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "recurse");
    assert_failed(&outcome, FailureKind::StackOverflow, "stack overflow");
}

#[test]
fn unreachable_traps() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "unreachable");
    assert_failed(&outcome, FailureKind::Trap, "unreachable");
}

#[test]
fn a_panic_fails_the_run_with_its_message() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "panic");
    assert_failed(&outcome, FailureKind::Panic, "planted panic in hostile");
}

#[test]
fn undeclared_ports_are_errors_the_product_sees() {
    let (_, product) = hostile();
    let (outcome, sink) = run(&product, "undeclared-input");
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert!(
        outcome_text(&sink).starts_with("denied: input `secrets` is not declared"),
        "{}",
        outcome_text(&sink)
    );
    let (outcome, sink) = run(&product, "repeated-columns");
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert!(
        outcome_text(&sink)
            .starts_with("invalid: input `control`: column `mode` is asked for twice"),
        "{}",
        outcome_text(&sink)
    );
    let (outcome, sink) = run(&product, "undeclared-output");
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert!(
        outcome_text(&sink).starts_with("denied: output `exfiltrate` is not declared"),
        "{}",
        outcome_text(&sink)
    );
}

#[test]
fn a_batch_that_breaks_the_schema_fails_the_run_naming_the_column() {
    let (_, product) = hostile();
    let (outcome, sink) = run(&product, "bad-schema");
    assert_failed(
        &outcome,
        FailureKind::SchemaViolation,
        "output `result`: expected text, found int64 (column `outcome`)",
    );
    assert!(sink.batches().is_empty());
    let (outcome, _) = run(&product, "missing-column");
    assert_failed(
        &outcome,
        FailureKind::SchemaViolation,
        "missing column `outcome` (column `outcome`); add the column `outcome` (text)",
    );
}

#[test]
fn standard_output_and_error_are_captured_into_the_log() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "print");
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert!(
        outcome
            .log
            .iter()
            .any(|l| l.level == LogLevel::Stdout && l.message == "to stdout"),
        "{:?}",
        outcome.log
    );
    assert!(
        outcome
            .log
            .iter()
            .any(|l| l.level == LogLevel::Stderr && l.message == "to stderr"),
        "{:?}",
        outcome.log
    );
}

#[test]
fn output_past_the_capture_limit_is_cut_not_fatal() {
    let (_, product) = hostile();
    let (outcome, sink) = run(&product, "shout");
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert_eq!(outcome_text(&sink), "shouted");
    let kept: usize = outcome
        .log
        .iter()
        .filter(|l| l.level == LogLevel::Stdout && l.message.starts_with('x'))
        .map(|l| l.message.len() + 1)
        .sum();
    assert!(kept <= 1 << 20, "at most the limit is kept: {kept}");
    let note = outcome.log.last().unwrap();
    assert_eq!(note.level, LogLevel::Stdout);
    assert_eq!(
        note.message,
        format!(
            "[{} more bytes of stdout were dropped past the capture limit; writing them made \
             the product wait {} ms]",
            3 * 1024 * 1024 - (1 << 20),
            waited_ms(&note.message)
        )
    );
    // 2 MiB in 2,048 lines past the limit cost about 51 ms at the paced rates.
    assert!(waited_ms(&note.message) <= 60, "{}", note.message);
}

/// The wait a capture note reports.
fn waited_ms(note: &str) -> u64 {
    note.split("wait ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

#[test]
fn a_failing_run_leaves_other_runs_and_later_runs_unaffected() {
    let (runtime, product) = hostile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (looping, fine) = rt.block_on(async {
        let loop_sink = MemorySink::new();
        let ok_sink = MemorySink::new();
        let looping = runtime.run(&product, request("loop", &loop_sink));
        let fine = async {
            let outcome = runtime.run(&product, request("ok", &ok_sink)).await;
            (outcome, ok_sink)
        };
        tokio::join!(looping, fine)
    });
    assert_failed(&looping, FailureKind::Timeout, "timed out");
    assert!(fine.0.succeeded(), "{:?}", fine.0.status);
    assert_eq!(outcome_text(&fine.1), "fine");
    // The same product runs again after its failures.
    let (again, sink) = run(&product, "ok");
    assert!(again.succeeded());
    assert_eq!(outcome_text(&sink), "fine");
}
