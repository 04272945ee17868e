//! The CLI's commands against a server: deploy, ingest, products, status, trigger, runs, logs,
//! get.
//! Human tables by default, `--json` for scripts; a failed run or request exits non-zero.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::build::Progress;
use crate::client::Client;
use crate::local_run;

/// Prints `value` as JSON, or the human text.
fn emit(json: bool, value: &Value, human: impl FnOnce(&Value) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        print!("{}", human(value));
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn bar(total: Option<u64>, action: &str) -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
    } else {
        "{msg} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(action.to_string());
    bar
}

/// Counts bytes read, for the upload bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// How `tessera deploy` deploys.
pub struct DeployArgs {
    /// Make the new version the active one.
    pub activate: bool,
    /// How long a replaced major that consumers pin keeps running for them.
    pub deprecate_after: Option<tessera_core::manifest::units::Span>,
}

/// `tessera deploy [DIR|FILE.wasm]`: builds a directory first, uploads with a progress bar.
pub fn deploy(client: &Client, target: &Path, how: &DeployArgs, json: bool) -> Result<()> {
    let wasm: PathBuf = local_run::resolve_target(target, Progress::Show)?;
    let length = std::fs::metadata(&wasm)
        .with_context(|| format!("cannot read {}", wasm.display()))?
        .len();
    let file = std::fs::File::open(&wasm)?;
    let bar = bar(Some(length), "uploading");
    let mut body = Counted {
        inner: file,
        bar: bar.clone(),
    };
    let mut path = format!("/v1/products?activate={}", how.activate);
    if let Some(span) = how.deprecate_after {
        // A span prints as digits and a unit letter: safe in a query.
        path.push_str(&format!("&deprecate_after={span}"));
    }
    let answer = client.post_reader(&path, "application/wasm", length, &[], &mut body);
    bar.finish_and_clear();
    let answer = answer?;
    emit(json, &answer, |v| {
        format!(
            "deployed {} {} ({} bytes, sha256 {}){}\n",
            text(&v["product"]),
            text(&v["version"]),
            v["bytes"],
            &text(&v["hash"])[..12.min(text(&v["hash"]).len())],
            if v["active"] == true { ", active" } else { "" }
        )
    });
    Ok(())
}

/// What `tessera ingest` was asked for.
pub struct IngestArgs<'a> {
    /// `PRODUCT/PORT`.
    pub target: &'a str,
    /// The data file.
    pub file: &'a Path,
    /// The format, when the extension does not say.
    pub format: Option<&'a str>,
    /// Replace the port's data instead of appending.
    pub replace: bool,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: Option<&'a str>,
    /// Wait for the run the ingest triggers.
    pub wait: bool,
}

/// `tessera ingest PRODUCT/PORT FILE`: uploads a data file with a progress bar.
pub fn ingest(client: &Client, args: &IngestArgs<'_>, json: bool) -> Result<()> {
    let IngestArgs {
        target,
        file,
        format,
        replace,
        idempotency_key,
        wait,
    } = *args;
    let Some((product, port)) = target.split_once('/') else {
        bail!("`{target}` is not PRODUCT/PORT (e.g. labeled-studies/annotations)");
    };
    let format: tessera_core::formats::Format = match format {
        Some(name) => name.parse().map_err(anyhow::Error::msg)?,
        None => tessera_core::formats::Format::from_path(file).map_err(|e| {
            anyhow::anyhow!("{e}; or name the format with --format csv|ndjson|arrow|parquet")
        })?,
    };
    let length = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let reader = std::fs::File::open(file)?;
    let bar = bar(Some(length), "uploading");
    let mut body = Counted {
        inner: reader,
        bar: bar.clone(),
    };
    let mode = if replace { "replace" } else { "append" };
    let path = format!(
        "/v1/products/{}/inputs/{}?mode={mode}",
        encode(product),
        encode(port)
    );
    let headers: Vec<(&str, &str)> = idempotency_key
        .map(|key| ("Idempotency-Key", key))
        .into_iter()
        .collect();
    let answer = client.post_reader(&path, format.media_type(), length, &headers, &mut body);
    bar.finish_and_clear();
    let answer = answer?;
    emit(json && !wait, &answer, |v| {
        format!(
            "ingested {} rows into {}/{}: input version {} ({} rows, {})\n",
            v["rows_added"],
            text(&v["product"]),
            text(&v["port"]),
            v["version"],
            v["rows"],
            text(&v["mode"]),
        )
    });
    if wait {
        let Some(id) = answer["run"].as_str() else {
            bail!(
                "{product} does not run on input (or has no active version); nothing to wait for"
            );
        };
        let run = wait_for_run(client, id)?;
        emit(json, &run, describe_run);
        if run["state"] != "succeeded" {
            bail!("run {id} {}", text(&run["state"]));
        }
    }
    Ok(())
}

