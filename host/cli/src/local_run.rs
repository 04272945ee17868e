//! `tessera run`: run a product locally, in the same sandbox the server uses, on local files,
//! writing each output port to `OUT/PORT.EXT`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tessera_core::formats::{FileSink, FileSource, Format, infer_schema};
use tessera_core::io::{BatchSink, BatchSource};
use tessera_core::manifest::{InputSource, Parameter};
use tessera_runtime::{Product, RunOutcome, RunRequest, Runtime, RuntimeConfig};

/// What `tessera run` was asked to do.
#[derive(Debug, Clone)]
pub struct LocalRun {
    /// A packaged `.wasm` file.
    pub wasm: PathBuf,
    /// `PORT=FILE` pairs.
    pub inputs: Vec<(String, PathBuf)>,
    /// Where outputs go.
    pub out: PathBuf,
    /// Output format.
    pub format: Format,
    /// `NAME=VALUE` pairs that replace the manifest's parameters for this run.
    pub params: Vec<(String, String)>,
}

/// What a local run produced.
pub struct LocalResult {
    /// The run's report.
    pub outcome: RunOutcome,
    /// Per declared output port: its file (on success) and column count.
    pub files: Vec<(String, Option<PathBuf>, usize)>,
    /// The output ports' checks (on success).
    pub checks: Vec<tessera_quality::CheckResult>,
    /// Checks that need a server (`relationships` to another product), as `port: check kind`.
    pub skipped_checks: Vec<String>,
    /// Column statistics per output port (on success).
    pub stats: Vec<(String, tessera_quality::PortStats)>,
    /// Time the host spent reading the inputs (decoding and checking the files) during the run.
    pub reading: std::time::Duration,
    /// Time the host spent writing the outputs (encoding and writing the files) during the run.
    pub writing: std::time::Duration,
}

/// Where compiled code is cached between local runs.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("tessera").join("code")
}

/// Parses `NAME=VALUE` (a `--param`).
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

/// The `--param` values, each read as the kind its manifest declares.
fn parameters(product: &Product, params: &[(String, String)]) -> Result<Vec<(String, Parameter)>> {
    let declared = &product.manifest().parameters;
    params
        .iter()
        .map(|(name, text)| {
            let Some(value) = declared.get(name) else {
                let names: Vec<&str> = declared.keys().map(String::as_str).collect();
                bail!(
                    "--param {name}: `{}` declares no parameter `{name}` (its parameters: {})",
                    product.manifest().product.name,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            };
            let value = value
                .parse_like(text)
                .map_err(|e| anyhow::anyhow!("--param {name}: {e}, as declared in product.toml"))?;
            Ok((name.clone(), value))
        })
        .collect()
}

/// Parses `PORT=FILE`.
pub fn parse_input(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((port, file)) if !port.is_empty() && !file.is_empty() => {
            Ok((port.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!("expected PORT=FILE, got `{text}`")),
    }
}

/// Loads the product, checks the inputs against its manifest, runs it and writes the outputs.
pub fn run(request: &LocalRun) -> Result<LocalResult> {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir()),
        max_concurrent_runs: 1,
        ..RuntimeConfig::default()
    })?;
    let wasm = std::fs::read(&request.wasm)
        .with_context(|| format!("reading {}", request.wasm.display()))?;
    let product = runtime
        .load(&wasm)
        .map_err(|e| anyhow::anyhow!("{}: {e}", request.wasm.display()))?;
    run_product(&product, request)
}

fn open_inputs(
    product: &Product,
    inputs: &[(String, PathBuf)],
) -> Result<HashMap<String, Box<dyn BatchSource>>> {
    let manifest = product.manifest();
    let declared: Vec<&str> = manifest.inputs.iter().map(|p| p.name.as_str()).collect();
    let mut sources: HashMap<String, Box<dyn BatchSource>> = HashMap::new();
    for (port, file) in inputs {
        let Some(input) = manifest.input(port) else {
            bail!(
                "--input {port}=...: `{}` declares no input `{port}` (its inputs: {})",
                manifest.product.name,
                declared.join(", ")
            );
        };
        let format = Format::from_path(file).map_err(|e| anyhow::anyhow!("--input {port}: {e}"))?;
        let schema = match &input.source {
            InputSource::Ingest(schema) => schema.clone(),
            InputSource::Upstream(_) => {
                infer_schema(file, format).map_err(|e| anyhow::anyhow!("--input {port}: {e}"))?
            }
        };
        let source = FileSource::open(file, format, &schema)
            .map_err(|e| anyhow::anyhow!("--input {port}: {e}"))?;
        if sources.insert(port.clone(), Box::new(source)).is_some() {
            bail!("--input {port} is given twice");
        }
    }
    for port in &declared {
        if !sources.contains_key(*port) {
            bail!(
                "input `{port}` needs data: pass --input {port}=FILE (CSV, NDJSON, Parquet or Arrow)"
            );
        }
    }
    Ok(sources)
}

