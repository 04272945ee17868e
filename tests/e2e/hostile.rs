//! Containment: what a hostile product or a hostile client tries, and what the host does about
//! it. Guest cases run the `hostile` fixture (`tests/fixtures/hostile`) in the real sandbox;
//! client cases talk to a real server over a loopback socket. Each new attack is one more case
//! here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use tessera_runtime::{FailureKind, LogLevel};
use tessera_server::ServerConfig;
use tessera_store::Role;

use crate::sandbox::{assert_failed, hostile, run};

// ---- guests ----------------------------------------------------------------------------------

#[test]
fn a_log_flood_keeps_within_the_run_log_budget() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "log-flood");
    assert_failed(&outcome, FailureKind::Timeout, "timed out");
    let logged: usize = outcome
        .log
        .iter()
        .filter(|l| !matches!(l.level, LogLevel::Stdout | LogLevel::Stderr))
        .map(|l| l.message.len())
        .sum();
    let printed: usize = outcome
        .log
        .iter()
        .filter(|l| matches!(l.level, LogLevel::Stdout | LogLevel::Stderr))
        .map(|l| l.message.len())
        .sum();
    // 1 MiB of log lines (each cut to 8 KiB) and 1 MiB per standard stream, plus the notes.
    assert!(logged <= (1 << 20) + 1024, "log lines kept: {logged}");
    assert!(printed <= (2 << 20) + 1024, "printed bytes kept: {printed}");
    assert!(outcome.dropped_log_lines > 0, "the flood is counted");
    assert!(
        outcome.dropped_log_bytes > outcome.dropped_log_lines * 60 * 1024,
        "{} bytes dropped for {} lines",
        outcome.dropped_log_bytes,
        outcome.dropped_log_lines
    );
    // Past the budgets the flood is paced (64 MiB/s): the product spends much of its second
    // waiting, not copying, and the notes say how long.
    let notes: Vec<&str> = outcome
        .log
        .iter()
        .filter(|l| l.message.contains("dropped past the"))
        .map(|l| l.message.as_str())
        .collect();
    let waited_ms: u64 = notes
        .iter()
        .filter_map(|note| {
            note.split("wait ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        waited_ms >= 300,
        "the product waited {waited_ms} ms: {notes:?}"
    );
}

#[test]
fn offsets_above_i32_max_are_a_schema_violation_not_a_panic() {
    let (_, product) = hostile();
    let (outcome, sink) = run(&product, "huge-offsets");
    assert_failed(&outcome, FailureKind::SchemaViolation, "column `outcome`");
    let (_, reason) = outcome.failure().unwrap();
    assert!(reason.contains("offset"), "{reason}");
    assert!(sink.batches().is_empty());
}

#[test]
fn a_batch_naming_a_column_twice_is_refused() {
    let (_, product) = hostile();
    let (outcome, sink) = run(&product, "duplicate-column");
    assert_failed(
        &outcome,
        FailureKind::SchemaViolation,
        "column `outcome` appears twice",
    );
    assert!(sink.batches().is_empty());
}

#[test]
fn dictionaries_a_product_writes_are_checked_and_bounded_before_they_are_expanded() {
    let (_, product) = hostile();
    for (mode, reason) in [
        (
            "dictionary-key",
            "row 1 has key 7, but the dictionary has 1 values",
        ),
        ("dictionary-offsets", "offsets must not decrease"),
        // 32 MiB is the fixture's memory limit: the 100 GB expansion is refused up front, and
        // so are 200 MiB spread over eight columns, before their names are even looked at.
        ("dictionary-bomb", "more than 33554432 bytes"),
        (
            "dictionary-columns",
            "column `c1`: the batch's dictionaries stand for more than",
        ),
    ] {
        let (outcome, sink) = run(&product, mode);
        assert_failed(&outcome, FailureKind::SchemaViolation, reason);
        assert!(sink.batches().is_empty(), "{mode}");
    }
    // A valid dictionary is stored as the plain text it stands for.
    let (outcome, sink) = run(&product, "dictionary");
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    let batches = sink.batches();
    let outcomes: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let column = b
                .column_by_name("outcome")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .clone();
            (0..arrow::array::Array::len(&column))
                .map(|i| column.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(outcomes, ["great", "fine", "great"]);
}

#[test]
fn exit_instead_of_returning_is_the_products_error() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "exit");
    assert_failed(&outcome, FailureKind::ProductError, "exit(0)");
}

