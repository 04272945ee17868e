//! Data tests on the server: checks that fail put a run in quarantine, keep the previous
//! version served and leave the failing outputs readable by the owner; warnings publish.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use tessera_server::events::Event;
use tessera_server::schedule::clock::ManualClock;
use tessera_store::{Role, Store};

use crate::server::{Api, config, hello, repackage, token};

/// hello with an `error` check (at most two greetings) and a `warn` check (names start with a
/// capital letter).
fn checked_hello() -> Vec<u8> {
    repackage(&hello(), |m| {
        m.replace(
            r#"checks = [{ kind = "not_null", column = "greeting" }]"#,
            r#"checks = [
    { kind = "row_count", max = 2, description = "a demo limit" },
    { kind = "regex", column = "name", pattern = "^[A-Z]", severity = "warn" },
]"#,
        )
    })
}

#[tokio::test]
async fn a_failed_error_check_quarantines_and_a_warning_publishes() {
    let api = Api::with_config(config());
    assert_eq!(
        api.deploy(checked_hello()).await.status,
        StatusCode::CREATED
    );

    api.ingest_people("name\nAda\ngrace\n").await;
    let runs = api.settled_runs("hello", 1).await;
    let run = api.get(runs[0]["url"].as_str().unwrap()).await.json();
    assert_eq!(run["state"], "succeeded", "{run}");
    let checks = run["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(
        (checks[0]["check"].as_str(), checks[0]["passed"].as_bool()),
        (Some("row_count"), Some(true))
    );
    assert_eq!(checks[1]["severity"], "warn");
    assert_eq!(checks[1]["passed"], false);
    assert_eq!(checks[1]["sample"][0]["row"], 2);
    assert_eq!(checks[1]["sample"][0]["values"]["name"], "grace");
    assert_eq!(
        api.store.current_version("hello").unwrap().unwrap().number,
        1
    );

    // Two more rows: four greetings break the error check.
    let mut events = api.state.events().subscribe();
    api.ingest_people("name\nLinus\nBarbara\n").await;
    let runs = api.settled_runs("hello", 2).await;
    let run = api.get(runs[0]["url"].as_str().unwrap()).await.json();
    assert_eq!(run["state"], "quarantined", "{run}");
    let reason = run["reason"].as_str().unwrap();
    assert!(
        reason.contains("greetings row_count: 4 rows; expected at most 2"),
        "{reason}"
    );
    assert_eq!(run["published_version"], Value::Null);
    let mut quarantined = None;
    while let Some((_, event)) = events.try_next() {
        if let Event::Quarantined {
            run, failed_checks, ..
        } = event
        {
            quarantined = Some((run, failed_checks));
        }
    }
    assert_eq!(
        quarantined,
        Some((
            run["id"].as_str().unwrap().to_string(),
            vec!["greetings: row_count".to_string()]
        ))
    );
    // The previous version stays current and served.
    assert_eq!(
        api.store.current_version("hello").unwrap().unwrap().number,
        1
    );
    let served = api.get("/v1/products/hello/outputs/greetings").await.json();
    assert_eq!(served.as_array().unwrap().len(), 2);

    // The owner reads what the quarantined run wrote; a reader may not; a published run has
    // nothing quarantined.
    let id = run["id"].as_str().unwrap();
    let url = format!("/v1/products/hello/outputs/greetings?run={id}&format=json");
    let kept = api.get_as(Some(&api.admin), &url).await;
    assert_eq!(kept.status, StatusCode::OK);
    assert_eq!(kept.json().as_array().unwrap().len(), 4);
    let reader = token(api.store.as_ref(), Role::Reader, None, &[]);
    let (code, _) = api
        .get_as(Some(&reader), &url)
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(code, "forbidden");
    let published = runs[1]["id"].as_str().unwrap();
    let (_, message) = api
        .get_as(
            Some(&api.admin),
            &format!("/v1/products/hello/outputs/greetings?run={published}"),
        )
        .await
        .error(StatusCode::CONFLICT);
    assert!(message.contains("is succeeded"), "{message}");
    let (_, _) = api
        .get_as(
            Some(&api.admin),
            "/v1/products/hello/outputs/greetings?run=r-nope",
        )
        .await
        .error(StatusCode::NOT_FOUND);
    let status = api.get("/v1/products/hello").await.json();
    assert_eq!(status["status"], "quarantined");
}

