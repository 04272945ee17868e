//! Delta Sharing: shares made by admins, read by the official `delta-sharing` Python client over
//! a real socket (`tests/delta_sharing_client.py`, in a virtual environment of its own), and the
//! protocol's edges against the router: who may manage shares, who may read them, and signed
//! file URLs that refuse alteration and expire.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_cli::client::Client;
use tessera_server::ServerConfig;
use tessera_store::Role;

use crate::server::{Api, config, hello, token};

/// The Python of the virtual environment that has the `delta-sharing` client.
pub(crate) fn sharing_python() -> std::path::PathBuf {
    let python = std::env::var_os("TESSERA_DELTA_SHARING_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tessera_tests::workspace().join("target/delta-sharing-venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: create it with `python3 -m venv target/delta-sharing-venv && \
         target/delta-sharing-venv/bin/pip install delta-sharing` (.ci/run does), or point \
         TESSERA_DELTA_SHARING_PYTHON at a Python that has the client",
        python.display()
    );
    python
}

/// Runs `tests/delta_sharing_client.py` with `given`; its output.
pub(crate) fn delta_sharing_client(given: &Value) -> String {
    let output = tessera_tests::python_script(
        &sharing_python(),
        "delta_sharing_client.py",
        &given.to_string(),
        "the delta-sharing package",
    );
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "the Delta Sharing client disagreed:\n{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

/// The rows of a JSON answer, as arrays in `columns` order.
pub(crate) fn json_rows(answer: &Value, columns: &[&str]) -> Vec<Vec<Value>> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|row| columns.iter().map(|c| row[*c].clone()).collect())
        .collect()
}

/// Issues a recipient profile for `share` and writes it to `path`.
pub(crate) fn write_profile(client: &Client, share: &str, path: &std::path::Path) {
    let created = client
        .post_json(&format!("/v1/shares/{share}/recipients"), &json!({}))
        .unwrap();
    assert_eq!(created["profile"]["shareCredentialsVersion"], 1);
    std::fs::write(path, created["profile"].to_string()).unwrap();
}

fn ingest(client: &Client, csv: &str) {
    let mut body = csv.as_bytes();
    client
        .post_reader(
            "/v1/products/hello/inputs/people",
            "text/csv",
            csv.len() as u64,
            &[],
            &mut body,
        )
        .unwrap();
}

/// Waits until hello's current version is `number`.
fn published(client: &Client, number: u64) {
    let started = std::time::Instant::now();
    while started.elapsed() < crate::server::RUN_PATIENCE {
        let versions = client
            .get_json("/v1/products/hello/outputs/greetings/versions")
            .unwrap();
        let newest = versions
            .as_array()
            .and_then(|v| v.iter().filter_map(|v| v["version"].as_u64()).max());
        if newest == Some(number) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("hello never published version {number}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_reads_a_share_with_the_delta_sharing_client() {
    let dir = tempfile::tempdir().unwrap();
    let (_state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
        data_dir: dir.path().join("data"),
        ..ServerConfig::default()
    })
    .await;
    let profiles = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let client = Client::new(&format!("http://{addr}"), Some(admin)).unwrap();
        let wasm = hello();
        let mut body = wasm.as_slice();
        client
            .post_reader(
                "/v1/products",
                "application/wasm",
                wasm.len() as u64,
                &[],
                &mut body,
            )
            .unwrap();
        ingest(&client, "name,language\nAda,en\nGrace,fr\n");
        published(&client, 1);
        ingest(&client, "name,language\nZoë,de\n");
        published(&client, 2);

        client
            .post_json(
                "/v1/shares",
                &json!({"name": "greetings", "tables": ["hello/greetings"]}),
            )
            .unwrap();
        let profile = profiles.join("recipient.share");
        write_profile(&client, "greetings", &profile);
        // A reader of the mesh who is not a recipient of the share.
        let outsider = client
            .post_json("/v1/tokens", &json!({"role": "reader"}))
            .unwrap();
        let outsider_profile = profiles.join("outsider.share");
        std::fs::write(
            &outsider_profile,
            json!({
                "shareCredentialsVersion": 1,
                "endpoint": format!("http://{addr}/delta-sharing"),
                "bearerToken": outsider["token"],
            })
            .to_string(),
        )
        .unwrap();

        let columns = ["name", "greeting"];
        let current = client
            .get_json("/v1/products/hello/outputs/greetings?format=json")
            .unwrap();
        let first = client
            .get_json("/v1/products/hello/outputs/greetings?format=json&version=1")
            .unwrap();
        let printed = delta_sharing_client(&json!({
            "profile": profile,
            "share": "greetings",
            "tables": {"hello.greetings": {
                "all_columns": columns,
                "columns": columns,
                "rows": json_rows(&current, &columns),
            }},
            "versions": {
                "table": "hello.greetings",
                "first": json_rows(&first, &columns),
                "current": json_rows(&current, &columns),
                "current_version": 2,
            },
            "outsider": outsider_profile,
        }));
        assert_eq!(
            printed.lines().filter(|l| l.starts_with("ok ")).count(),
            6,
            "{printed}"
        );
    })
    .await
    .unwrap();
}

/// An admin token's public id and secret.
fn reader_with_id(api: &Api) -> (String, String) {
    let (secret, record) = tessera_server::auth::issue(
        api.store.as_ref(),
        tessera_server::auth::NewToken {
            role: Role::Reader,
            domain: None,
            grants: Vec::new(),
            description: "recipient".into(),
            expires_in: None,
        },
    )
    .unwrap();
    (secret, record.id)
}

