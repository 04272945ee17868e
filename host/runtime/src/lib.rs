//! Tessera's sandbox: runs product components in wasmtime.
//!
//! One [`Runtime`] owns one wasmtime `Engine` (component model, pooling allocator, copy-on-write
//! memory images, epoch interruption, a bounded wasm stack) and one `Linker` with the host's
//! implementation of the `tessera:product/product` world plus WASI 0.2 without ambient
//! capabilities (no preopened directories, no network, no environment; standard output and
//! error are captured into the run's log).
//!
//! [`Runtime::load`] validates a component (a core module, the wrong world or an import the host
//! does not provide are rejected with a message that says so), reads its embedded manifest,
//! compiles it (or loads the compiled code from the checksummed cache) and keeps one
//! `InstancePre` per product version. Each run gets a fresh `Store` with the manifest's memory
//! limit (growth past it traps) and timeout (epoch deadline). A trap, a panic, a timeout or an
//! out-of-memory ends that run as failed with the reason; the host and other runs carry on.
//!
//! Runs are deterministic (see `determinism`): fixed clocks, seeded random numbers, canonical
//! NaNs, so the same code on the same inputs writes the same outputs.
//!
//! No wasmtime type appears in this crate's public API.

// Guest- and client-supplied sizes and offsets never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod bindings;
mod cache;
mod capture;
mod check;
mod convert;
mod convert_encoded;
mod cpu;
mod determinism;
mod epoch;
mod foreground;
mod host;
pub mod host_key;
mod limits;
mod log_budget;
pub mod outcome;
mod pacing;
mod priority;
mod read_ahead;
mod run;
mod state;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tessera_core::io::{BatchSink, BatchSource};
use tessera_core::manifest::Manifest;
use tessera_core::package::{self, Interface};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use determinism::seed_from_run_id;
pub use foreground::Foreground;
pub use outcome::{
    CheckOutcome, CustomCheck, FailureKind, GpuUsage, LogLevel, LogLine, PortSummary, RunOutcome,
    RunStatus,
};

use crate::bindings::ProductPre;
use crate::bindings::checked::ProductWithChecksPre;
use crate::cache::CodeCache;
use crate::state::RunState;

/// How the sandbox is set up. The defaults suit a server on one machine.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled code is cached; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// Runs allowed at once through [`Runtime::run`].
    pub max_concurrent_runs: usize,
    /// The largest memory limit any product may declare, in bytes.
    pub max_memory: u64,
    /// The wasm stack size, in bytes; deeper recursion traps.
    pub max_wasm_stack: usize,
    /// Use the pooling instance allocator (fast instantiation); off allocates on demand.
    pub pooling: bool,
    /// How often the epoch advances; timeouts are enforced at this granularity.
    pub epoch_tick: Duration,
    /// CPU time a run may use at its starting priority (nice 10); past it the run's thread
    /// moves to the idle scheduling class, so long computations yield the cores to requests
    /// and to short runs. Zero moves it there before any guest code runs; `Duration::MAX`
    /// keeps every run at nice 10.
    pub idle_priority_after: Duration,
    /// Bytes of standard output and of standard error kept per run; more is dropped (and the
    /// log says how much).
    pub max_captured_output: usize,
    /// Bytes of `log` messages kept per run (lines cut to 8 KiB); more lines are counted and
    /// dropped, and the log says how many.
    pub max_log_bytes: usize,
    /// How the host's GPU is found (it is looked for when a product first needs it).
    pub gpu: tessera_gpu::GpuConfig,
    /// The threads that serve the host's requests; a run in the idle class is held back while
    /// they wait for the cores (see [`Foreground`]). `None` never holds a run.
    pub foreground: Option<Arc<Foreground>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_concurrent_runs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_memory: 4 << 30,
            max_wasm_stack: 512 << 10,
            pooling: true,
            epoch_tick: Duration::from_millis(10),
            idle_priority_after: Duration::ZERO,
            max_captured_output: 1 << 20,
            max_log_bytes: 1 << 20,
            gpu: tessera_gpu::GpuConfig::default(),
            foreground: None,
        }
    }
}

/// A problem setting up the runtime.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the sandbox: {0}")]
pub struct RuntimeError(String);

/// Why a component cannot be deployed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not a component, the wrong world, or an import the host lacks.
    #[error("{0}")]
    Invalid(String),
    /// No manifest is embedded, or it is invalid.
    #[error("{0}")]
    Manifest(String),
    /// The manifest asks for more than this host allows.
    #[error("{0}")]
    Limits(String),
}

/// The sandbox: one engine, one linker, the code cache and the run slots.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<RunState>,
    cache: Option<CodeCache>,
    slots: Arc<tokio::sync::Semaphore>,
    config: RuntimeConfig,
    pooling: bool,
    ticker: Arc<AtomicBool>,
    gpu: tessera_gpu::GpuHost,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker.store(true, Ordering::Relaxed);
    }
}

