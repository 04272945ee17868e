//! OpenLineage events about runs, sent to a real HTTP endpoint on loopback: a `START` and one
//! end per run with the datasets, schemas, versions, checks, ownership and parent run a
//! lineage tool needs, each event read back by the official `openlineage-python` client's
//! classes; retries past a failing endpoint, and a dead endpoint that never holds a run up.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_server::ServerConfig;

use crate::server::{Api, config, greeting_copy, hello, repackage};

/// An OpenLineage endpoint on loopback that keeps every event it accepts and answers `503` to
/// the first `refuse` requests.
#[derive(Clone)]
struct Sink {
    events: Arc<Mutex<Vec<Value>>>,
    authorizations: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicUsize>,
    addr: SocketAddr,
}

impl Sink {
    async fn start(refuse: usize) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Sink {
            events: Arc::default(),
            authorizations: Arc::default(),
            refuse: Arc::new(AtomicUsize::new(refuse)),
            addr: listener.local_addr().unwrap(),
        };
        let kept = sink.clone();
        let app = axum::Router::new().route(
            "/api/v1/lineage",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let sink = kept.clone();
                    async move {
                        let refused = sink
                            .refuse
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        if refused {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let event: Value = serde_json::from_slice(&body).unwrap();
                        sink.events.lock().unwrap().push(event);
                        let authorization = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        sink.authorizations.lock().unwrap().push(authorization);
                        StatusCode::CREATED
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        sink
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/lineage", self.addr)
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// The events once `count` have arrived: a run's end event is sent after its state is
    /// visible over the API, so a flush right after can precede it. Gives up after 30 s.
    async fn at_least(&self, count: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.events().len() < count && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.events()
    }
}

fn lineage_config(url: String) -> ServerConfig {
    let mut config = config();
    config.lineage.openlineage_url = Some(url);
    config.lineage.namespace = "imaging-mesh".into();
    config.lineage.api_key = Some("lineage-secret".into());
    config.lineage.backoff = Duration::from_millis(10);
    config
}

/// hello with an `error` check: at most two greetings.
fn checked_hello() -> Vec<u8> {
    repackage(&hello(), |m| {
        m.replace(
            r#"checks = [{ kind = "not_null", column = "greeting" }]"#,
            r#"checks = [
    { kind = "row_count", max = 2 },
    { kind = "not_null", column = "greeting" },
]"#,
        )
    })
}

/// The events about `run` (its API id), in the order they arrived.
fn about<'a>(events: &'a [Value], run: &Value) -> Vec<&'a Value> {
    let id = run["id"].as_str().unwrap();
    // Run ids are `r` and a UUID's 32 hex digits; OpenLineage writes the UUID hyphenated.
    let hex = id.strip_prefix('r').unwrap();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    events
        .iter()
        .filter(|e| e["run"]["runId"] == uuid.as_str())
        .collect()
}

fn dataset<'a>(datasets: &'a Value, name: &str) -> &'a Value {
    datasets
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no dataset {name} in {datasets}"))
}

