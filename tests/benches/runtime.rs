//! Runtime benchmarks; prints a table. Run with `cargo bench -p tessera-tests --bench runtime`.
//!
//! 1. Run start latency (store creation to an instance ready to enter `run`), p50 and p99, with
//!    the cached `InstancePre` and the pooling allocator, and without either.
//! 2. The data path: the `identity` product copies N rows (three float64 columns and one text
//!    column) from the store through the sandbox back to the store; native Rust copies the same
//!    file the same way in the same process. `TESSERA_BENCH_ROWS` sets N (default 10 million).
//! 3. Output file formats: Arrow IPC and Parquet, written and read back, on the same rows.
//! 4. Host memory (RSS) with 100 products deployed and idle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tessera_core::formats::{FileSink, FileSource, Format};
use tessera_core::io::{BatchSink, BatchSource};
use tessera_core::package;
use tessera_runtime::{RunRequest, Runtime, RuntimeConfig};
use tessera_store::{Storage, Store};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn start_latency(wasm: &[u8]) {
    println!("\n## Run start latency (store + instantiate, ready to enter `run`)\n");
    println!("| setup | runs | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (label, pooling, pre) in [
        ("InstancePre + pooling allocator", true, true),
        ("link each run, on-demand allocator", false, false),
    ] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            max_concurrent_runs: 2,
            ..Default::default()
        })
        .unwrap();
        let product = runtime.load(wasm).unwrap();
        let runs = 2000;
        for _ in 0..100 {
            product.measure_start(pre).unwrap();
        }
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| product.measure_start(pre).unwrap())
            .collect();
        times.sort();
        println!(
            "| {label} | {runs} | {:.1} µs | {:.1} µs |",
            percentile(&times, 0.5).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6
        );
    }
}

fn rows_schema() -> SchemaRef {
    tessera_tests::wide::schema()
}

fn make_batch(start: usize, rows: usize) -> RecordBatch {
    tessera_tests::wide::batch(&rows_schema(), start, rows)
}

fn publish_source(store: &Storage, rows: usize) -> u64 {
    let mut sink = store
        .stage("source", "seed", "rows", rows_schema())
        .unwrap();
    let mut written = 0;
    while written < rows {
        let n = (rows - written).min(64 * 1024);
        sink.write(&make_batch(written, n)).unwrap();
        written += n;
    }
    let summary = sink.finish().unwrap();
    store
        .publish(
            "source",
            "seed",
            &tessera_store::Publication::outputs(BTreeMap::from([(
                "rows".to_string(),
                rows as u64,
            )])),
        )
        .unwrap();
    summary.bytes
}

fn data_path(wasm: &[u8], rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::local(dir.path()).unwrap();
    let bytes = publish_source(&store, rows);
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_runs: 1,
        ..Default::default()
    })
    .unwrap();
    let product = runtime.load(wasm).unwrap();

    println!(
        "\n## Data path: {rows} rows (3 × float64 + text, {:.0} MB Arrow IPC) store → copy → store\n",
        bytes as f64 / 1e6
    );
    println!("| path | rows/s | time | peak guest memory |");
    println!("|---|---:|---:|---:|");
    let mut results = Vec::new();
    for round in 0..3 {
        // Native: the same read and the same staged write and publish.
        let began = Instant::now();
        let run_id = format!("native-{round}");
        let mut source = store.read("source", 1, "rows").unwrap();
        let mut sink = store
            .stage("native", &run_id, "copy", rows_schema())
            .unwrap();
        let mut copied = 0u64;
        while let Some(batch) = source.next_batch().unwrap() {
            copied += batch.num_rows() as u64;
            sink.write(&batch).unwrap();
        }
        sink.finish().unwrap();
        store
            .publish(
                "native",
                &run_id,
                &tessera_store::Publication::outputs(BTreeMap::from([(
                    "copy".to_string(),
                    copied,
                )])),
            )
            .unwrap();
        let native = began.elapsed();

        let began = Instant::now();
        let run_id = format!("sandbox-{round}");
        let request = RunRequest::new(run_id.clone(), 0)
            .input("rows", store.read("source", 1, "rows").unwrap())
            .output(
                "copy",
                store
                    .stage("identity", &run_id, "copy", rows_schema())
                    .unwrap(),
            );
        let outcome = product.run_blocking(request);
        assert!(outcome.succeeded(), "{:?}", outcome.status);
        store
            .publish(
                "identity",
                &run_id,
                &tessera_store::Publication::outputs(BTreeMap::from([(
                    "copy".to_string(),
                    outcome.outputs["copy"].rows,
                )])),
            )
            .unwrap();
        let sandbox = began.elapsed();
        assert_eq!(outcome.outputs["copy"].rows, rows as u64);

        // The same run as the server does it: column statistics computed as the output is
        // written, stored with the version.
        let began = Instant::now();
        let run_id = format!("stats-{round}");
        let staged = store
            .stage("identity-stats", &run_id, "copy", rows_schema())
            .unwrap();
        let (sink, stats) = tessera_quality::StatsSink::wrap(staged, &rows_schema());
        let request = RunRequest::new(run_id.clone(), 0)
            .input("rows", store.read("source", 1, "rows").unwrap())
            .output("copy", Box::new(sink));
        let outcome = product.run_blocking(request);
        assert!(outcome.succeeded(), "{:?}", outcome.status);
        let mut publication = tessera_store::Publication::outputs(BTreeMap::from([(
            "copy".to_string(),
            outcome.outputs["copy"].rows,
        )]));
        publication
            .stats
            .insert("copy".into(), stats.take().unwrap());
        store
            .publish("identity-stats", &run_id, &publication)
            .unwrap();
        let with_stats = began.elapsed();
        results.push((native, sandbox, outcome.peak_memory, with_stats));
    }
    // Report the best of three for each path (least disturbed by other work on the machine).
    let native = results.iter().map(|r| r.0).min().unwrap();
    let (sandbox, peak) = results.iter().map(|r| (r.1, r.2)).min().unwrap();
    let with_stats = results.iter().map(|r| r.3).min().unwrap();
    let rate = |d: Duration| rows as f64 / d.as_secs_f64();
    println!(
        "| native Rust | {:.2} M | {:.2} s | — |",
        rate(native) / 1e6,
        native.as_secs_f64()
    );
    println!(
        "| sandbox (identity product) | {:.2} M | {:.2} s | {:.0} MiB |",
        rate(sandbox) / 1e6,
        sandbox.as_secs_f64(),
        peak as f64 / (1 << 20) as f64
    );
    println!(
        "| sandbox + column statistics (as the server runs it) | {:.2} M | {:.2} s | — |",
        rate(with_stats) / 1e6,
        with_stats.as_secs_f64()
    );
    println!(
        "\nsandbox / native throughput: **{:.0}%** (best of 3 each)",
        100.0 * rate(sandbox) / rate(native)
    );
    println!(
        "\ncolumn statistics cost: **{:.0}%** of the run's time (best of 3 each)",
        100.0 * (with_stats.as_secs_f64() - sandbox.as_secs_f64()) / sandbox.as_secs_f64()
    );
    // The same statistics computed alone, on one thread: their CPU cost, which the run above
    // overlaps on a second core.
    let mut batches = Vec::new();
    let mut source = store.read("source", 1, "rows").unwrap();
    while let Some(batch) = source.next_batch().unwrap() {
        batches.push(batch);
    }
    let began = Instant::now();
    let mut builder = tessera_quality::StatsBuilder::new(&rows_schema());
    for batch in &batches {
        builder.observe(batch);
    }
    let stats = builder.finish();
    assert_eq!(stats.rows, rows as u64);
    println!(
        "statistics alone, one thread, same {rows} rows: {:.2} s of CPU",
        began.elapsed().as_secs_f64()
    );
}

