//! GPU benchmarks; prints a table. Run with `cargo bench -p tessera-tests --bench gpu`.
//!
//! Through the `gpu-probe` product in the sandbox, on the host's adapter (lavapipe without a
//! GPU):
//! 1. matmul n³ as the host op: GPU time per product (5 and 45 on the device, nothing read
//!    back; the run's GPU time includes the inputs' transfer, which more products amortise),
//!    and the whole run with the inputs sent and the result read back; next to the same
//!    product in plain Rust inside the sandbox (wasm) and natively.
//! 2. Squared distances of 100,000 × 64 rows against 256 × 64 (the output, 102 MB, fits
//!    lavapipe's largest binding of 128 MiB).
//! 3. Per-call overhead of a tiny dispatch (one value), from runs of 1 and 2,001 dispatches.
//!
//! `TESSERA_BENCH_MATMUL` lists the sizes (default `1024`; `1024,4096` on a real GPU);
//! `TESSERA_BENCH_GUEST_MAX` is the largest size run in wasm and natively (default 1024);
//! `TESSERA_BENCH_WAIT_EACH=1` waits for every operation as it is submitted (off by default, as
//! in the host);
//! `TESSERA_BENCH_TIMESTAMPS=1` (or `0`) times passes with timestamp queries (or not) whatever
//! the adapter (by default: on GPUs, not on CPU implementations);
//! `TESSERA_BENCH_PROBE` names a packaged `gpu-probe.tessera.wasm` to use instead of building
//! one (for machines without a Rust toolchain).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use tessera_core::io::{MemorySink, MemorySource};
use tessera_runtime::{Product, RunOutcome, RunRequest, Runtime, RuntimeConfig};

fn run(product: &Product, mode: &str, n: i64) -> RunOutcome {
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
    let outcome = product.run_blocking(
        RunRequest::new(format!("bench-{mode}-{n}"), 0)
            .input("control", Box::new(MemorySource::new(schema, vec![batch])))
            .output("result", Box::new(MemorySink::new())),
    );
    assert!(outcome.succeeded(), "{mode} {n}: {:?}", outcome.status);
    outcome
}

fn gflops(flops: f64, time: Duration) -> String {
    format!("{:.1}", flops / time.as_secs_f64() / 1e9)
}

fn ms(time: Duration) -> String {
    format!("{:.2} ms", time.as_secs_f64() * 1000.0)
}