fn engine_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.max_wasm_stack(config.max_wasm_stack);
    c.memory_init_cow(true);
    // Runs must be reproducible: canonical NaNs and deterministic relaxed SIMD.
    c.cranelift_nan_canonicalization(true);
    c.relaxed_simd_deterministic(true);
    c.parallel_compilation(true);
    if pooling {
        let slots = (config.max_concurrent_runs as u32).max(1) * 2 + 8;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots * 16)
            .total_memories(slots * 2)
            .total_tables(slots * 16)
            .total_stacks(slots)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memories_per_module(1)
            .max_tables_per_module(4)
            .table_elements(20_000)
            .max_memory_size(config.max_memory as usize);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

impl Runtime {
    /// Sets up the engine, the linker and the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let (engine, pooling) = match Engine::new(&engine_config(&config, config.pooling)) {
            Ok(engine) => (engine, config.pooling),
            Err(e) if config.pooling => {
                tracing::warn!(error = %e, "the pooling allocator is unavailable; allocating instances on demand");
                (
                    Engine::new(&engine_config(&config, false))
                        .map_err(|e| RuntimeError(e.to_string()))?,
                    false,
                )
            }
            Err(e) => return Err(RuntimeError(e.to_string())),
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError(e.to_string()))?;
        bindings::Product::add_to_linker::<_, HasSelf<RunState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError(e.to_string()))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(
                CodeCache::new(dir, &engine)
                    .map_err(|e| RuntimeError(format!("cache directory {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        let ticker = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker.clone();
            let tick = config.epoch_tick;
            std::thread::Builder::new()
                .name("tessera-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError(format!("cannot start the epoch thread: {e}")))?;
        }
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache,
                slots: Arc::new(tokio::sync::Semaphore::new(
                    config.max_concurrent_runs.max(1),
                )),
                gpu: tessera_gpu::GpuHost::new(&config.gpu),
                config,
                pooling,
                ticker,
            }),
        })
    }

    /// The host's GPU, shared by every run.
    pub fn gpu(&self) -> &tessera_gpu::GpuHost {
        &self.inner.gpu
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Validates and compiles a packaged product (manifest embedded by `tessera build`).
    pub fn load(&self, wasm: &[u8]) -> Result<Product, LoadError> {
        validate::check_interface(wasm).map_err(LoadError::Invalid)?;
        let embedded = package::read_embedded(wasm).map_err(|e| LoadError::Invalid(e.0))?;
        let Some(text) = embedded.manifest else {
            return Err(LoadError::Manifest(
                "the component carries no manifest; package it with `tessera build` (or `tessera package FILE.wasm --manifest product.toml`)".into(),
            ));
        };
        let manifest = Manifest::parse(&text, "<embedded product.toml>")
            .map_err(|e| LoadError::Manifest(e.to_string()))?;
        self.load_with_manifest(wasm, manifest)
    }

    /// Validates and compiles a component with a manifest given separately.
    pub fn load_with_manifest(
        &self,
        wasm: &[u8],
        manifest: Manifest,
    ) -> Result<Product, LoadError> {
        let interface = validate::check_interface(wasm).map_err(LoadError::Invalid)?;
        let memory = manifest.resources.memory.bytes();
        if memory > self.inner.config.max_memory {
            return Err(LoadError::Limits(format!(
                "the manifest asks for {} of memory; this host allows at most {}",
                manifest.resources.memory,
                tessera_core::manifest::ByteSize(self.inner.config.max_memory)
            )));
        }
        let hash = hex::encode(Sha256::digest(wasm));
        let engine = &self.inner.engine;
        let component = match self
            .inner
            .cache
            .as_ref()
            .and_then(|c| c.load(engine, &hash))
        {
            Some(c) => c,
            None => {
                let c = Component::new(engine, wasm).map_err(|e| {
                    LoadError::Invalid(format!("the component does not compile: {e:#}"))
                })?;
                if let Some(cache) = &self.inner.cache {
                    cache.store(&hash, &c);
                }
                c
            }
        };
        let pre = self.inner.linker.instantiate_pre(&component).map_err(|e| {
            LoadError::Invalid(format!(
                "the component's imports do not match what the host provides: {e:#}"
            ))
        })?;
        let pre = ProductPre::new(pre).map_err(|e| {
            LoadError::Invalid(format!(
                "the component does not match the tessera:product/product world: {e:#}"
            ))
        })?;
        // A product that exports `check` has custom checks; its signature is checked here.
        let checks_pre = if interface.exports.iter().any(|e| e == "check") {
            Some(
                ProductWithChecksPre::new(pre.instance_pre().clone()).map_err(|e| {
                    LoadError::Invalid(format!(
                        "the component exports `check`, but not as the tessera:product/product-with-checks world defines it: {e:#}"
                    ))
                })?,
            )
        } else {
            None
        };
        Ok(Product {
            inner: Arc::new(ProductInner {
                pre,
                checks_pre,
                component,
                manifest: Arc::new(manifest),
                interface,
                hash,
                runtime: self.inner.clone(),
            }),
        })
    }

    /// Runs a product on a thread of its own at guest priority (see [`priority`]), once a run
    /// slot is free (see
    /// [`RuntimeConfig::max_concurrent_runs`]). The async runtime is never blocked.
    pub async fn run(&self, product: &Product, request: RunRequest) -> RunOutcome {
        let run_id = request.run_id.clone();
        let permit = self.inner.slots.clone().acquire_owned().await;
        let product = product.clone();
        let result = priority::on_guest_thread(move || {
            let _permit = permit;
            product.run_blocking(request)
        })
        .await;
        result.unwrap_or_else(|e| run::host_failure(run_id, e))
    }

    /// Calls the product's custom checks (see [`Product::check_blocking`]) on a blocking
    /// thread, once a run slot is free.
    pub async fn check(&self, product: &Product, request: RunRequest) -> CheckOutcome {
        let permit = self.inner.slots.clone().acquire_owned().await;
        let product = product.clone();
        let result = priority::on_guest_thread(move || {
            let _permit = permit;
            product.check_blocking(request)
        })
        .await;
        result.unwrap_or_else(|e| CheckOutcome {
            status: RunStatus::Failed {
                kind: FailureKind::Host,
                reason: format!("the checking thread failed: {e}"),
            },
            checks: Vec::new(),
            duration: Duration::ZERO,
            cpu_time: None,
            peak_memory: 0,
            log: Vec::new(),
        })
    }
}

