//! A product's lifecycle against an owner of another domain, a consumer who reads old versions,
//! deploys that race each other, and restarts: replays and runs through the one queue, input
//! never stranded, schedules that catch up, run history that pages and is pruned, quotas.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tessera_core::package;
use tessera_server::schedule::clock::ManualClock;
use tessera_store::{ReplayReport, Role, RunRecord, RunState, Store};

use crate::server::{Api, RUN_PATIENCE, hello, repackage, token};

/// `hello` at another version (and optionally another domain).
fn hello_as(version: &str, domain: &str) -> Vec<u8> {
    repackage(&hello(), |m| {
        m.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
            .replace("domain = \"examples\"", &format!("domain = \"{domain}\""))
    })
}

#[tokio::test]
async fn an_owner_of_another_domain_cannot_take_a_product_over() {
    let api = Api::new();
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);
    let intruder = token(api.store.as_ref(), Role::Owner, Some("intruders"), &[]);
    // The upload says it belongs to the intruder's own domain.
    let (_, message) = api
        .post_as(
            Some(&intruder),
            "/v1/products",
            hello_as("0.2.0", "intruders"),
        )
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(message.contains("examples"), "{message}");
    assert_eq!(
        api.store.active("hello").unwrap().as_deref(),
        Some("0.1.0"),
        "nothing was activated"
    );
    assert_eq!(api.store.deployments("hello").unwrap().len(), 1);
    // The domain's own owner cannot move it either; an admin can, on purpose.
    let owner = token(api.store.as_ref(), Role::Owner, Some("examples"), &[]);
    api.post_as(Some(&owner), "/v1/products", hello_as("0.2.0", "intruders"))
        .await
        .error(StatusCode::FORBIDDEN);
    api.post("/v1/products", hello_as("0.2.0", "intruders"))
        .await
        .error(StatusCode::FORBIDDEN);
    let moved = api
        .post(
            "/v1/products?move_domain=true",
            hello_as("0.2.0", "intruders"),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CREATED);
    // A new version in the same domain is the owner's to deploy.
    let again = api
        .post_as(
            Some(&intruder),
            "/v1/products",
            hello_as("0.3.0", "intruders"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_version_is_read_under_the_access_it_was_published_with() {
    let api = Api::new();
    let restricted = repackage(&hello(), |m| {
        m.replace(
            "name = \"greetings\"",
            "name = \"greetings\"\naccess = \"restricted\"",
        )
    });
    assert_eq!(api.deploy(restricted).await.status, StatusCode::CREATED);
    let pushed = api
        .post_data(
            "/v1/products/hello/inputs/people",
            "text/csv",
            &[],
            "name\nAda\n",
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    let runs = api.settled_runs("hello", 1).await;
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    // Version 0.2.0 makes the port public.
    assert_eq!(
        api.deploy(hello_as("0.2.0", "examples")).await.status,
        StatusCode::CREATED
    );
    let url = "/v1/products/hello/outputs/greetings";
    api.get_as(None, &format!("{url}?version=1"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    api.get_as(None, url).await.error(StatusCode::UNAUTHORIZED);
    let reader = token(api.store.as_ref(), Role::Reader, None, &[]);
    api.get_as(Some(&reader), &format!("{url}?version=1"))
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(
        api.get_as(Some(&api.admin), &format!("{url}?version=1"))
            .await
            .status,
        StatusCode::OK,
        "the admin still reads it"
    );
}

/// A product that copies `rows`, read from `from` (another product's `copy`) or ingested.
fn copier(name: &str, version: &str, from: Option<&str>) -> Vec<u8> {
    let wasm = std::fs::read(tessera_tests::built("examples/identity")).unwrap();
    let input = match from {
        Some(upstream) => format!("from = \"{upstream}/copy\""),
        None => "ingest = { a = \"float64\", b = \"float64\", c = \"float64\", label = \"text\" }"
            .to_string(),
    };
    let manifest = format!(
        r#"
[product]
name = "{name}"
domain = "benchmarks"
version = "{version}"
owner = "platform-team@example.org"
description = "Copies its rows"
kind = "aggregate"

[resources]
memory = "64MiB"
timeout = "10s"

[[inputs]]
name = "rows"
{input}

[[outputs]]
name = "copy"
schema = {{ a = "float64", b = "float64", c = "float64", label = "text" }}
"#
    );
    package::embed(&wasm, &manifest, None).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_deploys_cannot_close_a_cycle_together() {
    for round in 0..5 {
        let api = std::sync::Arc::new(Api::new());
        for name in ["left", "right"] {
            assert_eq!(
                api.deploy(copier(name, "1.0.0", None)).await.status,
                StatusCode::CREATED
            );
        }
        // Each alone is fine; together they would make left → right → left.
        let (a, b) = tokio::join!(
            {
                let api = api.clone();
                tokio::spawn(
                    async move { api.deploy(copier("left", "1.1.0", Some("right"))).await },
                )
            },
            {
                let api = api.clone();
                tokio::spawn(
                    async move { api.deploy(copier("right", "1.1.0", Some("left"))).await },
                )
            },
        );
        let mut statuses = [a.unwrap().status, b.unwrap().status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY],
            "round {round}"
        );
    }
}

fn hostile() -> Vec<u8> {
    std::fs::read(tessera_tests::built("tests/fixtures/hostile")).unwrap()
}

/// A config whose ingests start runs after 10 ms.
fn quick(scheduler: tessera_server::config::SchedulerConfig) -> tessera_server::ServerConfig {
    tessera_server::ServerConfig {
        scheduler: tessera_server::config::SchedulerConfig {
            debounce: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            ..scheduler
        },
        ..crate::server::config()
    }
}

/// Replaces what `hostile`'s control port holds; returns the run the ingest queued.
async fn control(api: &Api, mode: &str) -> String {
    let answer = api
        .post_data(
            "/v1/products/hostile/inputs/control?mode=replace",
            "text/csv",
            &[],
            format!("mode\n{mode}\n"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    answer.json()["run"].as_str().unwrap().to_string()
}

async fn replay_of_version_1(api: &Api) -> crate::server::Answer {
    api.post(
        "/v1/products/hostile/runs",
        br#"{"replay_of": {"port": "result", "version": 1}}"#.to_vec(),
    )
    .await
}

async fn wait_running(api: &Api, id: &str) {
    let started = std::time::Instant::now();
    while started.elapsed() < RUN_PATIENCE {
        let run = api
            .get_as(Some(&api.admin), &format!("/v1/runs/{id}"))
            .await;
        if run.json()["state"] == "running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {id} never started");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_waits_its_turn_in_the_products_queue() {
    let api = Api::with_config(quick(tessera_server::config::SchedulerConfig {
        max_queued_replays: 1,
        ..Default::default()
    }));
    assert_eq!(api.deploy(hostile()).await.status, StatusCode::CREATED);
    let first = control(&api, "ok").await;
    assert_eq!(api.finished_run(&first).await["state"], "succeeded");
    // A run that loops until its 1 s timeout holds the product's slot.
    let looping = control(&api, "loop").await;
    wait_running(&api, &looping).await;

    let answer = replay_of_version_1(&api).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let replay = answer.json()["id"].as_str().unwrap().to_string();
    assert_eq!(answer.json()["state"], "queued");
    // The line of replays is full.
    let (code, message) = replay_of_version_1(&api)
        .await
        .error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code, "busy", "{message}");

    let replayed = api.finished_run(&replay).await;
    let looped = api.finished_run(&looping).await;
    assert_eq!(looped["failure"], "timeout", "{looped}");
    assert_eq!(replayed["state"], "succeeded", "{replayed}");
    assert_eq!(replayed["replay"]["matches"], true, "{replayed}");
    let (started, ended) = (
        replayed["started_at"].as_str().unwrap(),
        looped["finished_at"].as_str().unwrap(),
    );
    assert!(
        started >= ended,
        "the replay ran beside the run: {started} < {ended}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_replay_and_a_queued_run_both_survive_a_restart() {
    let config = quick(Default::default());
    let clock = Arc::new(ManualClock::at(tessera_store::now_us()));
    let api = Api::with_clock(config.clone(), clock.clone());
    assert_eq!(api.deploy(hostile()).await.status, StatusCode::CREATED);
    let first = control(&api, "ok").await;
    assert_eq!(api.finished_run(&first).await["state"], "succeeded");
    let version = api.store.current_version("hostile").unwrap().unwrap();
    // What a stopped host leaves in line: a replay queued first, then a normal run.
    let mut replay = RunRecord::queued("r-replay", "hostile", "0.1.0", tessera_store::now_us());
    replay.cause = tessera_store::RunCause::Replay;
    replay.inputs = version.inputs.clone();
    replay.replay = Some(ReplayReport {
        of_version: 1,
        of_run: version.run_id.clone(),
        matches: None,
        ports: Vec::new(),
    });
    let mut normal = RunRecord::queued("r-whatever", "hostile", "0.1.0", tessera_store::now_us());
    normal.cause = tessera_store::RunCause::Manual;
    api.store.put_run(&replay).unwrap();
    api.store.put_run(&normal).unwrap();

    let api = api.restart(config, clock);
    let replayed = api.finished_run("r-replay").await;
    let normal = api.finished_run("r-whatever").await;
    assert_eq!(
        normal["state"], "succeeded",
        "the queued run was lost: {normal}"
    );
    assert_eq!(replayed["state"], "succeeded", "{replayed}");
    assert_eq!(replayed["replay"]["matches"], true, "{replayed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn input_no_run_read_is_run_at_the_next_start() {
    // Runs wait a minute for more ingests: the host stops with the run still queued.
    let slow = tessera_server::config::SchedulerConfig {
        debounce: Duration::from_secs(60),
        max_delay: Duration::from_secs(60),
        ..Default::default()
    };
    let config = tessera_server::ServerConfig {
        scheduler: slow,
        ..crate::server::config()
    };
    let clock = Arc::new(ManualClock::at(tessera_store::now_us()));
    let api = Api::with_clock(config, clock.clone());
    assert_eq!(api.deploy(hostile()).await.status, StatusCode::CREATED);
    let queued = control(&api, "ok").await;
    // As two kills during the run and its retry leave it: interrupted on its last attempt,
    // nothing queued, the ingest acknowledged and unread.
    let mut record = api.store.run(&queued).unwrap().unwrap();
    record.state = RunState::Interrupted;
    record.attempt = 2;
    api.store.put_run(&record).unwrap();

    let api = api.restart(quick(Default::default()), clock);
    let runs = api.settled_runs("hostile", 2).await;
    assert_eq!(runs[0]["cause"], "pending-input", "{runs:?}");
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    assert_eq!(runs[0]["inputs"]["control"]["version"], 1);
    // Once read, a start queues nothing more.
    let clock = Arc::new(ManualClock::at(tessera_store::now_us()));
    let api = api.restart(quick(Default::default()), clock);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(api.settled_runs("hostile", 2).await.len(), 2);
}

fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_occurrence_missed_while_the_host_was_down_fires_once_at_start() {
    let config = crate::server::config();
    let clock = Arc::new(ManualClock::at(micros("2026-01-01T12:01:00Z")));
    let api = Api::with_clock(config.clone(), clock.clone());
    let scheduled = repackage(&hello(), |m| {
        format!("{m}\n[trigger]\non_input = false\nschedule = \"*/5 * * * *\"\n")
    });
    assert_eq!(api.deploy(scheduled).await.status, StatusCode::CREATED);
    clock.set(micros("2026-01-01T12:05:00Z"));
    api.state.scheduler().poll_schedules(&api.state);
    assert_eq!(api.settled_runs("hello", 1).await.len(), 1);

    // Down from 12:06 to 12:31: the occurrences 12:10 to 12:30 were missed.
    let clock = Arc::new(ManualClock::at(micros("2026-01-01T12:31:00Z")));
    let api = api.restart(config, clock.clone());
    api.state.scheduler().poll_schedules(&api.state);
    let runs = api.settled_runs("hello", 2).await;
    assert_eq!(runs.len(), 2, "one catch-up run for all the missed ones");
    assert_eq!(runs[0]["cause"], "schedule");
    assert_eq!(
        api.state.scheduler().next_scheduled("hello"),
        Some(micros("2026-01-01T12:35:00Z"))
    );
    api.state.scheduler().poll_schedules(&api.state);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(api.store.runs("hello").unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_history_pages_from_the_index_and_old_runs_go() {
    let api = Api::with_config(quick(tessera_server::config::SchedulerConfig {
        keep_runs: 4,
        ..Default::default()
    }));
    api.deploy(hello()).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let answer = api.post("/v1/products/hello/runs", Vec::new()).await;
        let id = answer.json()["id"].as_str().unwrap().to_string();
        api.finished_run(&id).await;
        ids.push(id);
    }
    let page = |query: String| {
        let api = &api;
        async move {
            let answer = api
                .get_as(Some(&api.admin), &format!("/v1/products/hello/runs{query}"))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
            answer
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    // The two oldest records are gone; the rest page newest first.
    let newest: Vec<String> = ids.iter().rev().take(4).cloned().collect();
    assert_eq!(page("?limit=100".into()).await, newest);
    assert_eq!(page("?limit=3".into()).await, newest[..3]);
    assert_eq!(
        page(format!("?limit=3&before={}", newest[2])).await,
        newest[3..]
    );
    assert!(api.store.run(&ids[0]).unwrap().is_none());
    let (code, _) = api
        .get_as(Some(&api.admin), "/v1/products/hello/runs?limit=0")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "bad_parameter");
    let (_, message) = api
        .get_as(Some(&api.admin), "/v1/products/hello/runs?before=nope")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(message.contains("no run `nope`"), "{message}");
}

#[tokio::test]
async fn ingested_bytes_count_against_the_storage_quota() {
    let api = Api::new();
    let small = repackage(&hello(), |m| {
        m.replace("[resources]", "[resources]\nstorage = \"4KiB\"")
    });
    assert_eq!(api.deploy(small).await.status, StatusCode::CREATED);
    let ingest = |rows: usize| {
        let body = format!("name,language\n{}", "Ada,en\n".repeat(rows));
        api.post_data("/v1/products/hello/inputs/people", "text/csv", &[], body)
    };
    assert_eq!(ingest(2).await.status, StatusCode::CREATED);
    let (code, message) = ingest(5000).await.error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "quota_exceeded", "{message}");
    assert!(message.contains("storage quota of 4KiB"), "{message}");
    let versions = api
        .get_as(
            Some(&api.admin),
            "/v1/products/hello/inputs/people/versions",
        )
        .await
        .json();
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");
}
