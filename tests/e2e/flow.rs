//! Data flow through the API: ingest in every format and every kind of bad input, idempotent
//! retries, parallel ingest, coalesced triggers, cron on an injected clock, a three-level DAG
//! with lineage, deploy-time DAG checks, snapshot isolation, retention, quota and replay.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_server::ServerConfig;
use tessera_server::config::SchedulerConfig;
use tessera_server::schedule::clock::ManualClock;
use tessera_store::Store;

use crate::server::{Answer, Api, config, greeting_copy, hello, repackage};

const CSV: &str = "text/csv";
const NDJSON: &str = "application/x-ndjson";
const ARROW: &str = "application/vnd.apache.arrow.stream";
const PARQUET: &str = "application/vnd.apache.parquet";

fn with_scheduler(debounce_ms: u64) -> ServerConfig {
    ServerConfig {
        scheduler: SchedulerConfig {
            debounce: Duration::from_millis(debounce_ms),
            max_delay: Duration::from_secs(10),
            retries: 3,
            retry_backoff: Duration::from_millis(100),
            ..SchedulerConfig::default()
        },
        ..config()
    }
}

/// POSTs `body` into `product/port` with a query string and headers.
async fn push(
    api: &Api,
    target: &str,
    query: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Answer {
    let (product, port) = target.split_once('/').unwrap();
    api.post_data(
        &format!("/v1/products/{product}/inputs/{port}{query}"),
        content_type,
        headers,
        body,
    )
    .await
}

fn people(names: &[&str], languages: &[Option<&str>]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("language", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(StringArray::from(names.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(languages.to_vec())),
        ],
    )
    .unwrap()
}

fn arrow_stream(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

fn arrow_file(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::FileWriter::try_new(&mut out, &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

fn parquet(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

/// The identity product repackaged with a typed ingest port `rows` and the same output.
fn typed() -> Vec<u8> {
    let wasm = std::fs::read(tessera_tests::built("examples/identity")).unwrap();
    let columns = r#"{ at = { type = "timestamp", required = true }, n = "int64", x = "float64", ok = "boolean", label = { type = "text", required = true } }"#;
    let manifest = format!(
        r#"
[product]
name = "typed"
domain = "examples"
version = "1.0.0"
owner = "platform-team@example.org"
description = "Copies typed rows"
kind = "source-aligned"

[[inputs]]
name = "rows"
ingest = {columns}

[trigger]
on_input = false

[[outputs]]
name = "copy"
schema = {columns}
"#
    );
    tessera_core::package::embed(&wasm, &manifest, None).unwrap()
}

/// The identity product repackaged to copy `from` (a `product/port` with greetings' schema).
fn copy_of(name: &str, from: &str) -> Vec<u8> {
    repackage(&greeting_copy(), |m| {
        m.replace("name = \"greeting-copy\"", &format!("name = \"{name}\""))
            .replace("from = \"hello/greetings\"", &format!("from = \"{from}\""))
    })
}

fn hello_with(version: &str, extra: &str) -> Vec<u8> {
    repackage(&hello(), |m| {
        format!(
            "{}\n{extra}\n",
            m.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
        )
    })
}

/// The rows of a product's current output port, as JSON.
async fn rows(api: &Api, product: &str, port: &str) -> Vec<Value> {
    api.get(&format!("/v1/products/{product}/outputs/{port}"))
        .await
        .json()
        .as_array()
        .cloned()
        .unwrap()
}

fn problems(answer: &Answer) -> Vec<Value> {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json();
    assert_eq!(body["error"]["code"], "invalid_data", "{body}");
    body["error"]["errors"].as_array().cloned().unwrap()
}

#[tokio::test]
async fn ingest_accepts_every_format_and_versions_the_port() {
    let api = Api::with_config(with_scheduler(20));
    api.deploy(hello()).await;

    let answer = push(
        &api,
        "hello/people",
        "",
        CSV,
        &[],
        "language,name\nen,Ada\n,Grace\n",
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json());
    let v1 = answer.json();
    assert_eq!(
        (
            v1["version"].as_u64(),
            v1["rows_added"].as_u64(),
            v1["rows"].as_u64()
        ),
        (Some(1), Some(2), Some(2))
    );
    assert_eq!(v1["mode"], "append");

    let ndjson = "{\"name\": \"Zoë\", \"language\": \"fr\"}\n\n{\"name\": \"Linus\"}\n";
    let v2 = push(&api, "hello/people", "", NDJSON, &[], ndjson)
        .await
        .json();
    assert_eq!(
        (v2["version"].as_u64(), v2["rows"].as_u64()),
        (Some(2), Some(4))
    );
    let stream = arrow_stream(&people(&["Hedy"], &[Some("de")]));
    let v3 = push(&api, "hello/people", "", ARROW, &[], stream)
        .await
        .json();
    assert_eq!(
        (v3["version"].as_u64(), v3["rows"].as_u64()),
        (Some(3), Some(5))
    );
    let file = arrow_file(&people(&["Alan"], &[None]));
    let v4 = push(
        &api,
        "hello/people",
        "",
        "application/vnd.apache.arrow.file",
        &[],
        file,
    )
    .await
    .json();
    assert_eq!(
        (v4["version"].as_u64(), v4["rows"].as_u64()),
        (Some(4), Some(6))
    );
    let replacement = parquet(&people(&["Barbara", "Edsger"], &[Some("en"), Some("nl")]));
    let v5 = push(
        &api,
        "hello/people",
        "?mode=replace",
        PARQUET,
        &[],
        replacement,
    )
    .await;
    assert_eq!(v5.status, StatusCode::CREATED);
    let v5 = v5.json();
    assert_eq!(
        (
            v5["version"].as_u64(),
            v5["rows"].as_u64(),
            v5["mode"].as_str()
        ),
        (Some(5), Some(2), Some("replace"))
    );

    let versions = api
        .get("/v1/products/hello/inputs/people/versions")
        .await
        .json();
    let summary: Vec<(u64, u64, &str)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["rows"].as_u64().unwrap(),
                v["mode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, 2, "append"),
            (2, 4, "append"),
            (3, 5, "append"),
            (4, 6, "append"),
            (5, 2, "replace")
        ]
    );

    // Each ingest woke hello; the runs coalesced, and the last one read input version 5.
    let runs = api.settled_runs("hello", 1).await;
    assert!(runs.len() <= 5, "{runs:?}");
    assert!(
        runs.iter()
            .all(|r| r["cause"] == "input" && r["state"] == "succeeded"),
        "{runs:?}"
    );
    assert_eq!(runs[0]["inputs"]["people"]["version"], 5, "{runs:?}");
    assert_eq!(runs[0]["inputs"]["people"]["kind"], "ingest");
    let greeted: Vec<&str> = ["Barbara", "Edsger"].to_vec();
    let current = rows(&api, "hello", "greetings").await;
    assert_eq!(
        current
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        greeted
    );
}

#[tokio::test]
async fn typed_columns_are_coerced_and_every_bad_row_is_listed() {
    let api = Api::with_config(ServerConfig {
        limits: tessera_server::Limits {
            max_upload: 4 << 20,
            ..config().limits
        },
        ..config()
    });
    let deployed = api.deploy(typed()).await;
    assert_eq!(deployed.status, StatusCode::CREATED, "{}", deployed.json());
    api.deploy(hello()).await;
    api.deploy(greeting_copy()).await;

    // ISO-8601 text (with or without a zone) becomes timestamps; integers, floats, booleans.
    let csv = "label,at,n,x,ok\nfirst,2024-05-01T12:00:00Z,1,0.5,true\nsecond,2024-05-01 13:30:00,,2,false\n";
    let answer = push(&api, "typed/rows", "", CSV, &[], csv).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json());
    assert!(
        answer.json()["run"].is_null(),
        "typed does not run on input"
    );
    let ndjson =
        "{\"label\": \"third\", \"at\": 1714564800000000, \"n\": 3, \"x\": 1, \"ok\": null}\n";
    assert_eq!(
        push(&api, "typed/rows", "", NDJSON, &[], ndjson)
            .await
            .status,
        StatusCode::CREATED
    );
    let run = api.post("/v1/products/typed/runs", Vec::new()).await.json();
    let run = api.finished_run(run["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    let copied = rows(&api, "typed", "copy").await;
    assert_eq!(copied[0]["at"], "2024-05-01T12:00:00Z", "{copied:?}");
    assert_eq!(copied[1]["at"], "2024-05-01T13:30:00Z", "{copied:?}");
    assert_eq!(copied[1]["n"], Value::Null);
    assert_eq!(copied[2]["at"], "2024-05-01T12:00:00Z");
    assert_eq!(
        (copied[2]["n"].as_i64(), copied[2]["x"].as_f64()),
        (Some(3), Some(1.0))
    );

    // CSV: every unparseable value and empty required value, by row, line, column and value.
    let bad = "label,at,n,x,ok\nok,2024-05-01T00:00:00Z,1,1,true\nbad,yesterday,1.5,abc,maybe\n,2024-05-01T00:00:00Z,2,2,true\n";
    let found = problems(&push(&api, "typed/rows", "", CSV, &[], bad).await);
    let brief: Vec<(u64, u64, &str, &str)> = found
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["line"].as_u64().unwrap(),
                p["column"].as_str().unwrap(),
                p["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        brief,
        [
            (2, 3, "at", "yesterday"),
            (2, 3, "n", "1.5"),
            (2, 3, "x", "abc"),
            (2, 3, "ok", "maybe"),
            (3, 4, "label", ""),
        ],
        "{found:?}"
    );
    assert!(
        found[0]["reason"].as_str().unwrap().contains("ISO-8601"),
        "{found:?}"
    );
    assert!(
        found[4]["reason"].as_str().unwrap().contains("required"),
        "{found:?}"
    );

    // A header that names an undeclared column and lacks a required one.
    let found = problems(&push(&api, "typed/rows", "", CSV, &[], "label,n,x,colour\n").await);
    let columns: Vec<&str> = found
        .iter()
        .map(|p| p["column"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["colour", "at"], "{found:?}");
    assert!(found.iter().all(|p| p["line"] == 1));

    // NDJSON: a broken line, a wrong type, an undeclared key, a missing required value.
    let bad = "{\"label\": \"a\", \"at\": \"2024-01-01T00:00:00Z\"}\n{\"label\": \n{\"label\": \"c\", \"at\": \"2024-01-01T00:00:00Z\", \"n\": \"7\", \"colour\": 1}\n{\"at\": \"2024-01-01T00:00:00Z\"}\n";
    let found = problems(&push(&api, "typed/rows", "", NDJSON, &[], bad).await);
    let brief: Vec<(u64, Option<&str>)> = found
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["column"].as_str()))
        .collect();
    assert_eq!(
        brief,
        [
            (2, None),
            (3, Some("colour")),
            (3, Some("n")),
            (4, Some("label"))
        ],
        "{found:?}"
    );

    // Arrow with a column of the wrong type; Parquet that is not Parquet.
    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("label", DataType::Utf8, false),
            Field::new("at", DataType::Utf8, false),
            Field::new("n", DataType::Float64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            Arc::new(StringArray::from(vec!["2024-01-01T00:00:00Z"])),
            Arc::new(Float64Array::from(vec![1.5])),
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(BooleanArray::from(vec![true])),
        ],
    )
    .unwrap();
    let found = problems(&push(&api, "typed/rows", "", ARROW, &[], arrow_stream(&wrong)).await);
    assert_eq!(found[0]["column"], "n", "{found:?}");
    assert!(
        found[0]["reason"]
            .as_str()
            .unwrap()
            .contains("expected int64"),
        "{found:?}"
    );
    let found = problems(&push(&api, "typed/rows", "", PARQUET, &[], "not parquet").await);
    assert!(
        found[0]["reason"].as_str().unwrap().contains("Parquet"),
        "{found:?}"
    );
    let int_n = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef],
    )
    .unwrap();
    let found = problems(&push(&api, "typed/rows", "", PARQUET, &[], parquet(&int_n)).await);
    assert!(
        found[0]["reason"]
            .as_str()
            .unwrap()
            .contains("missing column"),
        "{found:?}"
    );

    // Wrong requests.
    let (code, message) = push(&api, "typed/rows", "", "image/png", &[], "x")
        .await
        .error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(code, "unsupported_media_type");
    assert!(message.contains("text/csv"), "{message}");
    let (_, message) = push(&api, "typed/nope", "", CSV, &[], "x")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("these exist: rows"), "{message}");
    let (_, message) = push(&api, "greeting-copy/rows", "", CSV, &[], "x")
        .await
        .error(StatusCode::CONFLICT);
    assert!(message.contains("fed by hello/greetings"), "{message}");
    let (code, _) = push(&api, "typed/rows", "?mode=merge", CSV, &[], "x")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "bad_parameter");
    let (code, _) = push(&api, "typed/rows", "", CSV, &[("idempotency-key", "")], "x")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "bad_request");
    let big = format!(
        "label,at,n,x,ok\n{}",
        "a,2024-01-01T00:00:00Z,1,1,true\n".repeat(160_000)
    );
    let (code, _) = push(&api, "typed/rows", "", CSV, &[], big.clone())
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "too_large");
    // The same without a Content-Length: cut off while it streams.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = big
        .as_bytes()
        .chunks(4096)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let streamed = Body::from_stream(futures_util::stream::iter(chunks));
    let (code, _) = push(&api, "typed/rows", "", CSV, &[], streamed)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "too_large");

    // Nothing of the refused requests was stored or left behind.
    assert_eq!(api.store.input_versions("typed", "rows").unwrap().len(), 2);
    let committed: std::collections::BTreeSet<String> = api
        .store
        .input_versions("typed", "rows")
        .unwrap()
        .iter()
        .flat_map(|v| v.segments.iter().map(|s| s.file.clone()))
        .chain(
            api.store
                .versions("typed")
                .unwrap()
                .iter()
                .flat_map(|v| v.ports.values().map(|p| p.file.clone())),
        )
        .collect();
    let blobs = tessera_store::LocalBlobs::open(&api.cache.path().join("data")).unwrap();
    let stored: std::collections::BTreeSet<String> =
        tessera_store::Blobs::list(&blobs, "data/typed/")
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        stored, committed,
        "only committed segments and published outputs are stored"
    );
    assert_eq!(
        std::fs::read_dir(api.cache.path().join("spool")).map_or(0, |d| d.count()),
        0
    );
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_a_no_op() {
    let api = Api::with_config(with_scheduler(20));
    api.deploy(hello()).await;
    let key = [("idempotency-key", "batch-0001")];
    let first = push(&api, "hello/people", "", CSV, &key, "name\nAda\nGrace\n").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed".try_into().unwrap()), "");
    let again = push(&api, "hello/people", "", CSV, &key, "name\nAda\nGrace\n").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.header("idempotent-replayed".try_into().unwrap()),
        "true"
    );
    assert_eq!(again.json()["version"], first.json()["version"]);
    assert_eq!(again.json()["idempotency_key"], "batch-0001");
    let other = push(
        &api,
        "hello/people",
        "",
        CSV,
        &[("idempotency-key", "batch-0002")],
        "name\nLinus\n",
    )
    .await
    .json();
    assert_eq!(
        (other["version"].as_u64(), other["rows"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        api.store
            .current_input("hello", "people")
            .unwrap()
            .unwrap()
            .rows(),
        3
    );
}

#[tokio::test]
async fn parallel_ingest_clients_add_up_exactly() {
    let api = Arc::new(Api::with_config(with_scheduler(50)));
    api.deploy(hello()).await;
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 20;
    const ROWS: usize = 5;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for request in 0..REQUESTS {
                let body: String = std::iter::once("name\n".to_string())
                    .chain((0..ROWS).map(|row| format!("c{client}-r{request}-{row}\n")))
                    .collect();
                let answer = push(&api, "hello/people", "", CSV, &[], body).await;
                assert_eq!(answer.status, StatusCode::CREATED);
                versions.push(answer.json()["version"].as_u64().unwrap());
            }
            versions
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.extend(task.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (1..=(CLIENTS * REQUESTS) as u64).collect::<Vec<_>>()
    );
    let current = api.store.current_input("hello", "people").unwrap().unwrap();
    assert_eq!(current.rows(), (CLIENTS * REQUESTS * ROWS) as u64);
    // Every row arrived once: read the whole current version back.
    let mut source = api
        .store
        .read_input("hello", "people", current.number)
        .unwrap();
    let mut names = std::collections::BTreeSet::new();
    while let Some(batch) = source.next_batch().unwrap() {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        names.extend(column.iter().map(|n| n.unwrap().to_string()));
    }
    assert_eq!(names.len(), CLIENTS * REQUESTS * ROWS);
    // The ingests woke hello many times; its runs never overlapped.
    let mut runs = api.settled_runs("hello", 1).await;
    runs.reverse();
    for pair in runs.windows(2) {
        let (earlier, later) = (&pair[0], &pair[1]);
        assert!(
            micros(later["started_at"].as_str().unwrap())
                >= micros(earlier["finished_at"].as_str().unwrap()),
            "one run at a time: {earlier} / {later}"
        );
    }
    // The last run read the last version.
    assert_eq!(
        runs.last().unwrap()["inputs"]["people"]["version"],
        (CLIENTS * REQUESTS) as u64
    );
}

#[tokio::test]
async fn a_burst_of_ingests_makes_one_run() {
    let api = Api::with_config(with_scheduler(1500));
    api.deploy(hello()).await;
    let mut joined = Vec::new();
    for i in 0..10 {
        let answer = push(
            &api,
            "hello/people",
            "",
            CSV,
            &[],
            format!("name\nperson-{i}\n"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED);
        joined.push(answer.json()["run"].as_str().unwrap().to_string());
    }
    let runs = api.settled_runs("hello", 1).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        joined.iter().all(|id| id == &runs[0]["id"]),
        "every ingest answered the one run: {joined:?}"
    );
    assert_eq!(runs[0]["cause"], "input");
    assert_eq!(
        runs[0]["inputs"]["people"]["version"], 10,
        "the run read every ingest"
    );
    assert_eq!(rows(&api, "hello", "greetings").await.len(), 10);
}

fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

#[tokio::test]
async fn schedules_fire_on_the_injected_clock() {
    let clock = Arc::new(ManualClock::at(micros("2026-01-01T12:01:00Z")));
    let api = Api::with_clock(config(), clock.clone());
    let scheduled = hello_with(
        "0.2.0",
        "[trigger]\non_input = false\nschedule = \"*/5 * * * *\"",
    );
    assert_eq!(api.deploy(scheduled).await.status, StatusCode::CREATED);
    assert_eq!(
        api.state.scheduler().next_scheduled("hello"),
        Some(micros("2026-01-01T12:05:00Z"))
    );

    clock.set(micros("2026-01-01T12:04:59Z"));
    api.state.scheduler().poll_schedules(&api.state);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(api.store.runs("hello").unwrap().is_empty(), "not due yet");

    clock.set(micros("2026-01-01T12:05:00Z"));
    api.state.scheduler().poll_schedules(&api.state);
    let runs = api.settled_runs("hello", 1).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0]["cause"].as_str(), runs[0]["state"].as_str()),
        (Some("schedule"), Some("succeeded"))
    );
    api.state.scheduler().poll_schedules(&api.state);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        api.store.runs("hello").unwrap().len(),
        1,
        "one run per occurrence"
    );

    clock.set(micros("2026-01-01T12:10:30Z"));
    api.state.scheduler().poll_schedules(&api.state);
    assert_eq!(api.settled_runs("hello", 2).await.len(), 2);
    assert_eq!(
        api.state.scheduler().next_scheduled("hello"),
        Some(micros("2026-01-01T12:15:00Z"))
    );

    // A cron expression that does not parse is refused at deploy, naming the line.
    let broken = hello_with("0.3.0", "[trigger]\nschedule = \"every five minutes\"");
    let (code, message) = api.deploy(broken).await.error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "invalid_manifest", "{message}");
    assert!(
        message.contains("invalid cron expression `every five minutes`"),
        "{message}"
    );
    assert!(message.contains("product.toml>:26:12"), "{message}");
}

