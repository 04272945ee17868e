//! What one run's `Store` holds: WASI (with no ambient capabilities), the resource table, the
//! memory limiter, and the run's ports, log and gauges.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use tessera_core::io::{BatchSink, BatchSource};
use tessera_core::manifest::Manifest;
use tessera_core::schema::Schema;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::MemoryLimiter;
use crate::outcome::{LogLevel, LogLine};

pub(crate) struct OutputPort {
    pub schema: Schema,
    pub arrow: SchemaRef,
    pub sink: Option<Box<dyn BatchSink>>,
    pub rows: u64,
}

pub(crate) struct RunState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub manifest: std::sync::Arc<Manifest>,
    pub run_id: String,
    pub inputs: HashMap<String, Option<Box<dyn BatchSource>>>,
    pub outputs: HashMap<String, OutputPort>,
    pub log: Vec<LogLine>,
    pub log_budget: crate::log_budget::LogBudget,
    pub gauges: BTreeMap<String, f64>,
    /// The first batch a product wrote that broke its port's schema; fails the run.
    pub violation: Option<String>,
    /// A host fault (such as storage failing) that trapped the run; not the product's fault.
    pub host_fault: Option<String>,
    /// The first input that could not be read; fails the run.
    pub input_fault: Option<String>,
    /// The store runs the product's `check` export: output ports read as inputs, none written.
    pub checking: bool,
    /// The GPU lent to this run (per the manifest's `resources.gpu`).
    pub gpu: crate::host::gpu::GpuSlot,
    pub started: Instant,
    /// How long the epoch callback held the run back while requests waited for the cores.
    pub held_for_requests: std::time::Duration,
    /// CPU time the run's input read-ahead threads spent (see [`crate::read_ahead`]).
    pub read_ahead_cpu: crate::read_ahead::ReadAheadCpu,
}

impl RunState {
    /// The CPU time of a run that began at `before` on this thread: this thread's since, and
    /// its read-ahead threads'.
    pub fn cpu_since(&self, before: Option<std::time::Duration>) -> Option<std::time::Duration> {
        let own = crate::cpu::thread_cpu_time()
            .zip(before)
            .map(|(after, before)| after.saturating_sub(before))?;
        let helpers = self
            .read_ahead_cpu
            .load(std::sync::atomic::Ordering::Relaxed);
        Some(own.saturating_add(std::time::Duration::from_nanos(helpers)))
    }
}

impl RunState {
    /// Keeps a line the log budget already admitted.
    pub fn push_log(&mut self, level: LogLevel, message: String) {
        let at_ms = self.started.elapsed().as_millis() as u64;
        self.log.push(LogLine {
            level,
            message,
            at_ms,
        });
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
