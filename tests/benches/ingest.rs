//! Ingest benchmarks; prints a table. Run with `cargo bench -p tessera-tests --bench ingest`
//! (the DuckDB comparison needs Python with the `duckdb` package: `pip install duckdb`).
//!
//! 1. Throughput: a 1-million-row, 8-column CSV file and the same rows as an Arrow IPC stream,
//!    POSTed over loopback into an ingest port of a running server (validated, staged, fsynced
//!    and committed), next to DuckDB's `read_csv` of the same file into a table, in the same run.
//! 2. Latency: from an acknowledged ingest to the publish of a product three levels downstream
//!    (hello → copy-1 → copy-2 → copy-3, trivial products), p50 and p95 over 30 ingests, with the
//!    default 50 ms debounce and with none.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::package;
use tessera_server::config::SchedulerConfig;
use tessera_server::{AppState, ServerConfig};

const ROWS: usize = 1_000_000;
const COLUMNS: &str = r#"{ id = { type = "int64", required = true }, at = "timestamp", a = "float64", b = "float64", c = "float64", label = "text", flag = "boolean", note = "text" }"#;

fn batches(rows: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = (rows - start).min(64 * 1024);
        let range = start..start + n;
        let mut label = StringBuilder::new();
        let mut note = StringBuilder::new();
        for i in range.clone() {
            label.append_value(format!("study-{:05}", i % 20_000));
            note.append_value(format!("reviewed by annotator {}", i % 37));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(range.clone().map(|i| i as i64).collect::<Int64Array>()),
            Arc::new(
                TimestampMicrosecondArray::from(
                    range
                        .clone()
                        .map(|i| 1_714_521_600_000_000 + i as i64 * 1_000_000)
                        .collect::<Vec<i64>>(),
                )
                .with_timezone("+00:00"),
            ),
            Arc::new(
                range
                    .clone()
                    .map(|i| i as f64 * 0.25)
                    .collect::<Float64Array>(),
            ),
            Arc::new(
                range
                    .clone()
                    .map(|i| (i % 1000) as f64)
                    .collect::<Float64Array>(),
            ),
            Arc::new(
                range
                    .clone()
                    .map(|i| (i as f64).sqrt())
                    .collect::<Float64Array>(),
            ),
            Arc::new(label.finish()),
            Arc::new(
                range
                    .clone()
                    .map(|i| Some(i % 3 == 0))
                    .collect::<BooleanArray>(),
            ),
            Arc::new(note.finish()),
        ];
        out.push(RecordBatch::try_new(schema.clone(), columns).unwrap());
        start += n;
    }
    out
}

fn write_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = batches(ROWS);
    let csv = dir.join("rows.csv");
    let mut writer =
        arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(std::io::BufWriter::new(
                std::fs::File::create(&csv).unwrap(),
            ));
    for batch in &data {
        writer.write(batch).unwrap();
    }
    drop(writer);
    let ipc = dir.join("rows.arrows");
    let file = std::io::BufWriter::new(std::fs::File::create(&ipc).unwrap());
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(file, &data[0].schema()).unwrap();
    for batch in &data {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
    (csv, ipc)
}

/// The identity product with an ingest port of the benchmark's eight columns (no runs).
fn sink_product() -> Vec<u8> {
    let wasm = std::fs::read(tessera_tests::built("examples/identity")).unwrap();
    let manifest = format!(
        r#"
[product]
name = "wide"
domain = "examples"
version = "1.0.0"
owner = "platform-team@example.org"
description = "Ingest benchmark"
kind = "source-aligned"

[[inputs]]
name = "rows"
ingest = {COLUMNS}

[trigger]
on_input = false

[[outputs]]
name = "copy"
schema = {COLUMNS}
"#
    );
    package::embed(&wasm, &manifest, None).unwrap()
}

/// The identity product reading `from` as `name`, for the chain.
fn copy(name: &str, from: &str) -> Vec<u8> {
    let wasm = std::fs::read(tessera_tests::built("examples/identity")).unwrap();
    let manifest = format!(
        r#"
[product]
name = "{name}"
domain = "examples"
version = "1.0.0"
owner = "platform-team@example.org"
description = "Copies {from}"
kind = "aggregate"

[[inputs]]
name = "rows"
from = "{from}"

[[outputs]]
name = "copy"
schema = {{ name = {{ type = "text", required = true }}, greeting = {{ type = "text", required = true }} }}
"#
    );
    package::embed(&wasm, &manifest, None).unwrap()
}