#[tokio::test]
async fn one_ingest_flows_through_three_levels_with_lineage() {
    let api = Api::with_config(with_scheduler(10));
    api.deploy(hello()).await;
    assert_eq!(
        api.deploy(greeting_copy()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.deploy(copy_of("copy-of-copy", "greeting-copy/copy"))
            .await
            .status,
        StatusCode::CREATED
    );

    let answer = push(
        &api,
        "hello/people",
        "",
        CSV,
        &[],
        "name,language\nAda,en\nGrace,en\n",
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let runs = api.settled_runs("copy-of-copy", 1).await;
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    assert_eq!(runs[0]["cause"], "upstream");
    let published = |product: &str| api.store.current_version(product).unwrap().unwrap();
    let (a, b, c) = (
        published("hello"),
        published("greeting-copy"),
        published("copy-of-copy"),
    );
    assert_eq!((a.number, b.number, c.number), (1, 1, 1));
    assert!(
        a.published_at_us < b.published_at_us && b.published_at_us < c.published_at_us,
        "in order"
    );
    assert_eq!(
        rows(&api, "copy-of-copy", "copy").await,
        rows(&api, "hello", "greetings").await
    );

    let versions = api
        .get("/v1/products/copy-of-copy/outputs/copy/versions")
        .await
        .json();
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["rows"], 2);
    assert_eq!(versions[0]["product_version"], "1.0.0");
    assert!(
        versions[0]["hash"]
            .as_str()
            .unwrap()
            .starts_with("xxh3-128:")
    );
    let lineage = api
        .get(versions[0]["lineage_url"].as_str().unwrap())
        .await
        .json();
    assert_eq!(lineage["product"], "copy-of-copy");
    let upstream = &lineage["inputs"]["rows"];
    assert_eq!(
        (
            upstream["kind"].as_str(),
            upstream["product"].as_str(),
            upstream["version"].as_u64()
        ),
        (Some("upstream"), Some("greeting-copy"), Some(1))
    );
    let second = &upstream["lineage"]["inputs"]["rows"];
    assert_eq!(
        (
            second["product"].as_str(),
            second["port"].as_str(),
            second["version"].as_u64()
        ),
        (Some("hello"), Some("greetings"), Some(1))
    );
    let ingested = &second["lineage"]["inputs"]["people"];
    assert_eq!(
        ingested,
        &json!({"kind": "ingest", "port": "people", "version": 1, "ingested_at": ingested["ingested_at"], "rows": 2})
    );

    let hello_inputs = &api.get("/v1/products/hello").await.json()["inputs"];
    assert_eq!(
        hello_inputs[0],
        json!({"name": "people", "kind": "ingest", "description": "Names to greet", "version": 1,
               "rows": 2, "ingest_url": "/v1/products/hello/inputs/people"})
    );
    let copy_inputs = &api.get("/v1/products/greeting-copy").await.json()["inputs"];
    assert_eq!(
        (
            copy_inputs[0]["kind"].as_str(),
            copy_inputs[0]["from"].as_str(),
            copy_inputs[0]["version"].as_u64()
        ),
        (Some("upstream"), Some("hello/greetings"), Some(1))
    );

    let mesh = api.get("/v1/lineage").await.json();
    let edges: Vec<(String, String)> = mesh["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for edge in [
        ("ingest", "hello/people"),
        ("hello/greetings", "greeting-copy/rows"),
        ("greeting-copy/copy", "copy-of-copy/rows"),
    ] {
        assert!(
            edges.contains(&(edge.0.to_string(), edge.1.to_string())),
            "{edges:?}"
        );
    }
    let dot = api.get("/v1/lineage?format=dot").await;
    assert_eq!(
        dot.header(axum::http::header::CONTENT_TYPE),
        "text/vnd.graphviz; charset=utf-8"
    );
    let dot = String::from_utf8(dot.body.to_vec()).unwrap();
    assert!(dot.starts_with("digraph mesh {"), "{dot}");
    assert!(
        dot.contains("\"hello\" -> \"greeting-copy\" [label=\"greetings → rows\"]"),
        "{dot}"
    );
    assert!(
        dot.contains("\"greeting-copy\" -> \"copy-of-copy\""),
        "{dot}"
    );
    let (code, _) = api
        .get("/v1/lineage?format=svg")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "bad_parameter");
}

