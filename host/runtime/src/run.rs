//! One run: a fresh `Store` with the product's limits, instantiation from the cached
//! `InstancePre`, the call to `run`, and turning whatever happened into a [`RunOutcome`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tessera_core::manifest::ByteSize;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::{Error as WitError, Product as Bindings, tessera::product::types::RunInfo};
use crate::capture::CapturedOutput;
use crate::limits::MemoryLimiter;
use crate::outcome::{FailureKind, LogLevel, LogLine, PortSummary, RunOutcome, RunStatus};
use crate::state::{OutputPort, RunState};
use crate::{Product, RunRequest};

pub(crate) fn host_failure(run_id: String, reason: String) -> RunOutcome {
    failure_before_start(run_id, FailureKind::Host, reason)
}

/// A run that failed before the product was entered.
fn failure_before_start(run_id: String, kind: FailureKind, reason: String) -> RunOutcome {
    RunOutcome {
        run_id,
        status: RunStatus::Failed { kind, reason },
        start_latency: Duration::ZERO,
        duration: Duration::ZERO,
        cpu_time: None,
        peak_memory: 0,
        log: Vec::new(),
        dropped_log_lines: 0,
        dropped_log_bytes: 0,
        gauges: BTreeMap::new(),
        outputs: BTreeMap::new(),
        gpu: None,
    }
}

/// The most host resources (readers, writers, GPU buffers and kernels, WASI streams) one run
/// may hold at once; each costs host memory that the product's memory limit does not count.
pub(crate) const MAX_HANDLES: usize = 16 * 1024;

pub(crate) struct Pipes {
    stdout: CapturedOutput,
    stderr: CapturedOutput,
}

/// A fresh store for one call into the product: its limits, deterministic WASI, captured
/// standard output and error, and the ports it may open. `checking` marks a call of `check`.
pub(crate) fn new_store(
    product: &Product,
    run_id: &str,
    logical: (i64, u64),
    inputs: HashMap<String, Option<Box<dyn tessera_core::io::BatchSource>>>,
    outputs: HashMap<String, OutputPort>,
    (checking, parameters): (bool, BTreeMap<String, tessera_core::manifest::Parameter>),
) -> (Store<RunState>, Pipes) {
    let runtime = &product.inner.runtime;
    let mut manifest = product.inner.manifest.clone();
    if !parameters.is_empty() {
        let mut overridden = (*manifest).clone();
        overridden.parameters.extend(parameters);
        manifest = std::sync::Arc::new(overridden);
    }
    let pipes = Pipes {
        stdout: CapturedOutput::new(runtime.config.max_captured_output),
        stderr: CapturedOutput::new(runtime.config.max_captured_output),
    };
    // No args, no environment, no preopened directories, no network: only captured stdio.
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(pipes.stdout.clone())
        .stderr(pipes.stderr.clone());
    crate::determinism::make_deterministic(&mut builder, logical.0, logical.1);
    let wasi = builder.build();
    let memory_limit = usize::try_from(manifest.resources.memory.bytes()).unwrap_or(usize::MAX);
    let gpu = crate::host::gpu::GpuSlot::new(
        manifest.resources.gpu,
        runtime.gpu.clone(),
        manifest.resources.gpu_memory.bytes(),
        Instant::now() + manifest.resources.timeout.duration(),
    );
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_HANDLES);
    let state = RunState {
        wasi,
        table,
        limiter: MemoryLimiter::new(memory_limit),
        manifest,
        run_id: run_id.to_string(),
        inputs,
        outputs,
        log: Vec::new(),
        log_budget: crate::log_budget::LogBudget::new(runtime.config.max_log_bytes),
        gauges: BTreeMap::new(),
        violation: None,
        host_fault: None,
        input_fault: None,
        checking,
        gpu,
        started: Instant::now(),
        held_for_requests: Duration::ZERO,
        read_ahead_cpu: Default::default(),
    };
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|s| &mut s.limiter);
    crate::epoch::arm(
        &mut store,
        product.inner.manifest.resources.timeout.duration(),
        runtime.config.epoch_tick,
        runtime.config.idle_priority_after,
        runtime.config.foreground.clone(),
    );
    (store, pipes)
}

