//! The demo pipeline's wall time; prints a table. Run with
//! `cargo bench -p tessera-tests --bench demo`.
//!
//! For each GPU setting (the host's adapter, then `off`: the CPU path), on a fresh data
//! directory and a fresh in-process server: deploy the five products, push the demo data over
//! HTTP, wait for the DAG, and report the time from the first ingest to the last publish and
//! each product's run time (and GPU time). `TESSERA_BENCH_REPEAT` (default 3) repeats each
//! setting; the table shows the median.
//!
//! `TESSERA_BENCH_COMPONENTS` names a directory of packaged `NAME.tessera.wasm` files to use
//! instead of building them (for machines without a Rust toolchain).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;

use tessera_cli::client::Client;
use tessera_cli::demo::{PRODUCTS, Report, run_pipeline};
use tessera_demo_data::DemoData;
use tessera_server::ServerConfig;
use tessera_server::config::GpuSetting;

fn components() -> Vec<PathBuf> {
    match std::env::var("TESSERA_BENCH_COMPONENTS") {
        Ok(dir) => PRODUCTS
            .iter()
            .map(|p| PathBuf::from(&dir).join(format!("{p}.tessera.wasm")))
            .collect(),
        Err(_) => PRODUCTS
            .iter()
            .map(|p| tessera_tests::built(&format!("products/{p}")))
            .collect(),
    }
}

fn once(gpu: &GpuSetting, components: &[PathBuf], data: &DemoData) -> (Report, String) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
            data_dir: dir.path().to_path_buf(),
            gpu: gpu.clone(),
            ..ServerConfig::default()
        })
        .await;
        let adapter = state
            .runtime()
            .gpu()
            .adapter()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| "none (CPU path)".into());
        let components = components.to_vec();
        let data = data.clone();
        let report = tokio::task::spawn_blocking(move || {
            let client = Client::new(&format!("http://{addr}"), Some(admin)).unwrap();
            run_pipeline(&client, &components, &data).unwrap()
        })
        .await
        .unwrap();
        for p in &report.products {
            assert_eq!(p.state, "succeeded", "{p:?}");
        }
        (report, adapter)
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let repeat: usize = std::env::var("TESSERA_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let components = components();
    let data = DemoData::generate(&tessera_tests::workspace().join("examples/data")).unwrap();
    println!("demo pipeline, median of {repeat} (fresh server and data directory each time)\n");
    for gpu in [GpuSetting::Auto, GpuSetting::Off] {
        let runs: Vec<(Report, String)> = (0..repeat)
            .map(|_| once(&gpu, &components, &data))
            .collect();
        let adapter = runs[0].1.clone();
        let wall = median(runs.iter().map(|r| r.0.wall.as_secs_f64() * 1e3).collect());
        println!("GPU setting {gpu:?}: adapter {adapter}");
        println!("  first ingest → last publish: {wall:.0} ms");
        println!("  {:<18} {:>8} {:>10}  path", "product", "run ms", "GPU ms");
        for (i, product) in PRODUCTS.iter().enumerate() {
            let run_ms = median(
                runs.iter()
                    .map(|r| r.0.products[i].duration_ms as f64)
                    .collect(),
            );
            let gpu_ms = median(
                runs.iter()
                    .map(|r| r.0.products[i].gpu_ms.unwrap_or(0.0))
                    .collect(),
            );
            let path = runs[0].0.products[i]
                .gpu_path
                .clone()
                .unwrap_or_else(|| "-".into());
            println!("  {product:<18} {run_ms:>8.0} {gpu_ms:>10.1}  {path}");
        }
        println!();
    }
}