#[tokio::test]
async fn deploys_that_break_the_dag_are_refused() {
    let api = Api::with_config(with_scheduler(10));
    let (code, message) = api
        .deploy(greeting_copy())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "unknown_upstream");
    assert!(
        message.contains("reads `hello/greetings`, but no product named `hello`"),
        "{message}"
    );
    api.deploy(hello()).await;
    let (_, message) = api
        .deploy(copy_of("c", "hello/farewells"))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("hello publishes: greetings"), "{message}");
    let (_, message) = api
        .deploy(copy_of("c", "hello/greetings@2"))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        message.contains("the active version of hello is 0.1.0"),
        "{message}"
    );
    assert_eq!(
        api.deploy(copy_of("c", "hello/greetings@0")).await.status,
        StatusCode::CREATED
    );

    // hello reading c's output would close a loop: refused, and nothing is stored.
    let cyclic = hello_with("0.2.0", "[[inputs]]\nname = \"echo\"\nfrom = \"c/copy\"");
    let (code, message) = api
        .deploy(cyclic.clone())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "cycle");
    assert!(message.contains("hello → c → hello"), "{message}");
    assert_eq!(api.store.deployments("hello").unwrap().len(), 1);
    // Uploaded without activation it is stored, but activating it is refused the same way.
    assert_eq!(
        api.post("/v1/products?activate=false", cyclic).await.status,
        StatusCode::CREATED
    );
    let (code, _) = api
        .post("/v1/products/hello/versions/0.2.0/activate", Vec::new())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "cycle");
    // A version of hello without the port c reads would break c.
    let renamed = repackage(&hello(), |m| {
        m.replace("version = \"0.1.0\"", "version = \"0.3.0\"")
            .replace("name = \"greetings\"", "name = \"welcomes\"")
    });
    let (code, message) = api
        .deploy(renamed)
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "breaks_downstream");
    assert!(message.contains("would break c"), "{message}");
    assert_eq!(api.store.active("hello").unwrap().as_deref(), Some("0.1.0"));
}

