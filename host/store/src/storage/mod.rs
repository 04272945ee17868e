//! The store over a [`Catalog`] and [`Blobs`]: the rules that need both (staging, publishing,
//! ingest commits, retention, recovery), written once for every pair of backends.
//!
//! A run or an ingest writes each port to a blob of its own, `data/PRODUCT/ID/PORT.arrow`,
//! hashed as it is written. Publishing moves no bytes: one catalog commit makes a version that
//! names those blobs current. Retention drops records in one commit and records the blobs no
//! kept record names as garbage; they are deleted once [`Storage::deletion_grace`] has passed,
//! so a reader that opened a version before it was dropped (a run pinned to it, a download in
//! progress) finishes reading, on any backend. Recovery at start-up deletes blobs no record
//! names (a crash before a commit) and marks runs that were running interrupted.

mod encoded;
mod ingest;
mod recover;
mod retention;
mod source;
mod staging;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use tessera_core::io::{BatchSink, BatchSource};

use crate::blobs::{Blobs, LocalBlobs, StagedBlob};
use crate::catalog::{Catalog, SledCatalog};
use crate::model::{
    Deployment, IngestMode, IngestOutcome, InputVersion, PruneReport, Publication, RecoveryReport,
    RetainedMajor, RetentionPolicy, RunRecord, TokenRecord, Version, major_of,
};
use crate::{Store, StoreError, now_us};
pub use encoded::{EncodedMessage, EncodedMessages};
pub(crate) use source::IpcSource;

/// How long a blob no record names any more is kept before its deletion, by default.
pub const DEFAULT_DELETION_GRACE: Duration = Duration::from_secs(15 * 60);

/// What a run or an ingest has staged and not yet published, by id and port.
type Staged = Arc<Mutex<HashMap<String, BTreeMap<String, StagedBlob>>>>;

/// Metadata in a catalog, bytes in blobs.
pub struct Storage {
    catalog: Arc<dyn Catalog>,
    blobs: Arc<dyn Blobs>,
    staged: Staged,
    /// The current version of each product as last read or published, kept while the
    /// catalog's pointer still names it (one small read instead of decoding the record).
    current: RwLock<HashMap<String, Version>>,
    /// Serialises this host's publishes, ingest commits and pruning, which read-modify-write
    /// version numbers and usage; the catalog's compare-and-swap guards against other hosts.
    commits: Mutex<()>,
    deletion_grace_us: i64,
}

impl Storage {
    /// A store over `catalog` and `blobs`.
    pub fn new(catalog: Arc<dyn Catalog>, blobs: Arc<dyn Blobs>) -> Storage {
        Storage {
            catalog,
            blobs,
            staged: Arc::default(),
            current: RwLock::default(),
            commits: Mutex::new(()),
            deletion_grace_us: duration_us(DEFAULT_DELETION_GRACE),
        }
    }

    /// The single-host store: the catalog in sled under `DATA/meta/`, blobs in files under
    /// `DATA/`. Call [`Store::recover`] next.
    pub fn local(root: &Path) -> Result<Storage, StoreError> {
        std::fs::create_dir_all(root)?;
        let catalog = SledCatalog::open(&root.join("meta"))?;
        let blobs = LocalBlobs::open(root)?;
        Ok(Storage::new(Arc::new(catalog), Arc::new(blobs)))
    }

    /// The same store deleting unnamed blobs `grace` after their last record went.
    pub fn with_deletion_grace(mut self, grace: Duration) -> Storage {
        self.deletion_grace_us = duration_us(grace);
        self
    }

    /// How long blobs no record names are kept before their deletion.
    pub fn deletion_grace(&self) -> Duration {
        Duration::from_micros(u64::try_from(self.deletion_grace_us).unwrap_or(0))
    }

    /// The catalog underneath.
    pub fn catalog(&self) -> &dyn Catalog {
        self.catalog.as_ref()
    }

    /// The blobs underneath.
    pub fn blobs(&self) -> &dyn Blobs {
        self.blobs.as_ref()
    }

    fn lock_commits(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.commits
            .lock()
            .map_err(|_| StoreError::Io("commit lock poisoned".into()))
    }
}

fn duration_us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Refuses names that are empty, long, or could leave their place in a key.
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

fn check_version(version: &str) -> Result<(), StoreError> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        && version != "."
        && version != "..";
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!("invalid version `{version}`")))
    }
}

