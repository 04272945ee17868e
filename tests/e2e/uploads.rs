//! Large uploads over a real connection: a client still sending its body gets the server's
//! answer (a repeat of an idempotent push, a refusal with the rows listed, an unknown port), not
//! a broken pipe.

use tessera_cli::client::Client;
use tessera_server::ServerConfig;

/// About 20 MB: more than loopback socket buffers hold, so the client is still writing when
/// the server has decided.
const ROWS: usize = 1_300_000;

fn big_csv() -> Vec<u8> {
    let mut csv = String::with_capacity(ROWS * 16 + 8);
    csv.push_str("name\n");
    for i in 0..ROWS {
        csv.push_str(&format!("person-{i:08}\n"));
    }
    csv.into_bytes()
}

fn push(
    client: &Client,
    content_type: &str,
    key: Option<&str>,
    body: &[u8],
) -> anyhow::Result<serde_json::Value> {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    client.post_reader(
        "/v1/products/hello/inputs/people",
        content_type,
        body.len() as u64,
        &headers,
        &mut &body[..],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_still_sending_gets_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (_state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        ..ServerConfig::default()
    })
    .await;
    let wasm = crate::server::hello();
    tokio::task::spawn_blocking(move || {
        let client = Client::new(&format!("http://{addr}"), Some(admin)).unwrap();
        client
            .post_reader(
                "/v1/products",
                "application/wasm",
                wasm.len() as u64,
                &[],
                &mut &wasm[..],
            )
            .unwrap();
        let csv = big_csv();
        let first = push(&client, "text/csv", Some("big-0001"), &csv).unwrap();
        assert_eq!(first["rows_added"], ROWS as u64);
        // The repeat is answered from the key without reading the rows; the server still takes
        // the body so the client can read that answer. Twice, on the kept-alive connection.
        for _ in 0..2 {
            let again = push(&client, "text/csv", Some("big-0001"), &csv).unwrap();
            assert_eq!(again["version"], first["version"]);
            assert_eq!(again["idempotency_key"], "big-0001");
        }
        // Every row wrong: the decoder stops after the first problems; the client still gets
        // the refusal with them listed.
        let mut bad = String::with_capacity(ROWS * 20);
        for i in 0..ROWS {
            bad.push_str(&format!("{{\"name\": {i}}}\n"));
        }
        let refused = push(&client, "application/x-ndjson", None, bad.as_bytes()).unwrap_err();
        let message = refused.to_string();
        assert!(!message.contains("cannot reach the server"), "{message}");
        assert!(
            message.contains("row 1") || message.contains("line 1"),
            "{message}"
        );
        // A port that does not exist: refused before the body is read, and still answered.
        let missing = client
            .post_reader(
                "/v1/products/hello/inputs/persons",
                "text/csv",
                csv.len() as u64,
                &[],
                &mut &csv[..],
            )
            .unwrap_err()
            .to_string();
        assert!(missing.contains("no input port `persons`"), "{missing}");
        // Nothing was stored by the refusals.
        let versions = client
            .get_json("/v1/products/hello/inputs/people/versions")
            .unwrap();
        let versions = versions.as_array().unwrap();
        assert_eq!(versions.len(), 1, "{versions:?}");
        assert_eq!(versions[0]["rows"], ROWS as u64);
    })
    .await
    .unwrap();
}