/// Polls a run until it leaves `queued` and `running`.
fn wait_for_run(client: &Client, id: &str) -> Result<Value> {
    loop {
        let run = client.get_json(&format!("/v1/runs/{}", encode(id)))?;
        if !matches!(text(&run["state"]), "queued" | "running") {
            return Ok(run);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `tessera products`: the catalog.
pub fn products(client: &Client, query: &[(&str, Option<String>)], json: bool) -> Result<()> {
    let params: Vec<String> = query
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    let path = if params.is_empty() {
        "/v1/products?per_page=200".to_string()
    } else {
        format!("/v1/products?per_page=200&{}", params.join("&"))
    };
    let page = client.get_json(&path)?;
    emit(json, &page, |v| {
        let mut out = format!(
            "{:<24} {:<14} {:<10} {:<12} {}\n",
            "PRODUCT", "DOMAIN", "VERSION", "STATUS", "OUTPUTS"
        );
        for p in v["products"].as_array().into_iter().flatten() {
            let outputs: Vec<&str> = p["outputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            out.push_str(&format!(
                "{:<24} {:<14} {:<10} {:<12} {}\n",
                text(&p["name"]),
                text(&p["domain"]),
                text(&p["active_version"]),
                text(&p["status"]),
                outputs.join(", ")
            ));
        }
        out
    });
    Ok(())
}

/// `tessera status PRODUCT`: the descriptor in short.
pub fn status(client: &Client, product: &str, json: bool) -> Result<()> {
    let d = client.get_json(&format!("/v1/products/{}", encode(product)))?;
    let metrics = client.get_json(&format!("/v1/products/{}/metrics", encode(product)))?;
    if json {
        emit(
            true,
            &serde_json::json!({"product": d, "metrics": metrics}),
            |_| String::new(),
        );
        return Ok(());
    }
    let info = &d["manifest"]["product"];
    let mut out = format!(
        "{} {} ({}), domain {}, owner {}\n{}\nstatus: {}\n",
        text(&d["name"]),
        text(&d["active_version"]),
        text(&info["kind"]),
        text(&info["domain"]),
        text(&info["owner"]),
        text(&info["description"]),
        text(&d["status"])
    );
    let freshness = &metrics["freshness"];
    let age = freshness["age_seconds"]
        .as_f64()
        .map_or("-".to_string(), |s| {
            format!(
                "{}",
                tessera_core::manifest::Span(Duration::from_secs(s as u64))
            )
        });
    let slo = freshness["slo_seconds"]
        .as_f64()
        .map_or("no SLO".to_string(), |s| {
            format!(
                "SLO {}",
                tessera_core::manifest::Span(Duration::from_secs(s as u64))
            )
        });
    out.push_str(&format!(
        "freshness: {} (data {age} old, {slo})\n",
        text(&freshness["state"])
    ));
    if let Some(run) = d["last_run"].as_object() {
        out.push_str(&format!(
            "last run: {} {} at {}\n",
            run.get("id").map_or("-", text),
            run.get("state").map_or("-", text),
            run.get("created_at").map_or("-", text)
        ));
    }
    match d["data_version"].as_object() {
        Some(v) => out.push_str(&format!(
            "data version {} published {}\n",
            v.get("number").unwrap_or(&Value::Null),
            v.get("published_at").map_or("-", text)
        )),
        None => out.push_str("no data published yet\n"),
    }
    for port in d["outputs"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {} ({}): {} rows  {}\n",
            text(&port["name"]),
            text(&port["access"]),
            port["rows"].as_u64().map_or("-".into(), |r| r.to_string()),
            text(&port["url"])
        ));
    }
    anstream::print!("{out}");
    let checks: Vec<tessera_quality::CheckResult> =
        serde_json::from_value(metrics["checks"].clone()).unwrap_or_default();
    anstream::print!("{}", crate::quality_report::checks(&checks, &[]));
    for port in metrics["outputs"].as_array().into_iter().flatten() {
        if let Ok(stats) =
            serde_json::from_value::<tessera_quality::PortStats>(port["stats"].clone())
        {
            anstream::print!(
                "{}",
                crate::quality_report::stats(text(&port["port"]), &stats)
            );
        }
    }
    Ok(())
}