impl Storage {
    /// The blob key of `port` in published version `number` of `product`.
    fn published_blob(&self, product: &str, number: u64, port: &str) -> Result<String, StoreError> {
        let version = self
            .catalog
            .version(product, number)?
            .ok_or_else(|| StoreError::NotFound(format!("{product} has no version {number}")))?;
        let file = version.ports.get(port).ok_or_else(|| {
            StoreError::NotFound(format!(
                "version {number} of {product} has no port `{port}`"
            ))
        })?;
        Ok(file.file.clone())
    }
}

impl Store for Storage {
    fn stage(
        &self,
        product: &str,
        run_id: &str,
        port: &str,
        schema: SchemaRef,
    ) -> Result<Box<dyn BatchSink>, StoreError> {
        self.stage_impl(product, run_id, port, schema)
    }

    fn publish(
        &self,
        product: &str,
        run_id: &str,
        publication: &Publication,
    ) -> Result<Version, StoreError> {
        self.publish_impl(product, run_id, publication)
    }

    fn read_staged(&self, run_id: &str, port: &str) -> Result<Box<dyn BatchSource>, StoreError> {
        let blob = self.staged_blob(run_id, port)?;
        Ok(Box::new(IpcSource::open(&self.blobs, &blob.key, 0)?))
    }

    fn quarantine(&self, run_id: &str) -> Result<(), StoreError> {
        self.quarantine_impl(run_id)
    }

    fn read_quarantined(
        &self,
        run_id: &str,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        self.read_quarantined_impl(run_id, port)
    }

    fn staged_size(&self, run_id: &str, port: &str) -> Result<u64, StoreError> {
        Ok(self.staged_blob(run_id, port)?.bytes)
    }

    fn staged_file(&self, run_id: &str, port: &str) -> Result<(String, u64), StoreError> {
        let blob = self.staged_blob(run_id, port)?;
        Ok((blob.hash, blob.bytes))
    }

    fn discard(&self, run_id: &str) -> Result<(), StoreError> {
        check_name("run", run_id)?;
        self.discard_staged(run_id)
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
        self.catalog.keyed_input(product, port, key, now_us())
    }

    fn current_input(&self, product: &str, port: &str) -> Result<Option<InputVersion>, StoreError> {
        self.catalog.current_input(product, port)
    }

    fn input_version(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Option<InputVersion>, StoreError> {
        self.catalog.input_version(product, port, number)
    }

    fn input_versions(&self, product: &str, port: &str) -> Result<Vec<InputVersion>, StoreError> {
        self.catalog.input_versions(product, port)
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

    fn stored_bytes(&self, product: &str) -> Result<u64, StoreError> {
        let _guard = self.lock_commits()?;
        self.usage_locked(product)
    }

    fn current_version(&self, product: &str) -> Result<Option<Version>, StoreError> {
        let Some(number) = self.catalog.current_version_number(product)? else {
            return Ok(None);
        };
        if let Some(version) = self
            .current
            .read()
            .ok()
            .and_then(|cache| cache.get(product).filter(|v| v.number == number).cloned())
        {
            return Ok(Some(version));
        }
        let version = self.catalog.version(product, number)?;
        if let (Some(version), Ok(mut cache)) = (&version, self.current.write()) {
            cache.insert(product.to_string(), version.clone());
        }
        Ok(version)
    }

    fn version(&self, product: &str, number: u64) -> Result<Option<Version>, StoreError> {
        self.catalog.version(product, number)
    }

    fn stats(
        &self,
        product: &str,
        number: u64,
    ) -> Result<BTreeMap<String, tessera_core::quality::PortStats>, StoreError> {
        self.catalog.stats(product, number)
    }

    fn versions(&self, product: &str) -> Result<Vec<Version>, StoreError> {
        self.catalog.versions(product)
    }

    fn read(
        &self,
        product: &str,
        number: u64,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        let file = self.published_blob(product, number, port)?;
        Ok(Box::new(IpcSource::open(&self.blobs, &file, number)?))
    }

    fn read_encoded(
        &self,
        product: &str,
        number: u64,
        port: &str,
    ) -> Result<EncodedMessages, StoreError> {
        let file = self.published_blob(product, number, port)?;
        EncodedMessages::open(self.blobs(), &file)
    }

    fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.catalog.put_run(run)
    }

    fn update_run(&self, run: &RunRecord) -> Result<bool, StoreError> {
        self.catalog.update_run(run)
    }

    fn interrupt_run(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        self.catalog.interrupt_run(id, reason)
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.catalog.run(id)
    }

    fn runs(&self, product: &str) -> Result<Vec<RunRecord>, StoreError> {
        self.catalog.runs(product)
    }

    fn runs_page(
        &self,
        product: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.catalog.runs_page(product, before, limit)
    }

    fn last_run(&self, product: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.catalog.runs_page(product, None, 1)?.pop())
    }