#[tokio::test]
async fn a_run_reads_the_versions_current_when_it_started() {
    let api = Api::with_config(with_scheduler(10));
    api.deploy(hello()).await;
    api.deploy(greeting_copy()).await;
    const BIG: usize = 2_000_000;
    tessera_tests::fixtures::publish_greetings(api.store.as_ref(), "hello", "big", BIG);
    let queued = api
        .post("/v1/products/greeting-copy/runs", Vec::new())
        .await
        .json();
    let id = queued["id"].as_str().unwrap().to_string();
    while api.get(&format!("/v1/runs/{id}")).await.json()["state"] == "queued" {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // While it runs, hello publishes a small version 2 and retention drops version 1's file.
    tessera_tests::fixtures::publish_greetings(api.store.as_ref(), "hello", "small", 3);
    let policy = tessera_store::RetentionPolicy {
        keep_versions: Some(1),
        ..Default::default()
    };
    let pruned = api
        .store
        .prune("hello", policy, tessera_store::now_us())
        .unwrap();
    assert_eq!(pruned.versions_removed, [1]);
    assert_eq!(
        api.get(&format!("/v1/runs/{id}")).await.json()["state"],
        "running",
        "the publish overlapped the run"
    );
    let run = api.finished_run(&id).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["inputs"]["rows"]["version"], 1);
    assert_eq!(run["outputs"]["copy"], BIG as u64);
}