/// `tessera trigger PRODUCT [--wait]`: fails (non-zero) when a waited-for run fails.
pub fn trigger(
    client: &Client,
    product: &str,
    replay: Option<&str>,
    wait: bool,
    json: bool,
) -> Result<()> {
    let path = format!("/v1/products/{}/runs", encode(product));
    let run = match replay {
        None => client.post_empty(&path)?,
        Some(target) => {
            let (port, version) = target
                .split_once('@')
                .and_then(|(p, v)| Some((p, v.parse::<u64>().ok()?)))
                .ok_or_else(|| anyhow::anyhow!("`{target}` is not PORT@VERSION (e.g. copy@3)"))?;
            let body =
                serde_json::json!({"replay_of": {"port": port, "version": version}}).to_string();
            client.post_reader(
                &path,
                "application/json",
                body.len() as u64,
                &[],
                &mut body.as_bytes(),
            )?
        }
    };
    let id = text(&run["id"]).to_string();
    if !wait {
        emit(json, &run, |r| {
            format!("run {} {}\n", text(&r["id"]), text(&r["state"]))
        });
        return Ok(());
    }
    let run = wait_for_run(client, &id)?;
    emit(json, &run, describe_run);
    if run["state"] != "succeeded" {
        bail!("run {id} {}", text(&run["state"]));
    }
    if run["replay"]["matches"] == false {
        bail!("run {id} did not reproduce the version");
    }
    Ok(())
}

fn describe_run(r: &Value) -> String {
    let mut out = format!(
        "run {} of {} {}: {}",
        text(&r["id"]),
        text(&r["product"]),
        text(&r["product_version"]),
        text(&r["state"])
    );
    if let Some(ms) = r["duration_ms"].as_u64() {
        out.push_str(&format!(" in {ms} ms"));
    }
    if let Some(version) = r["published_version"].as_u64() {
        out.push_str(&format!(", published data version {version}"));
    }
    out.push('\n');
    if let Some(reason) = r["reason"].as_str() {
        out.push_str(&format!("  {}: {reason}\n", text(&r["failure"])));
    }
    let replay = &r["replay"];
    if let Some(of) = replay["of_version"].as_u64() {
        match replay["matches"].as_bool() {
            Some(true) => out.push_str(&format!(
                "  replay of version {of}: every output matches, byte for byte\n"
            )),
            Some(false) => {
                let differing: Vec<&str> = replay["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["matches"] == false)
                    .map(|p| text(&p["port"]))
                    .collect();
                out.push_str(&format!(
                    "  replay of version {of}: outputs differ: {}\n",
                    differing.join(", ")
                ));
            }
            None => {}
        }
    }
    out
}

/// `tessera runs PRODUCT`.
pub fn runs(client: &Client, product: &str, json: bool) -> Result<()> {
    let runs = client.get_json(&format!("/v1/products/{}/runs", encode(product)))?;
    emit(json, &runs, |v| {
        let mut out = format!(
            "{:<22} {:<10} {:<12} {:<28} {}\n",
            "RUN", "VERSION", "STATE", "CREATED", "REASON"
        );
        for r in v.as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{:<22} {:<10} {:<12} {:<28} {}\n",
                text(&r["id"]),
                text(&r["product_version"]),
                text(&r["state"]),
                text(&r["created_at"]),
                r["reason"].as_str().unwrap_or("")
            ));
        }
        out
    });
    Ok(())
}

/// `tessera logs RUN`.
pub fn logs(client: &Client, run: &str, json: bool) -> Result<()> {
    let r = client.get_json(&format!("/v1/runs/{}", encode(run)))?;
    emit(json, &r, |r| {
        let mut out = describe_run(r);
        for line in r["log"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{:>8} ms {:<6} {}\n",
                line["at_ms"],
                text(&line["level"]),
                text(&line["message"])
            ));
        }
        out
    });
    Ok(())
}

/// `tessera get PRODUCT/PORT [--format F] [-o FILE]`: to a file (with a progress bar) or stdout.
pub fn get(client: &Client, target: &str, format: &str, output: Option<&Path>) -> Result<()> {
    let Some((product, port)) = target.split_once('/') else {
        bail!("`{target}` is not PRODUCT/PORT");
    };
    let path = format!(
        "/v1/products/{}/outputs/{}?format={}",
        encode(product),
        encode(port),
        encode(format)
    );
    match output {
        Some(file) => {
            let partial = file.with_extension("partial");
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(&partial)
                    .with_context(|| format!("cannot create {}", partial.display()))?,
            );
            let bar = bar(None, "downloading");
            let result = client.download(&path, &mut out, &mut |total, done| {
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(done);
            });
            bar.finish_and_clear();
            let bytes = match result {
                Ok(bytes) => bytes,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e);
                }
            };
            std::io::Write::flush(&mut out)?;
            drop(out);
            std::fs::rename(&partial, file)?;
            eprintln!("wrote {} ({bytes} bytes)", file.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            client.download(&path, &mut stdout, &mut |_, _| {})?;
        }
    }
    Ok(())
}

/// Percent-encodes a path segment or query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