#[test]
fn hoarding_handles_hits_the_resource_limit() {
    let (_, product) = hostile();
    let (outcome, _) = run(&product, "hoard-handles");
    assert_failed(
        &outcome,
        FailureKind::ResourceLimit,
        "host resources at once",
    );
}

/// The scheduling policy of each thread of this process named `name` (Linux: field 41 of
/// `/proc/self/task/TID/stat`).
#[cfg(target_os = "linux")]
fn thread_policies(name: &str) -> Vec<u32> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces; fields after it split plainly.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // Field 3 is `state`, so field 41 (`policy`) is index 41 - 3.
        if let Some(policy) = fields.get(41 - 3).and_then(|f| f.parse().ok()) {
            policies.push(policy);
        }
    }
    policies
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_keeps_computing_drops_to_the_idle_class() {
    const SCHED_IDLE: u32 = 5;
    let (runtime, product) = hostile();
    let sink = tessera_core::io::MemorySink::new();
    let run = tokio::spawn({
        let (runtime, product) = (runtime.clone(), product.clone());
        let request = crate::sandbox::request("loop", &sink);
        async move { runtime.run(&product, request).await }
    });
    // The endless loop runs for its 1 s timeout; its thread must leave the normal class well
    // before that (after 50 ms of CPU time).
    let mut seen = Vec::new();
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen.extend(thread_policies("tessera-run"));
        if seen.contains(&SCHED_IDLE) {
            break;
        }
    }
    let outcome = run.await.unwrap();
    assert_failed(&outcome, FailureKind::Timeout, "");
    assert!(
        seen.contains(&SCHED_IDLE),
        "the looping run's thread never moved to SCHED_IDLE: policies seen {seen:?}"
    );
    // A short run keeps its class: nothing in `ok` computes for 50 ms.
    let (fine, _) = run_on_guest_thread(&runtime, &product, "ok").await;
    assert!(fine.succeeded(), "{:?}", fine.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_is_held_back_while_request_threads_wait_for_the_cores() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let foreground = Arc::new(tessera_runtime::Foreground::default());
    let runtime = tessera_runtime::Runtime::new(tessera_runtime::RuntimeConfig {
        max_concurrent_runs: 2,
        foreground: Some(foreground.clone()),
        ..Default::default()
    })
    .unwrap();
    // Three seconds, so that the idle-class loop surely gets some of the cores on a busy
    // machine (it is held only where it computes).
    let wasm = crate::server::repackage(
        &std::fs::read(tessera_tests::built("tests/fixtures/hostile")).unwrap(),
        |m| m.replace("timeout = \"1s\"", "timeout = \"3s\""),
    );
    let product = runtime.load(&wasm).unwrap();
    // Stand-ins for request threads: twice as many as cores, all computing in the same 5 ms
    // phases and sleeping in the others: while they compute, half of them wait for a CPU; while
    // they sleep, the cores are free for the run.
    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let epoch = std::time::Instant::now();
    let busy: Vec<_> = (0..cores * 2)
        .map(|_| {
            let (foreground, stop) = (foreground.clone(), stop.clone());
            std::thread::spawn(move || {
                foreground.register_current_thread();
                while !stop.load(Ordering::SeqCst) {
                    let phase = epoch.elapsed().as_millis() / 5;
                    if phase.is_multiple_of(2) {
                        std::hint::black_box((0..1_000u64).sum::<u64>());
                    } else {
                        let next = Duration::from_millis(5 * (phase as u64 + 1));
                        std::thread::sleep(next.saturating_sub(epoch.elapsed()));
                    }
                }
            })
        })
        .collect();
    let (outcome, _) = run_on_guest_thread(&runtime, &product, "loop").await;
    stop.store(true, Ordering::SeqCst);
    for thread in busy {
        thread.join().unwrap();
    }
    assert_failed(&outcome, FailureKind::Timeout, "");
    let note = outcome
        .log
        .iter()
        .find(|l| l.message.contains("held back"))
        .unwrap_or_else(|| panic!("no note of the hold in {:?}", outcome.log));
    let held_ms: u64 = note
        .message
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    // At least one hold of 15 ticks (150 ms).
    assert!(held_ms >= 150, "{}", note.message);
    // With nobody waiting, the same loop is not held.
    let (alone, _) = run_on_guest_thread(&runtime, &product, "loop").await;
    assert_failed(&alone, FailureKind::Timeout, "");
    assert!(
        !alone.log.iter().any(|l| l.message.contains("held back")),
        "{:?}",
        alone.log
    );
}

