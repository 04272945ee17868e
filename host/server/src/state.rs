//! What every handler shares: configuration, the store, the sandbox and the compiled products.
//!
//! Deployed components live in the store; compiled products are kept in memory by
//! (name, version) and compiled again (from the code cache) after a restart, on first use.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use tessera_runtime::{Product, Runtime, RuntimeConfig};
use tessera_store::{Deployment, RecoveryReport, Storage, Store};
use tokio::sync::Notify;

use crate::config::ServerConfig;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::schedule::Scheduler;
use crate::schedule::clock::{Clock, SystemClock};

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// A handle that does not keep the state alive (for background tasks).
#[derive(Clone)]
pub struct WeakState(std::sync::Weak<Inner>);

impl WeakState {
    /// The state, while anything else still holds it.
    pub fn upgrade(&self) -> Option<AppState> {
        self.0.upgrade().map(|inner| AppState { inner })
    }
}

struct Inner {
    config: ServerConfig,
    store: Arc<dyn Store>,
    runtime: Runtime,
    /// The threads that serve requests, which runs yield to.
    foreground: Arc<tessera_runtime::Foreground>,
    loaded: RwLock<HashMap<(String, String), Product>>,
    in_flight: Mutex<HashSet<String>>,
    runs_done: Notify,
    parquet_cache: PathBuf,
    spool: PathBuf,
    events: EventBus,
    metrics: Metrics,
    lineage: crate::lineage::emitter::Emitter,
    /// Signs and checks the URLs of files shared through Delta Sharing.
    signer: crate::sharing::signing::Signer,
    views: RwLock<HashMap<String, ProductView>>,
    rendered: Mutex<RenderCache>,
    scheduler: Scheduler,
    recovery: Mutex<Option<RecoveryReport>>,
    freshness: crate::freshness::Watcher,
    uploads: Arc<tokio::sync::Semaphore>,
    registry: tokio::sync::Mutex<()>,
    /// Manifests of deployed versions, by (product, version): a deployed version never
    /// changes, so neither does its manifest.
    version_manifests: RwLock<HashMap<(String, String), Arc<tessera_core::manifest::Manifest>>>,
}

/// Renditions of small published outputs, by ETag, first in first out within a byte budget.
#[derive(Default)]
struct RenderCache {
    bodies: HashMap<String, bytes::Bytes>,
    order: std::collections::VecDeque<String>,
    bytes: usize,
}

/// Bytes of renditions kept in memory.
const RENDER_CACHE_BYTES: usize = 64 << 20;

/// A product's active manifest and active version, as handlers need them on every request.
pub type ProductView = (Arc<tessera_core::manifest::Manifest>, Option<String>);

