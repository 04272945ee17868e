//! Serving while a hostile product runs; prints a table. Run with
//! `cargo bench -p tessera-tests --bench hostile` (needs `wrk` on the PATH).
//!
//! For each misbehaviour of the `hostile` fixture (an endless loop, a memory bomb, a log
//! flood), the bench keeps the hostile product running (a new run as soon as the last one
//! ends, each stopped by its 1 s timeout) while wrk reads a published 1,000-row output as JSON
//! for 6 s; meanwhile a well-behaved product (`hello`) is run through an ingest, and its run is
//! reported. The first row is the same server idle, measured in the same process, so the p99
//! ratios compare like with like. A warm-up window that is not reported comes first (it pays
//! for compiling `hello` and for cold caches), then `TESSERA_BENCH_ROUNDS` rounds (default 3)
//! of one window per row, interleaved so that drift over the run falls on every row alike; a
//! row reports the median of its rounds' p99s beside each of them (one window's p99 on two
//! shared cores varies by a third from window to window).
//!
//! `TESSERA_BENCH_IDLE_AFTER_MS` sets `limits.idle_priority_after` (milliseconds of CPU time a
//! run keeps nice 10; `never` keeps it there); by default runs are idle-class from the start.
//! `TESSERA_BENCH_YIELD=false` sets `limits.yield_to_requests = false` (runs are not held back
//! while requests wait for the cores).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tessera_server::{Limits, ServerConfig};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(addr: SocketAddr, path: &str, token: &str, content_type: &str, body: &[u8]) -> String {
    agent()
        .post(&format!("http://{addr}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .send(body)
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn get_json(addr: SocketAddr, path: &str, token: &str) -> serde_json::Value {
    let text = agent()
        .get(&format!("http://{addr}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The newest run of `product` that has finished.
fn last_finished(addr: SocketAddr, token: &str, product: &str) -> Option<serde_json::Value> {
    let runs = get_json(addr, &format!("/v1/products/{product}/runs?limit=5"), token);
    runs.as_array()?
        .iter()
        .find(|r| r["finished_at"].is_string())
        .cloned()
}

/// Seconds of load in one window.
const WINDOW_SECONDS: u32 = 6;

/// What one window of load measured.
struct Window {
    hostile_runs: u64,
    requests_per_second: f64,
    p99_ms: f64,
    /// What `hello`'s run pushed during the window did.
    hello: String,
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// One window of `wrk` reading `url` while the hostile product runs in `mode` (none for a mode
/// in parentheses) and `hello` is run once in the middle.
fn window(addr: SocketAddr, admin: &str, url: &str, mode: &str) -> Option<Window> {
    let idle = mode.starts_with('(');
    let stop = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicU64::new(0));
    let driver = (!idle).then(|| {
        let csv = format!("mode\n{mode}\n");
        post(
            addr,
            "/v1/products/hostile/inputs/control?mode=replace",
            admin,
            "text/csv",
            csv.as_bytes(),
        );
        let (stop, runs, admin) = (stop.clone(), runs.clone(), admin.to_string());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let queued: serde_json::Value = serde_json::from_str(&post(
                    addr,
                    "/v1/products/hostile/runs",
                    &admin,
                    "application/json",
                    b"",
                ))
                .unwrap_or_default();
                if let Some(id) = queued["id"].as_str() {
                    // Wait for it to end (its timeout stops it), then start the next.
                    let began = Instant::now();
                    while began.elapsed() < Duration::from_secs(30) {
                        let run = get_json(addr, &format!("/v1/runs/{id}"), &admin);
                        if !matches!(run["state"].as_str(), Some("queued" | "running")) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    runs.fetch_add(1, Ordering::SeqCst);
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    });
    // A well-behaved product's run in the middle of the load.
    let hello_run = {
        let admin = admin.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            let pushed = post(
                addr,
                "/v1/products/hello/inputs/people",
                &admin,
                "text/csv",
                b"name\nAda\nGrace\n",
            );
            let pushed: serde_json::Value = serde_json::from_str(&pushed).unwrap_or_default();
            let Some(id) = pushed["run"].as_str() else {
                return "no run queued".to_string();
            };
            let began = Instant::now();
            loop {
                let run = get_json(addr, &format!("/v1/runs/{id}"), &admin);
                let state = run["state"].as_str().unwrap_or("?").to_string();
                if !matches!(state.as_str(), "queued" | "running") {
                    return format!(
                        "{state}, {} ms running, {:.1} s from the push",
                        run["duration_ms"].as_u64().unwrap_or(0),
                        began.elapsed().as_secs_f64()
                    );
                }
                if began.elapsed() > Duration::from_secs(60) {
                    return format!("still {state} after 60 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let load = tessera_tests::wrk(url, 16, WINDOW_SECONDS);
    let hello = hello_run.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    if let Some(driver) = driver {
        driver.join().unwrap();
    }
    let load = load?;
    Some(Window {
        hostile_runs: runs.load(Ordering::SeqCst),
        requests_per_second: load.requests_per_second,
        p99_ms: load.p99_ms,
        hello,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let hello = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let hostile = std::fs::read(tessera_tests::built("tests/fixtures/hostile")).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let idle_after = match std::env::var("TESSERA_BENCH_IDLE_AFTER_MS").as_deref() {
        Ok("never") => Duration::MAX,
        Ok(ms) => Duration::from_millis(ms.parse().unwrap()),
        Err(_) => Duration::ZERO,
    };
    let yield_to_requests = std::env::var("TESSERA_BENCH_YIELD").as_deref() != Ok("false");
    let data = tempfile::tempdir().unwrap();
    let (state, addr, admin) = runtime.block_on(tessera_tests::serve_in_process(ServerConfig {
        data_dir: data.path().to_path_buf(),
        limits: Limits {
            max_concurrent_runs: 2,
            idle_priority_after: idle_after,
            yield_to_requests,
            ..Limits::default()
        },
        ..ServerConfig::default()
    }));
    for wasm in [&hello, &hostile] {
        let deployed = post(addr, "/v1/products", &admin, "application/wasm", wasm);
        assert!(deployed.contains("\"active\":true"), "{deployed}");
    }
    tessera_tests::fixtures::publish_greetings(state.store(), "hello", "seed", 1000);
    let url = format!("http://{addr}/v1/products/hello/outputs/greetings?format=json");

    println!("# Serving while a hostile product runs\n");
    println!(
        "machine: {} cores, {}; server, hostile runs and load generator share the machine\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    println!(
        "runs move to the idle scheduling class after {idle_after:?} of CPU time; \
         held back while requests wait for the cores: {yield_to_requests}\n"
    );
    let rounds: usize = std::env::var("TESSERA_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let modes = ["(idle)", "loop", "grow", "log-flood"];
    let mut seen: Vec<Vec<Window>> = modes.iter().map(|_| Vec::new()).collect();
    window(addr, &admin, &url, "(warm-up)");
    for _ in 0..rounds {
        for (mode, windows) in modes.iter().zip(&mut seen) {
            if let Some(w) = window(addr, &admin, &url, mode) {
                windows.push(w);
            }
        }
    }
    println!(
        "{rounds} rounds of one {WINDOW_SECONDS} s window per row; p99 is the median of the \
         rounds' p99s, and the ratio is against the idle row's median\n"
    );
    println!(
        "| hostile product | hostile runs | requests/s | p99 (median) | p99 of each round | p99 vs idle | hello's runs meanwhile |"
    );
    println!("|---|---:|---:|---:|---|---:|---|");
    let idle = seen
        .first()
        .and_then(|w| median(w.iter().map(|w| w.p99_ms)));
    for (mode, windows) in modes.iter().zip(&seen) {
        let Some(p99) = median(windows.iter().map(|w| w.p99_ms)) else {
            println!("| {mode} | | wrk not found or failed | | | | |");
            continue;
        };
        let each: Vec<String> = windows.iter().map(|w| format!("{:.2}", w.p99_ms)).collect();
        let hello: Vec<&str> = windows.iter().map(|w| w.hello.as_str()).collect();
        println!(
            "| {mode} | {} | {:.0} | {p99:.2} ms | {} | {:.2}× | {} |",
            windows.iter().map(|w| w.hostile_runs).sum::<u64>(),
            median(windows.iter().map(|w| w.requests_per_second)).unwrap_or(0.0),
            each.join(", "),
            p99 / idle.unwrap_or(p99),
            hello.join("; ")
        );
    }
    if let Some(run) = last_finished(addr, &admin, "hostile") {
        println!(
            "\nlast hostile run: {} ({})",
            run["state"],
            run["failure"].as_str().unwrap_or("")
        );
    }
    println!(
        "\nhost memory (RSS) at the end: {} MiB",
        tessera_tests::rss_bytes() >> 20
    );
}