#[tokio::test]
async fn shares_are_managed_by_admins_and_read_only_by_their_recipients() {
    let mut config = config();
    config.sharing.url_lifetime = Duration::from_secs(2);
    let api = Api::with_config(config);
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);
    api.ingest_people("name\nAda\nGrace\n").await;
    let runs = api.settled_runs("hello", 1).await;
    assert_eq!(runs[0]["state"], "succeeded");

    // Only admins manage shares; names and tables are checked.
    let reader = token(api.store.as_ref(), Role::Reader, None, &[]);
    let share = |name: &str, table: &str| {
        json!({"name": name, "tables": [table]})
            .to_string()
            .into_bytes()
    };
    let (code, _) = api
        .post_as(Some(&reader), "/v1/shares", share("s", "hello/greetings"))
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(code, "forbidden");
    let (_, message) = api
        .post("/v1/shares", share("Bad Name", "hello/greetings"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(message.contains("not a share name"), "{message}");
    let (_, message) = api
        .post("/v1/shares", share("s", "hello/nothing"))
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("greetings"), "{message}");
    let created = api
        .post("/v1/shares", share("mesh", "hello/greetings"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    // A reader not granted the share sees none and reads nothing; anonymous callers get 401.
    let (secret, id) = reader_with_id(&api);
    let table = "/delta-sharing/shares/mesh/schemas/hello/tables/greetings";
    let listed = api.get_as(Some(&secret), "/delta-sharing/shares").await;
    assert_eq!(listed.json()["items"], json!([]));
    let (_, message) = api
        .get_as(Some(&secret), &format!("{table}/metadata"))
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(
        message.contains("not a recipient of share `mesh`"),
        "{message}"
    );
    api.get_as(None, "/delta-sharing/shares")
        .await
        .error(StatusCode::UNAUTHORIZED);

    // Granted, it reads: the version header, the schema, one file per version.
    let granted = api
        .post(
            "/v1/shares/mesh/grants",
            json!({"token": id}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.json());
    let version = api.get_as(Some(&secret), &format!("{table}/version")).await;
    assert_eq!(version.header("delta-table-version".parse().unwrap()), "1");
    let listed = api.get_as(Some(&secret), "/delta-sharing/shares").await;
    assert_eq!(listed.json()["items"][0]["name"], "mesh");
    let query = api
        .post_as(
            Some(&secret),
            &format!("{table}/query"),
            b"{\"predicateHints\": [], \"limitHint\": 10}".to_vec(),
        )
        .await;
    assert_eq!(query.status, StatusCode::OK);
    let lines: Vec<Value> = std::str::from_utf8(&query.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["protocol"]["minReaderVersion"], 1);
    let schema: Value =
        serde_json::from_str(lines[1]["metaData"]["schemaString"].as_str().unwrap()).unwrap();
    assert_eq!(schema["fields"][0]["name"], "name");
    assert_eq!(schema["fields"][1]["type"], "string");
    let file = &lines[2]["file"];
    assert_eq!(file["version"], 1);
    assert_eq!(file["stats"], "{\"numRecords\":2}");
    let url = file["url"].as_str().unwrap();
    assert!(!url.contains(&secret), "the URL carries no token");
    let path = url
        .strip_prefix("http://127.0.0.1:8080")
        .unwrap()
        .to_string();

    // The signed URL needs no token; the Parquet file is whole, or the range asked for.
    let fetched = api.get_as(None, &path).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body.len() as u64, file["size"].as_u64().unwrap());
    assert_eq!(&fetched.body[..4], b"PAR1");
    let ranged = api
        .get_with(&path, axum::http::header::RANGE, "bytes=0-3")
        .await;
    assert_eq!(ranged.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&ranged.body[..], b"PAR1");
    // Altered, it is refused: another signature, another version, a later expiry.
    let flipped = {
        let (head, signature) = path.rsplit_once("signature=").unwrap();
        let mut signature = signature.to_string();
        let first = if signature.starts_with('0') { "1" } else { "0" };
        signature.replace_range(0..1, first);
        format!("{head}signature={signature}")
    };
    for altered in [
        flipped,
        path.replace("/greetings/1?", "/greetings/2?"),
        path.replace("expires=", "expires=9"),
    ] {
        let (_, message) = api
            .get_as(None, &altered)
            .await
            .error(StatusCode::FORBIDDEN);
        assert!(message.contains("signature does not match"), "{message}");
    }
    // Past its lifetime (2 s here, rounded up to a whole second), the URL is refused.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (_, message) = api.get_as(None, &path).await.error(StatusCode::FORBIDDEN);
    assert!(message.contains("expired"), "{message}");

    // A version that does not exist, and a deleted share.
    let pinned = api
        .post_as(
            Some(&secret),
            &format!("{table}/query"),
            b"{\"version\": 7}".to_vec(),
        )
        .await;
    let (_, message) = pinned.error(StatusCode::NOT_FOUND);
    assert!(message.contains("no data version 7"), "{message}");
    let deleted = api
        .call(
            axum::http::Request::delete("/v1/shares/mesh")
                .header("authorization", format!("Bearer {}", api.admin))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    api.get_as(Some(&secret), &format!("{table}/metadata"))
        .await
        .error(StatusCode::NOT_FOUND);
}
