//! The HTTP API, driven through the router (`oneshot`) with real products built from source,
//! and once over a real loopback socket: deploy, catalog, descriptor, versions, outputs in every
//! format (parsed back with the Arrow, Parquet, CSV and JSON readers), runs, and every error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tessera_core::manifest::Manifest;
use tessera_core::package;
use tessera_server::auth::NewToken;
use tessera_server::{AppState, Limits, ServerConfig};
use tessera_store::{Role, Storage, Store};
use tower::ServiceExt;

/// How long a test waits for a run to get where it expects. Generous: runs compete with every
/// other test for a shared machine's cores, so this bounds a hang, not a speed.
pub(crate) const RUN_PATIENCE: Duration = Duration::from_secs(300);

pub(crate) struct Api {
    pub(crate) state: AppState,
    pub(crate) store: Arc<Storage>,
    /// An admin token, sent with every POST.
    pub(crate) admin: String,
    pub(crate) cache: tempfile::TempDir,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The JSON error body: asserts the status and returns the error's code and message+hint.
    pub(crate) fn error(&self, status: StatusCode) -> (String, String) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        let error = &body["error"];
        (
            error["code"].as_str().unwrap().to_string(),
            format!(
                "{} | {}",
                error["message"].as_str().unwrap(),
                error["hint"].as_str().unwrap_or("")
            ),
        )
    }
}

pub(crate) fn config() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            max_upload: 32 << 20,
            max_concurrent_runs: 2,
            max_memory: 1 << 30,
            max_timeout: Duration::from_secs(3600),
            ..Limits::default()
        },
        ..ServerConfig::default()
    }
}

impl Api {
    pub(crate) fn new() -> Api {
        Self::with_config(config())
    }

    /// An API whose schedules and freshness follow `clock`.
    pub(crate) fn with_clock(
        config: ServerConfig,
        clock: Arc<tessera_server::schedule::clock::ManualClock>,
    ) -> Api {
        let cache = tempfile::tempdir().unwrap();
        let store = Arc::new(Storage::local(&cache.path().join("data")).unwrap());
        let state =
            AppState::with_clock(config, store.clone(), cache.path().to_path_buf(), clock).unwrap();
        let admin = token(store.as_ref(), Role::Admin, None, &[]);
        Api {
            state,
            store,
            admin,
            cache,
        }
    }

