//! HTTP benchmarks; prints a table. Run with `cargo bench -p tessera-tests --bench http`
//! (needs `wrk` on the PATH: `apt-get install wrk`).
//!
//! 1. Requests per second and latency p99 for a published 1,000-row output as JSON and as
//!    Parquet, next to a minimal axum handler returning a fixed body of the JSON's size, all on
//!    loopback in the same run with the same load generator settings.
//! 2. Server memory (RSS) while one client streams a 10-million-row output as CSV: before,
//!    peak during, and after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tessera_server::{AppState, ServerConfig};

async fn serve_minimal(body: bytes::Bytes) -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/fixed",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = tessera_tests::bench_rows(10_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hello = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let data = tempfile::tempdir().unwrap();
    println!("# Tessera HTTP benchmarks\n");
    println!(
        "machine: {} cores, {}; server and load generator share the machine\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    runtime.block_on(async {
        let (state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
            data_dir: data.path().to_path_buf(),
            ..ServerConfig::default()
        })
        .await;
        // Deploy hello, then publish 1,000 rows and the 10-million-row port as its data.
        let deployed = ureq_post(addr, "/v1/products", &admin, &hello);
        assert!(deployed.contains("\"active\":true"), "{deployed}");
        tessera_tests::fixtures::publish_greetings(state.store(), "hello", "seed", 1000);

        let base = format!("http://{addr}/v1/products/hello/outputs/greetings");
        let json_body = fetch(&format!("{base}?format=json"));
        let minimal = serve_minimal(bytes::Bytes::from(json_body.clone())).await;
        println!("## Requests for a published 1,000-row output (wrk -t2 -c32 -d10s)\n");
        println!("| endpoint | body | requests/s | p99 | vs minimal |");
        println!("|---|---:|---:|---:|---:|");
        let mut baseline = None;
        for (label, url) in [
            (
                "minimal axum handler, fixed body",
                format!("http://{minimal}/fixed"),
            ),
            ("Tessera output, JSON", format!("{base}?format=json")),
            ("Tessera output, Parquet", format!("{base}?format=parquet")),
        ] {
            let size = fetch(&url).len();
            let result = tokio::task::spawn_blocking(move || tessera_tests::wrk(&url, 32, 10))
                .await
                .unwrap();
            let Some(result) = result else {
                println!("| {label} | {size} B | wrk not found or failed | | |");
                continue;
            };
            let base_rate = *baseline.get_or_insert(result.requests_per_second);
            println!(
                "| {label} | {size} B | {:.0} | {:.2} ms | {:.0}% |",
                result.requests_per_second,
                result.p99_ms,
                100.0 * result.requests_per_second / base_rate
            );
        }

        // Memory while one client streams a large output.
        let store = state.store();
        publish_wide_product(&state, &admin, addr);
        let began = Instant::now();
        tessera_tests::wide::publish(store, "wide", rows);
        let publish_time = began.elapsed();
        let before = tessera_tests::rss_bytes();
        let peak = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(tessera_tests::rss_bytes(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let url = format!("http://{addr}/v1/products/wide/outputs/rows?format=csv");
        let began = Instant::now();
        let bytes = tokio::task::spawn_blocking(move || {
            let mut response = ureq::get(&url).call().unwrap();
            let mut reader = response.body_mut().as_reader();
            let mut buffer = vec![0u8; 1 << 16];
            let mut total = 0u64;
            loop {
                let n = reader.read(&mut buffer).unwrap();
                if n == 0 {
                    break total;
                }
                total += n as u64;
            }
        })
        .await
        .unwrap();
        let elapsed = began.elapsed();
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
        let after = tessera_tests::rss_bytes();
        let stored = store.current_version("wide").unwrap().unwrap().ports["rows"].bytes;
        println!("\n## Memory while streaming {rows} rows as CSV\n");
        println!("| measure | value |");
        println!("|---|---:|");
        println!("| stored Arrow IPC file | {:.0} MB |", stored as f64 / 1e6);
        println!(
            "| CSV streamed | {:.0} MB in {:.1} s ({:.0} MB/s) |",
            bytes as f64 / 1e6,
            elapsed.as_secs_f64(),
            bytes as f64 / 1e6 / elapsed.as_secs_f64()
        );
        println!("| server RSS before | {:.0} MB |", before as f64 / 1e6);
        println!(
            "| server RSS peak while streaming | {:.0} MB |",
            peak.load(Ordering::Relaxed) as f64 / 1e6
        );
        println!("| server RSS after | {:.0} MB |", after as f64 / 1e6);
        println!(
            "| (publishing the rows took) | {:.1} s |",
            publish_time.as_secs_f64()
        );
    });
}

/// Deploys the `wide` product, which holds the large output.
fn publish_wide_product(_state: &AppState, admin: &str, addr: std::net::SocketAddr) {
    let answer = ureq_post(addr, "/v1/products", admin, &tessera_tests::wide::product());
    assert!(answer.contains("\"product\":\"wide\""), "{answer}");
}

fn ureq_post(addr: std::net::SocketAddr, path: &str, token: &str, body: &[u8]) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = body.to_vec();
    let url = format!("http://{addr}{path}");
    let token = token.to_string();
    std::thread::spawn(move || {
        agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/wasm")
            .send(&body[..])
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    })
    .join()
    .unwrap()
}

fn fetch(url: &str) -> Vec<u8> {
    let url = url.to_string();
    std::thread::spawn(move || {
        ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap()
    })
    .join()
    .unwrap()
}
