//! Helpers for Tessera's end-to-end tests and benchmarks: locating the workspace, building real
//! products from source (once per test binary), and generating fixtures from the real data in
//! `examples/data/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fixtures;
pub mod groupby;
pub mod wide;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Builds the product crate at `relative` (from the workspace root) with `tessera build`'s code
/// path and returns the packaged component. Each product is built once per process.
pub fn built(relative: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let cache = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = cache.get(relative) {
        return path.clone();
    }
    let dir = workspace().join(relative);
    let built = tessera_cli::build::build(&dir, tessera_cli::build::Progress::Quiet)
        .unwrap_or_else(|e| panic!("building {}: {e:#}", dir.display()));
    cache.insert(relative.to_string(), built.path.clone());
    built.path
}

/// The packaged components of the five demo products, built from source.
pub fn demo_components() -> Vec<PathBuf> {
    tessera_cli::demo::PRODUCTS
        .iter()
        .map(|p| built(&format!("products/{p}")))
        .collect()
}

/// `wasm` with its embedded manifest edited by `edit`.
pub fn repackage(wasm: &[u8], edit: impl Fn(String) -> String) -> Vec<u8> {
    let embedded = tessera_core::package::read_embedded(wasm).unwrap();
    tessera_core::package::embed(wasm, &edit(embedded.manifest.unwrap()), None).unwrap()
}

/// Runs the test script `tests/SCRIPT` with `python` (an interpreter on the PATH or a path),
/// `input` on its standard input; its output, whatever its exit status (`needs` says what the
/// interpreter must have, for the message when it cannot start).
pub fn python_script(
    python: &Path,
    script: &str,
    input: &str,
    needs: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(python)
        .arg(workspace().join("tests").join(script))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} does not start ({e}); the tests need it with {needs}",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A runtime with a private code cache, for tests.
pub fn runtime() -> tessera_runtime::Runtime {
    tessera_runtime::Runtime::new(tessera_runtime::RuntimeConfig {
        max_concurrent_runs: 4,
        ..Default::default()
    })
    .expect("the sandbox starts")
}

/// Resident memory of this process in bytes (Linux; 0 elsewhere), for the benchmarks.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// A `tessera serve` in this process on a free loopback port, and an admin token for it; for
/// the benchmarks.
pub async fn serve_in_process(
    config: tessera_server::ServerConfig,
) -> (tessera_server::AppState, std::net::SocketAddr, String) {
    let state = tessera_server::AppState::open(config).expect("the server state opens");
    let admin = tessera_server::auth::issue(
        state.store(),
        tessera_server::auth::NewToken {
            role: tessera_store::Role::Admin,
            domain: None,
            grants: Vec::new(),
            description: "bench".into(),
            expires_in: None,
        },
    )
    .expect("a token is issued")
    .0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let addr = listener.local_addr().expect("the listener has an address");
    tokio::spawn(tessera_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (state, addr, admin)
}

/// Whether GPU tests can run here: an adapter was found, or (with `TESSERA_REQUIRE_GPU=1`) a
/// missing one fails the test; otherwise the test is skipped with a message saying how to
/// enable it.
pub fn gpu_available(runtime: &tessera_runtime::Runtime) -> bool {
    if runtime.gpu().adapter().is_some() {
        return true;
    }
    let absence = runtime.gpu().absence().to_string();
    assert!(
        std::env::var("TESSERA_REQUIRE_GPU").map_or(true, |v| v != "1"),
        "TESSERA_REQUIRE_GPU=1 but there is no GPU adapter: {absence}"
    );
    eprintln!(
        "skipping a GPU test: {absence} (install mesa-vulkan-drivers for lavapipe, a CPU Vulkan driver; set TESSERA_REQUIRE_GPU=1 to make this a failure)"
    );
    false
}

/// A runtime whose GPU is disabled: products run on the CPU path or fail for want of one.
pub fn runtime_without_gpu() -> tessera_runtime::Runtime {
    tessera_runtime::Runtime::new(tessera_runtime::RuntimeConfig {
        max_concurrent_runs: 4,
        gpu: tessera_gpu::GpuConfig {
            disabled: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("the sandbox starts")
}

/// What wrk measured: requests per second and the 99th percentile of latency.
pub struct WrkResult {
    /// Requests per second.
    pub requests_per_second: f64,
    /// Latency p99, in milliseconds.
    pub p99_ms: f64,
}

/// The rows a benchmark uses: `TESSERA_BENCH_ROWS`, else `default`.
pub fn bench_rows(default: usize) -> usize {
    std::env::var("TESSERA_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// Runs `wrk -t2 -c{connections} -d{seconds}s --latency url` and reads its summary; `None`
/// when wrk is not on the PATH or its output does not parse.
pub fn wrk(url: &str, connections: u32, seconds: u32) -> Option<WrkResult> {
    let output = std::process::Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let requests_per_second = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))?
        .split_whitespace()
        .nth(1)?
        .to_string();
    let p99_ms = if let Some(us) = p99.strip_suffix("us") {
        us.parse::<f64>().ok()? / 1000.0
    } else if let Some(ms) = p99.strip_suffix("ms") {
        ms.parse().ok()?
    } else {
        p99.strip_suffix('s')?.parse::<f64>().ok()? * 1000.0
    };
    Some(WrkResult {
        requests_per_second,
        p99_ms,
    })
}
