//! The on-disk store: sled for metadata, Arrow IPC files for data, under one data directory.
//!
//! Layout:
//! ```text
//! DATA/meta/                         sled database
//! DATA/staging/RUN/PORT.arrow        staged outputs of a running run (or rows of an ingest)
//! DATA/outputs/PRODUCT/N/PORT.arrow  published version N
//! DATA/inputs/PRODUCT/PORT/N.arrow   rows added by input version N of an ingest port
//! DATA/quarantine/RUN/PORT.arrow     outputs of a run an `error` check stopped
//! DATA/components/PRODUCT/V.wasm     deployed code, version V
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::datatypes::SchemaRef;
use sled::Transactional;
use tessera_core::formats::{FileSink, Format};
use tessera_core::io::{BatchSink, BatchSource};

use crate::model::{
    Deployment, IngestMode, IngestOutcome, InputVersion, PortVersion, PruneReport, Publication,
    RecoveryReport, RetentionPolicy, RunRecord, RunState, TokenRecord, Version,
};
use crate::{Store, StoreError, now_us};

/// Metadata in sled, data in immutable files.
pub struct SledStore {
    pub(crate) root: PathBuf,
    pub(crate) db: sled::Db,
    pub(crate) versions: sled::Tree,
    /// Column statistics of each version, by the version's key.
    pub(crate) stats: sled::Tree,
    pub(crate) current: sled::Tree,
    pub(crate) runs: sled::Tree,
    /// Run ids by product and creation time: `product \0 created_at \0 id`.
    pub(crate) runs_by_product: sled::Tree,
    pub(crate) deployments: sled::Tree,
    active: sled::Tree,
    tokens: sled::Tree,
    /// Input versions by product, port and number.
    pub(crate) input_versions: sled::Tree,
    /// The newest input version number of each ingest port.
    pub(crate) current_inputs: sled::Tree,
    /// What each `Idempotency-Key` made, by product, port and key.
    pub(crate) idempotency: sled::Tree,
    /// The same keys by the time they were used, `at (8 bytes) product \0 port \0 key`, so
    /// expired ones are dropped oldest first without reading the rest.
    pub(crate) idempotency_by_time: sled::Tree,
    /// When each product's cron schedule last fired (µs since the epoch).
    pub(crate) schedules: sled::Tree,
    /// The bytes each product keeps (see [`crate::usage`]).
    pub(crate) usage: sled::Tree,
    /// The current version of each product, as last read or published. Only this process can
    /// publish into this directory (sled locks it), so the copy stays true.
    pub(crate) current_cache: std::sync::RwLock<std::collections::HashMap<String, Version>>,
    /// Serialises publishes, ingest commits and pruning, which read-modify-write version
    /// numbers and file references.
    pub(crate) publish_lock: Mutex<()>,
    pub(crate) fail_before_commit: std::sync::atomic::AtomicBool,
}

pub(crate) fn run_index_key(run: &RunRecord) -> Vec<u8> {
    let mut key = run.product.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&(run.created_at_us.max(0) as u64).to_be_bytes());
    key.push(0);
    key.extend_from_slice(run.id.as_bytes());
    key
}

pub(crate) fn product_prefix(product: &str) -> Vec<u8> {
    let mut key = product.as_bytes().to_vec();
    key.push(0);
    key
}

pub(crate) fn version_key(product: &str, number: u64) -> Vec<u8> {
    let mut key = product.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// A big-endian `u64` stored as a sled value.
pub(crate) fn decode_number(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8]))
}

/// The content hash of a file (`xxh3-128:` and 32 hex digits: XXH3, 128 bits, a fast
/// non-cryptographic hash; it tells equal contents apart, it does not guard against tampering)
/// and its length, read in 1 MiB chunks.
pub(crate) fn hash_file(path: &Path) -> Result<(String, u64), StoreError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
    let mut hasher = twox_hash::XxHash3_128::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut length = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.write(&buffer[..n]);
        length += n as u64;
    }
    Ok((format!("xxh3-128:{:032x}", hasher.finish_128()), length))
}

fn deployment_key(product: &str, version: &str) -> Vec<u8> {
    let mut key = product.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(version.as_bytes());
    key
}

fn check_version(version: &str) -> Result<(), StoreError> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!("invalid version `{version}`")))
    }
}

pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "invalid {kind} name `{name}`"
        )))
    }
}

/// Creates `dir` and any missing parents, each new one made durable by fsyncing the directory
/// that holds it: a commit that points into a new directory must not outlive it in a crash.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(path);
        current = path.parent();
    }
    std::fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