#[tokio::test]
async fn retention_keeps_the_newest_versions_and_quota_blocks_publishing() {
    let api = Api::with_config(with_scheduler(10));
    api.deploy(hello_with("0.2.0", "[retention]\nkeep_versions = 2"))
        .await;
    for i in 0..4 {
        push(
            &api,
            "hello/people",
            "?mode=replace",
            CSV,
            &[],
            format!("name\np{i}\n"),
        )
        .await;
        api.settled_runs("hello", i + 1).await;
    }
    // A run reads `succeeded` from its publication's commit on; retention runs just after
    // it, so it is waited for (bounded).
    let started = std::time::Instant::now();
    let versions = loop {
        let versions: Vec<u64> = api
            .store
            .versions("hello")
            .unwrap()
            .iter()
            .map(|v| v.number)
            .collect();
        if versions.len() <= 2 || started.elapsed() > crate::server::RUN_PATIENCE {
            break versions;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(versions.len() == 2 && versions[1] >= 3, "{versions:?}");
    let listed = api
        .get("/v1/products/hello/outputs/greetings/versions")
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // Input versions no kept output read are gone too.
    assert!(api.store.input_versions("hello", "people").unwrap().len() <= 2);

    let tiny = Api::with_config(with_scheduler(10));
    tiny.deploy(repackage(&hello(), |m| {
        m.replace("timeout = \"10s\"", "timeout = \"10s\"\nstorage = \"16B\"")
    }))
    .await;
    let run = tiny
        .post("/v1/products/hello/runs", Vec::new())
        .await
        .json();
    let run = tiny.finished_run(run["id"].as_str().unwrap()).await;
    assert_eq!(
        (run["state"].as_str(), run["failure"].as_str()),
        (Some("failed"), Some("quota")),
        "{run}"
    );
    assert!(
        run["reason"]
            .as_str()
            .unwrap()
            .contains("storage quota of 16B"),
        "{run}"
    );
    assert!(tiny.store.current_version("hello").unwrap().is_none());
}

fn hostile() -> Vec<u8> {
    std::fs::read(tessera_tests::built("tests/fixtures/hostile")).unwrap()
}

#[tokio::test]
async fn a_replay_reproduces_a_version_byte_for_byte() {
    let api = Api::with_config(with_scheduler(10));
    api.deploy(hostile()).await;
    push(
        &api,
        "hostile/control",
        "",
        NDJSON,
        &[],
        "{\"mode\": \"entropy\"}\n",
    )
    .await;
    let runs = api.settled_runs("hostile", 1).await;
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    let first = rows(&api, "hostile", "result").await;
    let outcome = first[0]["outcome"].as_str().unwrap().to_string();
    // NaN bits are canonical; the wall clock is the run's start.
    assert!(outcome.contains("nan=7ff8000000000000"), "{outcome}");
    let started = micros(runs[0]["started_at"].as_str().unwrap());
    assert!(
        outcome.starts_with(&format!("wall={started} ")),
        "{outcome} vs {started}"
    );

    // A new run sees another clock and other random numbers: different content.
    let run = api
        .post("/v1/products/hostile/runs", Vec::new())
        .await
        .json();
    api.finished_run(run["id"].as_str().unwrap()).await;
    let second = rows(&api, "hostile", "result").await;
    assert_ne!(first, second);

    for version in [1, 2] {
        let body = json!({"replay_of": {"port": "result", "version": version}}).to_string();
        let queued = api
            .post("/v1/products/hostile/runs", body.into_bytes())
            .await;
        assert_eq!(queued.status, StatusCode::ACCEPTED);
        let run = api
            .finished_run(queued.json()["id"].as_str().unwrap())
            .await;
        assert_eq!(run["state"], "succeeded", "{run}");
        assert_eq!(run["cause"], "replay");
        assert_eq!(run["replay"]["of_version"], version);
        assert_eq!(run["replay"]["matches"], true, "{run}");
        assert_eq!(
            run["replay"]["ports"][0]["published"],
            run["replay"]["ports"][0]["replayed"]
        );
    }
    assert_eq!(
        api.store.versions("hostile").unwrap().len(),
        2,
        "a replay publishes nothing"
    );

    let ask = |body: Value| api.post("/v1/products/hostile/runs", body.to_string().into_bytes());
    let (_, message) = ask(json!({"replay_of": {"port": "result", "version": 9}}))
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("no published version 9"), "{message}");
    let (_, message) = ask(json!({"replay_of": {"port": "nope", "version": 1}}))
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("these exist: result"), "{message}");
    let (code, _) = ask(json!({"replay": 1}))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "bad_request");
}

