//! The web UI's server time; prints a table. Run with `cargo bench -p tessera-tests --bench web`.
//!
//! Requests go straight to the router (no network), one at a time, after a warm-up:
//! 1. the catalog page with 1,000 products deployed (p50 and p95 of 200 requests);
//! 2. a product page with three views over 1,000 rows, warm (p50 and p95 of 200);
//! 3. a view's SVG over `TESSERA_BENCH_ROWS` rows (default 100,000) of a scatter: the first
//!    render of each of three products, then cached (p50 of 200);
//! 4. the mesh page: all 1,000 products (a table: too many to draw), and the graph around one
//!    domain of 100 products, first laid out and then kept;
//! 5. page weights: the HTML of the catalog and of the product page, with and without their
//!    inline charts, and the style sheet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tessera_cli::client::Client;
use tessera_server::{AppState, ServerConfig};
use tower::ServiceExt;

const PRODUCTS: usize = 1000;

/// `wide` as `name`, with a bar, a histogram and a scatter on its `rows` port.
fn charts(name: &str) -> Vec<u8> {
    tessera_tests::repackage(&tessera_tests::wide::product(), |m| {
        m.replace("name = \"wide\"", &format!("name = \"{name}\"")).replace(
            "name = \"rows\"\n",
            "name = \"rows\"\nviews = [{ name = \"bars\", kind = \"bar\", x = \"label\", y = \"a\" }, { name = \"bins\", kind = \"histogram\", x = \"b\" }, { name = \"points\", kind = \"scatter\", x = \"a\", y = \"b\" }]\n",
        )
    })
}

fn deploy(client: &Client, wasm: &[u8]) {
    let answer = client
        .post_reader(
            "/v1/products",
            "application/wasm",
            wasm.len() as u64,
            &[],
            &mut &wasm[..],
        )
        .unwrap();
    assert_eq!(answer["active"], true, "{answer}");
}