pub(crate) fn execute(product: &Product, request: RunRequest) -> RunOutcome {
    let began = Instant::now();
    let cpu_before = crate::cpu::thread_cpu_time();
    let manifest = product.inner.manifest.clone();
    let RunRequest {
        run_id,
        started_at_us,
        seed,
        inputs,
        mut outputs,
        parameters,
    } = request;

    if manifest.resources.gpu == tessera_core::manifest::GpuMode::Required
        && product.inner.runtime.gpu.adapter().is_none()
    {
        return failure_before_start(
            run_id,
            FailureKind::GpuUnavailable,
            format!(
                "this product requires a GPU (`resources.gpu = \"required\"`) and this host has none: {} (declare `gpu = \"optional\"` to run the built-in operations on the CPU instead)",
                product.inner.runtime.gpu.absence()
            ),
        );
    }
    let mut ports = HashMap::new();
    for port in &manifest.outputs {
        let Some(sink) = outputs.remove(&port.name) else {
            return host_failure(
                run_id,
                format!("no destination was given for output `{}`", port.name),
            );
        };
        ports.insert(
            port.name.clone(),
            OutputPort {
                schema: port.schema.clone(),
                arrow: port.schema.to_arrow(),
                sink: Some(sink),
                rows: 0,
            },
        );
    }
    let inputs = inputs.into_iter().map(|(k, v)| (k, Some(v))).collect();
    let (mut store, pipes) = new_store(
        product,
        &run_id,
        (started_at_us, seed),
        inputs,
        ports,
        (false, parameters),
    );

    let info = RunInfo {
        run_id: run_id.clone(),
        product: manifest.product.name.clone(),
        version: manifest.product.version.to_string(),
        started_at: started_at_us,
    };
    let span = tracing::info_span!("run", product = %manifest.product.name, version = %manifest.product.version, run = %run_id);
    let _entered = span.enter();

    let mut start_latency = Duration::ZERO;
    let result: wasmtime::Result<Result<(), WitError>> = product
        .inner
        .pre
        .instantiate(&mut store)
        .and_then(|bindings: Bindings| {
            start_latency = began.elapsed();
            bindings.call_run(&mut store, &info)
        });
    let duration = began.elapsed();

    let mut state = store.into_data();
    let gpu_wait = state.gpu.finish();
    let (log, stderr) = collect_log(&mut state, &pipes, duration);

    let mut status = match result {
        _ if state.input_fault.is_some() => RunStatus::Failed {
            kind: FailureKind::InputData,
            reason: state.input_fault.clone().unwrap_or_default(),
        },
        Ok(Ok(())) => match &state.violation {
            Some(v) => RunStatus::Failed {
                kind: FailureKind::SchemaViolation,
                reason: v.clone(),
            },
            None => RunStatus::Succeeded,
        },
        Ok(Err(e)) => match &state.violation {
            Some(v) => RunStatus::Failed {
                kind: FailureKind::SchemaViolation,
                reason: v.clone(),
            },
            None => RunStatus::Failed {
                kind: FailureKind::ProductError,
                reason: format!("the product returned an error: {}", describe(&e)),
            },
        },
        Err(e) => {
            let (kind, reason) =
                classify(&e, &state, &stderr, &manifest.resources.timeout.to_string());
            RunStatus::Failed { kind, reason }
        }
    };

    if let (RunStatus::Succeeded, Err(e)) = (&status, gpu_wait) {
        status = RunStatus::Failed {
            kind: match e {
                tessera_gpu::GpuError::Timeout(_) => FailureKind::Timeout,
                _ => FailureKind::Host,
            },
            reason: format!("the GPU work the run left could not finish: {e}"),
        };
    }

    let mut summaries = BTreeMap::new();
    for (name, port) in state.outputs.drain() {
        let mut summary = PortSummary {
            rows: port.rows,
            bytes: 0,
        };
        if let (RunStatus::Succeeded, Some(sink)) = (&status, port.sink) {
            match sink.finish() {
                Ok(s) => summary.bytes = s.bytes,
                Err(e) => {
                    status = RunStatus::Failed {
                        kind: FailureKind::Host,
                        reason: format!("finishing output `{name}` failed: {e}"),
                    }
                }
            }
        }
        summaries.insert(name, summary);
    }

    match &status {
        RunStatus::Succeeded => {
            tracing::info!(duration_ms = duration.as_millis() as u64, "run succeeded")
        }
        RunStatus::Failed { kind, reason } => tracing::warn!(?kind, %reason, "run failed"),
    }
    RunOutcome {
        run_id,
        status,
        start_latency,
        duration,
        cpu_time: state.cpu_since(cpu_before),
        peak_memory: state.limiter.peak as u64,
        log,
        dropped_log_lines: state.log_budget.dropped_lines,
        dropped_log_bytes: state.log_budget.dropped_bytes,
        gpu: state.gpu.report(),
        gauges: state.gauges,
        outputs: summaries,
    }
}