pub(crate) fn sync_dir(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

impl SledStore {
    /// Opens (or creates) the store in `root`. Call [`Store::recover`] next.
    pub fn open(root: &Path) -> Result<SledStore, StoreError> {
        std::fs::create_dir_all(root.join("staging"))?;
        std::fs::create_dir_all(root.join("outputs"))?;
        std::fs::create_dir_all(root.join("components"))?;
        std::fs::create_dir_all(root.join("inputs"))?;
        std::fs::create_dir_all(root.join("quarantine"))?;
        let db = sled::open(root.join("meta"))?;
        let store = SledStore {
            root: root.to_path_buf(),
            versions: db.open_tree("versions")?,
            stats: db.open_tree("stats")?,
            current: db.open_tree("current")?,
            runs: db.open_tree("runs")?,
            runs_by_product: db.open_tree("runs_by_product")?,
            deployments: db.open_tree("deployments")?,
            active: db.open_tree("active")?,
            tokens: db.open_tree("tokens")?,
            input_versions: db.open_tree("input_versions")?,
            current_inputs: db.open_tree("current_inputs")?,
            idempotency: db.open_tree("idempotency")?,
            idempotency_by_time: db.open_tree("idempotency_by_time")?,
            schedules: db.open_tree("schedules")?,
            usage: db.open_tree("usage")?,
            current_cache: Default::default(),
            db,
            publish_lock: Mutex::new(()),
            fail_before_commit: std::sync::atomic::AtomicBool::new(false),
        };
        store.index_runs()?;
        Ok(store)
    }

    /// Builds the by-product index of runs when a data directory written before it has runs
    /// but no index.
    fn index_runs(&self) -> Result<(), StoreError> {
        if !self.runs_by_product.is_empty() || self.runs.is_empty() {
            return Ok(());
        }
        for entry in self.runs.iter() {
            let run: RunRecord = serde_json::from_slice(&entry?.1)?;
            self.runs_by_product.insert(run_index_key(&run), &[])?;
        }
        Ok(())
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the next publish (or ingest commit) stop after moving its files, before the
    /// metadata commit, as a crash there would. For recovery tests.
    #[doc(hidden)]
    pub fn fail_next_publish_before_commit(&self) {
        self.fail_before_commit
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn staged_path(&self, run_id: &str, port: &str) -> PathBuf {
        self.root
            .join("staging")
            .join(run_id)
            .join(format!("{port}.arrow"))
    }

    fn component_path(&self, product: &str, version: &str) -> PathBuf {
        self.root
            .join("components")
            .join(product)
            .join(format!("{version}.wasm"))
    }

    /// Removes component files that no deployment record names (a crash between writing the
    /// file and recording the deployment).
    pub(crate) fn collect_orphan_components(
        &self,
        report: &mut RecoveryReport,
    ) -> Result<(), StoreError> {
        for product in std::fs::read_dir(self.root.join("components"))? {
            let product = product?.path();
            let name = product
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            for file in std::fs::read_dir(&product)? {
                let file = file?.path();
                let version = file
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let known = version.strip_suffix(".wasm").is_some_and(|v| {
                    matches!(self.deployments.get(deployment_key(&name, v)), Ok(Some(_)))
                });
                if !known {
                    std::fs::remove_file(&file)?;
                    report.files_removed += 1;
                }
            }
        }
        Ok(())
    }
}

impl Store for SledStore {
    fn stage(
        &self,
        _product: &str,
        run_id: &str,
        port: &str,
        schema: SchemaRef,
    ) -> Result<Box<dyn BatchSink>, StoreError> {
        check_name("run", run_id)?;
        check_name("port", port)?;
        let path = self.staged_path(run_id, port);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let sink = FileSink::create(&path, Format::Arrow, &schema)
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(Box::new(sink))
    }

    fn publish(
        &self,
        product: &str,
        run_id: &str,
        publication: &Publication,
    ) -> Result<Version, StoreError> {
        check_name("product", product)?;
        let _guard = self
            .publish_lock
            .lock()
            .map_err(|_| StoreError::Io("publish lock poisoned".into()))?;
        for port in publication.ports.keys() {
            if !self.staged_path(run_id, port).is_file() {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} staged no output `{port}`"
                )));
            }
        }
        let number = self.current.get(product)?.map_or(0, |v| decode_number(&v)) + 1;
        let relative_dir = format!("outputs/{product}/{number}");
        let dir = self.root.join(&relative_dir);
        create_dir_durably(&dir)?;
        let mut port_versions = BTreeMap::new();
        for (port, rows) in &publication.ports {
            let from = self.staged_path(run_id, port);
            let (hash, bytes) = hash_file(&from)?;
            let to = dir.join(format!("{port}.arrow"));
            std::fs::rename(&from, &to)?;
            port_versions.insert(
                port.clone(),
                PortVersion {
                    file: format!("{relative_dir}/{port}.arrow"),
                    rows: *rows,
                    bytes,
                    hash,
                },
            );
        }
        sync_dir(&dir)?;
        if self
            .fail_before_commit
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Io(
                "simulated crash before the metadata commit".into(),
            ));
        }
        let version = Version {
            product: product.to_string(),
            number,
            run_id: run_id.to_string(),
            published_at_us: now_us(),
            ports: port_versions,
            product_version: publication.product_version.clone(),
            inputs: publication.inputs.clone(),
        };
        let record = serde_json::to_vec(&version)?;
        let stats = serde_json::to_vec(&publication.stats)?;
        let usage = crate::usage::moved(self.usage_locked(product)?, i128::from(version.bytes()));
        let committed = (
            &self.versions,
            &self.current,
            &self.stats,
            &self.runs,
            &self.usage,
        )
            .transaction(|(versions, current, stats_tree, runs, usage_tree)| {
                use sled::transaction::ConflictableTransactionError::Abort;
                if let Some(stored) = runs.get(run_id.as_bytes())? {
                    let stored: RunRecord = serde_json::from_slice(&stored)
                        .map_err(|e| Abort(format!("corrupt run record {run_id}: {e}")))?;
                    if stored.state == RunState::Interrupted {
                        return Err(Abort(format!(
                            "run {run_id} was interrupted before it could publish; its retry \
                             publishes instead"
                        )));
                    }
                    let mut run = match &publication.record {
                        Some(record) if record.id == run_id => (**record).clone(),
                        _ => stored,
                    };
                    run.state = RunState::Succeeded;
                    run.published_version = Some(number);
                    run.finished_at_us = run.finished_at_us.or(Some(version.published_at_us));
                    let encoded = serde_json::to_vec(&run)
                        .map_err(|e| Abort(format!("cannot encode run {run_id}: {e}")))?;
                    runs.insert(run_id.as_bytes(), encoded)?;
                }
                versions.insert(version_key(product, number), record.clone())?;
                if !publication.stats.is_empty() {
                    stats_tree.insert(version_key(product, number), stats.clone())?;
                }
                current.insert(product.as_bytes(), &number.to_be_bytes())?;
                usage_tree.insert(product.as_bytes(), &usage)?;
                Ok(())
            });
        match committed {
            Ok(()) => {}
            Err(sled::transaction::TransactionError::Abort(reason)) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(StoreError::Conflict(reason));
            }
            Err(sled::transaction::TransactionError::Storage(e)) => {
                return Err(StoreError::Io(format!("publish transaction failed: {e}")));
            }
        }
        self.db.flush()?;
        if let Ok(mut cache) = self.current_cache.write() {
            cache.insert(product.to_string(), version.clone());
        }
        let _ = std::fs::remove_dir_all(self.root.join("staging").join(run_id));
        Ok(version)
    }

    fn read_staged(&self, run_id: &str, port: &str) -> Result<Box<dyn BatchSource>, StoreError> {
        check_name("run", run_id)?;
        check_name("port", port)?;
        Ok(Box::new(IpcSource::open(
            &self.staged_path(run_id, port),
            0,
        )?))
    }

    fn quarantine(&self, run_id: &str) -> Result<(), StoreError> {
        check_name("run", run_id)?;
        let from = self.root.join("staging").join(run_id);
        let to = self.root.join("quarantine").join(run_id);
        if from.is_dir() {
            std::fs::rename(&from, &to)?;
            sync_dir(&self.root.join("quarantine"))?;
        }
        Ok(())
    }

    fn read_quarantined(
        &self,
        run_id: &str,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        check_name("run", run_id)?;
        check_name("port", port)?;
        let path = self
            .root
            .join("quarantine")
            .join(run_id)
            .join(format!("{port}.arrow"));
        if !path.is_file() {
            return Err(StoreError::NotFound(format!(
                "run {run_id} has no quarantined output `{port}`"
            )));
        }
        Ok(Box::new(IpcSource::open(&path, 0)?))
    }

    fn staged_size(&self, run_id: &str, port: &str) -> Result<u64, StoreError> {
        check_name("run", run_id)?;
        check_name("port", port)?;
        let path = self.staged_path(run_id, port);
        std::fs::metadata(&path).map(|m| m.len()).map_err(|e| {
            StoreError::NotFound(format!("run {run_id} staged no output `{port}`: {e}"))
        })
    }

    fn staged_file(&self, run_id: &str, port: &str) -> Result<(String, u64), StoreError> {
        check_name("run", run_id)?;
        check_name("port", port)?;
        let path = self.staged_path(run_id, port);
        if !path.is_file() {
            return Err(StoreError::NotFound(format!(
                "run {run_id} staged no output `{port}`"
            )));
        }
        hash_file(&path)
    }

    fn discard(&self, run_id: &str) -> Result<(), StoreError> {
        check_name("run", run_id)?;
        let dir = self.root.join("staging").join(run_id);
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }

    fn stored_bytes(&self, product: &str) -> Result<u64, StoreError> {
        self.stored_bytes_impl(product)
    }

    fn current_version(&self, product: &str) -> Result<Option<Version>, StoreError> {
        if let Some(version) = self
            .current_cache
            .read()
            .ok()
            .and_then(|cache| cache.get(product).cloned())
        {
            return Ok(Some(version));
        }
        let version = match self.current.get(product)? {
            None => return Ok(None),
            Some(v) => self.version(product, decode_number(&v))?,
        };
        if let (Some(version), Ok(mut cache)) = (&version, self.current_cache.write()) {
            cache.insert(product.to_string(), version.clone());
        }
        Ok(version)
    }

    fn version(&self, product: &str, number: u64) -> Result<Option<Version>, StoreError> {
        match self.versions.get(version_key(product, number))? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    fn stats(
        &self,
        product: &str,
        number: u64,
    ) -> Result<BTreeMap<String, tessera_core::quality::PortStats>, StoreError> {
        match self.stats.get(version_key(product, number))? {
            None => Ok(BTreeMap::new()),
            Some(v) => Ok(serde_json::from_slice(&v)?),
        }
    }

    fn versions(&self, product: &str) -> Result<Vec<Version>, StoreError> {
        let mut prefix = product.as_bytes().to_vec();
        prefix.push(0);
        self.versions
            .scan_prefix(prefix)
            .map(|e| Ok(serde_json::from_slice(&e?.1)?))
            .collect()
    }

    fn read(
        &self,
        product: &str,
        number: u64,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        let version = self
            .version(product, number)?
            .ok_or_else(|| StoreError::NotFound(format!("{product} has no version {number}")))?;
        let file = version.ports.get(port).ok_or_else(|| {
            StoreError::NotFound(format!(
                "version {number} of {product} has no port `{port}`"
            ))
        })?;
        Ok(Box::new(IpcSource::open(
            &self.root.join(&file.file),
            number,
        )?))
    }

    fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.put_run_impl(run)
    }

    fn update_run(&self, run: &RunRecord) -> Result<bool, StoreError> {
        self.update_run_impl(run)
    }

    fn interrupt_run(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        self.interrupt_run_impl(id, reason)
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.run_impl(id)
    }

    fn runs(&self, product: &str) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_impl(product)
    }

    fn runs_page(
        &self,
        product: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_page_impl(product, before, limit)
    }

    fn last_run(&self, product: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.runs_page_impl(product, None, 1)?.pop())
    }

    fn prune_runs(&self, product: &str, keep: usize) -> Result<Vec<String>, StoreError> {
        self.prune_runs_impl(product, keep)
    }

    fn schedule_fired(&self, product: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .schedules
            .get(product)?
            .map(|v| i64::try_from(decode_number(&v)).unwrap_or(0)))
    }

    fn set_schedule_fired(&self, product: &str, at_us: i64) -> Result<(), StoreError> {
        let at = u64::try_from(at_us.max(0)).unwrap_or(0);
        self.schedules
            .insert(product.as_bytes(), &at.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    fn deploy(&self, deployment: &Deployment, component: &[u8]) -> Result<(), StoreError> {
        check_name("product", &deployment.product)?;
        check_version(&deployment.version)?;
        let key = deployment_key(&deployment.product, &deployment.version);
        if self.deployments.contains_key(&key)? {
            return Err(StoreError::Conflict(format!(
                "{} {} is already deployed",
                deployment.product, deployment.version
            )));
        }
        let path = self.component_path(&deployment.product, &deployment.version);
        let dir = path
            .parent()
            .ok_or_else(|| StoreError::Io("component path has no directory".into()))?;
        create_dir_durably(dir)?;
        // A name of its own per write: two writers of one version never share a partial file.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let partial = dir.join(format!(
            ".{}.{}-{}.partial",
            deployment.version,
            std::process::id(),
            WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(component)?;
            file.sync_all()?;
        }
        std::fs::rename(&partial, &path)?;
        sync_dir(dir)?;
        self.deployments
            .insert(key, serde_json::to_vec(deployment)?)?;
        self.db.flush()?;
        Ok(())
    }

    fn deployments(&self, product: &str) -> Result<Vec<Deployment>, StoreError> {
        let mut prefix = product.as_bytes().to_vec();
        prefix.push(0);
        let mut found: Vec<Deployment> = self
            .deployments
            .scan_prefix(prefix)
            .map(|e| Ok(serde_json::from_slice(&e?.1)?))
            .collect::<Result<_, StoreError>>()?;
        found.sort_by_key(|d| d.deployed_at_us);
        Ok(found)
    }

    fn component(&self, product: &str, version: &str) -> Result<Vec<u8>, StoreError> {
        if !self
            .deployments
            .contains_key(deployment_key(product, version))?
        {
            return Err(StoreError::NotFound(format!(
                "{product} {version} is not deployed"
            )));
        }
        Ok(std::fs::read(self.component_path(product, version))?)
    }

    fn activate(&self, product: &str, version: &str) -> Result<(), StoreError> {
        if !self
            .deployments
            .contains_key(deployment_key(product, version))?
        {
            return Err(StoreError::NotFound(format!(
                "{product} {version} is not deployed"
            )));
        }
        self.active.insert(product.as_bytes(), version.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    fn active(&self, product: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .active
            .get(product)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn products(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = Vec::new();
        for entry in self.deployments.iter() {
            let (key, _) = entry?;
            let name = key.split(|b| *b == 0).next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).into_owned();
            if names.last() != Some(&name) {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.tokens
            .insert(token.hash.as_bytes(), serde_json::to_vec(token)?)?;
        self.tokens.flush()?;
        Ok(())
    }

    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        match self.tokens.get(hash.as_bytes())? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.tokens
            .iter()
            .map(|e| Ok(serde_json::from_slice(&e?.1)?))
            .collect()
    }

    fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let Some(token) = self.tokens()?.into_iter().find(|t| t.id == id) else {
            return Ok(false);
        };
        self.tokens.remove(token.hash.as_bytes())?;
        self.tokens.flush()?;
        Ok(true)
    }

    fn commit_ingest(
        &self,
        product: &str,
        port: &str,
        staged_id: &str,
        mode: IngestMode,
        rows: u64,
        idempotency_key: Option<&str>,
    ) -> Result<IngestOutcome, StoreError> {
        self.commit_ingest_impl(product, port, staged_id, mode, rows, idempotency_key)
    }

    fn ingested_with_key(
        &self,
        product: &str,
        port: &str,
        key: &str,
    ) -> Result<Option<InputVersion>, StoreError> {
        self.ingested_with_key_impl(product, port, key)
    }

    fn current_input(&self, product: &str, port: &str) -> Result<Option<InputVersion>, StoreError> {
        self.current_input_impl(product, port)
    }

    fn input_version(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Option<InputVersion>, StoreError> {
        self.input_version_impl(product, port, number)
    }

    fn input_versions(&self, product: &str, port: &str) -> Result<Vec<InputVersion>, StoreError> {
        self.input_versions_impl(product, port)
    }

    fn read_input(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        self.read_input_impl(product, port, number)
    }

    fn prune(
        &self,
        product: &str,
        policy: RetentionPolicy,
        now_us: i64,
    ) -> Result<PruneReport, StoreError> {
        self.prune_impl(product, policy, now_us)
    }

    fn recover(&self) -> Result<RecoveryReport, StoreError> {
        self.recover_impl()
    }
}

pub(crate) fn count_files(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|d| d.flatten().map(|e| count_files(&e.path())).sum())
            .unwrap_or(0)
    } else {
        1
    }
}

/// Reads a published Arrow IPC file as a batch source.
pub(crate) struct IpcSource {
    reader: arrow::ipc::reader::FileReader<std::io::BufReader<std::fs::File>>,
    version: u64,
}

impl IpcSource {
    pub(crate) fn open(path: &Path, version: u64) -> Result<IpcSource, StoreError> {
        let file = std::fs::File::open(path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let reader = arrow::ipc::reader::FileReader::try_new(std::io::BufReader::new(file), None)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        Ok(IpcSource { reader, version })
    }
}

impl BatchSource for IpcSource {
    fn schema(&self) -> SchemaRef {
        self.reader.schema()
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn next_batch(
        &mut self,
    ) -> Result<Option<arrow::record_batch::RecordBatch>, tessera_core::io::DataError> {
        self.reader.next().transpose().map_err(Into::into)
    }
}