/// A validated, compiled product version, ready to run many times.
#[derive(Clone)]
pub struct Product {
    inner: Arc<ProductInner>,
}

struct ProductInner {
    pre: ProductPre<RunState>,
    checks_pre: Option<ProductWithChecksPre<RunState>>,
    component: Component,
    manifest: Arc<Manifest>,
    interface: Interface,
    hash: String,
    runtime: Arc<RuntimeInner>,
}

impl Product {
    /// The product's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// SHA-256 of the component, hex.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// The component's top-level imports and exports.
    pub fn interface(&self) -> &Interface {
        &self.inner.interface
    }

    /// Runs the product on the current thread (which it blocks until the run ends).
    pub fn run_blocking(&self, request: RunRequest) -> RunOutcome {
        run::execute(self, request)
    }

    /// Whether the component exports custom checks (`check`, from the
    /// `tessera:product/product-with-checks` world).
    pub fn has_custom_checks(&self) -> bool {
        self.inner.checks_pre.is_some()
    }

    /// Calls the product's `check` export in a fresh instance, on the current thread. The
    /// request's inputs hold the declared inputs (as the run read them) and, under each output
    /// port's name, the rows the run staged there; its outputs are ignored. Give it the run's
    /// id, start time and seed, so checks see the same clock and random numbers. A product
    /// without custom checks reports none.
    pub fn check_blocking(&self, request: RunRequest) -> CheckOutcome {
        check::execute(self, request)
    }

    /// Measures how long it takes to get from nothing to an instance ready to call `run`:
    /// with the cached `InstancePre` (as real runs do) or by linking from scratch. For benchmarks.
    #[doc(hidden)]
    pub fn measure_start(&self, with_instance_pre: bool) -> Result<Duration, String> {
        run::measure_start(self, with_instance_pre)
    }
}

/// What a run needs: an id, its start time, and the data for its ports.
pub struct RunRequest {
    /// Unique id of the run.
    pub run_id: String,
    /// When the run was triggered, µs since the Unix epoch, UTC: the product's `run-info` and
    /// its (fixed) wall clock.
    pub started_at_us: i64,
    /// Seeds the product's random numbers; derived from the run id unless set.
    pub seed: u64,
    /// Data for each input port the product may open.
    pub inputs: HashMap<String, Box<dyn BatchSource>>,
    /// Where each declared output port's batches go.
    pub outputs: HashMap<String, Box<dyn BatchSink>>,
    /// Values that replace the manifest's `[parameters]` for this run (a local run's
    /// `--param`); checked by the caller against the declared ones.
    pub parameters: BTreeMap<String, tessera_core::manifest::Parameter>,
}

impl RunRequest {
    /// A request with no data attached yet.
    pub fn new(run_id: impl Into<String>, started_at_us: i64) -> Self {
        let run_id = run_id.into();
        RunRequest {
            seed: determinism::seed_from_run_id(&run_id),
            run_id,
            started_at_us,
            inputs: HashMap::new(),
            outputs: HashMap::new(),
            parameters: BTreeMap::new(),
        }
    }

    /// Replaces the manifest's value of parameter `name` for this run.
    pub fn parameter(
        mut self,
        name: impl Into<String>,
        value: tessera_core::manifest::Parameter,
    ) -> Self {
        self.parameters.insert(name.into(), value);
        self
    }

    /// Sets the seed of the product's random numbers (a replay uses the original run's).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Attaches an input port's data.
    pub fn input(mut self, port: impl Into<String>, source: Box<dyn BatchSource>) -> Self {
        self.inputs.insert(port.into(), source);
        self
    }

    /// Attaches an output port's sink.
    pub fn output(mut self, port: impl Into<String>, sink: Box<dyn BatchSink>) -> Self {
        self.outputs.insert(port.into(), sink);
        self
    }
}