fn formats(rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<RecordBatch> = (0..rows)
        .step_by(64 * 1024)
        .map(|s| make_batch(s, (rows - s).min(64 * 1024)))
        .collect();
    let declared = tessera_core::schema::Schema::new(vec![
        tessera_core::schema::Column::new("a", tessera_core::schema::DataType::Float64),
        tessera_core::schema::Column::new("b", tessera_core::schema::DataType::Float64),
        tessera_core::schema::Column::new("c", tessera_core::schema::DataType::Float64),
        tessera_core::schema::Column::new("label", tessera_core::schema::DataType::Text),
    ]);
    println!("\n## Output file format, {rows} rows\n");
    println!("| format | write | read | size |");
    println!("|---|---:|---:|---:|");
    for format in [Format::Arrow, Format::Parquet] {
        let path = dir.path().join(format!("rows.{}", format.extension()));
        let began = Instant::now();
        let mut sink = Box::new(FileSink::create(&path, format, &rows_schema()).unwrap());
        for b in &batches {
            sink.write(b).unwrap();
        }
        let summary = sink.finish().unwrap();
        let write = began.elapsed();
        let began = Instant::now();
        let mut source = FileSource::open(&path, format, &declared).unwrap();
        let mut read = 0;
        while let Some(b) = source.next_batch().unwrap() {
            read += b.num_rows();
        }
        assert_eq!(read, rows);
        let read_time = began.elapsed();
        println!(
            "| {format} | {:.2} s | {:.2} s | {:.0} MB |",
            write.as_secs_f64(),
            read_time.as_secs_f64(),
            summary.bytes as f64 / 1e6
        );
    }
}

fn idle_memory(wasm: &[u8]) {
    let text = package::read_embedded(wasm).unwrap().manifest.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let before = tessera_tests::rss_bytes();
    let mut products = Vec::new();
    let began = Instant::now();
    for i in 0..100 {
        // 100 distinct products: each has its own manifest, so its own bytes and compiled code.
        let manifest = text.replacen("name = \"hello\"", &format!("name = \"hello-{i:03}\""), 1);
        let packaged = package::embed(wasm, &manifest, None).unwrap();
        products.push(runtime.load(&packaged).unwrap());
    }
    let load = began.elapsed();
    let after = tessera_tests::rss_bytes();
    println!("\n## Host memory with 100 products deployed and idle\n");
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| RSS before loading | {:.0} MB |", before as f64 / 1e6);
    println!(
        "| RSS with 100 products loaded | {:.0} MB |",
        after as f64 / 1e6
    );
    println!(
        "| per product | {:.2} MB |",
        (after.saturating_sub(before)) as f64 / 1e6 / 100.0
    );
    println!(
        "| time to validate + compile 100 | {:.1} s |",
        load.as_secs_f64()
    );
    drop(products);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = tessera_tests::bench_rows(10_000_000);
    let hello = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let identity = std::fs::read(tessera_tests::built("examples/identity")).unwrap();
    println!("# Tessera runtime benchmarks\n");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    idle_memory(&hello);
    start_latency(&hello);
    data_path(&identity, rows);
    formats(rows);
}