async fn run_on_guest_thread(
    runtime: &tessera_runtime::Runtime,
    product: &tessera_runtime::Product,
    mode: &str,
) -> (tessera_runtime::RunOutcome, tessera_core::io::MemorySink) {
    let sink = tessera_core::io::MemorySink::new();
    let outcome = runtime
        .run(product, crate::sandbox::request(mode, &sink))
        .await;
    (outcome, sink)
}

#[test]
fn cpu_path_work_stops_at_the_run_deadline() {
    // 4096³ multiply-adds on the CPU path take far longer than the 3 s the run is given.
    let wasm = crate::server::repackage(&crate::gpu::probe(), |m| {
        m.replace("timeout = \"300s\"", "timeout = \"3s\"")
    });
    let runtime = tessera_tests::runtime_without_gpu();
    let product = runtime.load(&wasm).unwrap();
    let (outcome, _, _) = crate::gpu::run(&product, "matmul", 4096);
    assert_failed(&outcome, FailureKind::Timeout, "CPU path");
    // A bound for a hang, not a speed target: the deadline is checked every few milliseconds.
    assert!(
        outcome.duration < Duration::from_secs(60),
        "{:?}",
        outcome.duration
    );
    // The runtime runs the next product as usual.
    let (again, value, _) = crate::gpu::run(&product, "matmul", 8);
    assert!(again.succeeded(), "{:?}", again.status);
    assert!(value.is_finite());
}

#[test]
fn a_dispatch_flood_is_refused_and_other_products_run_on() {
    let runtime = tessera_tests::runtime();
    if !tessera_tests::gpu_available(&runtime) {
        return;
    }
    let wasm = crate::server::repackage(&crate::gpu::probe(), |m| {
        m.replace("timeout = \"300s\"", "timeout = \"5s\"")
    });
    let probe = runtime.load(&wasm).unwrap();
    let (outcome, accepted, detail) = crate::gpu::run(&probe, "flood", 0);
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    assert!(detail.contains("would keep the GPU busy"), "{detail}");
    assert!(accepted < 8.0, "{detail}");
    // A bound for a hang, not a speed target: the run was given 5 s.
    assert!(
        outcome.duration < Duration::from_secs(60),
        "{:?}",
        outcome.duration
    );
    // The device still serves the next GPU run, and products without a GPU run as ever.
    let (next, value, _) = crate::gpu::run(&probe, "matmul", 8);
    assert!(next.succeeded(), "{:?}", next.status);
    assert!(value.is_finite());
    let (_, product) = hostile();
    let (fine, _) = run(&product, "ok");
    assert!(fine.succeeded(), "{:?}", fine.status);
}

// ---- clients ---------------------------------------------------------------------------------

/// A real server on loopback with `hello` deployed; its address and an admin token.
async fn server(config: ServerConfig) -> (tempfile::TempDir, SocketAddr, String) {
    let dir = tempfile::tempdir().unwrap();
    let (_state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        ..config
    })
    .await;
    let wasm = crate::server::hello();
    let deployed = send(
        addr,
        &format!(
            "POST /v1/products HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            wasm.len()
        ),
        &wasm,
    )
    .await;
    assert!(deployed.starts_with("HTTP/1.1 201"), "{deployed}");
    (dir, addr, admin)
}

