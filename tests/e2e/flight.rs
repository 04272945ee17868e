//! Arrow Flight against a real gRPC socket, read by the official clients: `pyarrow.flight`,
//! pandas and Polars (`tests/flight_client.py`). What Flight returns is compared with what the
//! HTTP API serves as JSON, another encoder over the same stored files.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_store::{Role, Store};

use crate::server::{Api, config, greeting_copy, hello, repackage, token};

/// The rows of a JSON answer as `[name, greeting]` pairs.
fn rows(answer: &Value) -> Vec<[String; 2]> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            [
                row["name"].as_str().unwrap().to_string(),
                row["greeting"].as_str().unwrap().to_string(),
            ]
        })
        .collect()
}

fn served_over_flight(metrics: &str) -> f64 {
    let series = r#"tessera_output_bytes_served_total{product="hello",format="flight"}"#;
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_pandas_and_polars_read_published_ports_over_flight_under_the_api_rules() {
    let api = Api::with_config(config());
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);
    let restricted = repackage(&greeting_copy(), |m| {
        m.replace(
            "name = \"copy\"\n",
            "name = \"copy\"\naccess = \"restricted\"\n",
        )
    });
    assert_eq!(api.deploy(restricted).await.status, StatusCode::CREATED);
    api.ingest_people("name,language\nAda,en\nGrace,en\n").await;
    api.settled_runs("hello", 1).await;
    api.settled_runs("greeting-copy", 1).await;
    api.ingest_people("name,language\nZoë,fr\n").await;
    let runs = api.settled_runs("hello", 2).await;
    assert_eq!(runs[0]["state"], "succeeded", "{}", runs[0]);
    let copies = api.settled_runs("greeting-copy", 2).await;
    assert_eq!(copies[0]["state"], "succeeded", "{}", copies[0]);

    let as_json = |uri: &'static str| {
        let api = &api;
        async move {
            let answer = api.get_as(Some(&api.admin), uri).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            rows(&answer.json())
        }
    };
    let current = as_json("/v1/products/hello/outputs/greetings?format=json").await;
    let first = as_json("/v1/products/hello/outputs/greetings?format=json&version=1").await;
    let copy = as_json("/v1/products/greeting-copy/outputs/copy?format=json").await;
    assert_eq!(current.len(), 3);
    assert_eq!(first.len(), 2);
    let current_version = api.store.current_version("hello").unwrap().unwrap().number;

    let addr = serve_flight(&api).await;
    let given = json!({
        "url": format!("grpc://{addr}"),
        "admin": api.admin,
        "reader": token(api.store.as_ref(), Role::Reader, None, &[]),
        "granted": token(api.store.as_ref(), Role::Reader, None, &["greeting-copy/copy"]),
        "current": current,
        "current_version": current_version,
        "first": first,
        "copy": copy,
    });
    let output = tokio::task::spawn_blocking(move || {
        tessera_tests::python_script(
            "python3".as_ref(),
            "flight_client.py",
            &given.to_string(),
            "pyarrow, pandas and polars",
        )
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Flight clients disagreed:\n{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every check the script makes printed a line.
    assert_eq!(
        printed.lines().filter(|l| l.starts_with("ok ")).count(),
        16,
        "{printed}"
    );

    let metrics = String::from_utf8(api.get("/metrics").await.body.to_vec()).unwrap();
    assert!(served_over_flight(&metrics) > 0.0, "{metrics}");
}

/// The frames of a `DoGet` of `ticket`, read with the generated gRPC client (no decoding).
async fn raw_frames(
    addr: std::net::SocketAddr,
    token: &str,
    ticket: &str,
) -> Vec<arrow_flight::FlightData> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = arrow_flight::flight_service_client::FlightServiceClient::new(channel);
    let mut request = tonic::Request::new(arrow_flight::Ticket::new(ticket.to_string()));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut stream = client.do_get(request).await.unwrap().into_inner();
    let mut frames = Vec::new();
    while let Some(frame) = stream.message().await.unwrap() {
        frames.push(frame);
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_port_goes_out_as_its_stored_messages_and_a_projection_is_re_encoded() {
    let api = Api::with_config(config());
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);
    api.ingest_people("name,language\nAda,en\nGrace,fr\nLinus,fi\n")
        .await;
    let runs = api.settled_runs("hello", 1).await;
    assert_eq!(runs[0]["state"], "succeeded", "{}", runs[0]);
    let addr = serve_flight(&api).await;

    // The schema first, then every record batch message byte for byte as the file stores it.
    let version = api.store.current_version("hello").unwrap().unwrap().number;
    let mut stored = api
        .store
        .read_encoded("hello", version, "greetings")
        .unwrap();
    let mut expected = Vec::new();
    while let Some(message) = stored.next_message().unwrap() {
        expected.push((message.header, message.body));
    }
    assert!(!expected.is_empty());
    let frames = raw_frames(addr, &api.admin, "hello/greetings").await;
    let (schema, batches) = frames.split_first().unwrap();
    assert!(schema.data_body.is_empty());
    let sent: Vec<(Vec<u8>, Vec<u8>)> = batches
        .iter()
        .map(|f| (f.data_header.to_vec(), f.data_body.to_vec()))
        .collect();
    assert_eq!(sent, expected);

    // A projection is decoded and re-encoded: its batches hold the one column asked for.
    let frames = raw_frames(addr, &api.admin, "hello/greetings?columns=greeting").await;
    let decoded = arrow_flight::utils::flight_data_to_batches(&frames).unwrap();
    let rows: usize = decoded.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 3);
    assert!(
        decoded
            .iter()
            .all(|b| b.num_columns() == 1 && b.schema().field(0).name() == "greeting")
    );
}

/// Serves Flight for `api`'s server on a loopback port until the test ends; its address.
async fn serve_flight(api: &Api) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tessera_server::flight::serve(
        listener,
        api.state.clone(),
        std::future::pending(),
    ));
    addr
}
