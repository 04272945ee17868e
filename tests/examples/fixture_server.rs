//! A server with published data, for trying consumer tools (pandas, Polars, DuckDB, a browser)
//! against real answers: `cargo run -p tessera-tests --example fixture_server -- 127.0.0.1:8095`.
//! It deploys `examples/hello`, publishes 1,000 greetings as its data, prints the URLs and
//! serves until Ctrl-C.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tessera_server::{AppState, ServerConfig};

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8095".into());
    let data = tempfile::tempdir().unwrap();
    let state = AppState::open(ServerConfig {
        data_dir: data.path().to_path_buf(),
        ..ServerConfig::default()
    })
    .unwrap();
    let wasm = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let product = state.runtime().load(&wasm).unwrap();
    let manifest = product.manifest().clone();
    state
        .store()
        .deploy(
            &tessera_store::Deployment {
                product: "hello".into(),
                version: manifest.product.version.to_string(),
                domain: manifest.product.domain.clone(),
                hash: product.hash().to_string(),
                bytes: wasm.len() as u64,
                deployed_at_us: tessera_store::now_us(),
                manifest: tessera_core::package::read_embedded(&wasm)
                    .unwrap()
                    .manifest
                    .unwrap(),
            },
            &wasm,
        )
        .unwrap();
    state
        .store()
        .activate("hello", &manifest.product.version.to_string(), &[])
        .unwrap();
    tessera_tests::fixtures::publish_greetings(state.store(), "hello", "fixture", 1000);
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("serving http://{addr}/v1/products/hello/outputs/greetings (1,000 rows)");
    tessera_server::serve(listener, state, tessera_server::shutdown_signal())
        .await
        .unwrap();
}
