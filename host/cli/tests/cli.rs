//! The `tessera` binary as a user runs it: scaffold, build, run, inspect, and the errors a user
//! sees for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .env(
            "TESSERA_CACHE_DIR",
            workspace().join("target/tessera-test-cache"),
        )
        // Scaffolded products share one target directory, so their dependencies build once.
        .env("CARGO_TARGET_DIR", workspace().join("target/scaffolded"))
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_command_has_help() {
    for command in [
        "new", "build", "run", "inspect", "package", "serve", "deploy", "ingest", "products",
        "status", "trigger", "runs", "logs", "get", "token", "policy", "waiver",
    ] {
        let output = tessera(&[command, "--help"]);
        assert!(output.status.success(), "{command} --help");
        let (stdout, _) = text(&output);
        assert!(stdout.contains("Usage: tessera"), "{stdout}");
    }
    let (stdout, _) = text(&tessera(&["run", "--help"]));
    assert!(
        stdout.contains("--input <PORT=FILE>") && stdout.contains("--format"),
        "{stdout}"
    );
}

#[test]
fn a_new_product_builds_and_runs_out_of_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let product = dir.path().join("sensor-stats");
    let output = tessera(&["new", "sensor-stats", "--dir", product.to_str().unwrap()]);
    assert!(output.status.success(), "{:?}", text(&output));
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "product.toml",
        "README.md",
        "data/readings.csv",
    ] {
        assert!(product.join(file).is_file(), "{file} missing");
    }
    let out = dir.path().join("out");
    let readings = product.join("data/readings.csv");
    let output = tessera(&[
        "run",
        product.to_str().unwrap(),
        "--input",
        &format!("readings={}", readings.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("succeeded") && stdout.contains("stats"),
        "{stdout}"
    );
    // north: 12.5 and 13.5; south: 9.0 and a missing value.
    let stats = std::fs::read_to_string(out.join("stats.csv")).unwrap();
    assert_eq!(stats, "sensor,readings,mean\nnorth,2,13.0\nsouth,1,9.0\n");
    assert!(stderr.contains("4 readings from 2 sensors"), "{stderr}");

    let output = tessera(&["new", "sensor-stats", "--dir", product.to_str().unwrap()]);
    assert!(
        !output.status.success(),
        "an existing directory is not overwritten"
    );
    let output = tessera(&[
        "new",
        "Sensor_Stats",
        "--dir",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(text(&output).1.contains("kebab-case"));
}

#[test]
fn build_inspect_and_run_the_hello_example_in_every_format() {
    let output = tessera(&["build", "examples/hello"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let path = stdout
        .split(" → ")
        .nth(1)
        .and_then(|s| s.split(" (").next())
        .unwrap()
        .trim()
        .to_string();
    assert!(path.ends_with("hello.tessera.wasm"), "{stdout}");

    let (stdout, _) = text(&tessera(&["inspect", &path]));
    assert!(
        stdout.contains("hello 0.1.0")
            && stdout.contains("input  people (ingest): name text!, language text"),
        "{stdout}"
    );
    assert!(stdout.contains("exports:\n  run"), "{stdout}");
    assert!(stdout.contains("tessera:product/inputs@0.1.1"), "{stdout}");

    let out = tempfile::tempdir().unwrap();
    for format in ["csv", "ndjson", "parquet", "arrow"] {
        let output = tessera(&[
            "run",
            &path,
            "-i",
            "people=examples/hello/data/people.csv",
            "--out",
            out.path().to_str().unwrap(),
            "--format",
            format,
        ]);
        assert!(output.status.success(), "{format}: {:?}", text(&output));
        // A product without a GPU never wakes the Vulkan loader, whose layers print noise.
        assert!(
            !text(&output).1.contains("XDG_RUNTIME_DIR"),
            "{format}: {:?}",
            text(&output)
        );
        assert!(
            out.path().join(format!("greetings.{format}")).is_file(),
            "{format}"
        );
        // The checks and statistics read the written file back, in each format.
        let (stdout, _) = text(&output);
        assert!(
            stdout.contains("✓ greetings not_null(greeting) [error]: all 4 rows pass"),
            "{format}: {stdout}"
        );
        assert!(
            stdout.contains("greetings statistics (4 rows)")
                && stdout.contains("name               text      4 values, 0 null, 4 distinct; min Ada, max Katherine"),
            "{format}: {stdout}"
        );
    }

    // A failing `error` check fails the local run and shows the failing rows.
    let manifest = std::fs::read_to_string(workspace().join("examples/hello/product.toml"))
        .unwrap()
        .replace(
            r#"checks = [{ kind = "not_null", column = "greeting" }]"#,
            r#"checks = [{ kind = "row_count", max = 3 }, { kind = "regex", column = "name", pattern = "^A", severity = "warn" }]"#,
        );
    let edited = out.path().join("product.toml");
    std::fs::write(&edited, manifest).unwrap();
    let repackaged = out.path().join("checked.wasm");
    let output = tessera(&[
        "package",
        &path,
        "--manifest",
        edited.to_str().unwrap(),
        "-o",
        repackaged.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let output = tessera(&[
        "run",
        repackaged.to_str().unwrap(),
        "-i",
        "people=examples/hello/data/people.csv",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("✗ greetings row_count [error]: 4 rows; expected at most 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("! greetings regex(name ~ /^A/) [warn]: 2 of 4 rows fail"),
        "{stdout}"
    );
    assert!(stdout.contains("row 2: {\"greeting\""), "{stdout}");
    assert!(
        stderr.contains("a server would quarantine these outputs"),
        "{stderr}"
    );
    let ndjson = std::fs::read_to_string(out.path().join("greetings.ndjson")).unwrap();
    assert_eq!(
        ndjson.lines().next(),
        Some(r#"{"name":"Ada","greeting":"Bonjour, Ada !"}"#)
    );
}

#[test]
fn bad_input_files_are_refused_with_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = {
        let output = tessera(&["build", "examples/hello"]);
        assert!(output.status.success(), "{:?}", text(&output));
        workspace().join("target/scaffolded/wasm32-wasip2/release/hello.tessera.wasm")
    };
    let bad = dir.path().join("people.csv");
    std::fs::write(&bad, "name,language\nAda,fr\n,de\n").unwrap();
    let output = tessera(&[
        "run",
        wasm.to_str().unwrap(),
        "-i",
        &format!("people={}", bad.display()),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("null in a required column (row 2, column `name`)"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out/greetings.csv").exists(),
        "no partial output"
    );

    std::fs::write(&bad, "name,language,age\nAda,fr,36\n").unwrap();
    let (_, stderr) = text(&tessera(&[
        "run",
        wasm.to_str().unwrap(),
        "-i",
        &format!("people={}", bad.display()),
    ]));
    assert!(stderr.contains("undeclared column `age`"), "{stderr}");

    std::fs::write(&bad, "name,language\n\"Ada,fr\n").unwrap();
    let output = tessera(&[
        "run",
        wasm.to_str().unwrap(),
        "-i",
        &format!("people={}", bad.display()),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert!(!output.status.success(), "{:?}", text(&output));

    let (_, stderr) = text(&tessera(&[
        "run",
        wasm.to_str().unwrap(),
        "-i",
        "nobody=x.csv",
    ]));
    assert!(
        stderr.contains("declares no input `nobody` (its inputs: people)"),
        "{stderr}"
    );
    let (_, stderr) = text(&tessera(&["run", wasm.to_str().unwrap()]));
    assert!(
        stderr.contains("input `people` needs data: pass --input people=FILE"),
        "{stderr}"
    );
}

#[test]
fn files_that_are_not_products_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "just some text").unwrap();
    let (_, stderr) = text(&tessera(&["run", not_wasm.to_str().unwrap()]));
    assert!(stderr.contains("not a WebAssembly file"), "{stderr}");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let (_, stderr) = text(&tessera(&["run", core.to_str().unwrap()]));
    assert!(
        stderr.contains("core WebAssembly module, not a component"),
        "{stderr}"
    );
}

#[test]
fn a_manifest_error_stops_the_build_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let product = dir.path().join("broken");
    assert!(
        tessera(&["new", "broken", "--dir", product.to_str().unwrap()])
            .status
            .success()
    );
    let manifest = product.join("product.toml");
    let text_before = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text_before.replace("timeout = \"30s\"", "timeout = \"thirty seconds\""),
    )
    .unwrap();
    let (_, stderr) = text(&tessera(&["build", product.to_str().unwrap()]));
    assert!(stderr.contains("product.toml:11:11"), "{stderr}");
    assert!(stderr.contains("not a duration"), "{stderr}");
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_client_commands_drive_a_server() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let output = tessera(&[
        "token", "create", "--role", "owner", "--domain", "examples", "--data", data_dir,
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let token = text(&output).0.trim().to_string();
    assert!(token.starts_with("tsr_"), "{token}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--data", data_dir, "--addr", &addr])
            .env("TESSERA_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let up = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(&addr).is_ok()
    });
    assert!(up, "the server did not start");
    let server = format!("http://{addr}");
    let remote = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &server, "--token", &token]);
        tessera(&all)
    };

    let output = remote(&["deploy", "examples/hello"]);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(
        text(&output).0.contains("deployed hello 0.1.0"),
        "{:?}",
        text(&output)
    );
    let output = remote(&["products", "--json"]);
    let catalog: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(catalog["products"][0]["name"], "hello");
    // An ingest with --wait follows the run it triggers.
    let people = data.path().join("people.csv");
    std::fs::write(&people, "name\nAda\n").unwrap();
    let output = remote(&["ingest", "hello/people", people.to_str().unwrap(), "--wait"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ingested 1 rows into hello/people: input version 1")
            && stdout.contains("succeeded")
            && stdout.contains("published data version 1"),
        "{stdout}"
    );
    let output = remote(&["trigger", "hello", "--wait"]);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(text(&output).0.contains("succeeded"), "{:?}", text(&output));
    let output = remote(&["get", "hello/greetings"]);
    assert!(
        text(&output).0.starts_with("name,greeting\nAda,"),
        "{:?}",
        text(&output)
    );
    let output = remote(&["status", "hello"]);
    assert!(
        text(&output).0.contains("data version 2"),
        "{:?}",
        text(&output)
    );
    assert!(
        text(&output).0.contains("freshness: fresh (data ")
            && text(&output)
                .0
                .contains("✓ greetings not_null(greeting) [error]: all 1 rows pass")
            && text(&output).0.contains("greetings statistics (1 rows)"),
        "{:?}",
        text(&output)
    );

    let output = remote(&["get", "hello/farewells"]);
    assert!(!output.status.success());
    assert!(
        text(&output).1.contains("these exist: greetings"),
        "{:?}",
        text(&output)
    );
    let output = tessera(&["trigger", "hello", "--server", &server]);
    assert!(!output.status.success());
    assert!(text(&output).1.contains("401"), "{:?}", text(&output));
    let output = tessera(&["products", "--server", "http://127.0.0.1:9"]);
    assert!(
        text(&output).1.contains("cannot reach the server"),
        "{:?}",
        text(&output)
    );
}

/// A `tessera serve` process on a free loopback port, with extra environment.
fn serve(data_dir: &str, env: &[(&str, &str)]) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(["serve", "--data", data_dir, "--addr", &addr])
        .env("TESSERA_LOG", "warn")
        .env(
            "TESSERA_CACHE_DIR",
            workspace().join("target/tessera-test-cache"),
        );
    for (name, value) in env {
        command.env(name, value);
    }
    let server = Server(command.spawn().unwrap());
    let up = (0..400).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        std::net::TcpStream::connect(&addr).is_ok()
    });
    assert!(up, "the server did not start");
    (server, format!("http://{addr}"))
}

/// GET a JSON document from the server.
fn get_json(server: &str, token: &str, path: &str) -> serde_json::Value {
    let mut response = ureq::get(&format!("{server}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

/// How long a test waits for runs to get where it expects. Generous: the runs compete with
/// every other test for a shared machine's cores, so this bounds a hang, not a speed.
const RUNS_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// Polls a product's runs (newest first) until `done` says they are as expected.
fn runs_until(
    server: &str,
    token: &str,
    product: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let started = std::time::Instant::now();
    let mut runs = Vec::new();
    while started.elapsed() < RUNS_PATIENCE {
        let listed = get_json(server, token, &format!("/v1/products/{product}/runs"));
        runs = listed.as_array().cloned().unwrap_or_default();
        if done(&runs) {
            return runs;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the runs of {product} never got there in {RUNS_PATIENCE:?}: {runs:?}");
}

fn settled(runs: &[serde_json::Value]) -> bool {
    !runs.is_empty()
        && runs
            .iter()
            .all(|r| !matches!(r["state"].as_str(), Some("queued" | "running")))
}

#[test]
fn queued_and_running_work_survives_a_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let output = tessera(&["token", "create", "--role", "admin", "--data", data_dir]);
    let token = text(&output).0.trim().to_string();
    let people = data.path().join("people.csv");
    std::fs::write(&people, "name,language\nAda,en\nGrace,en\n").unwrap();
    let control = data.path().join("control.ndjson");
    std::fs::write(&control, "{\"mode\": \"loop\"}\n").unwrap();

    // Ingest-triggered runs wait a minute here, so hello's run is still queued at the kill.
    let (mut server, url) = serve(
        data_dir,
        &[("TESSERA_DEBOUNCE", "60s"), ("TESSERA_MAX_DELAY", "60s")],
    );
    let remote = |args: &[&str], url: &str| {
        let mut all = args.to_vec();
        all.extend(["--server", url, "--token", &token]);
        tessera(&all)
    };
    // hostile loops until its timeout: 10 s, so the kill below lands while it runs however
    // long a loaded machine takes between seeing it run and killing the server.
    let hostile = hostile_with_timeout(data.path(), "10s");
    for product in ["examples/hello", hostile.to_str().unwrap()] {
        let output = remote(&["deploy", product], &url);
        assert!(output.status.success(), "{:?}", text(&output));
    }
    let people_path = people.to_str().unwrap();
    let output = remote(
        &[
            "ingest",
            "hello/people",
            people_path,
            "--idempotency-key",
            "k1",
        ],
        &url,
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(
        text(&output).0,
        "ingested 2 rows into hello/people: input version 1 (2 rows, append)\n"
    );
    let queued = runs_until(&url, &token, "hello", |r| r.len() == 1);
    assert_eq!(queued[0]["state"], "queued");
    assert_eq!(queued[0]["cause"], "input");

    // A manual trigger starts hostile without the debounce.
    let output = remote(
        &["ingest", "hostile/control", control.to_str().unwrap()],
        &url,
    );
    assert!(output.status.success(), "{:?}", text(&output));
    let output = remote(&["trigger", "hostile"], &url);
    assert!(output.status.success(), "{:?}", text(&output));
    let running = runs_until(&url, &token, "hostile", |r| {
        r.first().is_some_and(|run| run["state"] == "running")
    });
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();

    let (_server, url) = serve(data_dir, &[]);
    // The queued run resumes under its own id and publishes.
    let runs = runs_until(&url, &token, "hello", settled);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["id"], queued[0]["id"]);
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    let output = remote(&["get", "hello/greetings", "--format", "ndjson"], &url);
    assert_eq!(text(&output).0.lines().count(), 2, "{:?}", text(&output));
    let output = remote(
        &["trigger", "hello", "--replay", "greetings@1", "--wait"],
        &url,
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(
        text(&output)
            .0
            .contains("replay of version 1: every output matches, byte for byte"),
        "{:?}",
        text(&output)
    );
    // The interrupted run is retried once.
    let runs = runs_until(&url, &token, "hostile", |r| r.len() == 2 && settled(r));
    let (retry, interrupted) = (&runs[0], &runs[1]);
    assert_eq!(interrupted["id"], running[0]["id"]);
    assert_eq!(interrupted["state"], "interrupted");
    assert_eq!(retry["cause"], "retry");
    assert_eq!(retry["attempt"], 2);
    assert_eq!(retry["retry_of"], interrupted["id"]);
    assert_eq!(retry["failure"], "timeout", "{retry}");
    // The acknowledged ingest survived, and its key still makes a retry a no-op.
    let output = remote(
        &[
            "ingest",
            "hello/people",
            people_path,
            "--idempotency-key",
            "k1",
            "--json",
        ],
        &url,
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (answer["version"].as_u64(), answer["rows"].as_u64()),
        (Some(1), Some(2))
    );

    // A bad file is refused with its problems listed, row by row.
    std::fs::write(&people, "name,language\n,en\nAda,\n").unwrap();
    let output = remote(&["ingest", "hello/people", people_path], &url);
    assert!(!output.status.success());
    let (_, stderr) = text(&output);
    assert!(stderr.contains("400"), "{stderr}");
    assert!(
        stderr.contains("row 1 (line 2), column name: empty value in a required column"),
        "{stderr}"
    );
}

#[test]
fn run_reports_custom_checks_and_fails_on_a_check_that_traps() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = workspace().join("tests/fixtures/hostile");
    let run = |mode: &str| {
        let control = dir.path().join(format!("{mode}.csv"));
        std::fs::write(&control, format!("mode\n{mode}\n")).unwrap();
        let output = tessera(&[
            "run",
            hostile.to_str().unwrap(),
            "-i",
            &format!("control={}", control.display()),
            "--out",
            dir.path().join(mode).to_str().unwrap(),
        ]);
        let (stdout, stderr) = text(&output);
        (output.status.success(), stdout, stderr)
    };

    let (ok, stdout, stderr) = run("check-fail");
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("✓ result outcome-is-written [error]: all 1 rows passed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ result planted-failure [error]: the planted failure, on row 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"row 1: {"mode":"check-fail","outcome":"fine"}"#),
        "{stdout}"
    );

    let (ok, stdout, stderr) = run("check-panic");
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("planted panic in hostile's checks"),
        "{stdout}\n{stderr}"
    );
    // The CLI says no outputs were written, and none are left behind.
    assert!(stderr.contains("no outputs were written"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("check-panic"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_empty_output_port_in_csv_still_names_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = workspace().join("tests/fixtures/hostile");
    // `silent` writes nothing to its output port.
    let control = dir.path().join("control.csv");
    std::fs::write(&control, "mode\nsilent\n").unwrap();
    let out = dir.path().join("out");
    let output = tessera(&[
        "run",
        hostile.to_str().unwrap(),
        "-i",
        &format!("control={}", control.display()),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(!stderr.contains("lacks the column"), "{stdout}\n{stderr}");
    let written = std::fs::read_to_string(out.join("result.csv")).unwrap();
    assert_eq!(written.lines().next(), Some("mode,outcome"), "{written:?}");
}

/// POSTs a body to the server and returns the status.
fn post(server: &str, token: &str, path: &str, content_type: &str, body: &[u8]) -> u16 {
    ureq::post(&format!("{server}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .config()
        .http_status_as_error(false)
        .build()
        .send(body)
        .unwrap()
        .status()
        .as_u16()
}

/// `hostile` built and repackaged with a timeout long enough for its `slow` mode.
fn patient_hostile(dir: &Path) -> PathBuf {
    hostile_with_timeout(dir, "120s")
}

/// `hostile` built and repackaged with `timeout` in place of its 1 s.
fn hostile_with_timeout(dir: &Path, timeout: &str) -> PathBuf {
    let output = tessera(&["build", "tests/fixtures/hostile"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let built = stdout
        .split(" → ")
        .nth(1)
        .and_then(|rest| rest.rsplit_once(" ("))
        .map(|(path, _)| PathBuf::from(path.trim()))
        .unwrap_or_else(|| panic!("no path in {stdout}"));
    let manifest = std::fs::read_to_string(workspace().join("tests/fixtures/hostile/product.toml"))
        .unwrap()
        .replace("timeout = \"1s\"", &format!("timeout = \"{timeout}\""));
    let wasm = std::fs::read(built).unwrap();
    let packaged = tessera_core::package::embed(&wasm, &manifest, None).unwrap();
    let path = dir.join(format!("hostile-{timeout}.wasm"));
    std::fs::write(&path, packaged).unwrap();
    path
}

#[test]
fn acknowledged_rows_are_published_after_two_kills_during_runs() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let output = tessera(&["token", "create", "--role", "admin", "--data", data_dir]);
    let token = text(&output).0.trim().to_string();
    let wasm = patient_hostile(data.path());
    let fast = [("TESSERA_DEBOUNCE", "10ms"), ("TESSERA_MAX_DELAY", "10ms")];

    let (mut server, url) = serve(data_dir, &fast);
    let output = tessera(&[
        "deploy",
        wasm.to_str().unwrap(),
        "--server",
        &url,
        "--token",
        &token,
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let mut acknowledged = 0;
    let mut ingest = |url: &str, rows: usize| {
        let body = format!("mode\n{}", "slow\n".repeat(rows));
        let status = post(
            url,
            &token,
            "/v1/products/hostile/inputs/control",
            "text/csv",
            body.as_bytes(),
        );
        assert_eq!(status, 201, "the ingest was not acknowledged");
        acknowledged += rows;
    };
    let running = |url: &str| {
        runs_until(url, &token, "hostile", |runs| {
            runs.first().is_some_and(|run| run["state"] == "running")
        })[0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Kill 1: during the first run.
    ingest(&url, 2);
    let first = running(&url);
    ingest(&url, 3);
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();

    // Kill 2: during the retry the restart makes of it.
    let (mut server, url) = serve(data_dir, &fast);
    let retry = running(&url);
    assert_ne!(retry, first);
    ingest(&url, 4);
    server.0.kill().unwrap();
    server.0.wait().unwrap();

    // After the second restart nothing is retried any more, yet every acknowledged row is
    // read and published.
    let (_server, url) = serve(data_dir, &fast);
    let runs = runs_until(&url, &token, "hostile", |runs| {
        settled(runs) && runs.iter().any(|r| r["state"] == "succeeded")
    });
    let interrupted: Vec<&str> = runs
        .iter()
        .filter(|r| r["state"] == "interrupted")
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(
        interrupted.contains(&first.as_str()) && interrupted.contains(&retry.as_str()),
        "{runs:?}"
    );
    let published = get_json(
        &url,
        &token,
        "/v1/products/hostile/outputs/result?format=json",
    );
    let outcome = published[0]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(outcome, acknowledged.to_string(), "{published}");
    // No input version is published twice.
    let mut read: Vec<u64> = runs
        .iter()
        .filter(|r| r["state"] == "succeeded")
        .filter_map(|r| r["inputs"]["control"]["version"].as_u64())
        .collect();
    let published = read.len();
    read.dedup();
    assert_eq!(read.len(), published, "a version published twice: {runs:?}");
}

#[test]
fn policy_test_evaluates_offline_and_fails_on_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let hello = std::fs::read_to_string(workspace().join("examples/hello/product.toml")).unwrap();
    // hello is source-aligned without a freshness SLO: the library's rule refuses it.
    let output = tessera(&["policy", "test", "--library", "examples/hello/product.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("FAIL source-aligned-freshness"), "{stdout}");
    assert!(stdout.contains("PASS owner-and-description"), "{stdout}");
    let fresh = dir.path().join("product.toml");
    std::fs::write(&fresh, format!("{hello}\n[slo]\nfreshness = \"24h\"\n")).unwrap();
    let output = tessera(&["policy", "test", "--library", fresh.to_str().unwrap()]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.matches("PASS ").count(), 6, "{stdout}");
    // A policy of one's own, and a breaking change against the version it replaces.
    let rule = dir.path().join("no-examples.rego");
    std::fs::write(
        &rule,
        "package tessera.no_examples\nviolation contains msg if {\n  \"example\" in input.product.tags\n  msg := \"no examples here\"\n}\n",
    )
    .unwrap();
    let renamed = dir.path().join("renamed.toml");
    std::fs::write(
        &renamed,
        hello
            .replace("version = \"0.1.0\"", "version = \"0.1.1\"")
            .replace(
                "greeting = { type = \"text\", required = true }",
                "greeting = \"text\"",
            ),
    )
    .unwrap();
    let output = tessera(&[
        "policy",
        "test",
        rule.to_str().unwrap(),
        renamed.to_str().unwrap(),
        "--against",
        "examples/hello/product.toml",
    ]);
    let (stdout, _) = text(&output);
    assert!(!output.status.success());
    assert!(
        stdout.contains("FAIL no-examples\n     no examples here"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL semantic versioning: 0.1.1 is a patch release of 0.1.0"),
        "{stdout}"
    );
}

#[test]
fn param_overrides_a_manifest_parameter_for_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    // 29 benign annotations and one `uncertain`, a label the manifest does not list.
    let mut csv = String::from("study_id,annotator_id,label,confidence,annotated_at\n");
    for i in 0..29 {
        csv.push_str(&format!("s{i},a1,benign,0.9,2024-05-01T00:00:00Z\n"));
    }
    csv.push_str("s29,a1,uncertain,0.5,2024-05-01T00:00:00Z\n");
    let annotations = dir.path().join("annotations.csv");
    std::fs::write(&annotations, csv).unwrap();
    let input = format!("annotations={}", annotations.display());
    let out = dir.path().join("out");
    let run = |params: &[&str]| {
        let mut args = vec![
            "run",
            "products/labeled-studies",
            "-i",
            &input,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(params);
        tessera(&args)
    };
    let (stdout, stderr) = text(&run(&[]));
    assert!(stdout.contains("gauge rejected = 1"), "{stdout}\n{stderr}");
    // The run line says where the time went.
    assert!(
        stdout.contains("host reading") && stdout.contains("writing"),
        "{stdout}"
    );

    let output = run(&["--param", "labels=benign,malignant,uncertain"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("gauge rejected = 0"), "{stdout}\n{stderr}");

    // Only declared parameters, each of its declared kind.
    let (_, stderr) = text(&run(&["--param", "labelz=x"]));
    assert!(
        stderr.contains("declares no parameter `labelz`")
            && stderr.contains("labels, max_rejected_share"),
        "{stderr}"
    );
    let (_, stderr) = text(&run(&["--param", "max_rejected_share=lots"]));
    assert!(
        stderr.contains("--param max_rejected_share: `lots` is not a number"),
        "{stderr}"
    );
}