fn column_names(dataset: &Value) -> Vec<&str> {
    dataset["facets"]["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect()
}

/// Waits until the server has sent every event it queued.
async fn flushed(api: &Api) {
    let state = api.state.clone();
    let unsent =
        tokio::task::spawn_blocking(move || state.lineage().flush(Duration::from_secs(60)))
            .await
            .unwrap();
    assert_eq!(unsent, 0, "events still unsent after 60 s");
}

/// Parses every event with the `openlineage-python` client's classes and writes it back with
/// the client's serializer (`tests/openlineage_events.py`).
fn official_client_reads(events: &[Value]) -> String {
    let output = tessera_tests::python_script(
        "python3".as_ref(),
        "openlineage_events.py",
        &serde_json::to_string(events).unwrap(),
        "the openlineage-python package",
    );
    assert!(
        output.status.success(),
        "the openlineage client refused an event:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn each_run_sends_a_start_and_an_end_that_the_official_client_reads() {
    // The endpoint refuses the first two attempts: the first event arrives on its third.
    let sink = Sink::start(2).await;
    let api = Api::with_config(lineage_config(sink.url()));
    assert_eq!(
        api.deploy(checked_hello()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.deploy(greeting_copy()).await.status,
        StatusCode::CREATED
    );

    // Two people: hello publishes version 1, greeting-copy reads it and publishes.
    api.ingest_people("name\nAda\nGrace\n").await;
    let hello_runs = api.settled_runs("hello", 1).await;
    let copy_runs = api.settled_runs("greeting-copy", 1).await;
    // Two more: four greetings break the row count, and the run is quarantined.
    api.ingest_people("name\nLinus\nBarbara\n").await;
    let hello_runs_now = api.settled_runs("hello", 2).await;
    // A replay of version 1 is a child of the run that published it.
    let body = json!({"replay_of": {"port": "greetings", "version": 1}}).to_string();
    let queued = api.post("/v1/products/hello/runs", body.into_bytes()).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    let replay = api
        .finished_run(queued.json()["id"].as_str().unwrap())
        .await;
    assert_eq!(replay["state"], "succeeded", "{replay}");
    flushed(&api).await;
    let events = sink.at_least(8).await;

    let published = api
        .get_as(Some(&api.admin), hello_runs[0]["url"].as_str().unwrap())
        .await
        .json();
    assert_eq!(published["state"], "succeeded", "{published}");
    let quarantined = api
        .get_as(Some(&api.admin), hello_runs_now[0]["url"].as_str().unwrap())
        .await
        .json();
    assert_eq!(quarantined["state"], "quarantined", "{quarantined}");
    let copied = api
        .get_as(Some(&api.admin), copy_runs[0]["url"].as_str().unwrap())
        .await
        .json();
    assert_eq!(copied["state"], "succeeded", "{copied}");

    // Exactly a START then the end, for every run.
    for (run, end) in [
        (&published, "COMPLETE"),
        (&quarantined, "FAIL"),
        (&copied, "COMPLETE"),
        (&replay, "COMPLETE"),
    ] {
        let kinds: Vec<&str> = about(&events, run)
            .iter()
            .map(|e| e["eventType"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["START", end], "{}", run["id"]);
    }
    assert_eq!(events.len(), 8, "{events:#?}");

    // The job: the product, its owner, type and tags.
    let complete = about(&events, &published)[1];
    assert_eq!(complete["job"]["namespace"], "imaging-mesh");
    assert_eq!(complete["job"]["name"], "hello");
    let job = &complete["job"]["facets"];
    assert_eq!(
        job["ownership"]["owners"][0]["name"],
        "platform-team@example.org"
    );
    assert_eq!(job["jobType"]["jobType"], "DATA_PRODUCT");
    let tags: Vec<(&str, &str)> = job["tags"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap(), t["value"].as_str().unwrap()))
        .collect();
    assert!(tags.contains(&("domain", "examples")), "{tags:?}");
    assert!(
        tags.contains(&("version", published["product_version"].as_str().unwrap())),
        "{tags:?}"
    );

    // hello reads its ingest port at the data version the run pinned, and writes version 1
    // with as many rows as the API says.
    let input = dataset(&complete["inputs"], "hello/inputs/people");
    assert_eq!(column_names(input), ["name", "language"]);
    assert_eq!(
        input["facets"]["version"]["datasetVersion"],
        published["inputs"]["people"]["version"].to_string()
    );
    let output = dataset(&complete["outputs"], "hello/greetings");
    assert_eq!(column_names(output), ["name", "greeting"]);
    assert_eq!(output["facets"]["version"]["datasetVersion"], "1");
    assert_eq!(
        output["outputFacets"]["outputStatistics"]["rowCount"],
        published["outputs"]["greetings"]
    );
    let assertions = output["facets"]["dataQualityAssertions"]["assertions"]
        .as_array()
        .unwrap();
    assert_eq!(assertions.len(), 2, "{assertions:?}");
    assert!(assertions.iter().all(|a| a["success"] == true));
    assert_eq!(assertions[1]["column"], "greeting");
    // The START names what will be written, without versions or results yet.
    let start = about(&events, &published)[0];
    let planned = dataset(&start["outputs"], "hello/greetings");
    assert_eq!(column_names(planned), ["name", "greeting"]);
    assert!(planned["facets"].get("version").is_none(), "{planned}");
    assert!(planned["outputFacets"].get("outputStatistics").is_none());

    // greeting-copy reads hello's port, with hello's schema, at the version hello published.
    let copy_end = about(&events, &copied)[1];
    let upstream = dataset(&copy_end["inputs"], "hello/greetings");
    assert_eq!(column_names(upstream), ["name", "greeting"]);
    assert_eq!(upstream["facets"]["version"]["datasetVersion"], "1");

    // The quarantined run failed: why, and which check.
    let fail = about(&events, &quarantined)[1];
    let message = fail["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("row_count"), "{message}");
    let failed = dataset(&fail["outputs"], "hello/greetings");
    assert!(failed["facets"].get("version").is_none(), "{failed}");
    let row_count = &failed["facets"]["dataQualityAssertions"]["assertions"][0];
    assert_eq!(row_count["name"], "row_count");
    assert_eq!(row_count["success"], false);

    // The replay's parent is the run that published version 1.
    let replay_end = about(&events, &replay)[1];
    let parent = &replay_end["run"]["facets"]["parent"];
    assert_eq!(parent["job"]["name"], "hello");
    assert_eq!(
        parent["run"]["runId"],
        about(&events, &published)[1]["run"]["runId"]
    );

    // Every event went out with the configured key, after two refusals, and is counted.
    assert!(
        sink.authorizations
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "Bearer lineage-secret")
    );
    let metrics = String::from_utf8(api.get("/metrics").await.body.to_vec()).unwrap();
    assert_eq!(
        metric(&metrics, r#"tessera_lineage_events_total{outcome="sent"}"#),
        8.0,
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            r#"tessera_lineage_events_total{outcome="retried"}"#
        ),
        2.0
    );

    // The official client reads each event and writes back exactly what it read.
    let read = official_client_reads(&events);
    assert_eq!(read.lines().count(), 8, "{read}");
}

/// An endpoint that accepts connections and never answers.
fn silent_endpoint() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/lineage", listener.local_addr().unwrap());
    (listener, url)
}

#[tokio::test]
async fn a_silent_endpoint_never_holds_a_run_up_and_what_does_not_fit_is_dropped() {
    let (_held, url) = silent_endpoint();
    let mut config = lineage_config(url);
    // The first event waits on the silent endpoint for a minute; one more fits the queue.
    config.lineage.timeout = Duration::from_secs(60);
    config.lineage.queue = 1;
    let api = Api::with_config(config);
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);

    for (n, csv) in ["name\nAda\n", "name\nGrace\n"].iter().enumerate() {
        api.ingest_people(csv).await;
        let runs = api.settled_runs("hello", n + 1).await;
        assert_eq!(runs[0]["state"], "succeeded", "{}", runs[0]);
    }
    // Two runs ended while the sender waited on its first event: four events, of which one is
    // being sent, one is queued and two were dropped.
    let state = api.state.clone();
    let unsent = tokio::task::spawn_blocking(move || state.lineage().flush(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(unsent, 2);
    let metrics = String::from_utf8(api.get("/metrics").await.body.to_vec()).unwrap();
    assert_eq!(
        metric(
            &metrics,
            r#"tessera_lineage_events_total{outcome="dropped"}"#
        ),
        2.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "tessera_lineage_queue_depth"), 2.0);
}

#[test]
fn a_lineage_endpoint_must_be_plain_http_with_a_host() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.toml");
    let load = |env: Vec<(String, String)>| {
        ServerConfig::load(Some(&file), env, &tessera_server::Overrides::default())
    };
    for (url, says) in [
        ("https://marquez:5000/api/v1/lineage", "plain HTTP"),
        ("marquez:5000", "not an http:// URL"),
        ("http:///api/v1/lineage", "not"),
    ] {
        std::fs::write(&file, format!("[lineage]\nopenlineage_url = \"{url}\"\n")).unwrap();
        let text = load(Vec::new()).unwrap_err().to_string();
        assert!(text.contains("lineage.openlineage_url"), "{text}");
        assert!(text.contains(says), "{url}: {text}");
    }
    // The environment names the endpoint as well, checked the same way.
    std::fs::write(&file, "[lineage]\nnamespace = \"imaging\"\n").unwrap();
    let env = |url: &str| vec![("TESSERA_OPENLINEAGE_URL".to_string(), url.to_string())];
    let text = load(env("ftp://marquez")).unwrap_err().to_string();
    assert!(text.contains("TESSERA_OPENLINEAGE_URL"), "{text}");
    let config = load(env("http://marquez:5000/api/v1/lineage")).unwrap();
    assert_eq!(
        config.lineage.openlineage_url.as_deref(),
        Some("http://marquez:5000/api/v1/lineage")
    );
    assert_eq!(config.lineage.namespace, "imaging");
    std::fs::write(&file, "[lineage]\nqueue = 0\n").unwrap();
    let text = load(Vec::new()).unwrap_err().to_string();
    assert!(text.contains("lineage.queue"), "{text}");
}