/// Sends raw bytes and reads the whole answer (the server closes the connection), within a
/// bound: a server that never answers fails the test instead of hanging it.
async fn send(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let head = head.as_bytes().to_vec();
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        // The server may answer (and close) before it has read everything.
        let _ = stream.write_all(&head);
        let _ = stream.write_all(&body);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

/// The status and JSON error body of a raw answer.
fn error_of(answer: &str) -> (u16, Value) {
    let status: u16 = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no body: {answer:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    (status, body)
}

fn push(admin: &str, content_type: &str, body: &[u8]) -> String {
    format!(
        "POST /v1/products/hello/inputs/people HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_uploads_get_a_400_that_says_where() {
    let (_dir, addr, admin) = server(ServerConfig::default()).await;
    let csv = b"name,language\nAda,en\nGr\xffce,en\n";
    let answer = send(addr, &push(&admin, "text/csv", csv), csv).await;
    let (status, body) = error_of(&answer);
    assert_eq!(status, 400, "{body}");
    let problem = &body["error"]["errors"][0];
    assert_eq!(problem["row"], 2, "{body}");
    assert_eq!(problem["column"], "name", "{body}");
    assert!(
        problem["reason"].as_str().unwrap().contains("UTF-8"),
        "{body}"
    );

    let ndjson = b"{\"name\":\"Ada\",\"name\":\"Grace\"}\n";
    let answer = send(addr, &push(&admin, "application/x-ndjson", ndjson), ndjson).await;
    let (status, body) = error_of(&answer);
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("appears twice"), "{body}");

    // Several at once: each gets its answer, and the server still answers the next request.
    let many: Vec<_> = (0..4)
        .map(|_| {
            let head = push(&admin, "text/csv", csv);
            tokio::spawn(async move { send(addr, &head, csv).await })
        })
        .collect();
    for answer in many {
        assert_eq!(error_of(&answer.await.unwrap()).0, 400);
    }
    let health = send(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_has_the_json_error_shape() {
    let (_dir, addr, admin) = server(ServerConfig::default()).await;
    let long_name = "p".repeat(100 * 1024);
    let huge_header = "x".repeat(10 << 20);
    let many_headers: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "a 100 KB product name",
            format!("GET /v1/products/{long_name}/outputs/x HTTP/1.1\r\nHost: t\r\n\r\n"),
            414,
        ),
        (
            "a 10 MB header",
            format!("GET /v1/products HTTP/1.1\r\nHost: t\r\nX-Big: {huge_header}\r\n\r\n"),
            431,
        ),
        (
            "10,000 headers",
            format!("GET /v1/products HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n"),
            431,
        ),
        (
            "two different Content-Lengths",
            "POST /v1/products HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
                .into(),
            400,
        ),
        (
            "a Content-Length that is not a number",
            "POST /v1/products HTTP/1.1\r\nHost: t\r\nContent-Length: lots\r\n\r\n".into(),
            400,
        ),
        ("a garbage request line", "\u{1}\u{2} nonsense\r\n\r\n".into(), 400),
        (
            "DELETE on the ingest route",
            format!("DELETE /v1/products/hello/inputs/people HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n"),
            405,
        ),
        (
            "a path that is not UTF-8",
            "GET /v1/products/%FF%FE HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into(),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let answer = send(addr, &request, b"").await;
        let (status, body) = error_of(&answer);
        assert_eq!(status, expected, "{what}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_refuses_a_body_that_is_not_a_component_type() {
    let (_dir, addr, admin) = server(ServerConfig::default()).await;
    let wasm = crate::server::hello();
    for content_type in ["text/csv", "application/json", "multipart/form-data"] {
        let answer = send(
            addr,
            &format!(
                "POST /v1/products HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                wasm.len()
            ),
            &wasm,
        )
        .await;
        let (status, body) = error_of(&answer);
        assert_eq!(status, 415, "{content_type}: {body}");
    }
    let answer = send(
        addr,
        &format!(
            "POST /v1/products HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            wasm.len()
        ),
        &wasm,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off() {
    let (_dir, addr, admin) = server(ServerConfig {
        http: tessera_server::HttpLimits {
            header_timeout: Duration::from_secs(1),
            body_idle_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..ServerConfig::default()
    })
    .await;
    // Headers that never end: the connection is closed.
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(b"GET /v1/products HTTP/1.1\r\nHost: t\r\n")
            .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map(|_| answer)
    })
    .await
    .unwrap();
    assert!(
        closed.is_ok(),
        "the server closed the connection: {closed:?}"
    );
    // A body that stops: a 408.
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(push(&admin, "text/csv", &[0; 1000]).as_bytes())
            .unwrap();
        stream.write_all(b"name\nAda\n").unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    let (status, body) = error_of(&answer);
    assert_eq!(status, 408, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_completes_while_event_followers_are_connected() {
    let dir = tempfile::tempdir().unwrap();
    let state = tessera_server::AppState::open(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        ..ServerConfig::default()
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tessera_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let followers: Vec<_> = (0..3)
        .map(|_| {
            tokio::task::spawn_blocking(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream
                    .write_all(b"GET /v1/events HTTP/1.1\r\nHost: t\r\n\r\n")
                    .unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                String::from_utf8_lossy(&answer).into_owned()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    // A bound for a hang, not a speed target.
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("shutdown completes with followers connected")
        .unwrap()
        .unwrap();
    for follower in followers {
        let answer = follower.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("text/event-stream"), "{answer}");
    }
}

// ---- access ----------------------------------------------------------------------------------

#[tokio::test]
async fn runs_and_events_need_a_caller_who_may_read_the_product() {
    use axum::http::StatusCode;

    let api = crate::server::Api::with_config(ServerConfig {
        public_reads: false,
        ..crate::server::config()
    });
    let restricted = crate::server::repackage(&crate::server::hello(), |m| {
        m.replace(
            "name = \"greetings\"",
            "name = \"greetings\"\naccess = \"restricted\"",
        )
    });
    assert_eq!(api.deploy(restricted).await.status, StatusCode::CREATED);
    let run = api.post("/v1/products/hello/runs", Vec::new()).await.json();
    let url = run["url"].as_str().unwrap().to_string();
    api.finished_run(run["id"].as_str().unwrap()).await;

    let reader = crate::server::token(api.store.as_ref(), Role::Reader, Some("examples"), &[]);
    let granted =
        crate::server::token(api.store.as_ref(), Role::Reader, None, &["hello/greetings"]);
    let owner = crate::server::token(api.store.as_ref(), Role::Owner, Some("examples"), &[]);
    api.get_as(None, &url).await.error(StatusCode::UNAUTHORIZED);
    api.get_as(Some(&reader), &url)
        .await
        .error(StatusCode::FORBIDDEN);
    // The list of runs carries their failure reasons and checks: the same rule.
    api.get_as(Some(&reader), "/v1/products/hello/runs")
        .await
        .error(StatusCode::FORBIDDEN);
    for allowed in [&granted, &owner, &api.admin] {
        let answer = api.get_as(Some(allowed), &url).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.json()["log"].is_array());
    }
    api.get_as(None, "/v1/events")
        .await
        .error(StatusCode::UNAUTHORIZED);
    api.get_as(Some(&reader), "/v1/products/hello/events")
        .await
        .error(StatusCode::FORBIDDEN);
}

/// Opens `GET /v1/events` in process as `token`; the stream's body, once answered 200.
async fn follow_events(api: &crate::server::Api, token: String) -> axum::body::Body {
    use tower::ServiceExt;
    let request = axum::http::Request::get("/v1/events")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let router = tessera_server::api::router(api.state.clone());
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    response.into_body()
}

#[tokio::test]
async fn the_event_stream_shows_only_what_the_caller_may_read() {
    use http_body_util::BodyExt;

    let api = crate::server::Api::new();
    let restricted = crate::server::repackage(&crate::server::hello(), |m| {
        m.replace(
            "name = \"greetings\"",
            "name = \"greetings\"\naccess = \"restricted\"",
        )
    });
    assert_eq!(api.deploy(restricted).await.status, 201);
    let reader = crate::server::token(api.store.as_ref(), Role::Reader, None, &[]);
    let follow = |token: String| follow_events(&api, token);
    let admin_stream = follow(api.admin.clone()).await;
    let reader_stream = follow(reader).await;
    let run = api.post("/v1/products/hello/runs", Vec::new()).await.json();
    api.finished_run(run["id"].as_str().unwrap()).await;
    api.state.events().close();
    let text = |body: axum::body::Body| async move {
        let bytes = body.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    let admin_saw = text(admin_stream).await;
    let reader_saw = text(reader_stream).await;
    assert!(admin_saw.contains("event: run"), "{admin_saw}");
    assert!(!reader_saw.contains("hello"), "{reader_saw}");
}

#[tokio::test]
async fn tokens_can_be_listed_revoked_and_expire() {
    use axum::http::StatusCode;

    let api = crate::server::Api::new();
    let secret = crate::server::token(api.store.as_ref(), Role::Reader, None, &[]);
    let listed = api.get_as(Some(&api.admin), "/v1/tokens").await;
    let listed = listed.json();
    let tokens = listed.as_array().unwrap();
    let reader = tokens.iter().find(|t| t["role"] == "reader").unwrap();
    let id = reader["id"].as_str().unwrap();
    // The id is its own random value, not a piece of the secret.
    assert!(id.starts_with("tok_"), "{id}");
    assert!(!secret.contains(&id["tok_".len()..]), "{id} / {secret}");
    assert!(
        !listed.to_string().contains(&secret),
        "secrets are never listed"
    );
    // Revoked: refused from the next request.
    assert_eq!(
        api.get_as(Some(&secret), "/v1/products").await.status,
        StatusCode::OK
    );
    let revoke = axum::http::Request::delete(format!("/v1/tokens/{id}"))
        .header("authorization", format!("Bearer {}", api.admin))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(api.call(revoke).await.status, StatusCode::NO_CONTENT);
    api.get_as(Some(&secret), "/v1/products")
        .await
        .error(StatusCode::UNAUTHORIZED);
    let again = axum::http::Request::delete(format!("/v1/tokens/{id}"))
        .header("authorization", format!("Bearer {}", api.admin))
        .body(axum::body::Body::empty())
        .unwrap();
    api.call(again).await.error(StatusCode::NOT_FOUND);
    // Only admins list or revoke.
    let owner = crate::server::token(api.store.as_ref(), Role::Owner, Some("examples"), &[]);
    api.get_as(Some(&owner), "/v1/tokens")
        .await
        .error(StatusCode::FORBIDDEN);
    // Expiry: a token made to expire in one second is refused after it.
    let created = api
        .post_data(
            "/v1/tokens",
            "application/json",
            &[],
            r#"{"role": "reader", "expires_in": "1s"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let created = created.json();
    assert!(created["expires_at"].is_string(), "{created}");
    let short = created["token"].as_str().unwrap().to_string();
    assert_eq!(
        api.get_as(Some(&short), "/v1/products").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, message) = api
        .get_as(Some(&short), "/v1/products")
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert!(message.contains("expired"), "{message}");
    let bad = api
        .post_data(
            "/v1/tokens",
            "application/json",
            &[],
            r#"{"role": "reader", "expires_in": "soon"}"#,
        )
        .await;
    bad.error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_event_stream_ends_when_its_token_is_revoked_or_expires_even_if_quiet() {
    use http_body_util::BodyExt;

    let api = crate::server::Api::new();
    let follow = |token: String| follow_events(&api, token);
    // No event is emitted while these streams are open: they must notice on their own.
    let reader = crate::server::token(api.store.as_ref(), Role::Reader, None, &[]);
    let stream = follow(reader).await;
    let listed = api.get_as(Some(&api.admin), "/v1/tokens").await.json();
    let id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "reader")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = axum::http::Request::delete(format!("/v1/tokens/{id}"))
        .header("authorization", format!("Bearer {}", api.admin))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(api.call(revoke).await.status, 204);
    // A bound for a hang, not a speed target: the periodic lookup alone would take 10 s.
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.collect()).await;
    assert!(
        ended.is_ok(),
        "the stream stayed open after its token was revoked"
    );

    let created = api
        .post_data(
            "/v1/tokens",
            "application/json",
            &[],
            r#"{"role": "reader", "expires_in": "1s"}"#,
        )
        .await
        .json();
    let short = created["token"].as_str().unwrap().to_string();
    let stream = follow(short).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.collect()).await;
    assert!(
        ended.is_ok(),
        "the stream stayed open after its token expired"
    );
    // The bus itself is still open: an admin's stream is not ended by either.
    let admin = follow(api.admin.clone()).await;
    let early = tokio::time::timeout(Duration::from_millis(300), admin.collect()).await;
    assert!(
        early.is_err(),
        "an admin's stream ended with nothing revoked"
    );
}