/// Runs an already loaded product (see [`run`]).
pub fn run_product(product: &Product, request: &LocalRun) -> Result<LocalResult> {
    let manifest = product.manifest();
    let params = parameters(product, &request.params)?;
    let (reading, writing) = (
        crate::timed::Spent::default(),
        crate::timed::Spent::default(),
    );
    let sources = open_inputs(product, &request.inputs)?
        .into_iter()
        .map(|(port, source)| {
            let timed: Box<dyn BatchSource> =
                Box::new(crate::timed::TimedSource::new(source, &reading));
            (port, timed)
        })
        .collect();
    std::fs::create_dir_all(&request.out)
        .with_context(|| format!("creating {}", request.out.display()))?;
    let mut sinks: HashMap<String, Box<dyn BatchSink>> = HashMap::new();
    let mut partials = Vec::new();
    let mut handles = Vec::new();
    for port in &manifest.outputs {
        let partial = request.out.join(format!(
            ".{}.{}.partial",
            port.name,
            request.format.extension()
        ));
        let schema = port.schema.to_arrow();
        let sink = FileSink::create(&partial, request.format, &schema)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let sink = crate::timed::TimedSink::new(Box::new(sink), &writing);
        let (sink, handle) = tessera_quality::StatsSink::wrap(Box::new(sink), &schema);
        sinks.insert(port.name.clone(), Box::new(sink));
        handles.push((port.name.clone(), handle));
        partials.push((port.name.clone(), partial, port.schema.columns.len()));
    }
    let run_id = format!("local-{}", std::process::id());
    let started_at = tessera_store::now_us();
    let with_params = |mut run: RunRequest| {
        for (name, value) in &params {
            run = run.parameter(name.clone(), value.clone());
        }
        run
    };
    let mut run = with_params(RunRequest::new(run_id.clone(), started_at));
    run.inputs = sources;
    run.outputs = sinks;
    let outcome = product.run_blocking(run);
    let mut files = Vec::new();
    for (port, partial, columns) in partials {
        if outcome.succeeded() {
            let path = request
                .out
                .join(format!("{port}.{}", request.format.extension()));
            std::fs::rename(&partial, &path)
                .with_context(|| format!("writing {}", path.display()))?;
            files.push((port, Some(path), columns));
        } else {
            let _ = std::fs::remove_file(&partial);
            files.push((port, None, columns));
        }
    }
    let mut result = LocalResult {
        outcome,
        files,
        checks: Vec::new(),
        skipped_checks: Vec::new(),
        stats: Vec::new(),
        reading: reading.total(),
        writing: writing.total(),
    };
    if result.outcome.succeeded() {
        result.stats = handles
            .into_iter()
            .filter_map(|(port, handle)| handle.take().map(|s| (port, s)))
            .collect();
        check_outputs(product, request.format, &mut result)?;
        if product.has_custom_checks() {
            custom_checks(
                product,
                request,
                with_params(RunRequest::new(run_id, started_at)),
                &mut result,
            )?;
        }
        if !result.outcome.succeeded() {
            // The custom checks failed the run: it wrote nothing, as the CLI says.
            for (_, file, _) in &mut result.files {
                if let Some(path) = file.take() {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
    Ok(result)
}

/// Calls the product's custom checks on the files the run wrote (and its inputs). A check that
/// errs or traps turns the run into a failure with the reason.
fn custom_checks(
    product: &Product,
    request: &LocalRun,
    mut check: RunRequest,
    result: &mut LocalResult,
) -> Result<()> {
    let manifest = product.manifest();
    check.inputs = open_inputs(product, &request.inputs)?;
    let output_file = |port: &str| {
        let file = result
            .files
            .iter()
            .find(|(p, _, _)| p == port)
            .and_then(|(_, f, _)| f.clone());
        let schema = manifest.output(port).map(|o| &o.schema);
        match (file, schema) {
            (Some(file), Some(schema)) => FileSource::open(&file, request.format, schema)
                .map(|s| Box::new(s) as Box<dyn BatchSource>)
                .map_err(|e| format!("{}: {e}", file.display())),
            _ => Err(format!("output `{port}` has no file")),
        }
    };
    for output in &manifest.outputs {
        let source = output_file(&output.name).map_err(|e| anyhow::anyhow!(e))?;
        check.inputs.insert(output.name.clone(), source);
    }
    let outcome = product.check_blocking(check);
    result.outcome.log.extend(outcome.log);
    if let tessera_runtime::RunStatus::Failed { .. } = outcome.status {
        result.outcome.status = outcome.status;
        return Ok(());
    }
    let custom = tessera_server::quality::custom_results(outcome.checks, output_file)
        .map_err(|e| anyhow::anyhow!("reading the failing rows of the custom checks: {e}"))?;
    result.checks.extend(custom);
    Ok(())
}

/// Evaluates the output ports' checks on the files the run wrote. `relationships` to another
/// product need its published data, so a local run skips them and says so.
fn check_outputs(product: &Product, format: Format, result: &mut LocalResult) -> Result<()> {
    let manifest = product.manifest();
    let name = &manifest.product.name;
    let file_of = |port: &str| {
        result
            .files
            .iter()
            .find(|(p, _, _)| p == port)
            .and_then(|(_, f, _)| f.clone())
    };
    let mut env = tessera_quality::CheckEnv {
        now_us: tessera_store::now_us(),
        ..Default::default()
    };
    for output in &manifest.outputs {
        for check in &output.checks {
            if let tessera_core::manifest::CheckRule::Relationships { to, field, .. } = &check.rule
            {
                match to.split_once('/') {
                    Some((product, port)) if product == name => {
                        let (Some(file), Some(schema)) =
                            (file_of(port), manifest.output(port).map(|o| &o.schema))
                        else {
                            continue;
                        };
                        let mut source = FileSource::open(&file, format, schema)
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                        let mut values = std::collections::HashSet::new();
                        while let Some(batch) =
                            source.next_batch().map_err(|e| anyhow::anyhow!("{e}"))?
                        {
                            if let Ok(i) = batch.schema().index_of(field) {
                                values.extend(
                                    tessera_quality::texts(batch.column(i))
                                        .into_iter()
                                        .flatten(),
                                );
                            }
                        }
                        env.references
                            .insert(tessera_quality::reference_key(to, field), values);
                    }
                    _ => result
                        .skipped_checks
                        .push(format!("{}: relationships to {to}", output.name)),
                }
            }
        }
    }
    for output in manifest.outputs.iter().filter(|o| !o.checks.is_empty()) {
        let Some(file) = file_of(&output.name) else {
            continue;
        };
        let checks: Vec<_> = output
            .checks
            .iter()
            .filter(|c| match &c.rule {
                tessera_core::manifest::CheckRule::Relationships { to, .. } => env
                    .references
                    .keys()
                    .any(|k| k.starts_with(&format!("{to}."))),
                _ => true,
            })
            .cloned()
            .collect();
        let mut source =
            FileSource::open(&file, format, &output.schema).map_err(|e| anyhow::anyhow!("{e}"))?;
        result.checks.extend(
            tessera_quality::check_source(&output.name, &checks, &mut source, &env)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
        );
    }
    Ok(())
}

/// Resolves `tessera run`'s target: a `.wasm` file as is, a directory by building it.
pub fn resolve_target(target: &Path, progress: crate::build::Progress) -> Result<PathBuf> {
    if target.is_dir() {
        Ok(crate::build::build(target, progress)?.path)
    } else if target.is_file() {
        Ok(target.to_path_buf())
    } else {
        bail!(
            "{} is neither a product directory nor a .wasm file",
            target.display()
        )
    }
}