fn best<T>(times: usize, mut f: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..times {
        let (t, v) = f();
        if best.as_ref().is_none_or(|(b, _)| t < *b) {
            best = Some((t, v));
        }
    }
    best.unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("TESSERA_BENCH_MATMUL")
        .unwrap_or_else(|_| "1024".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let guest_max: usize = std::env::var("TESSERA_BENCH_GUEST_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let wasm = match std::env::var("TESSERA_BENCH_PROBE") {
        Ok(path) => std::fs::read(path).unwrap(),
        Err(_) => std::fs::read(tessera_tests::built("tests/fixtures/gpu-probe")).unwrap(),
    };
    let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_runs: 1,
        gpu: tessera_gpu::GpuConfig {
            wait_each: flag("TESSERA_BENCH_WAIT_EACH"),
            pass_timestamps: std::env::var("TESSERA_BENCH_TIMESTAMPS")
                .ok()
                .map(|v| v == "1"),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let product = runtime.load(&wasm).unwrap();
    let Some(adapter) = runtime.gpu().adapter().cloned() else {
        println!("no GPU adapter: {}", runtime.gpu().absence());
        return;
    };
    println!("# Tessera GPU benchmarks\n");
    println!(
        "adapter: {} ({}, {}), driver {}; host: {} cores; GPU time from {}; {}\n",
        adapter.name,
        adapter.backend,
        adapter.device_type,
        adapter.driver,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if adapter.timestamp_queries {
            "timestamp queries (the kernels alone)"
        } else {
            "wall time around the waits"
        },
        if flag("TESSERA_BENCH_WAIT_EACH") {
            "each operation waited for"
        } else {
            "waits at reads and at the end of the run"
        },
    );
    // Warm up: open the device, compile the pipelines.
    run(&product, "matmul", 64);
    run(&product, "distances", 10);
    run(&product, "tiny", 1);

    println!("## matmul (f32, n × n · n × n)\n");
    println!("| n | what | time | GFLOP/s |");
    println!("|---:|---|---:|---:|");
    for &n in &sizes {
        let flops = 2.0 * (n as f64).powi(3);
        let (gpu_time, _) = best(3, || {
            let outcome = run(&product, "matmul-repeat", n as i64);
            (outcome.gpu.unwrap().gpu_time / 5, ())
        });
        println!(
            "| {n} | host op: GPU time per matmul (5 on the device) | {} | {} |",
            ms(gpu_time),
            gflops(flops, gpu_time)
        );
        let (many, _) = best(3, || {
            let outcome = run(&product, "matmul-steady", n as i64);
            (outcome.gpu.unwrap().gpu_time / 45, ())
        });
        println!(
            "| {n} | host op: GPU time per matmul (45 on the device) | {} | {} |",
            ms(many),
            gflops(flops, many)
        );
        let (wall, _) = best(2, || {
            let outcome = run(&product, "matmul", n as i64);
            (outcome.duration, ())
        });
        println!(
            "| {n} | host op: whole run (matrices made in wasm, sent, multiplied, read back) | {} | {} |",
            ms(wall),
            gflops(flops, wall)
        );
        if n <= guest_max {
            let (guest, _) = best(2, || {
                let outcome = run(&product, "guest-matmul", n as i64);
                (outcome.duration, ())
            });
            println!(
                "| {n} | plain Rust in the sandbox (wasm), whole run | {} | {} |",
                ms(guest),
                gflops(flops, guest)
            );
            let (a, b) = gpu_probe::matrices(n);
            let (native, sum) = best(2, || {
                let began = Instant::now();
                let c = gpu_probe::plain_matmul(&a, &b, n);
                (
                    began.elapsed(),
                    c.iter().map(|v| f64::from(*v)).sum::<f64>(),
                )
            });
            assert!(sum.is_finite());
            println!(
                "| {n} | plain Rust natively | {} | {} |",
                ms(native),
                gflops(flops, native)
            );
            println!(
                "\nhost op GPU time vs wasm: {:.1}×\n",
                guest.as_secs_f64() / gpu_time.as_secs_f64()
            );
        }
    }

    println!("\n## Squared distances, 100,000 × 64 against 256 × 64\n");
    let (dist, _) = best(2, || {
        let outcome = run(&product, "distances", 100_000);
        (outcome.gpu.unwrap().gpu_time / 3, ())
    });
    let pairs = 100_000.0 * 256.0;
    println!("| what | time | pairs/s | GFLOP/s (3 per dimension) |");
    println!("|---|---:|---:|---:|");
    println!(
        "| GPU time per call | {} | {:.2} G | {} |",
        ms(dist),
        pairs / dist.as_secs_f64() / 1e9,
        gflops(pairs * 64.0 * 3.0, dist)
    );

    println!("\n## Per-call overhead of a tiny dispatch\n");
    let calls = 2000;
    let (one, _) = best(5, || (run(&product, "tiny", 1).duration, ()));
    let (many, outcome) = best(3, || {
        let outcome = run(&product, "tiny", calls + 1);
        (outcome.duration, outcome)
    });
    let per_call = (many.saturating_sub(one)) / calls as u32;
    let gpu = outcome.gpu.unwrap();
    println!("| dispatches | run | per extra dispatch | GPU time per dispatch |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.1} µs | {:.1} µs |",
        calls + 1,
        ms(many),
        per_call.as_secs_f64() * 1e6,
        gpu.gpu_time.as_secs_f64() * 1e6 / gpu.dispatches as f64
    );
}