#[tokio::test]
async fn a_column_declared_unique_is_held_to_it() {
    let api = Api::with_config(config());
    let unique_names = repackage(&hello(), |m| {
        m.replace(
            r#"name = { type = "text", required = true }, greeting"#,
            r#"name = { type = "text", required = true, unique = true }, greeting"#,
        )
    });
    assert_eq!(api.deploy(unique_names).await.status, StatusCode::CREATED);
    api.ingest_people("name\nAda\nGrace\n").await;
    let runs = api.settled_runs("hello", 1).await;
    let run = api.get(runs[0]["url"].as_str().unwrap()).await.json();
    assert_eq!(run["state"], "succeeded", "{run}");

    // Ada again: two greetings for one name break `unique = true`.
    api.ingest_people("name\nAda\n").await;
    let runs = api.settled_runs("hello", 2).await;
    let run = api.get(runs[0]["url"].as_str().unwrap()).await.json();
    assert_eq!(run["state"], "quarantined", "{run}");
    let unique = run["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "unique(name)")
        .unwrap_or_else(|| panic!("no unique check in {run}"));
    assert_eq!(unique["passed"], false);
    assert_eq!(unique["severity"], "error");
    assert_eq!(unique["sample"][0]["values"]["name"], "Ada");
    assert_eq!(
        api.store.current_version("hello").unwrap().unwrap().number,
        1
    );
}

#[tokio::test]
async fn metrics_report_freshness_statistics_checks_and_gauges() {
    const HOUR_US: i64 = 3_600_000_000;
    let start = tessera_store::now_us();
    let clock = Arc::new(ManualClock::at(start));
    let api = Api::with_clock(config(), clock.clone());
    let with_slo = repackage(&checked_hello(), |m| {
        format!("{m}\n[slo]\nfreshness = \"1h\"\n")
    });
    assert_eq!(api.deploy(with_slo).await.status, StatusCode::CREATED);
    let metrics = api.get("/v1/products/hello/metrics").await.json();
    assert_eq!(metrics["freshness"]["state"], "never-run");
    assert_eq!(metrics["freshness"]["slo_seconds"], 3600.0);
    assert_eq!(metrics["last_run"], Value::Null);

    api.ingest_people("name,language\nAda,en\ngrace,fr\n").await;
    api.settled_runs("hello", 1).await;
    let metrics = api.get("/v1/products/hello/metrics").await.json();
    assert_eq!(metrics["freshness"]["state"], "fresh", "{metrics}");
    assert!(metrics["freshness"]["age_seconds"].as_f64().unwrap() < 60.0);
    assert_eq!(metrics["last_success"]["id"], metrics["last_run"]["id"]);
    assert_eq!(metrics["last_publish"]["version"], 1);
    let input = &metrics["inputs"][0];
    assert_eq!(
        (
            input["input"].as_str(),
            input["kind"].as_str(),
            input["version"].as_u64()
        ),
        (Some("people"), Some("ingest"), Some(1))
    );
    assert!(input["age_seconds"].as_f64().unwrap() < 60.0);
    let greetings = &metrics["outputs"][0];
    assert_eq!(
        (greetings["port"].as_str(), greetings["rows"].as_u64()),
        (Some("greetings"), Some(2))
    );
    let name = &greetings["stats"]["columns"][0];
    assert_eq!(
        (
            name["name"].as_str(),
            name["count"].as_u64(),
            name["distinct"].as_u64()
        ),
        (Some("name"), Some(2), Some(2))
    );
    assert_eq!(name["min"], "Ada");
    assert_eq!(name["max"], "grace");
    assert_eq!(metrics["checks"].as_array().unwrap().len(), 2);
    let rates: Vec<(String, u64, u64)> = metrics["check_pass_rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["check"].as_str().unwrap().to_string(),
                r["runs"].as_u64().unwrap(),
                r["passed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rates,
        [
            ("regex(name ~ /^[A-Z]/)".to_string(), 1, 0),
            ("row_count".to_string(), 1, 1)
        ]
    );
    assert_eq!(metrics["runs"]["by_state"]["succeeded"], 1);
    assert!(metrics["runs"]["duration_p50_ms"].is_u64());
    assert!(metrics["runs"]["peak_memory_max"].as_u64().unwrap() > 0);
    assert!(metrics["last_run"]["cpu_ms"].is_u64(), "{metrics}");
    assert_eq!(metrics["gauges"]["people_greeted"][0]["value"], 2.0);

    // Two hours later the product is stale: in the catalog, the metrics, Prometheus and events.
    let mut events = api.state.events().subscribe();
    tessera_server::freshness::watch(&api.state);
    clock.set(start + 2 * HOUR_US);
    tessera_server::freshness::watch(&api.state);
    let catalog = api.get("/v1/products").await.json();
    assert_eq!(
        catalog["products"][0]["freshness"]["state"], "stale",
        "{catalog}"
    );
    let metrics = api.get("/v1/products/hello/metrics").await.json();
    assert_eq!(metrics["freshness"]["state"], "stale");
    assert!(metrics["freshness"]["age_seconds"].as_f64().unwrap() >= 7200.0 - 60.0);
    let prometheus = String::from_utf8(api.get("/metrics").await.body.to_vec()).unwrap();
    for line in [
        "tessera_product_stale{product=\"hello\"} 1",
        "tessera_product_last_run_succeeded{product=\"hello\"} 1",
        "tessera_product_checks_failing{product=\"hello\"} 1",
        "tessera_port_rows{product=\"hello\",port=\"greetings\"} 2",
    ] {
        assert!(
            prometheus.contains(line),
            "{line} missing from\n{prometheus}"
        );
    }
    let mut seen = Vec::new();
    while let Some((_, event)) = events.try_next() {
        if let Event::Freshness { state, .. } = event {
            seen.push(state);
        }
    }
    assert!(seen.ends_with(&["stale".to_string()]), "{seen:?}");
    // Back to the present: fresh again.
    clock.set(tessera_store::now_us());
    tessera_server::freshness::watch(&api.state);
    let metrics = api.get("/v1/products/hello/metrics").await.json();
    assert_eq!(metrics["freshness"]["state"], "fresh");
}