async fn get(state: &AppState, uri: &str) -> (Duration, bytes::Bytes) {
    let began = Instant::now();
    let response = tessera_server::api::router(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (began.elapsed(), body)
}

/// p50 and p95 of `n` requests for `uri`, after 10 unmeasured ones.
async fn percentiles(state: &AppState, uri: &str, n: usize) -> (Duration, Duration) {
    for _ in 0..10 {
        get(state, uri).await;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(get(state, uri).await.0);
    }
    times.sort();
    (times[n / 2], times[n * 95 / 100])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn kb(n: usize) -> String {
    format!("{:.1} KB", n as f64 / 1000.0)
}

/// The page without its inline `<svg>…</svg>` charts.
fn without_svg(page: &str) -> usize {
    let mut rest = page;
    let mut kept = 0;
    while let Some(start) = rest.find("<svg") {
        kept += start;
        match rest[start..].find("</svg>") {
            Some(end) => rest = &rest[start + end + "</svg>".len()..],
            None => return kept,
        }
    }
    kept + rest.len()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let points = tessera_tests::bench_rows(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hello = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let data = tempfile::tempdir().unwrap();
    println!("# Web UI server time\n");
    println!(
        "machine: {} cores, {}; requests straight to the router, one at a time\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    runtime.block_on(async {
        let (state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
            data_dir: data.path().to_path_buf(),
            ..ServerConfig::default()
        })
        .await;
        let base = format!("http://{addr}");
        let setup = state.clone();
        let began = Instant::now();
        tokio::task::spawn_blocking(move || {
            let client = Client::new(&base, Some(admin)).unwrap();
            // The catalog's products are written to the store as a deploy records them (the
            // deploy path's compile and policy checks are not what this measures).
            let manifest = tessera_core::package::read_embedded(&hello)
                .unwrap()
                .manifest
                .unwrap();
            for i in 0..PRODUCTS - 4 {
                let name = format!("product-{i:04}");
                let domain = format!("domain-{}", i % 10);
                let text = manifest
                    .replace("name = \"hello\"", &format!("name = \"{name}\""))
                    .replace("domain = \"examples\"", &format!("domain = \"{domain}\""));
                let deployment = tessera_store::Deployment {
                    product: name.clone(),
                    version: "0.1.0".into(),
                    domain,
                    hash: format!("{i:064x}"),
                    bytes: hello.len() as u64,
                    deployed_at_us: tessera_store::now_us(),
                    manifest: text,
                };
                setup.store().deploy(&deployment, &hello).unwrap();
                setup.store().activate(&name, "0.1.0", &[]).unwrap();
            }
            deploy(&client, &charts("charts"));
            tessera_tests::wide::publish(setup.store(), "charts", 1000);
            for i in 0..3 {
                let name = format!("points-{i}");
                deploy(&client, &charts(&name));
                tessera_tests::wide::publish(setup.store(), &name, points);
            }
        })
        .await
        .unwrap();
        eprintln!("set up {PRODUCTS} products in {:.0?}", began.elapsed());

        println!("| page | p50 | p95 | target |");
        println!("|---|---:|---:|---|");
        let (p50, p95) = percentiles(&state, "/", 200).await;
        println!(
            "| catalog, {PRODUCTS} products (first page of 24) | {} | {} | ≤ 20 ms p50 |",
            ms(p50),
            ms(p95)
        );
        let (p50, p95) = percentiles(&state, "/?q=product-09&domain=domain-3", 200).await;
        println!(
            "| catalog, searched and filtered | {} | {} | |",
            ms(p50),
            ms(p95)
        );
        let (p50, p95) = percentiles(&state, "/products/charts", 200).await;
        println!(
            "| product page, 3 views over 1,000 rows, warm | {} | {} | ≤ 10 ms p50 |",
            ms(p50),
            ms(p95)
        );
        let (p50, p95) = percentiles(&state, "/mesh", 50).await;
        println!(
            "| mesh, {PRODUCTS} products (too many to draw: the table) | {} | {} | |",
            ms(p50),
            ms(p95)
        );
        let (first, _) = get(&state, "/mesh?domain=domain-3").await;
        println!(
            "| mesh around one domain (100 products), first layout | {} | | |",
            ms(first)
        );
        let (p50, p95) = percentiles(&state, "/mesh?domain=domain-3", 50).await;
        println!("| the same, layout kept | {} | {} | |", ms(p50), ms(p95));
        println!("\n| view over {points} points (scatter) | time | target |");
        println!("|---|---:|---|");
        let mut first = Vec::new();
        let mut svg_bytes = 0;
        for i in 0..3 {
            let (took, body) = get(&state, &format!("/v1/products/points-{i}/views/points")).await;
            first.push(took);
            svg_bytes = body.len();
        }
        first.sort();
        println!(
            "| first render, median of 3 products ({}) | {} | ≤ 50 ms |",
            kb(svg_bytes),
            ms(first[1])
        );
        let (p50, _) = percentiles(&state, "/v1/products/points-0/views/points", 200).await;
        println!("| cached, p50 of 200 | {} | |", ms(p50));
        let mut first = Vec::new();
        for i in 0..3 {
            let (took, _) = get(
                &state,
                &format!("/v1/products/points-{i}/views/points?format=vega-lite"),
            )
            .await;
            first.push(took);
        }
        first.sort();
        println!("| Vega-Lite, first, median of 3 | {} | |", ms(first[1]));

        let (_, catalog) = get(&state, "/").await;
        let (_, product) = get(&state, "/products/charts").await;
        let (_, style) = get(&state, "/assets/style.css").await;
        let catalog = String::from_utf8_lossy(&catalog);
        let product = String::from_utf8_lossy(&product);
        println!("\n| page weight | HTML | without inline charts | target |");
        println!("|---|---:|---:|---|");
        println!(
            "| catalog | {} | {} | ≤ 150 KB |",
            kb(catalog.len()),
            kb(without_svg(&catalog))
        );
        println!(
            "| product page (3 charts over 1,000 rows) | {} | {} | ≤ 150 KB |",
            kb(product.len()),
            kb(without_svg(&product))
        );
        println!("| style sheet | {} | | |", kb(style.len()));
    });
}
