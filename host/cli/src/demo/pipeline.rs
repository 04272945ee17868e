//! The demo's pipeline against a running server: deploy, ingest, wait for the DAG, report.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tessera_demo_data::DemoData;

use crate::client::Client;

/// The demo's products, upstream first.
pub const PRODUCTS: [&str; 5] = [
    "labeled-studies",
    "annotator-quality",
    "image-quality",
    "shadow-models",
    "active-learning",
];

/// How long the DAG may take to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

/// What one product's last run did.
#[derive(Debug, Clone)]
pub struct ProductReport {
    /// The product.
    pub product: String,
    /// `succeeded`, `quarantined`, `failed`, ...
    pub state: String,
    /// The run's id.
    pub run: String,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// `gpu`, `cpu` or none (no GPU declared).
    pub gpu_path: Option<String>,
    /// GPU time, when the GPU ran.
    pub gpu_ms: Option<f64>,
    /// Rows per output port.
    pub outputs: Vec<(String, u64)>,
    /// When the run finished (RFC 3339).
    pub finished_at: String,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// What the pipeline did.
#[derive(Debug, Clone)]
pub struct Report {
    /// One entry per product, in [`PRODUCTS`] order.
    pub products: Vec<ProductReport>,
    /// Rows pushed into ingest ports (0 for pushes the server had already seen).
    pub ingested_rows: usize,
    /// From the first ingest to the last run's end, by the server's clock of record.
    pub wall: Duration,
}

impl Report {
    /// The report as a table.
    pub fn render(&self) -> String {
        let mut out =
            String::from("\nproduct             state        run ms   GPU           outputs\n");
        for p in &self.products {
            let gpu = match (&p.gpu_path, p.gpu_ms) {
                (Some(path), Some(ms)) => format!("{path} {ms:.1} ms"),
                (Some(path), None) => path.clone(),
                _ => "-".into(),
            };
            let outputs: Vec<String> = p
                .outputs
                .iter()
                .map(|(port, rows)| format!("{port} {rows}"))
                .collect();
            let _ = writeln!(
                out,
                "{:<19} {:<12} {:>6}   {:<13} {}",
                p.product,
                p.state,
                p.duration_ms,
                gpu,
                outputs.join(", ")
            );
            if let Some(failure) = &p.failure {
                let _ = writeln!(out, "{:<19} {failure}", "");
            }
        }
        let _ = writeln!(
            out,
            "\n{} rows ingested; first ingest to last publish: {:.2} s",
            self.ingested_rows,
            self.wall.as_secs_f64()
        );
        out
    }
}

/// Deploys `components` (in [`PRODUCTS`] order), pushes the demo data, and waits until every
/// product has published with no run queued or running.
pub fn run_pipeline(client: &Client, components: &[PathBuf], data: &DemoData) -> Result<Report> {
    for wasm in components {
        let bytes =
            std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
        let answer = with_retries(|| {
            client.post_reader(
                "/v1/products",
                "application/wasm",
                bytes.len() as u64,
                &[],
                &mut bytes.as_slice(),
            )
        })
        .with_context(|| {
            format!(
                "cannot deploy {}; if a product changed since this data directory was made, raise its version in product.toml or start the demo on a new --data directory",
                wasm.display()
            )
        })?;
        anstream::eprintln!(
            "deployed {} {}",
            answer["product"].as_str().unwrap_or("?"),
            answer["version"].as_str().unwrap_or("?")
        );
    }
    let started = micros_since_epoch(std::time::SystemTime::now());
    let mut ingested_rows = 0;
    for push in data.ingests()? {
        let key = format!("demo-{}", &hex::encode(Sha256::digest(&push.data))[..32]);
        let path = format!(
            "/v1/products/{}/inputs/{}?mode=replace",
            push.product, push.port
        );
        let answer = with_retries(|| {
            client.post_reader(
                &path,
                "application/vnd.apache.arrow.stream",
                push.data.len() as u64,
                &[("Idempotency-Key", key.as_str())],
                &mut push.data.as_slice(),
            )
        })?;
        let added = answer["rows_added"].as_u64().unwrap_or(0) as usize;
        ingested_rows += added;
        anstream::eprintln!(
            "ingested {} rows into {}/{} (input version {})",
            push.rows,
            push.product,
            push.port,
            answer["version"]
        );
    }
    let products = settle(client)?;
    let last = products
        .iter()
        .filter_map(|p| chrono::DateTime::parse_from_rfc3339(&p.finished_at).ok())
        .map(|t| t.timestamp_micros())
        .max()
        .unwrap_or(started);
    Ok(Report {
        products,
        ingested_rows,
        wall: Duration::from_micros(u64::try_from(last - started).unwrap_or(0)),
    })
}

/// Retries a request that could not reach the server (a connection that broke); safe because
/// deploys of the same code and pushes with the same key are no-ops.
fn with_retries(mut request: impl FnMut() -> Result<Value>) -> Result<Value> {
    let mut attempt = 0;
    loop {
        match request() {
            Err(e) if attempt < 3 && e.to_string().starts_with("cannot reach the server") => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200 * attempt));
            }
            other => return other,
        }
    }
}

fn micros_since_epoch(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Polls every product's newest run until each has finished one and none is queued or running,
/// three polls in a row.
fn settle(client: &Client) -> Result<Vec<ProductReport>> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut quiet = 0;
    loop {
        let mut reports = Vec::new();
        let mut busy = false;
        for product in PRODUCTS {
            let runs = client.get_json(&format!("/v1/products/{product}/runs"))?;
            let runs = runs.as_array().cloned().unwrap_or_default();
            busy |= runs
                .iter()
                .any(|r| matches!(r["state"].as_str(), Some("queued" | "running")));
            match runs.iter().find(|r| r["finished_at"].is_string()) {
                Some(run) => reports.push(report(product, run)),
                None => busy = true,
            }
        }
        quiet = if busy { 0 } else { quiet + 1 };
        if quiet >= 3 {
            return Ok(reports);
        }
        if Instant::now() > deadline {
            bail!(
                "the mesh did not settle within {} s; see `tessera runs PRODUCT`",
                SETTLE_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn report(product: &str, run: &Value) -> ProductReport {
    let outputs = run["outputs"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(port, rows)| (port.clone(), rows.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    ProductReport {
        product: product.to_string(),
        state: run["state"].as_str().unwrap_or("?").to_string(),
        run: run["id"].as_str().unwrap_or("?").to_string(),
        duration_ms: run["duration_ms"].as_u64().unwrap_or(0),
        gpu_path: run["gpu"]["path"].as_str().map(str::to_string),
        gpu_ms: run["gpu"]["gpu_ms"].as_f64(),
        outputs,
        finished_at: run["finished_at"].as_str().unwrap_or_default().to_string(),
        failure: run["reason"]
            .as_str()
            .or(run["failure"].as_str())
            .map(str::to_string),
    }
}