    fn prune_runs(&self, product: &str, keep: usize) -> Result<Vec<String>, StoreError> {
        self.catalog.prune_runs(product, keep, now_us())
    }

    fn schedule_fired(&self, product: &str) -> Result<Option<i64>, StoreError> {
        self.catalog.schedule_fired(product)
    }

    fn set_schedule_fired(&self, product: &str, at_us: i64) -> Result<(), StoreError> {
        self.catalog.set_schedule_fired(product, at_us)
    }

    fn deploy(&self, deployment: &Deployment, component: &[u8]) -> Result<(), StoreError> {
        check_name("product", &deployment.product)?;
        check_version(&deployment.version)?;
        let already = || {
            StoreError::Conflict(format!(
                "{} {} is already deployed",
                deployment.product, deployment.version
            ))
        };
        if self
            .catalog
            .deployment(&deployment.product, &deployment.version)?
            .is_some()
        {
            return Err(already());
        }
        // Named by content: two deploys of one version with different code never write the
        // same blob, so the one record that wins names exactly the bytes it was made for.
        let hash = crate::blobs::hash_bytes(component);
        let digest = hash.trim_start_matches("xxh3-128:");
        let key = format!(
            "components/{}/{}/{digest}.wasm",
            deployment.product, deployment.version
        );
        self.blobs.put(&key, component)?;
        if !self.catalog.create_deployment(deployment, &key)? {
            let winner = self
                .catalog
                .component_key(&deployment.product, &deployment.version)?;
            if winner.as_deref() != Some(key.as_str()) {
                self.blobs.delete(&key)?;
            }
            return Err(already());
        }
        Ok(())
    }

    fn deployments(&self, product: &str) -> Result<Vec<Deployment>, StoreError> {
        self.catalog.deployments(product)
    }

    fn component(&self, product: &str, version: &str) -> Result<Vec<u8>, StoreError> {
        let key = self
            .catalog
            .component_key(product, version)?
            .ok_or_else(|| StoreError::NotFound(format!("{product} {version} is not deployed")))?;
        self.blobs.get(&key)
    }

    fn activate(
        &self,
        product: &str,
        version: &str,
        retained: &[RetainedMajor],
    ) -> Result<(), StoreError> {
        for version in std::iter::once(version).chain(retained.iter().map(|r| r.version.as_str())) {
            if self.catalog.deployment(product, version)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "{product} {version} is not deployed"
                )));
            }
        }
        let active_major = major_of(version);
        if let Some(line) = retained
            .iter()
            .find(|r| Some(r.major) == active_major || major_of(&r.version) != Some(r.major))
        {
            return Err(StoreError::Conflict(format!(
                "{product} {} cannot be kept as major {} beside the active {version}",
                line.version, line.major
            )));
        }
        self.catalog.set_active(product, version, retained)
    }

    fn active(&self, product: &str) -> Result<Option<String>, StoreError> {
        self.catalog.active(product)
    }

    fn retained_majors(&self, product: &str) -> Result<Vec<RetainedMajor>, StoreError> {
        self.catalog.retained_majors(product)
    }

    fn current_of_major(&self, product: &str, major: u64) -> Result<Option<Version>, StoreError> {
        // Versions are few (retention keeps the newest of each major); newest first.
        Ok(self
            .catalog
            .versions(product)?
            .into_iter()
            .rev()
            .find(|v| major_of(&v.product_version) == Some(major)))
    }

    fn products(&self) -> Result<Vec<String>, StoreError> {
        self.catalog.products()
    }

    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.catalog.put_token(token)
    }

    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.catalog.token(hash)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.catalog.tokens()
    }

    fn governance(&self) -> &dyn crate::GovernanceCatalog {
        self.catalog.governance()
    }

    fn sharing(&self) -> &dyn crate::SharingCatalog {
        self.catalog.sharing()
    }

    fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        self.catalog.revoke_token(id)
    }

    fn recover(&self) -> Result<RecoveryReport, StoreError> {
        self.recover_impl()
    }
}