fn post(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> String {
    let mut response = ureq::post(&format!("http://{addr}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .config()
        .http_status_as_error(false)
        .build()
        .send(body)
        .unwrap();
    response.body_mut().read_to_string().unwrap()
}

fn post_file(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    content_type: &str,
    file: &Path,
) -> String {
    let length = std::fs::metadata(file).unwrap().len();
    let reader = std::fs::File::open(file).unwrap();
    let mut response = ureq::post(&format!("http://{addr}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .header("Content-Length", &length.to_string())
        .config()
        .http_status_as_error(false)
        .build()
        .send(ureq::SendBody::from_owned_reader(reader))
        .unwrap();
    response.body_mut().read_to_string().unwrap()
}

fn duckdb_read_csv(csv: &Path) -> Option<f64> {
    let script = format!(
        "import duckdb, time\ncon = duckdb.connect()\nt = time.perf_counter()\ncon.execute(\"create table t as select * from read_csv('{}')\")\nprint(time.perf_counter() - t)\nassert con.execute('select count(*) from t').fetchone()[0] == {ROWS}\n",
        csv.display()
    );
    let output = Command::new("python3")
        .args(["-c", &script])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Server {
    state: AppState,
    addr: std::net::SocketAddr,
    token: String,
    _data: tempfile::TempDir,
}

async fn start(debounce: Duration) -> Server {
    let data = tempfile::tempdir().unwrap();
    let (state, addr, token) = tessera_tests::serve_in_process(ServerConfig {
        data_dir: data.path().to_path_buf(),
        scheduler: SchedulerConfig {
            debounce,
            ..SchedulerConfig::default()
        },
        limits: tessera_server::Limits {
            max_upload: 1 << 30,
            ..tessera_server::Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    Server {
        state,
        addr,
        token,
        _data: data,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let (csv, ipc) = write_files(files.path());
    let hello = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let (wide, chain) = (
        sink_product(),
        [
            copy("copy-1", "hello/greetings"),
            copy("copy-2", "copy-1/copy"),
            copy("copy-3", "copy-2/copy"),
        ],
    );
    println!("# Tessera ingest benchmarks\n");
    println!(
        "machine: {} cores, {}; server and client share the machine\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    runtime.block_on(async {
        let server = start(Duration::from_millis(50)).await;
        let answer = post(server.addr, "/v1/products", &server.token, "application/wasm", &wide);
        assert!(answer.contains("\"active\":true"), "{answer}");

        println!("## Ingest throughput: {ROWS} rows × 8 columns\n");
        println!("| what | file | best of 3 | rows/s |");
        println!("|---|---:|---:|---:|");
        let mut csv_best = f64::MAX;
        for (label, file, content_type) in [
            ("Tessera ingest, CSV", &csv, "text/csv"),
            ("Tessera ingest, Arrow IPC stream", &ipc, "application/vnd.apache.arrow.stream"),
        ] {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let (addr, token, file) = (server.addr, server.token.clone(), file.clone());
                let began = Instant::now();
                let answer = tokio::task::spawn_blocking(move || {
                    post_file(addr, "/v1/products/wide/inputs/rows?mode=replace", &token, content_type, &file)
                })
                .await
                .unwrap();
                let seconds = began.elapsed().as_secs_f64();
                assert!(answer.contains(&format!("\"rows\":{ROWS}")), "{answer}");
                best = best.min(seconds);
            }
            if content_type == "text/csv" {
                csv_best = best;
            }
            let size = std::fs::metadata(file).unwrap().len();
            println!(
                "| {label} | {:.1} MB | {best:.3} s | {:.2} M |",
                size as f64 / 1e6,
                ROWS as f64 / best / 1e6
            );
        }
        let size = std::fs::metadata(&csv).unwrap().len();
        let mut duck_best = f64::MAX;
        for _ in 0..3 {
            if let Some(seconds) = duckdb_read_csv(&csv) {
                duck_best = duck_best.min(seconds);
            }
        }
        if duck_best < f64::MAX {
            println!(
                "| DuckDB `read_csv` into a table (Python) | {:.1} MB | {duck_best:.3} s | {:.2} M |",
                size as f64 / 1e6,
                ROWS as f64 / duck_best / 1e6
            );
            println!("\nCSV ingest / DuckDB time: {:.2}×", csv_best / duck_best);
        } else {
            println!("| DuckDB `read_csv` | not run: `pip install duckdb` | | |");
        }
        drop(server);

        println!("\n## Latency: acknowledged ingest → publish three levels down\n");
        println!("| debounce | ingests | p50 | p95 | max |");
        println!("|---:|---:|---:|---:|---:|");
        for debounce in [Duration::from_millis(50), Duration::ZERO] {
            let server = start(debounce).await;
            for wasm in std::iter::once(&hello).chain(chain.iter()) {
                let answer = post(server.addr, "/v1/products", &server.token, "application/wasm", wasm);
                assert!(answer.contains("\"active\":true"), "{answer}");
            }
            let mut latencies = Vec::new();
            for i in 0..30 {
                let before = server
                    .state
                    .store()
                    .current_version("copy-3")
                    .unwrap()
                    .map_or(0, |v| v.number);
                let (addr, token) = (server.addr, server.token.clone());
                let body = format!("name\nperson-{i}\n");
                let acknowledged = tokio::task::spawn_blocking(move || {
                    let answer = post(addr, "/v1/products/hello/inputs/people", &token, "text/csv", body.as_bytes());
                    assert!(answer.contains("\"rows_added\":1"), "{answer}");
                    Instant::now()
                })
                .await
                .unwrap();
                loop {
                    let now = server.state.store().current_version("copy-3").unwrap().map_or(0, |v| v.number);
                    if now > before {
                        break;
                    }
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
                latencies.push(acknowledged.elapsed().as_secs_f64() * 1000.0);
                // Let the chain go idle before the next ingest.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            latencies.sort_by(f64::total_cmp);
            println!(
                "| {} ms | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
                debounce.as_millis(),
                latencies.len(),
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.95),
                latencies[latencies.len() - 1]
            );
        }
    });
    let _ = std::io::stdout().flush();
}