    /// The same data directory served again, as after a stop (or a crash: whatever the old
    /// state left in the store is recovered), with schedules on `clock`.
    pub(crate) fn restart(
        self,
        config: ServerConfig,
        clock: Arc<tessera_server::schedule::clock::ManualClock>,
    ) -> Api {
        let Api {
            state,
            store,
            admin,
            cache,
        } = self;
        drop(state);
        drop(store);
        // Tasks that still hold the old state let go of it within moments.
        let data = cache.path().join("data");
        let store = (0..200)
            .find_map(|_| match Storage::local(&data) {
                Ok(store) => Some(store),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(25));
                    None
                }
            })
            .expect("the old store was never released");
        let report = store.recover().unwrap();
        let store = Arc::new(store);
        let state = AppState::with_clock(config, store.clone(), cache.path().to_path_buf(), clock)
            .unwrap()
            .with_recovery(report);
        state.start();
        Api {
            state,
            store,
            admin,
            cache,
        }
    }

    pub(crate) fn with_config(config: ServerConfig) -> Api {
        let cache = tempfile::tempdir().unwrap();
        let store = Arc::new(Storage::local(&cache.path().join("data")).unwrap());
        Self::over(config, store, cache)
    }

    /// An API over a store the test built (with a catalog or blobs of its own).
    pub(crate) fn over(config: ServerConfig, store: Arc<Storage>, cache: tempfile::TempDir) -> Api {
        let state =
            AppState::with_store(config, store.clone(), cache.path().to_path_buf()).unwrap();
        let admin = token(store.as_ref(), Role::Admin, None, &[]);
        Api {
            state,
            store,
            admin,
            cache,
        }
    }

    pub(crate) async fn call(&self, request: Request<Body>) -> Answer {
        let response = tessera_server::api::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, uri: &str) -> Answer {
        self.call(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub(crate) async fn get_with(
        &self,
        uri: &str,
        name: header::HeaderName,
        value: &str,
    ) -> Answer {
        self.call(
            Request::get(uri)
                .header(name, value)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub(crate) async fn post(&self, uri: &str, body: Vec<u8>) -> Answer {
        self.post_as(Some(&self.admin), uri, body).await
    }

    pub(crate) async fn post_as(&self, token: Option<&str>, uri: &str, body: Vec<u8>) -> Answer {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/wasm");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.call(request.body(Body::from(body)).unwrap()).await
    }

    pub(crate) async fn get_as(&self, token: Option<&str>, uri: &str) -> Answer {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.call(request.body(Body::empty()).unwrap()).await
    }

    /// POSTs data with a content type and extra headers, as the admin.
    pub(crate) async fn post_data(
        &self,
        uri: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.call(request.body(body.into()).unwrap()).await
    }

    /// Pushes `csv` into hello's `people` port as the admin; asserts it was taken and returns
    /// the answer's JSON.
    pub(crate) async fn ingest_people(&self, csv: &str) -> Value {
        let answer = self
            .post_data(
                "/v1/products/hello/inputs/people",
                "text/csv",
                &[],
                csv.to_string(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
        answer.json()
    }

    pub(crate) async fn deploy(&self, wasm: Vec<u8>) -> Answer {
        self.post("/v1/products", wasm).await
    }

    /// Polls a run until it leaves queued/running.
    pub(crate) async fn finished_run(&self, id: &str) -> Value {
        let started = std::time::Instant::now();
        while started.elapsed() < RUN_PATIENCE {
            let run = self
                .get_as(Some(&self.admin), &format!("/v1/runs/{id}"))
                .await
                .json();
            if !matches!(run["state"].as_str(), Some("queued" | "running")) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run {id} did not finish");
    }

    /// Waits until `product` has `count` runs and none is queued or running; returns them,
    /// newest first.
    pub(crate) async fn settled_runs(&self, product: &str, count: usize) -> Vec<Value> {
        let started = std::time::Instant::now();
        while started.elapsed() < RUN_PATIENCE {
            let runs = self
                .get_as(Some(&self.admin), &format!("/v1/products/{product}/runs"))
                .await
                .json();
            let runs = runs.as_array().cloned().unwrap_or_default();
            let busy = runs
                .iter()
                .any(|r| matches!(r["state"].as_str(), Some("queued" | "running")));
            if runs.len() >= count && !busy {
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{product} did not settle at {count} runs");
    }
}

/// A new token's secret.
pub(crate) fn token(
    store: &dyn Store,
    role: Role,
    domain: Option<&str>,
    grants: &[&str],
) -> String {
    tessera_server::auth::issue(
        store,
        NewToken {
            role,
            domain: domain.map(str::to_string),
            grants: grants.iter().map(|g| g.to_string()).collect(),
            description: "test".into(),
            expires_in: None,
        },
    )
    .unwrap()
    .0
}

pub(crate) fn hello() -> Vec<u8> {
    std::fs::read(tessera_tests::built("examples/hello")).unwrap()
}

pub(crate) use tessera_tests::repackage;

/// The identity product repackaged to copy `hello/greetings`.
pub(crate) fn greeting_copy() -> Vec<u8> {
    let wasm = std::fs::read(tessera_tests::built("examples/identity")).unwrap();
    let manifest = r#"
[product]
name = "greeting-copy"
domain = "examples"
version = "1.0.0"
owner = "platform-team@example.org"
description = "Copies hello's greetings"
kind = "aggregate"

[resources]
memory = "64MiB"
timeout = "10s"

[[inputs]]
name = "rows"
from = "hello/greetings"

[[outputs]]
name = "copy"
schema = { name = { type = "text", required = true }, greeting = { type = "text", required = true } }
"#;
    package::embed(&wasm, manifest, None).unwrap()
}

const NAMES: [&str; 3] = ["Ada", "Grace", "Zoë, \"Z\""];
const GREETINGS: [&str; 3] = ["Hallo, Ada!", "Hello, Grace!", "Bonjour, Zoë, \"Z\" !"];

/// Publishes three greetings as hello's next data version, straight through the store.
pub(crate) fn publish_greetings(store: &dyn Store, run: &str) {
    publish_greetings_as(store, "hello", run);
}

/// Publishes three greetings as `product`'s next data version.
pub(crate) fn publish_greetings_as(store: &dyn Store, product: &str, run: &str) {
    let manifest = Manifest::parse(
        &package::read_embedded(&hello()).unwrap().manifest.unwrap(),
        "product.toml",
    )
    .unwrap();
    let schema = manifest.output("greetings").unwrap().schema.to_arrow();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(NAMES.to_vec())),
            Arc::new(StringArray::from(GREETINGS.to_vec())),
        ],
    )
    .unwrap();
    let mut sink = store.stage(product, run, "greetings", schema).unwrap();
    sink.write(&batch.slice(0, 2)).unwrap();
    sink.write(&batch.slice(2, 1)).unwrap();
    sink.finish().unwrap();
    store
        .publish(
            product,
            run,
            &tessera_store::Publication::outputs(BTreeMap::from([("greetings".to_string(), 3)])),
        )
        .unwrap();
}

fn texts(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..array.len())
                .map(|i| array.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn deploy_then_find_the_product_in_the_catalog() {
    let api = Api::new();
    let answer = api.deploy(hello()).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let deployed = answer.json();
    assert_eq!(deployed["version"], "0.1.0");
    assert_eq!(deployed["active"], true);
    assert_eq!(deployed["hash"].as_str().unwrap().len(), 64);
    // The same bytes again: nothing new.
    assert_eq!(api.deploy(hello()).await.status, StatusCode::OK);

    let catalog = api.get("/v1/products").await.json();
    assert_eq!(catalog["total"], 1);
    let entry = &catalog["products"][0];
    assert_eq!(entry["name"], "hello");
    assert_eq!(entry["domain"], "examples");
    assert_eq!(entry["kind"], "source-aligned");
    assert_eq!(entry["status"], "never-run");
    assert_eq!(entry["outputs"], serde_json::json!(["greetings"]));
    for (query, hits) in [
        ("domain=examples", 1),
        ("domain=imaging", 0),
        ("tag=example", 1),
        ("tag=nope", 0),
        ("q=GREET", 1),
        ("q=annotator", 0),
        ("page=2&per_page=1", 1),
        ("owner=platform-team@example.org", 1),
        ("owner=me", 0),
        ("kind=source-aligned", 1),
        ("kind=aggregate", 0),
    ] {
        let page = api.get(&format!("/v1/products?{query}")).await.json();
        assert_eq!(page["total"], hits, "{query}");
    }
    let (code, message) = api
        .get("/v1/products?per_page=500")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "bad_parameter");
    assert!(message.contains("`per_page`"), "{message}");
    let (_, message) = api
        .get("/v1/products?colour=red")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(
        message.contains("`colour`") && message.contains("domain, tag, owner, kind, q"),
        "{message}"
    );

    let descriptor = api.get("/v1/products/hello").await.json();
    assert_eq!(descriptor["active_version"], "0.1.0");
    assert_eq!(
        descriptor["manifest"]["product"]["owner"],
        "platform-team@example.org"
    );
    assert_eq!(descriptor["status"], "never-run");
    assert!(descriptor["last_run"].is_null());
    let port = &descriptor["outputs"][0];
    assert_eq!(port["name"], "greetings");
    assert_eq!(port["access"], "public");
    assert_eq!(port["url"], "/v1/products/hello/outputs/greetings");
    assert!(port["schema"].to_string().contains("greeting"), "{port}");

    let (code, message) = api
        .get("/v1/products/nope")
        .await
        .error(StatusCode::NOT_FOUND);
    assert_eq!(code, "not_found");
    assert!(message.contains("these exist: hello"), "{message}");
}

#[tokio::test]
async fn versions_are_kept_and_activation_promotes_or_rolls_back() {
    let api = Api::new();
    api.deploy(hello()).await;
    let newer = repackage(&hello(), |m| {
        m.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
    });
    assert_eq!(api.deploy(newer).await.status, StatusCode::CREATED);
    let versions = api.get("/v1/products/hello/versions").await.json();
    let active: Vec<(&str, bool)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(active, [("0.1.0", false), ("0.2.0", true)]);

    let rolled_back = api
        .post("/v1/products/hello/versions/0.1.0/activate", Vec::new())
        .await;
    assert_eq!(rolled_back.status, StatusCode::OK);
    assert_eq!(rolled_back.json()[0]["active"], true);
    assert_eq!(
        api.get("/v1/products/hello").await.json()["active_version"],
        "0.1.0"
    );
    let (_, message) = api
        .post("/v1/products/hello/versions/9.9.9/activate", Vec::new())
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("0.1.0, 0.2.0"), "{message}");

    // A version can be deployed without becoming active.
    let staged = repackage(&hello(), |m| {
        m.replace("version = \"0.1.0\"", "version = \"0.3.0\"")
    });
    let answer = api.post("/v1/products?activate=false", staged).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.json()["active"], false);
    assert_eq!(
        api.get("/v1/products/hello").await.json()["active_version"],
        "0.1.0"
    );
}

#[tokio::test]
async fn deploy_refuses_what_it_cannot_run() {
    let api = Api::new();
    let (code, message) = api
        .deploy(b"PK\x03\x04 not wasm at all".to_vec())
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "bad_request");
    assert!(message.contains("not a WebAssembly file"), "{message}");

    let core = wat::parse_str("(module)").unwrap();
    let (_, message) = api.deploy(core).await.error(StatusCode::BAD_REQUEST);
    assert!(message.contains("core"), "{message}");

    let empty_component = wat::parse_str("(component)").unwrap();
    let (_, message) = api
        .deploy(empty_component)
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(message.contains("run"), "{message}");

    let broken = repackage(&hello(), |m| {
        m.replace("kind = \"source-aligned\"", "kind = \"sideways\"")
    });
    let (code, message) = api.deploy(broken).await.error(StatusCode::BAD_REQUEST);
    assert_eq!(code, "invalid_manifest");
    assert!(message.contains("sideways"), "{message}");

    let greedy = repackage(&hello(), |m| {
        m.replace("memory = \"64MiB\"", "memory = \"2GiB\"")
    });
    let (code, message) = api
        .deploy(greedy)
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "over_limits");
    assert!(message.contains("2GiB"), "{message}");

    let slow = repackage(&hello(), |m| {
        m.replace("timeout = \"10s\"", "timeout = \"2h\"")
    });
    let (code, _) = api
        .deploy(slow)
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "over_limits");

    api.deploy(hello()).await;
    let changed = repackage(&hello(), |m| {
        m.replace("Greets every person", "Greets everyone")
    });
    let (code, message) = api.deploy(changed).await.error(StatusCode::CONFLICT);
    assert_eq!(code, "conflict");
    assert!(message.contains("raise product.version"), "{message}");

    let small = Api::with_config(ServerConfig {
        limits: Limits {
            max_upload: 4096,
            ..config().limits
        },
        ..config()
    });
    let (code, _) = small
        .deploy(hello())
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "too_large");
    // Nothing was stored by any refusal.
    assert_eq!(small.store.products().unwrap().len(), 0);
    assert_eq!(api.store.deployments("hello").unwrap().len(), 1);
}