impl AppState {
    /// Opens the data directory (creating it), recovers from an unclean stop, and sets up the
    /// sandbox with the configured limits.
    pub fn open(config: ServerConfig) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)?;
        // A run reads its pinned inputs for at most `max_timeout`: their bytes outlive that.
        let grace = config.deletion_grace.max(config.limits.max_timeout);
        let store = Storage::local(&config.data_dir)?.with_deletion_grace(grace);
        let report = store.recover()?;
        if report.files_removed > 0 || !report.runs_interrupted.is_empty() {
            tracing::warn!(
                files_removed = report.files_removed,
                runs_interrupted = report.runs_interrupted.len(),
                "recovered from an unclean stop"
            );
        }
        let cache = config.data_dir.join("cache");
        // Bodies being read when the host stopped are garbage now.
        if let Ok(entries) = std::fs::read_dir(cache.join("spool")) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let state = Self::with_store(config, Arc::new(store), cache)?;
        state.sweep_renditions();
        if let Ok(mut recovery) = state.inner.recovery.lock() {
            *recovery = Some(report);
        }
        Ok(state)
    }

    /// State over an opened store; `cache` holds compiled code and Parquet renditions.
    pub fn with_store(
        config: ServerConfig,
        store: Arc<dyn Store>,
        cache: PathBuf,
    ) -> anyhow::Result<AppState> {
        Self::with_clock(config, store, cache, Arc::new(SystemClock))
    }

    /// State whose schedules follow `clock` (tests use a manual one).
    pub fn with_clock(
        config: ServerConfig,
        store: Arc<dyn Store>,
        cache: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<AppState> {
        // Before the sandbox exists: the policy zygotes keep what the host has now.
        tessera_governance::zygote::prestart();
        let foreground = Arc::new(tessera_runtime::Foreground::default());
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.join("code")),
            max_concurrent_runs: config.limits.max_concurrent_runs,
            max_memory: config.limits.max_memory,
            idle_priority_after: config.limits.idle_priority_after,
            gpu: config.gpu.to_config(),
            foreground: config.limits.yield_to_requests.then(|| foreground.clone()),
            ..RuntimeConfig::default()
        })?;
        let scheduler = Scheduler::new(
            config.scheduler.clone(),
            clock,
            config.limits.max_concurrent_runs,
        );
        let metrics = Metrics::default();
        let lineage = crate::lineage::emitter::Emitter::new(&config.lineage, metrics.lineage());
        std::fs::create_dir_all(&cache)?;
        let signer = crate::sharing::signing::Signer::open(&cache.join("sharing.key"))?;
        Ok(AppState {
            inner: Arc::new(Inner {
                lineage,
                signer,
                foreground,
                uploads: Arc::new(tokio::sync::Semaphore::new(
                    config.http.max_concurrent_uploads,
                )),
                registry: tokio::sync::Mutex::new(()),
                version_manifests: RwLock::new(HashMap::new()),
                scheduler,
                recovery: Mutex::new(None),
                freshness: crate::freshness::Watcher::default(),
                config,
                store,
                runtime,
                loaded: RwLock::new(HashMap::new()),
                in_flight: Mutex::new(HashSet::new()),
                runs_done: Notify::new(),
                parquet_cache: cache.join("parquet"),
                spool: cache.join("spool"),
                events: EventBus::default(),
                metrics,
                views: RwLock::new(HashMap::new()),
                rendered: Mutex::new(RenderCache::default()),
            }),
        })
    }

    /// Hands [`AppState::start`] the report of a recovery the caller ran on the store itself
    /// (as [`AppState::open`] does), so the runs it found are resumed or retried.
    pub fn with_recovery(self, report: RecoveryReport) -> AppState {
        if let Ok(mut recovery) = self.inner.recovery.lock() {
            *recovery = Some(report);
        }
        self
    }

    /// Starts background work: resumes the runs a stopped host left queued (and retries the
    /// interrupted ones), loads schedules and starts the dispatcher. Needs a Tokio runtime.
    pub fn start(&self) {
        let report = self
            .inner
            .recovery
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .unwrap_or_default();
        if self.inner.config.governance.library {
            match crate::governance::install_library(self) {
                Ok(added) if !added.is_empty() => tracing::info!(
                    policies = added.len(),
                    "installed the policy library shipped with the host"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e.message, "cannot install the policy library"),
            }
        }
        self.inner.scheduler.resume(self, &report);
    }

    /// A turn to read an upload's body (a deploy or an ingest), held while it is read; a 503
    /// when [`HttpLimits::max_concurrent_uploads`](crate::config::HttpLimits) are being read.
    pub fn upload_slot(&self) -> ServiceResult<tokio::sync::OwnedSemaphorePermit> {
        self.inner.uploads.clone().try_acquire_owned().map_err(|_| {
            ServiceError::busy(format!(
                "{} uploads are being read already; this server reads at most that many at once",
                self.inner.config.http.max_concurrent_uploads
            ))
        })
    }

    /// The manifest `name` was deployed with at `version`, if that version is deployed; read
    /// once, then kept.
    pub fn version_manifest(
        &self,
        name: &str,
        version: &str,
    ) -> ServiceResult<Option<Arc<tessera_core::manifest::Manifest>>> {
        let key = (name.to_string(), version.to_string());
        if let Some(found) = self
            .inner
            .version_manifests
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(Some(found));
        }
        let deployments = self.store().deployments(name)?;
        let Some(deployment) = deployments.iter().find(|d| d.version == version) else {
            return Ok(None);
        };
        let manifest = tessera_core::manifest::Manifest::parse(
            &deployment.manifest,
            "<deployed product.toml>",
        )
        .map_err(|e| ServiceError::internal(format!("stored manifest of {name} {version}: {e}")))?;
        let manifest = Arc::new(manifest);
        if let Ok(mut kept) = self.inner.version_manifests.write() {
            kept.insert(key, manifest.clone());
        }
        Ok(Some(manifest))
    }

    /// Held by a deploy or an activation from its checks to its last write, so two of them
    /// never check the same mesh and change it each their own way.
    pub async fn registry_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.registry.lock().await
    }

    /// A handle for background tasks that does not keep the state alive.
    pub fn downgrade(&self) -> WeakState {
        WeakState(Arc::downgrade(&self.inner))
    }

    /// The last freshness state seen per product.
    pub fn freshness_watcher(&self) -> &crate::freshness::Watcher {
        &self.inner.freshness
    }

    /// The run queue.
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The sandbox.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The cached view of a product, if any.
    pub fn cached_view(&self, name: &str) -> Option<ProductView> {
        self.inner
            .views
            .read()
            .ok()
            .and_then(|views| views.get(name).cloned())
    }

    /// Caches the view of a product.
    pub fn cache_view(&self, name: &str, view: ProductView) {
        if let Ok(mut views) = self.inner.views.write() {
            views.insert(name.to_string(), view);
        }
    }

    /// Drops the cached view of a product (after a deploy or an activation).
    pub fn forget_view(&self, name: &str) {
        if let Ok(mut views) = self.inner.views.write() {
            views.remove(name);
        }
    }

    /// A kept rendition.
    pub fn rendered(&self, etag: &str) -> Option<bytes::Bytes> {
        self.inner
            .rendered
            .lock()
            .ok()
            .and_then(|cache| cache.bodies.get(etag).cloned())
    }

    /// Keeps a rendition, dropping the oldest ones beyond the budget.
    pub fn keep_rendered(&self, etag: &str, body: bytes::Bytes) {
        let Ok(mut cache) = self.inner.rendered.lock() else {
            return;
        };
        if body.len() > RENDER_CACHE_BYTES / 16 || cache.bodies.contains_key(etag) {
            return;
        }
        cache.bytes += body.len();
        cache.order.push_back(etag.to_string());
        cache.bodies.insert(etag.to_string(), body);
        while cache.bytes > RENDER_CACHE_BYTES {
            let Some(oldest) = cache.order.pop_front() else {
                break;
            };
            if let Some(dropped) = cache.bodies.remove(&oldest) {
                cache.bytes -= dropped.len();
            }
        }
    }

    /// The event bus.
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// The signer of shared files' URLs.
    pub fn signer(&self) -> &crate::sharing::signing::Signer {
        &self.inner.signer
    }

    /// The OpenLineage emitter.
    pub fn lineage(&self) -> &crate::lineage::emitter::Emitter {
        &self.inner.lineage
    }

    /// The threads that serve requests, which runs in the idle class yield to.
    pub fn foreground(&self) -> &tessera_runtime::Foreground {
        &self.inner.foreground
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Where Parquet renditions of published versions are kept.
    pub fn parquet_cache(&self) -> &std::path::Path {
        &self.inner.parquet_cache
    }

    /// Deletes the Parquet renditions of a version retention dropped.
    pub fn forget_renditions(&self, product: &str, number: u64) {
        let dir = self.parquet_cache().join(product).join(number.to_string());
        if dir.is_dir()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(%product, version = number, error = %e, "cannot delete renditions");
        }
    }

    /// Deletes the Parquet renditions of versions the store no longer has (dropped while a
    /// rendition was being written, or before a crash) and renditions left half-written.
    fn sweep_renditions(&self) {
        let Ok(products) = std::fs::read_dir(self.parquet_cache()) else {
            return;
        };
        for product in products.flatten() {
            let name = product.file_name().to_string_lossy().into_owned();
            let Ok(versions) = std::fs::read_dir(product.path()) else {
                continue;
            };
            for version in versions.flatten() {
                let kept = version
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| matches!(self.store().version(&name, n), Ok(Some(_))));
                let path = version.path();
                if !kept {
                    let _ = std::fs::remove_dir_all(&path);
                    continue;
                }
                for file in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    if file.file_name().to_string_lossy().ends_with(".partial") {
                        let _ = std::fs::remove_file(file.path());
                    }
                }
            }
        }
    }

    /// Where ingest bodies that must be read from the end (Parquet, Arrow files) are spooled.
    pub fn spool_dir(&self) -> &std::path::Path {
        &self.inner.spool
    }

    /// Keeps a freshly deployed product compiled.
    pub fn remember(&self, product: Product) {
        let key = (
            product.manifest().product.name.clone(),
            product.manifest().product.version.to_string(),
        );
        if let Ok(mut loaded) = self.inner.loaded.write() {
            loaded.insert(key, product);
        }
    }

    /// The deployments of a product, or a 404 that lists the products that exist.
    pub fn deployments(&self, name: &str) -> ServiceResult<Vec<Deployment>> {
        let deployments = self.store().deployments(name)?;
        if deployments.is_empty() {
            return Err(ServiceError::not_found(
                format!("no product named `{name}` is deployed"),
                &self.store().products()?,
            ));
        }
        Ok(deployments)
    }

    /// The active version of a product, or a 404.
    pub fn active_version(&self, name: &str) -> ServiceResult<String> {
        let deployments = self.deployments(name)?;
        match self.store().active(name)? {
            Some(version) => Ok(version),
            None => Err(
                ServiceError::conflict(format!("product `{name}` has no active version")).hint(
                    format!(
                        "activate one of: {}",
                        deployments
                            .iter()
                            .map(|d| d.version.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            ),
        }
    }

    /// The compiled product `name` at `version`, compiling it from the store if needed.
    pub fn product(&self, name: &str, version: &str) -> ServiceResult<Product> {
        let key = (name.to_string(), version.to_string());
        if let Some(product) = self
            .inner
            .loaded
            .read()
            .ok()
            .and_then(|loaded| loaded.get(&key).cloned())
        {
            return Ok(product);
        }
        let bytes = self.store().component(name, version)?;
        let product = self.runtime().load(&bytes).map_err(|e| {
            ServiceError::internal(format!("stored component {name}@{version}: {e}"))
        })?;
        self.remember(product.clone());
        Ok(product)
    }

    /// Notes that a run started executing.
    pub fn run_started(&self, id: &str) {
        if let Ok(mut runs) = self.inner.in_flight.lock() {
            runs.insert(id.to_string());
        }
    }

    /// Notes that a run finished.
    pub fn run_finished(&self, id: &str) {
        if let Ok(mut runs) = self.inner.in_flight.lock() {
            runs.remove(id);
        }
        self.inner.runs_done.notify_waiters();
    }

    /// Runs executing now.
    pub fn runs_in_flight(&self) -> usize {
        self.inner.in_flight.lock().map_or(0, |runs| runs.len())
    }

    /// Waits until no run executes, or `grace` passes; then marks the runs still executing as
    /// interrupted. Returns how many were interrupted.
    pub async fn drain(&self, grace: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.inner.runs_done.notified();
            if self.runs_in_flight() == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let left: Vec<String> = self
            .inner
            .in_flight
            .lock()
            .map(|runs| runs.iter().cloned().collect())
            .unwrap_or_default();
        for id in &left {
            // Only a run still running is interrupted: one that published meanwhile stays
            // published and is not retried.
            match self
                .store()
                .interrupt_run(id, "the server shut down while the run executed")
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(run = %id, error = %e, "cannot mark the run interrupted");
                    continue;
                }
            }
            let stored = self.store().run(id).ok().flatten();
            if let Some(run) = &stored {
                crate::lineage::run_ended(self, run);
            }
            if let Some(run) = stored
                && run.attempt < 2
                && run.replay.is_none()
            {
                // Queued in the store: the next start resumes it.
                let retry = crate::schedule::Cause::Retry {
                    of: run.id.clone(),
                    attempt: run.attempt + 1,
                    after: std::time::Duration::ZERO,
                };
                if let Err(e) = crate::runner::queue(self, &run.product, run.line, &retry) {
                    tracing::error!(run = %id, error = %e.message, "cannot queue a retry");
                }
            }
        }
        left.len()
    }
}