/// The call's log: its `log` lines, then what it printed to standard output and error (with a
/// note where the capture limit cut them). Also returns standard error, to explain panics.
pub(crate) fn collect_log(
    state: &mut RunState,
    pipes: &Pipes,
    duration: Duration,
) -> (Vec<LogLine>, String) {
    let mut log = std::mem::take(&mut state.log);
    let budget = &state.log_budget;
    if budget.dropped_lines > 0 || budget.untraced_lines > 0 {
        log.push(LogLine {
            level: LogLevel::Warn,
            message: format!(
                "[{} log lines were dropped past the run's log budget ({} bytes not kept in \
                 all, with cut lines); {} lines were not passed on to the host's log; writing \
                 past the budget made the product wait {} ms]",
                budget.dropped_lines,
                budget.dropped_bytes,
                budget.untraced_lines,
                budget.pacer.waited.as_millis()
            ),
            at_ms: duration.as_millis() as u64,
        });
    }
    if !state.held_for_requests.is_zero() {
        log.push(LogLine {
            level: LogLevel::Info,
            message: format!(
                "[the run was held back {} ms in all while the host's requests waited for the \
                 cores; its timeout kept counting]",
                state.held_for_requests.as_millis()
            ),
            at_ms: duration.as_millis() as u64,
        });
    }
    let (stderr, stderr_dropped) = pipes.stderr.contents();
    let (stdout, stdout_dropped) = pipes.stdout.contents();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let at_ms = duration.as_millis() as u64;
    for (level, text, dropped, waited) in [
        (
            LogLevel::Stdout,
            &stdout,
            stdout_dropped,
            pipes.stdout.waited(),
        ),
        (
            LogLevel::Stderr,
            &stderr,
            stderr_dropped,
            pipes.stderr.waited(),
        ),
    ] {
        log.extend(text.lines().map(|l| LogLine {
            level,
            message: l.to_string(),
            at_ms,
        }));
        if dropped > 0 {
            log.push(LogLine {
                level,
                message: format!(
                    "[{dropped} more bytes of {} were dropped past the capture limit; writing \
                     them made the product wait {} ms]",
                    level.name(),
                    waited.as_millis()
                ),
                at_ms,
            });
        }
    }
    (log, stderr)
}

pub(crate) fn describe(e: &WitError) -> String {
    match e {
        WitError::NotFound(m) => format!("not found: {m}"),
        WitError::Invalid(m) => format!("invalid: {m}"),
        WitError::Denied(m) => format!("denied: {m}"),
        WitError::Limit(m) => format!("limit: {m}"),
        WitError::Gpu(m) => format!("gpu: {m}"),
        WitError::Internal(m) => format!("internal: {m}"),
    }
}

pub(crate) fn classify(
    error: &wasmtime::Error,
    state: &RunState,
    stderr: &str,
    timeout: &str,
) -> (FailureKind, String) {
    if let Some(fault) = &state.host_fault {
        return (FailureKind::Host, fault.clone());
    }
    if let Some(waited) = &state.gpu.timeout {
        return (
            FailureKind::Timeout,
            format!("timed out: {waited} (`resources.timeout` is {timeout})"),
        );
    }
    if let Some(desired) = state.limiter.exceeded {
        return (
            FailureKind::OutOfMemory,
            format!(
                "out of memory: the product tried to grow its memory to {}, past its limit of {} (raise `resources.memory` in product.toml or process data in smaller batches)",
                ByteSize(desired as u64),
                ByteSize(state.limiter.limit as u64)
            ),
        );
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return (
            FailureKind::ProductError,
            format!(
                "the product ended the process with exit({}) instead of returning from its \
                 product function; return Ok(()) on success or an error that says what failed",
                exit.0
            ),
        );
    }
    if let Some(wasmtime::component::ResourceTableError::Full) =
        error.downcast_ref::<wasmtime::component::ResourceTableError>()
    {
        return (
            FailureKind::ResourceLimit,
            format!(
                "the product held more than {MAX_HANDLES} host resources at once (open readers, \
                 writers, GPU buffers and kernels); drop the ones it no longer needs"
            ),
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => (
            FailureKind::Timeout,
            format!(
                "timed out: the run took longer than its timeout of {timeout} (`resources.timeout`)"
            ),
        ),
        Some(Trap::StackOverflow) => (
            FailureKind::StackOverflow,
            "stack overflow: the product recursed too deeply for the wasm stack".into(),
        ),
        Some(Trap::UnreachableCodeReached) if stderr.contains("panicked at") => {
            let panic = stderr
                .lines()
                .skip_while(|l| !l.contains("panicked at"))
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            (
                FailureKind::Panic,
                format!("the product panicked: {}", panic.trim()),
            )
        }
        Some(trap) => (
            FailureKind::Trap,
            format!("the product trapped: {trap}{}", backtrace_hint(error)),
        ),
        None => (FailureKind::Trap, format!("the run was aborted: {error:#}")),
    }
}

fn backtrace_hint(error: &wasmtime::Error) -> String {
    let text = format!("{error:?}");
    match text.lines().find(|l| l.trim_start().starts_with("0:")) {
        Some(frame) => format!(" (at {})", frame.trim()),
        None => String::new(),
    }
}

pub(crate) fn measure_start(
    product: &Product,
    with_instance_pre: bool,
) -> Result<Duration, String> {
    let began = Instant::now();
    let (mut store, _pipes) = new_store(
        product,
        "measure",
        (0, 0),
        HashMap::new(),
        HashMap::new(),
        (false, BTreeMap::new()),
    );
    if with_instance_pre {
        product
            .inner
            .pre
            .instantiate(&mut store)
            .map_err(|e| e.to_string())?;
    } else {
        let runtime = &product.inner.runtime;
        let pre = runtime
            .linker
            .instantiate_pre(&product.inner.component)
            .map_err(|e| e.to_string())?;
        crate::bindings::ProductPre::new(pre)
            .and_then(|p| p.instantiate(&mut store))
            .map_err(|e| e.to_string())?;
    }
    Ok(began.elapsed())
}