#[tokio::test]
async fn outputs_read_back_in_every_format() {
    let api = Api::new();
    api.deploy(hello()).await;
    let (_, message) = api
        .get("/v1/products/hello/outputs/greetings")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("published no data yet"), "{message}");
    publish_greetings(api.store.as_ref(), "seed");
    let url = "/v1/products/hello/outputs/greetings";

    let json = api.get(url).await;
    assert_eq!(json.header(header::CONTENT_TYPE), "application/json");
    assert_eq!(
        json.header(header::HeaderName::from_static("tessera-data-version")),
        "1"
    );
    let records = json.json();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 3);
    for (record, (name, greeting)) in records.iter().zip(NAMES.iter().zip(GREETINGS)) {
        assert_eq!(record["name"], *name);
        assert_eq!(record["greeting"], greeting);
    }

    let ndjson = api.get(&format!("{url}?format=ndjson")).await;
    let lines: Vec<Value> = String::from_utf8(ndjson.body.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["greeting"], GREETINGS[2]);

    let csv = api.get(&format!("{url}?format=csv")).await;
    let mut reader =
        arrow::csv::ReaderBuilder::new(api.store.read("hello", 1, "greetings").unwrap().schema())
            .with_header(true)
            .build(std::io::Cursor::new(csv.body.to_vec()))
            .unwrap();
    let batch = reader.next().unwrap().unwrap();
    assert_eq!(texts(&[batch], "name"), NAMES);

    let arrow_stream = api
        .get_with(url, header::ACCEPT, "application/vnd.apache.arrow.stream")
        .await;
    let batches: Vec<RecordBatch> = arrow::ipc::reader::StreamReader::try_new(
        std::io::Cursor::new(arrow_stream.body.to_vec()),
        None,
    )
    .unwrap()
    .map(Result::unwrap)
    .collect();
    assert_eq!(texts(&batches, "greeting"), GREETINGS);

    let parquet_file = api.get(&format!("{url}?format=parquet")).await;
    assert_eq!(parquet_file.status, StatusCode::OK);
    assert_eq!(parquet_file.header(header::ACCEPT_RANGES), "bytes");
    let length = parquet_file.body.len();
    assert_eq!(
        parquet_file.header(header::CONTENT_LENGTH),
        length.to_string()
    );
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            parquet_file.body.clone(),
        )
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(texts(&batches, "name"), NAMES);

    // A range of the unpinned URL is redirected to the version it would be cut from, so a
    // reader's footer and column chunks come from one file.
    let redirect = api
        .get_with(&format!("{url}?format=parquet"), header::RANGE, "bytes=-8")
        .await;
    assert_eq!(redirect.status, StatusCode::TEMPORARY_REDIRECT);
    let pinned = redirect.header(header::LOCATION).to_string();
    assert_eq!(pinned, format!("{url}?format=parquet&version=1"));
    // Range requests on the pinned Parquet file: the footer, as remote readers fetch it.
    let footer = api.get_with(&pinned, header::RANGE, "bytes=-8").await;
    assert_eq!(footer.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&footer.body[..], &parquet_file.body[length - 8..]);
    assert_eq!(&footer.body[4..], b"PAR1");
    assert_eq!(
        footer.header(header::CONTENT_RANGE),
        format!("bytes {}-{}/{length}", length - 8, length - 1)
    );
    let middle = api.get_with(&pinned, header::RANGE, "bytes=4-9").await;
    assert_eq!(&middle.body[..], &parquet_file.body[4..10]);
    // With an If-Range naming another version's ETag, the whole current file comes back.
    let stale = api
        .call(
            Request::get(&pinned)
                .header(header::RANGE, "bytes=4-9")
                .header(header::IF_RANGE, "\"an-older-version\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body, parquet_file.body);
    let fresh = api
        .call(
            Request::get(&pinned)
                .header(header::RANGE, "bytes=4-9")
                .header(header::IF_RANGE, footer.header(header::ETAG))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::PARTIAL_CONTENT);
    let outside = api
        .get_with(&pinned, header::RANGE, &format!("bytes={length}-"))
        .await;
    outside.error(StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        outside.header(header::CONTENT_RANGE),
        format!("bytes */{length}")
    );

    // Projection and paging.
    let page = api
        .get(&format!("{url}?columns=greeting&offset=1&limit=1"))
        .await
        .json();
    assert_eq!(page, serde_json::json!([{ "greeting": GREETINGS[1] }]));
    let page = api
        .get(&format!("{url}?format=parquet&columns=name&limit=2"))
        .await;
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(page.body)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert_eq!(texts(&batches, "name"), &NAMES[..2]);
    assert_eq!(batches[0].num_columns(), 1);

    // Caching: a strong ETag; pinned versions are immutable, the current one is revalidated.
    let etag = json.header(header::ETAG).to_string();
    assert!(etag.starts_with('"'), "{etag}");
    assert_eq!(json.header(header::CACHE_CONTROL), "no-cache");
    let again = api.get_with(url, header::IF_NONE_MATCH, &etag).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let pinned = api.get(&format!("{url}?version=1")).await;
    assert_eq!(
        pinned.header(header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let csv_etag = csv.header(header::ETAG);
    assert_ne!(csv_etag, etag, "each format has its own validator");

    // A new version changes what the current URL serves, not what a pinned URL serves.
    publish_greetings(api.store.as_ref(), "seed2");
    let current = api.get_with(url, header::IF_NONE_MATCH, &etag).await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(
        current.header(header::HeaderName::from_static("tessera-data-version")),
        "2"
    );

    // Bad requests name what is wrong.
    let (_, message) = api
        .get("/v1/products/hello/outputs/farewells")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("these exist: greetings"), "{message}");
    let (_, message) = api
        .get(&format!("{url}?version=9"))
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("these exist: 1, 2"), "{message}");
    for (query, parameter) in [
        ("limit=ten", "`limit`"),
        ("offset=-1", "`offset`"),
        ("columns=name,shoe_size", "`columns`"),
        ("format=xlsx", "`format`"),
        ("colums=name", "`colums`"),
    ] {
        let (code, message) = api
            .get(&format!("{url}?{query}"))
            .await
            .error(StatusCode::BAD_REQUEST);
        assert_eq!(code, "bad_parameter", "{query}");
        assert!(message.contains(parameter), "{query}: {message}");
    }
    let (code, message) = api
        .get_with(url, header::ACCEPT, "image/png")
        .await
        .error(StatusCode::NOT_ACCEPTABLE);
    assert_eq!(code, "not_acceptable");
    assert!(message.contains("text/csv"), "{message}");
}

#[tokio::test]
async fn runs_publish_outputs_or_fail_with_the_reason() {
    let api = Api::new();
    api.deploy(hello()).await;
    api.deploy(greeting_copy()).await;

    // The copy reads hello's greetings, which do not exist yet: the run waits for them (it
    // does not fail) and says why.
    let queued = api
        .post("/v1/products/greeting-copy/runs", Vec::new())
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    let queued = queued.json();
    assert_eq!(queued["state"], "queued");
    let run = api.finished_run(queued["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "waiting", "{run}");
    assert_eq!(run["failure"], Value::Null, "{run}");
    assert!(
        run["reason"]
            .as_str()
            .unwrap()
            .contains("waiting for hello/greetings to publish its first version"),
        "{run}"
    );
    assert!(
        api.store
            .current_version("greeting-copy")
            .unwrap()
            .is_none()
    );

    // hello runs (its ingest port is empty until data is ingested) and publishes version 1.
    let queued = api.post("/v1/products/hello/runs", Vec::new()).await.json();
    let run = api.finished_run(queued["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["published_version"], 1);
    assert_eq!(run["outputs"]["greetings"], 0);
    let log: Vec<&str> = run["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(log.contains(&"greeted 0 people"), "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("no ingested data")),
        "{log:?}"
    );
    assert!(run["duration_ms"].is_u64());
    // hello's new version woke the copy, which reads it downstream.
    let runs = api.settled_runs("greeting-copy", 2).await;
    assert_eq!(runs[0]["cause"], "upstream", "{runs:?}");
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    assert_eq!(runs[0]["inputs"]["rows"]["version"], 1, "{runs:?}");

    // With greetings published, the copy reads them through the sandbox and publishes them.
    publish_greetings(api.store.as_ref(), "seed");
    let queued = api
        .post("/v1/products/greeting-copy/runs", Vec::new())
        .await
        .json();
    let run = api.finished_run(queued["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["outputs"]["copy"], 3);
    let copied = api
        .get("/v1/products/greeting-copy/outputs/copy?columns=greeting")
        .await
        .json();
    assert_eq!(
        copied,
        serde_json::json!(GREETINGS.map(|g| serde_json::json!({ "greeting": g })))
    );

    let runs = api.get("/v1/products/greeting-copy/runs").await.json();
    let states: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["succeeded", "succeeded", "waiting"],
        "newest first"
    );
    assert_eq!(
        api.get("/v1/products/greeting-copy").await.json()["status"],
        "succeeded"
    );
    let (_, message) = api
        .get("/v1/runs/r-nope")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("r-nope"), "{message}");
    api.post("/v1/products/nope/runs", Vec::new())
        .await
        .error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn probes_openapi_and_unknown_routes() {
    let api = Api::new();
    assert_eq!(api.get("/healthz").await.json()["status"], "ok");
    assert_eq!(api.get("/readyz").await.json()["status"], "ready");
    let document = api.get("/v1/openapi.json").await.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/v1/products",
        "/v1/products/{product}",
        "/v1/products/{product}/versions",
        "/v1/products/{product}/versions/{version}/activate",
        "/v1/products/{product}/outputs/{port}",
        "/v1/products/{product}/runs",
        "/v1/runs/{run}",
        "/v1/products/{product}/inputs/{port}",
        "/v1/products/{product}/inputs/{port}/versions",
        "/v1/products/{product}/outputs/{port}/versions",
        "/v1/products/{product}/outputs/{port}/versions/{version}/lineage",
        "/v1/lineage",
        "/v1/products/{product}/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(paths["/v1/products"]["post"].is_object());
    let ingest = &paths["/v1/products/{product}/inputs/{port}"]["post"];
    for status in ["201", "200", "400", "413", "415"] {
        assert!(
            ingest["responses"][status].is_object(),
            "{status}: {ingest}"
        );
    }
    let (code, message) = api.get("/v2/everything").await.error(StatusCode::NOT_FOUND);
    assert_eq!(code, "not_found");
    assert!(message.contains("/v1/openapi.json"), "{message}");
}

/// A real server on a loopback port: deploy and read over TCP, then a graceful shutdown.
#[tokio::test]
async fn a_real_server_on_loopback() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let data = tempfile::tempdir().unwrap();
    let state = AppState::open(ServerConfig {
        data_dir: data.path().to_path_buf(),
        ..config()
    })
    .unwrap();
    let admin = token(state.store(), Role::Admin, None, &[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let store = state.clone();
    let server = tokio::spawn(tessera_server::serve(listener, state, async {
        let _ = stopped.await;
    }));

    pub(crate) async fn exchange(addr: std::net::SocketAddr, head: String, body: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }
    let wasm = hello();
    let answer = exchange(
        addr,
        format!(
            "POST /v1/products HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            wasm.len()
        ),
        &wasm,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let answer = exchange(
        addr,
        format!("POST /v1/products/hello/runs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {admin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let mut csv = String::new();
    for _ in 0..500 {
        csv = exchange(
            addr,
            "GET /v1/products/hello/outputs/greetings?format=csv HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".into(),
            b"",
        )
        .await;
        if csv.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(csv.starts_with("HTTP/1.1 200"), "{csv}");
    assert!(csv.contains("text/csv"), "{csv}");
    let (_, body) = csv.split_once("\r\n\r\n").unwrap();
    assert!(
        body.contains("name,greeting\n"),
        "an empty output is a header: {csv}"
    );

    // With greetings published, every format read over the socket parses to the same rows.
    publish_greetings(store.store(), "seed");
    let base = format!("http://{addr}/v1/products/hello/outputs/greetings");
    let formats = tokio::task::spawn_blocking(move || {
        ["json", "ndjson", "csv", "arrow", "parquet"].map(|format| {
            let mut response = ureq::get(&format!("{base}?format={format}"))
                .call()
                .unwrap();
            assert_eq!(response.headers()["tessera-data-version"], "2");
            (format, response.body_mut().read_to_vec().unwrap())
        })
    })
    .await
    .unwrap();
    for (format, body) in formats {
        let names: Vec<String> = match format {
            "json" => serde_json::from_slice::<Vec<Value>>(&body)
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect(),
            "ndjson" => String::from_utf8(body)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["name"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect(),
            "csv" => {
                let schema = Arc::new(arrow::datatypes::Schema::new(vec![
                    arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, false),
                    arrow::datatypes::Field::new(
                        "greeting",
                        arrow::datatypes::DataType::Utf8,
                        false,
                    ),
                ]));
                let batches: Vec<RecordBatch> = arrow::csv::ReaderBuilder::new(schema)
                    .with_header(true)
                    .build(std::io::Cursor::new(body))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                texts(&batches, "name")
            }
            "arrow" => texts(
                &arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect::<Vec<_>>(),
                "name",
            ),
            _ => texts(
                &parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    Bytes::from(body),
                )
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
                "name",
            ),
        };
        assert_eq!(names, NAMES, "{format}");
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Deployments survive a restart.
    drop(store);
    let state = AppState::open(ServerConfig {
        data_dir: data.path().to_path_buf(),
        ..config()
    })
    .unwrap();
    assert_eq!(
        state.store().active("hello").unwrap().as_deref(),
        Some("0.1.0")
    );
}

#[tokio::test]
async fn events_stream_deploys_runs_and_publications() {
    let api = Api::new();
    let response = tessera_server::api::router(api.state.clone())
        .oneshot(Request::get("/v1/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();

    api.deploy(hello()).await;
    let ingested = api
        .post_data(
            "/v1/products/hello/inputs/people",
            "text/csv",
            &[],
            "name\nAda\n",
        )
        .await;
    assert_eq!(ingested.status, StatusCode::CREATED);

    let mut seen: Vec<Value> = Vec::new();
    let mut text = String::new();
    while !seen
        .iter()
        .any(|e| e["type"] == "run" && e["state"] == "succeeded")
    {
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .expect("an event within 30 s")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                seen.push(serde_json::from_str(data).unwrap());
            }
        }
    }
    let kinds: Vec<String> = seen
        .iter()
        .map(|e| match e["type"].as_str().unwrap() {
            "run" => format!("run:{}", e["state"].as_str().unwrap()),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "deployed",
            "activated",
            "ingested",
            "run:queued",
            "run:running",
            "published",
            "run:succeeded"
        ],
        "{seen:?}"
    );
    assert_eq!(
        (
            seen[2]["port"].as_str(),
            seen[2]["version"].as_u64(),
            seen[2]["rows"].as_u64()
        ),
        (Some("people"), Some(1), Some(1))
    );
    let run_id = seen[3]["run"].as_str().unwrap();
    assert_eq!(seen[5]["version"], 1);
    assert_eq!(seen[5]["run"], run_id);
    api.get("/v1/products/nope/events")
        .await
        .error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn prometheus_metrics_count_runs_requests_and_bytes() {
    let api = Api::new();
    api.deploy(hello()).await;
    let queued = api.post("/v1/products/hello/runs", Vec::new()).await.json();
    api.finished_run(queued["id"].as_str().unwrap()).await;
    publish_greetings(api.store.as_ref(), "seed");
    let csv = api
        .get("/v1/products/hello/outputs/greetings?format=csv")
        .await;
    api.get("/v1/products/nope").await;
    let metrics = api.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    for line in [
        "tessera_runs_total{product=\"hello\",status=\"succeeded\"} 1".to_string(),
        "tessera_run_duration_seconds_count{product=\"hello\"} 1".to_string(),
        "tessera_instances_live 0".to_string(),
        format!(
            "tessera_output_bytes_served_total{{product=\"hello\",format=\"csv\"}} {}",
            csv.body.len()
        ),
        "tessera_http_requests_total{method=\"GET\",route=\"/v1/products/{product}\",status=\"404\"} 1"
            .to_string(),
        "tessera_http_requests_total{method=\"POST\",route=\"/v1/products\",status=\"201\"} 1"
            .to_string(),
    ] {
        assert!(text.contains(&line), "missing `{line}` in:\n{text}");
    }
}

/// Every role against every kind of route: who may deploy, run, activate, create tokens and
/// read public, domain and restricted ports; 401 without or with a bad token, 403 naming what
/// is missing.
#[tokio::test]
async fn tokens_and_access_classes() {
    let api = Api::with_config(ServerConfig {
        public_reads: false,
        ..config()
    });
    let store = api.store.as_ref();
    let owner = token(store, Role::Owner, Some("examples"), &[]);
    let stranger = token(store, Role::Owner, Some("imaging"), &[]);
    let member = token(store, Role::Reader, Some("examples"), &[]);
    let granted = token(store, Role::Reader, None, &["secret-hello/greetings"]);
    let reader = token(store, Role::Reader, None, &[]);
    let admin = api.admin.clone();

    // Deploying: owners of the product's domain and admins.
    let (code, message) = api
        .post_as(None, "/v1/products", hello())
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(code, "unauthorized");
    assert!(message.contains("Bearer"), "{message}");
    let (_, message) = api
        .post_as(Some("tsr_not-a-real-token"), "/v1/products", hello())
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert!(message.contains("not known"), "{message}");
    let (code, message) = api
        .post_as(Some(&reader), "/v1/products", hello())
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(code, "forbidden");
    assert!(
        message.contains("(reader)") && message.contains("owner or admin"),
        "{message}"
    );
    let (_, message) = api
        .post_as(Some(&stranger), "/v1/products", hello())
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(
        message.contains("owner of domain `imaging`") && message.contains("domain `examples`"),
        "{message}"
    );
    assert!(
        store.products().unwrap().is_empty(),
        "refusals store nothing"
    );
    assert_eq!(
        api.post_as(Some(&owner), "/v1/products", hello())
            .await
            .status,
        StatusCode::CREATED
    );
    let with_access = |name: &str, access: &str| {
        repackage(&hello(), |m| {
            m.replace("name = \"hello\"", &format!("name = \"{name}\""))
                .replace(
                    "name = \"greetings\"",
                    &format!("name = \"greetings\"\naccess = \"{access}\""),
                )
        })
    };
    for (name, access) in [("team-hello", "domain"), ("secret-hello", "restricted")] {
        assert_eq!(
            api.post_as(Some(&admin), "/v1/products", with_access(name, access))
                .await
                .status,
            StatusCode::CREATED
        );
        publish_greetings_as(store, name, "seed");
        assert_eq!(store.versions(name).unwrap().len(), 1, "{name}");
    }
    publish_greetings_as(store, "hello", "seed");

    // Running and activating: the same rule.
    api.post_as(Some(&stranger), "/v1/products/hello/runs", Vec::new())
        .await
        .error(StatusCode::FORBIDDEN);
    api.post_as(Some(&member), "/v1/products/hello/runs", Vec::new())
        .await
        .error(StatusCode::FORBIDDEN);
    api.post_as(None, "/v1/products/hello/runs", Vec::new())
        .await
        .error(StatusCode::UNAUTHORIZED);
    let run = api
        .post_as(Some(&owner), "/v1/products/hello/runs", Vec::new())
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED);
    api.post_as(
        Some(&stranger),
        "/v1/products/hello/versions/0.1.0/activate",
        Vec::new(),
    )
    .await
    .error(StatusCode::FORBIDDEN);
    assert_eq!(
        api.post_as(
            Some(&owner),
            "/v1/products/hello/versions/0.1.0/activate",
            Vec::new()
        )
        .await
        .status,
        StatusCode::OK
    );

    // Reading: with public reads off, everything needs a token.
    api.get_as(None, "/v1/products")
        .await
        .error(StatusCode::UNAUTHORIZED);
    api.get_as(None, "/v1/products/hello/outputs/greetings")
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get_as(Some(&reader), "/v1/products").await.json()["total"],
        3
    );
    let read = |product: &str| format!("/v1/products/{product}/outputs/greetings");
    let matrix: [(&str, &str, [u16; 3]); 6] = [
        // token: public hello, domain team-hello, restricted secret-hello
        ("admin", &admin, [200, 200, 200]),
        ("owner of examples", &owner, [200, 200, 200]),
        ("owner of imaging", &stranger, [200, 403, 403]),
        ("reader in examples", &member, [200, 200, 403]),
        (
            "reader granted secret-hello/greetings",
            &granted,
            [200, 403, 200],
        ),
        ("plain reader", &reader, [200, 403, 403]),
    ];
    for (who, secret, expected) in matrix {
        for (product, status) in ["hello", "team-hello", "secret-hello"].iter().zip(expected) {
            let answer = api.get_as(Some(secret), &read(product)).await;
            assert_eq!(
                answer.status.as_u16(),
                status,
                "{who} reading {product}: {}",
                String::from_utf8_lossy(&answer.body)
            );
            if status == 403 {
                let (_, message) = answer.error(StatusCode::FORBIDDEN);
                assert!(
                    message.contains(&format!("{product}/greetings")),
                    "{message}"
                );
            }
        }
    }

    // Tokens over the API: admins only; the secret works at once.
    let request = br#"{"role": "reader", "grants": ["secret-hello/greetings"]}"#.to_vec();
    api.post_as(Some(&owner), "/v1/tokens", request.clone())
        .await
        .error(StatusCode::FORBIDDEN);
    let created = api.post_as(Some(&admin), "/v1/tokens", request).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created.json()["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tsr_") && secret.len() == 68, "{secret}");
    assert_eq!(
        api.get_as(Some(&secret), &read("secret-hello"))
            .await
            .status,
        StatusCode::OK
    );
    assert!(
        store.tokens().unwrap().iter().all(|t| t.hash != secret),
        "only the hash is stored"
    );
    let (_, message) = api
        .post_as(Some(&admin), "/v1/tokens", br#"{"role": "owner"}"#.to_vec())
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(message.contains("needs a domain"), "{message}");
    api.post_as(Some(&admin), "/v1/tokens", b"role=admin".to_vec())
        .await
        .error(StatusCode::BAD_REQUEST);
}

/// 100 concurrent readers while new versions publish: each answer is one whole version (every
/// row from the version its `Tessera-Data-Version` header names, and all of its rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_each_see_one_whole_version() {
    let data = tempfile::tempdir().unwrap();
    let state = AppState::open(ServerConfig {
        data_dir: data.path().to_path_buf(),
        ..config()
    })
    .unwrap();
    let admin = token(state.store(), Role::Admin, None, &[]);
    let app = tessera_server::api::router(state.clone());
    let deploy = Request::post("/v1/products")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(hello()))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(deploy).await.unwrap().status(),
        StatusCode::CREATED
    );
    const ROWS: usize = 1000;
    let publish = |state: AppState, version: u64| {
        let store = state.store();
        let manifest = Manifest::parse(
            &package::read_embedded(&hello()).unwrap().manifest.unwrap(),
            "product.toml",
        )
        .unwrap();
        let schema = manifest.output("greetings").unwrap().schema.to_arrow();
        let run = format!("v{version}");
        let mut sink = store
            .stage("hello", &run, "greetings", schema.clone())
            .unwrap();
        for chunk in 0..10 {
            let names: Vec<String> = (0..ROWS / 10)
                .map(|i| format!("{}", chunk * 100 + i))
                .collect();
            let greetings = vec![format!("v{version}"); ROWS / 10];
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(names)),
                    Arc::new(StringArray::from(greetings)),
                ],
            )
            .unwrap();
            sink.write(&batch).unwrap();
        }
        sink.finish().unwrap();
        let published = store
            .publish(
                "hello",
                &run,
                &tessera_store::Publication::outputs(BTreeMap::from([(
                    "greetings".to_string(),
                    ROWS as u64,
                )])),
            )
            .unwrap();
        assert_eq!(published.number, version);
    };
    publish(state.clone(), 1);

    let mut readers = Vec::new();
    for _ in 0..100 {
        let app = app.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..5 {
                let response = app
                    .clone()
                    .oneshot(
                        Request::get("/v1/products/hello/outputs/greetings?format=ndjson")
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let version: u64 = response.headers()["tessera-data-version"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let text = String::from_utf8(body.to_vec()).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(lines.len(), ROWS, "a whole version");
                let expected = format!("\"greeting\":\"v{version}\"");
                assert!(
                    lines.iter().all(|l| l.contains(&expected)),
                    "rows of one version only"
                );
                seen.push(version);
            }
            seen
        }));
    }
    let publisher = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            for version in 2..=6 {
                publish(state.clone(), version);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut versions = std::collections::BTreeSet::new();
    for reader in readers {
        versions.extend(reader.await.unwrap());
    }
    publisher.await.unwrap();
    assert!(versions.iter().all(|v| (1..=6).contains(v)), "{versions:?}");
    println!("versions seen by readers: {versions:?}");
}

#[tokio::test]
async fn the_docs_page_renders_the_readme_schema_and_snippets() {
    let api = Api::new();
    api.deploy(hello()).await;
    let page = api
        .get_with("/v1/products/hello/docs", header::HOST, "mesh.example:8080")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header(header::CONTENT_TYPE).starts_with("text/html"));
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    let readme =
        std::fs::read_to_string(tessera_tests::workspace().join("examples/hello/README.md"))
            .unwrap();
    let title = readme.lines().next().unwrap().trim_start_matches("# ");
    for needle in [
        format!("<h1>{title}</h1>"),
        "<h3>greetings</h3>".to_string(),
        "<td><code>greeting</code></td><td>text</td><td>yes</td>".to_string(),
        "pd.read_parquet(&quot;http://mesh.example:8080/v1/products/hello/outputs/greetings?format=parquet&quot;)".to_string(),
        "curl &#39;http://mesh.example:8080/v1/products/hello/outputs/greetings?format=csv&#39;".to_string(),
        "read_parquet(&#39;http://mesh.example:8080/v1/products/hello/outputs/greetings?format=parquet&#39;)".to_string(),
    ] {
        assert!(html.contains(&needle), "missing {needle} in {html}");
    }
    api.get("/v1/products/nope/docs")
        .await
        .error(StatusCode::NOT_FOUND);
}
