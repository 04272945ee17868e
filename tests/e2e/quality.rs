//! Data tests on the server: checks that fail put a run in quarantine, keep the previous
//! version served and leave the failing outputs readable by the owner; warnings publish.

use axum::http::StatusCode;
use serde_json::Value;
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

async fn ingest(api: &Api, csv: &str) -> Value {
    let answer = api
        .post_data(
            "/v1/products/hello/inputs/people",
            "text/csv",
            &[],
            csv.to_string(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    answer.json()
}

#[tokio::test]
async fn a_failed_error_check_quarantines_and_a_warning_publishes() {
    let api = Api::with_config(config());
    assert_eq!(
        api.deploy(checked_hello()).await.status,
        StatusCode::CREATED
    );

    ingest(&api, "name\nAda\ngrace\n").await;
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
    ingest(&api, "name\nLinus\nBarbara\n").await;
    let runs = api.settled_runs("hello", 2).await;
    let run = api.get(runs[0]["url"].as_str().unwrap()).await.json();
    assert_eq!(run["state"], "quarantined", "{run}");
    let reason = run["reason"].as_str().unwrap();
    assert!(
        reason.contains("greetings row_count: 4 rows; expected at most 2"),
        "{reason}"
    );
    assert_eq!(run["published_version"], Value::Null);
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