/// A store whose catalog fails on purpose (see `faulty.rs`), served.
fn faulty_api() -> (Api, Arc<crate::faulty::FaultyCatalog>) {
    let cache = tempfile::tempdir().unwrap();
    let catalog = Arc::new(crate::faulty::FaultyCatalog::new(
        tessera_store::SledCatalog::open(&cache.path().join("meta")).unwrap(),
    ));
    let blobs = tessera_store::LocalBlobs::open(&cache.path().join("data")).unwrap();
    let store = tessera_store::Storage::new(catalog.clone(), Arc::new(blobs));
    (
        Api::over(with_scheduler(10), Arc::new(store), cache),
        catalog,
    )
}

#[tokio::test]
async fn a_run_whose_pinned_input_went_before_it_opened_pins_again() {
    let (api, catalog) = faulty_api();
    api.deploy(hello()).await;
    // Between the run's pin and its open, input version 1 is gone for one read, as if
    // retention had dropped it: the run pins what is current and reads that.
    catalog.hide_input_once("hello", "people", 1);
    push(&api, "hello/people", "", CSV, &[], "name\nAda\n")
        .await
        .json();
    let runs = api.settled_runs("hello", 1).await;
    let run = &runs[0];
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["inputs"]["people"]["version"], 1, "{run}");
    let id = run["id"].as_str().unwrap();
    let log = api.get(&format!("/v1/runs/{id}")).await.json()["log"].to_string();
    assert!(log.contains("pinned again: people@1"), "{log}");
}

