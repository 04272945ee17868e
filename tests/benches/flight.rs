//! Reading a large output three ways, as a consumer would with pyarrow: Arrow Flight
//! (`DoGet`), HTTP as an Arrow IPC stream, and HTTP as Parquet (the server's cached rendition,
//! built by the first request), beside the peer: `pyarrow.flight` serving the same table from
//! memory (`flight_peer.py`). Prints a table: best of three reads each, throughput, and the
//! server's CPU time for that read (the server runs in this process, the client in a child).
//!
//! Run with `cargo bench -p tessera-tests --bench flight` (needs `python3` with pyarrow;
//! `TESSERA_BENCH_ROWS` sets the rows, 10,000,000 by default).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use serde_json::Value;
use tessera_server::ServerConfig;

/// CPU seconds this process has used (user and system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ticks as f64 / 100.0
}

/// One read by the consumer script; its JSON and the server's CPU seconds meanwhile.
fn read(args: &[String]) -> (Value, f64) {
    let script = tessera_tests::workspace().join("tests/benches/read_output.py");
    let before = cpu_seconds();
    let output = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (with pyarrow)");
    let cpu = cpu_seconds() - before;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (serde_json::from_slice(&output.stdout).unwrap(), cpu)
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
    let data = tempfile::tempdir().unwrap();
    println!("# Reading a {rows}-row output: Arrow Flight and HTTP\n");
    println!(
        "machine: {} cores, {}; server (this process) and pyarrow client share the machine\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    runtime.block_on(async {
        let (state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
            data_dir: data.path().to_path_buf(),
            ..ServerConfig::default()
        })
        .await;
        let flight = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let flight_addr = flight.local_addr().unwrap();
        tokio::spawn(tessera_server::flight::serve(
            flight,
            state.clone(),
            std::future::pending(),
        ));
        let wasm = tessera_tests::wide::product();
        let url = format!("http://{addr}/v1/products");
        let token = admin.clone();
        tokio::task::spawn_blocking(move || {
            ureq::post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/wasm")
                .send(&wasm[..])
                .unwrap();
        })
        .await
        .unwrap();
        tessera_tests::wide::publish(state.store(), "wide", rows);
        let stored = state
            .store()
            .current_version("wide")
            .unwrap()
            .unwrap()
            .ports["rows"]
            .bytes;
        println!("stored Arrow IPC file: {:.0} MB\n", stored as f64 / 1e6);

        let http = format!("http://{addr}/v1/products/wide/outputs/rows");
        // The peer: pyarrow.flight serving the same table from memory.
        let mut peer = std::process::Command::new("python3")
            .arg(tessera_tests::workspace().join("tests/benches/flight_peer.py"))
            .args([&http, &admin])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (with pyarrow)");
        let peer_port = {
            use std::io::BufRead;
            let stdout = peer.stdout.take().unwrap();
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
            line.trim().parse::<u16>().expect("the peer prints its port")
        };
        let methods: [(&str, Vec<String>); 5] = [
            (
                "pyarrow.flight from memory (peer)",
                vec![
                    "flight".into(),
                    format!("grpc://127.0.0.1:{peer_port}"),
                    admin.clone(),
                    "wide/rows".into(),
                ],
            ),
            (
                "Arrow Flight DoGet",
                vec![
                    "flight".into(),
                    format!("grpc://{flight_addr}"),
                    admin.clone(),
                    "wide/rows".into(),
                ],
            ),
            (
                "Arrow Flight DoGet, every column named (decoded, re-encoded)",
                vec![
                    "flight".into(),
                    format!("grpc://{flight_addr}"),
                    admin.clone(),
                    "wide/rows?columns=a,b,c,label".into(),
                ],
            ),
            (
                "HTTP, Arrow IPC stream",
                vec!["arrow".into(), http.clone(), admin.clone()],
            ),
            (
                "HTTP, Parquet",
                vec!["parquet".into(), http.clone(), admin.clone()],
            ),
        ];
        // The first Parquet request converts the stored file and caches the rendition.
        let began = Instant::now();
        let (first, _) = tokio::task::spawn_blocking({
            let args = methods[4].1.clone();
            move || read(&args)
        })
        .await
        .unwrap();
        let conversion = began.elapsed().as_secs_f64() - first["seconds"].as_f64().unwrap();
        println!("| read | best of 3 | rows/s | Arrow MB/s | server CPU | received |");
        println!("|---|---:|---:|---:|---:|---:|");
        let mut peer_seconds = None;
        let mut flight_seconds = None;
        for (label, args) in methods {
            let mut best: Option<(Value, f64)> = None;
            for _ in 0..3 {
                let args = args.clone();
                let (result, cpu) = tokio::task::spawn_blocking(move || read(&args))
                    .await
                    .unwrap();
                assert_eq!(result["rows"].as_u64(), Some(rows as u64), "{label}");
                let seconds = result["seconds"].as_f64().unwrap();
                if best
                    .as_ref()
                    .is_none_or(|(b, _)| seconds < b["seconds"].as_f64().unwrap())
                {
                    best = Some((result, cpu));
                }
            }
            let (result, cpu) = best.unwrap();
            let seconds = result["seconds"].as_f64().unwrap();
            if label.contains("peer") {
                peer_seconds = Some(seconds);
            } else if label == "Arrow Flight DoGet" {
                flight_seconds = Some(seconds);
            }
            // The peer runs in its own process: this process's CPU says nothing of it.
            let cpu = if label.contains("peer") {
                "(its own process)".to_string()
            } else {
                format!("{cpu:.2} s")
            };
            let arrow = result["arrow_bytes"].as_f64().unwrap();
            let received = result["received"]
                .as_f64()
                .map_or("—".to_string(), |b| format!("{:.0} MB", b / 1e6));
            println!(
                "| {label} | {seconds:.2} s | {:.1} M | {:.0} | {cpu} | {received} |",
                rows as f64 / seconds / 1e6,
                arrow / 1e6 / seconds,
            );
        }
        if let (Some(ours), Some(peer)) = (flight_seconds, peer_seconds) {
            println!(
                "\nTessera's Flight read took {:.2}× the time of pyarrow.flight serving from memory",
                ours / peer
            );
        }
        let _ = peer.kill();
        let _ = peer.wait();
        println!(
            "\n(the first Parquet request, which converts and caches the file, took {:.1} s more \
             than a cached read's client time)",
            conversion.max(0.0)
        );
    });
}
