//! The on-disk store: sled for metadata, Arrow IPC files for data, under one data directory.
//!
//! Layout:
//! ```text
//! DATA/meta/                         sled database
//! DATA/staging/RUN/PORT.arrow        staged outputs of a running run
//! DATA/outputs/PRODUCT/N/PORT.arrow  published version N
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
    Deployment, PortVersion, RecoveryReport, RunRecord, RunState, TokenRecord, Version,
};
use crate::{Store, StoreError, now_us};

/// Metadata in sled, data in immutable files.
pub struct SledStore {
    root: PathBuf,
    db: sled::Db,
    versions: sled::Tree,
    current: sled::Tree,
    runs: sled::Tree,
    deployments: sled::Tree,
    active: sled::Tree,
    tokens: sled::Tree,
    /// The current version of each product, as last read or published. Only this process can
    /// publish into this directory (sled locks it), so the copy stays true.
    current_cache: std::sync::RwLock<std::collections::HashMap<String, Version>>,
    publish_lock: Mutex<()>,
    fail_before_commit: std::sync::atomic::AtomicBool,
}

fn version_key(product: &str, number: u64) -> Vec<u8> {
    let mut key = product.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&number.to_be_bytes());
    key
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

fn check_name(kind: &str, name: &str) -> Result<(), StoreError> {
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

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

impl SledStore {
    /// Opens (or creates) the store in `root`. Call [`Store::recover`] next.
    pub fn open(root: &Path) -> Result<SledStore, StoreError> {
        std::fs::create_dir_all(root.join("staging"))?;
        std::fs::create_dir_all(root.join("outputs"))?;
        std::fs::create_dir_all(root.join("components"))?;
        let db = sled::open(root.join("meta"))?;
        Ok(SledStore {
            root: root.to_path_buf(),
            versions: db.open_tree("versions")?,
            current: db.open_tree("current")?,
            runs: db.open_tree("runs")?,
            deployments: db.open_tree("deployments")?,
            active: db.open_tree("active")?,
            tokens: db.open_tree("tokens")?,
            current_cache: Default::default(),
            db,
            publish_lock: Mutex::new(()),
            fail_before_commit: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the next publish stop after moving its files, before the metadata commit, as a
    /// crash there would. For recovery tests.
    #[doc(hidden)]
    pub fn fail_next_publish_before_commit(&self) {
        self.fail_before_commit
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn staged_path(&self, run_id: &str, port: &str) -> PathBuf {
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
    fn collect_orphan_components(&self, report: &mut RecoveryReport) -> Result<(), StoreError> {
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

    fn referenced_files(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut files = std::collections::HashSet::new();
        for entry in self.versions.iter() {
            let (_, value) = entry?;
            let version: Version = serde_json::from_slice(&value)?;
            files.extend(version.ports.into_values().map(|p| p.file));
        }
        Ok(files)
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
        ports: &BTreeMap<String, u64>,
    ) -> Result<Version, StoreError> {
        check_name("product", product)?;
        let _guard = self
            .publish_lock
            .lock()
            .map_err(|_| StoreError::Io("publish lock poisoned".into()))?;
        for port in ports.keys() {
            if !self.staged_path(run_id, port).is_file() {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} staged no output `{port}`"
                )));
            }
        }
        let number = self.current.get(product)?.map_or(0, |v| {
            u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8]))
        }) + 1;
        let relative_dir = format!("outputs/{product}/{number}");
        let dir = self.root.join(&relative_dir);
        std::fs::create_dir_all(&dir)?;
        let mut port_versions = BTreeMap::new();
        for (port, rows) in ports {
            let from = self.staged_path(run_id, port);
            let to = dir.join(format!("{port}.arrow"));
            std::fs::rename(&from, &to)?;
            let bytes = std::fs::metadata(&to)?.len();
            port_versions.insert(
                port.clone(),
                PortVersion {
                    file: format!("{relative_dir}/{port}.arrow"),
                    rows: *rows,
                    bytes,
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
        };
        let record = serde_json::to_vec(&version)?;
        (&self.versions, &self.current)
            .transaction(|(versions, current)| {
                versions.insert(version_key(product, number), record.clone())?;
                current.insert(product.as_bytes(), &number.to_be_bytes())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Io(format!("publish transaction failed: {e:?}")))?;
        self.db.flush()?;
        if let Ok(mut cache) = self.current_cache.write() {
            cache.insert(product.to_string(), version.clone());
        }
        let _ = std::fs::remove_dir_all(self.root.join("staging").join(run_id));
        Ok(version)
    }

    fn discard(&self, run_id: &str) -> Result<(), StoreError> {
        check_name("run", run_id)?;
        let dir = self.root.join("staging").join(run_id);
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
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
            Some(v) => self.version(
                product,
                u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            )?,
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
        self.runs
            .insert(run.id.as_bytes(), serde_json::to_vec(run)?)?;
        self.runs.flush()?;
        Ok(())
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        match self.runs.get(id)? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    fn runs(&self, product: &str) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = Vec::new();
        for entry in self.runs.iter() {
            let run: RunRecord = serde_json::from_slice(&entry?.1)?;
            if run.product == product {
                runs.push(run);
            }
        }
        runs.sort_by_key(|r| r.created_at_us);
        Ok(runs)
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
        std::fs::create_dir_all(dir)?;
        let partial = dir.join(format!(".{}.partial", deployment.version));
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

    fn recover(&self) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport::default();
        let staging = self.root.join("staging");
        for entry in std::fs::read_dir(&staging)? {
            let path = entry?.path();
            report.files_removed += count_files(&path);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?
            } else {
                std::fs::remove_file(&path)?
            }
        }
        let referenced = self.referenced_files()?;
        let outputs = self.root.join("outputs");
        for product in std::fs::read_dir(&outputs)? {
            let product = product?.path();
            for version in std::fs::read_dir(&product)? {
                let version = version?.path();
                for file in std::fs::read_dir(&version)? {
                    let file = file?.path();
                    let relative = file
                        .strip_prefix(&self.root)
                        .map(|p| p.to_string_lossy().replace('\\', "/"))
                        .unwrap_or_default();
                    if !referenced.contains(&relative) {
                        std::fs::remove_file(&file)?;
                        report.files_removed += 1;
                    }
                }
                if std::fs::read_dir(&version)?.next().is_none() {
                    std::fs::remove_dir(&version)?;
                }
            }
        }
        self.collect_orphan_components(&mut report)?;
        for entry in self.runs.iter() {
            let mut run: RunRecord = serde_json::from_slice(&entry?.1)?;
            if matches!(run.state, RunState::Running | RunState::Queued) {
                run.reason = Some(if run.state == RunState::Running {
                    "the host stopped while this run was running".into()
                } else {
                    "the host stopped before this run started".into()
                });
                run.state = RunState::Interrupted;
                run.finished_at_us = Some(now_us());
                self.runs
                    .insert(run.id.as_bytes(), serde_json::to_vec(&run)?)?;
                report.runs_interrupted.push(run.id);
            }
        }
        self.db.flush()?;
        Ok(report)
    }
}

fn count_files(path: &Path) -> u64 {
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