#[tokio::test]
async fn a_run_the_host_failed_is_retried_after_a_backoff() {
    let (api, catalog) = faulty_api();
    api.deploy(hello()).await;
    // The store's disk fails at the next publish: a host fault, not the product's.
    catalog.fail_next_publish();
    let queued = api.post("/v1/products/hello/runs", Vec::new()).await.json();
    let first = api.finished_run(queued["id"].as_str().unwrap()).await;
    assert_eq!(
        (first["state"].as_str(), first["failure"].as_str()),
        (Some("failed"), Some("host")),
        "{first}"
    );
    let runs = api.settled_runs("hello", 2).await;
    let retry = &runs[0];
    assert_eq!(
        (retry["cause"].as_str(), retry["attempt"].as_u64()),
        (Some("retry"), Some(2)),
        "{runs:?}"
    );
    assert_eq!(retry["retry_of"], first["id"]);
    assert_eq!(retry["state"], "succeeded", "{retry}");
    let waited = micros(retry["started_at"].as_str().unwrap())
        - micros(first["finished_at"].as_str().unwrap());
    assert!(
        waited >= 100_000,
        "the retry waited the 100 ms backoff, not {waited} µs"
    );
    assert_eq!(
        api.store.current_version("hello").unwrap().unwrap().number,
        1
    );
}
