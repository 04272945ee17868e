//! Governance benchmarks; prints a table. Run with
//! `cargo bench -p tessera-tests --bench governance`.
//!
//! 1. Evaluating 0, 1 and 20 policies on a deploy's input (`tessera_governance::decide`: the
//!    child process, parsing, evaluation), p50 and p90.
//! 2. A deploy (and activation) of a new version through the HTTP server with no policies and
//!    with 20 deploy-and-activate policies, p50 and p90, in the same run.
//! 3. A run of `hello` from an ingest to its publication with no policies and with 20 publish
//!    policies, p50 and p90 of the run's duration as the server records it (in whole ms).
//! 4. Each evaluation's own time as the server records it in its decision records.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_core::manifest::Manifest;
use tessera_governance::input::{Actor, ManifestFacts, PolicyInput, ProductFacts};
use tessera_governance::library::LIBRARY;
use tessera_governance::{EvalLimits, Occasion};
use tessera_server::{AppState, ServerConfig};
use tessera_store::{Effect, PolicyEvent, PolicyRecord, PolicyScope};

const ROUNDS: usize = 60;

/// Twenty policies: the library's six, then copies of them under other ids until twenty.
fn twenty(events: &[PolicyEvent]) -> Vec<PolicyRecord> {
    (0..20)
        .map(|i| {
            let base = &LIBRARY[i % LIBRARY.len()];
            let id = format!("{}-{i}", base.id);
            let package = format!("package tessera.p{i}");
            let rego = base
                .rego
                .lines()
                .map(|l| {
                    if l.starts_with("package ") {
                        package.as_str()
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            PolicyRecord {
                id,
                version: 1,
                description: base.description.into(),
                scope: PolicyScope::Global,
                events: events.to_vec(),
                effect: Effect::Deny,
                rego,
                enabled: true,
                created_at_us: 0,
                created_by: "bench".into(),
            }
        })
        .collect()
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[index].as_secs_f64() * 1e3
}

fn hello_manifest() -> Manifest {
    let wasm = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let text = tessera_core::package::read_embedded(&wasm)
        .unwrap()
        .manifest
        .unwrap();
    Manifest::parse(&text, "product.toml").unwrap()
}

fn evaluation(policies: usize) -> Vec<Duration> {
    let manifest = hello_manifest();
    let all = twenty(&[PolicyEvent::Deploy]);
    let chosen = &all[..policies];
    let input = PolicyInput {
        event: PolicyEvent::Deploy,
        at: "2026-12-02T00:00:00Z".into(),
        actor: Actor {
            id: "bench".into(),
            role: None,
            domain: None,
        },
        product: ProductFacts::of(&manifest),
        proposed: Some(manifest.clone()),
        current: Some(manifest.clone()),
        facts: Some(ManifestFacts::of(&manifest)),
        diff: Some(tessera_governance::diff(Some(&manifest), &manifest)),
        consumers: Vec::new(),
        deprecation: None,
        run: None,
        grant: None,
        ingest: None,
    };
    (0..ROUNDS)
        .map(|i| {
            let started = Instant::now();
            let decision = tessera_governance::decide(
                chosen,
                &[],
                &input,
                Occasion {
                    id: format!("dec_{i}"),
                    at_us: 0,
                    subject: "bench".into(),
                },
                EvalLimits::default(),
            );
            let took = started.elapsed();
            assert_eq!(decision.verdicts.len(), policies);
            took
        })
        .collect()
}

fn post(url: &str, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .send(&body[..])
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn get_json(url: &str, token: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

fn add_policies(url: &str, token: &str, policies: &[PolicyRecord]) {
    for p in policies {
        let (status, body) = post(
            &format!("{url}/v1/policies"),
            token,
            "application/json",
            json!({"id": p.id, "events": p.events.iter().map(|e| e.name()).collect::<Vec<_>>(),
                   "effect": "deny", "rego": p.rego})
            .to_string()
            .into_bytes(),
        );
        assert_eq!(status, 201, "{body}");
    }
}

/// Deploys `ROUNDS` new versions of hello; returns each deploy's time.
fn deploys(url: &str, token: &str, major: u64) -> Vec<Duration> {
    let wasm = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let text = tessera_core::package::read_embedded(&wasm)
        .unwrap()
        .manifest
        .unwrap();
    (0..ROUNDS)
        .map(|i| {
            // A freshness SLO, as the library asks of source-aligned products.
            let manifest = text.replace(
                "version = \"0.1.0\"",
                &format!("version = \"{major}.{i}.0\""),
            ) + "\n[slo]\nfreshness = \"24h\"\n";
            let body = tessera_core::package::embed(&wasm, &manifest, None).unwrap();
            let started = Instant::now();
            let (status, answer) = post(
                &format!("{url}/v1/products"),
                token,
                "application/wasm",
                body,
            );
            let took = started.elapsed();
            assert_eq!(status, 201, "{answer}");
            took
        })
        .collect()
}

/// Pushes into hello `ROUNDS` times, each after the previous run ended; returns the runs'
/// durations as recorded.
fn runs(url: &str, token: &str) -> Vec<Duration> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    (0..ROUNDS)
        .map(|i| {
            let (status, answer) = post(
                &format!("{url}/v1/products/hello/inputs/people?mode=replace"),
                token,
                "text/csv",
                format!("name\nAda{i}\nGrace{i}\n").into_bytes(),
            );
            assert_eq!(status, 201, "{answer}");
            let run = answer["run"].as_str().unwrap().to_string();
            loop {
                let mut response = agent
                    .get(&format!("{url}/v1/runs/{run}"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .call()
                    .unwrap();
                let record: Value =
                    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
                match record["state"].as_str() {
                    Some("queued" | "running") => std::thread::sleep(Duration::from_millis(2)),
                    Some("succeeded") => {
                        return Duration::from_millis(record["duration_ms"].as_u64().unwrap());
                    }
                    other => panic!("run {run} ended {other:?}: {record}"),
                }
            }
        })
        .collect()
}

fn main() {
    // As a server does when it starts: the zygotes that fork evaluation children.
    tessera_governance::zygote::prestart();
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    for n in [0, 1, 20] {
        let mut samples = evaluation(n);
        rows.push((
            format!("evaluate {n} policies (decide)"),
            percentile(&mut samples, 0.5),
            percentile(&mut samples, 0.9),
        ));
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for with_policies in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (_state, addr, token): (AppState, _, String) =
            runtime.block_on(tessera_tests::serve_in_process(ServerConfig {
                data_dir: dir.path().to_path_buf(),
                ..ServerConfig::default()
            }));
        let url = format!("http://{addr}");
        let label = if with_policies {
            "20 policies"
        } else {
            "no policies"
        };
        // The first deploy compiles the component; the measured ones reuse the compiled code.
        deploys(&url, &token, 100);
        if with_policies {
            add_policies(
                &url,
                &token,
                &twenty(&[PolicyEvent::Deploy, PolicyEvent::Activate]),
            );
            let publish: Vec<PolicyRecord> = twenty(&[PolicyEvent::Publish])
                .into_iter()
                .map(|mut p| {
                    p.id = format!("publish-{}", p.id);
                    p.rego = p
                        .rego
                        .replace("package tessera.p", "package tessera.publish_p");
                    p
                })
                .collect();
            add_policies(&url, &token, &publish);
        }
        let mut deployed = deploys(&url, &token, 200);
        rows.push((
            format!("deploy + activate, {label}"),
            percentile(&mut deployed, 0.5),
            percentile(&mut deployed, 0.9),
        ));
        let mut ran = runs(&url, &token);
        rows.push((
            format!("run to publication, {label}"),
            percentile(&mut ran, 0.5),
            percentile(&mut ran, 0.9),
        ));
        if with_policies {
            // The server's own measure of each evaluation, from its decision records.
            let decisions = get_json(&format!("{url}/v1/decisions?limit=1000"), &token);
            for event in ["deploy", "activate", "publish"] {
                let mut took: Vec<Duration> = decisions
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["event"] == event)
                    .map(|d| Duration::from_secs_f64(d["evaluation_ms"].as_f64().unwrap() / 1e3))
                    .collect();
                assert!(took.len() >= ROUNDS, "{event}: {} decisions", took.len());
                rows.push((
                    format!("in the server: one {event} evaluation of 20 policies"),
                    percentile(&mut took, 0.5),
                    percentile(&mut took, 0.9),
                ));
            }
        }
    }
    println!("| operation | p50 ms | p90 ms |");
    println!("|---|---:|---:|");
    for (name, p50, p90) in rows {
        println!("| {name} | {p50:.2} | {p90:.2} |");
    }
}
