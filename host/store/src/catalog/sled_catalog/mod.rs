//! The catalog in sled: one tree per kind of record under `DATA/meta/`. Every commit that moves
//! more than one record is a sled transaction; the pointers it moves are checked inside it, so
//! the compare-and-swap the [`Catalog`] trait promises holds even against other writers of the
//! same database.

mod governance;
mod inputs;
mod keys;
mod runs;
mod sharing;
mod versions;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use tessera_core::quality::PortStats;

use super::{
    Catalog, DropCommit, Garbage, InputCommit, InputCommitted, UnfinishedRuns, VersionCommit,
};
use crate::StoreError;
use crate::model::{Deployment, InputVersion, RetainedMajor, RunRecord, TokenRecord, Version};
use keys::{decode_number, deployment_key, product_prefix, retained_key};

/// The catalog in a sled database.
pub struct SledCatalog {
    db: sled::Db,
    versions: sled::Tree,
    /// Column statistics of each version, by the version's key.
    stats: sled::Tree,
    current: sled::Tree,
    runs: sled::Tree,
    /// Run ids by product and creation time: `product \0 created_at \0 id`.
    runs_by_product: sled::Tree,
    deployments: sled::Tree,
    /// The component blob of each deployment (deployments made before blobs had keys of their
    /// own have none: theirs is at `components/PRODUCT/VERSION.wasm`).
    components: sled::Tree,
    active: sled::Tree,
    tokens: sled::Tree,
    /// Input versions by product, port and number.
    input_versions: sled::Tree,
    /// The newest input version number of each ingest port.
    current_inputs: sled::Tree,
    /// What each `Idempotency-Key` made, by product, port and key.
    idempotency: sled::Tree,
    /// The same keys by the time they were used, `at (8 bytes) product \0 port \0 key`, so
    /// expired ones are dropped oldest first without reading the rest.
    idempotency_by_time: sled::Tree,
    /// When each product's cron schedule last fired (µs since the epoch).
    schedules: sled::Tree,
    /// The bytes each product keeps.
    usage: sled::Tree,
    /// Blobs waiting to be deleted: `since (8 bytes) key` → size.
    garbage: sled::Tree,
    /// The blobs each quarantined run set aside.
    quarantine: sled::Tree,
    /// Policies, waivers and decisions.
    governance: governance::SledGovernance,
    sharing: sharing::SledSharing,
}

impl SledCatalog {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<SledCatalog, StoreError> {
        let db = sled::open(dir)?;
        let catalog = SledCatalog {
            versions: db.open_tree("versions")?,
            stats: db.open_tree("stats")?,
            current: db.open_tree("current")?,
            runs: db.open_tree("runs")?,
            runs_by_product: db.open_tree("runs_by_product")?,
            deployments: db.open_tree("deployments")?,
            components: db.open_tree("components")?,
            active: db.open_tree("active")?,
            tokens: db.open_tree("tokens")?,
            input_versions: db.open_tree("input_versions")?,
            current_inputs: db.open_tree("current_inputs")?,
            idempotency: db.open_tree("idempotency")?,
            idempotency_by_time: db.open_tree("idempotency_by_time")?,
            schedules: db.open_tree("schedules")?,
            usage: db.open_tree("usage")?,
            garbage: db.open_tree("garbage")?,
            quarantine: db.open_tree("quarantine")?,
            governance: governance::SledGovernance::open(&db)?,
            sharing: sharing::SledSharing::open(&db)?,
            db,
        };
        catalog.index_runs()?;
        Ok(catalog)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// The key a deployment's component blob had before deployments recorded one.
pub(crate) fn legacy_component_key(product: &str, version: &str) -> String {
    format!("components/{product}/{version}.wasm")
}

/// A compare-and-swap commit's result: an abort (the pointer moved, or a rule refused it) is a
/// conflict that says why; a storage failure is I/O.
fn compare_and_swap_outcome<T>(
    committed: sled::transaction::TransactionResult<T, String>,
    what: &str,
) -> Result<T, StoreError> {
    committed.map_err(|e| match e {
        sled::transaction::TransactionError::Abort(reason) => StoreError::Conflict(reason),
        sled::transaction::TransactionError::Storage(e) => {
            StoreError::Io(format!("{what} transaction failed: {e}"))
        }
    })
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

impl Catalog for SledCatalog {
    fn governance(&self) -> &dyn crate::GovernanceCatalog {
        &self.governance
    }

    fn sharing(&self) -> &dyn crate::SharingCatalog {
        &self.sharing
    }

    fn create_deployment(
        &self,
        deployment: &Deployment,
        component: &str,
    ) -> Result<bool, StoreError> {
        let key = deployment_key(&deployment.product, &deployment.version);
        let record = serde_json::to_vec(deployment)?;
        let created = (&self.deployments, &self.components).transaction(|(records, blobs)| {
            if records.get(&key)?.is_some() {
                return Ok(false);
            }
            records.insert(key.clone(), record.clone())?;
            blobs.insert(key.clone(), component.as_bytes())?;
            Ok::<bool, sled::transaction::ConflictableTransactionError<()>>(true)
        });
        let created =
            created.map_err(|e| StoreError::Io(format!("deployment transaction failed: {e:?}")))?;
        self.flush()?;
        Ok(created)
    }

    fn deployment(&self, product: &str, version: &str) -> Result<Option<Deployment>, StoreError> {
        self.deployments
            .get(deployment_key(product, version))?
            .map(|v| decode(&v))
            .transpose()
    }

    fn component_key(&self, product: &str, version: &str) -> Result<Option<String>, StoreError> {
        let key = deployment_key(product, version);
        if let Some(blob) = self.components.get(&key)? {
            return Ok(Some(String::from_utf8_lossy(&blob).into_owned()));
        }
        Ok(self
            .deployments
            .contains_key(&key)?
            .then(|| legacy_component_key(product, version)))
    }

    fn deployments(&self, product: &str) -> Result<Vec<Deployment>, StoreError> {
        let mut found: Vec<Deployment> = self
            .deployments
            .scan_prefix(product_prefix(product))
            .map(|e| decode(&e?.1))
            .collect::<Result<_, StoreError>>()?;
        found.sort_by_key(|d| d.deployed_at_us);
        Ok(found)
    }

    fn set_active(
        &self,
        product: &str,
        version: &str,
        retained: &[RetainedMajor],
    ) -> Result<(), StoreError> {
        // One batch: a reader never sees the new active version with the old lines.
        let mut batch = sled::Batch::default();
        batch.insert(product.as_bytes(), version.as_bytes());
        batch.insert(retained_key(product), serde_json::to_vec(retained)?);
        self.active.apply_batch(batch)?;
        self.flush()
    }

    fn retained_majors(&self, product: &str) -> Result<Vec<RetainedMajor>, StoreError> {
        match self.active.get(retained_key(product))? {
            None => Ok(Vec::new()),
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
        }
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

    fn current_version_number(&self, product: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.current.get(product)?.map(|v| decode_number(&v)))
    }

    fn latest_version_number(&self, product: &str) -> Result<Option<u64>, StoreError> {
        match self.current.get(keys::latest_version_key(product))? {
            Some(latest) => Ok(Some(decode_number(&latest))),
            None => self.current_version_number(product),
        }
    }

    fn version(&self, product: &str, number: u64) -> Result<Option<Version>, StoreError> {
        self.version_record(product, number)
    }

    fn versions(&self, product: &str) -> Result<Vec<Version>, StoreError> {
        self.versions
            .scan_prefix(product_prefix(product))
            .map(|e| decode(&e?.1))
            .collect()
    }

    fn stats(&self, product: &str, number: u64) -> Result<BTreeMap<String, PortStats>, StoreError> {
        match self.stats.get(keys::version_key(product, number))? {
            None => Ok(BTreeMap::new()),
            Some(v) => decode(&v),
        }
    }

    fn commit_version(&self, commit: &VersionCommit) -> Result<(), StoreError> {
        self.commit_version_impl(commit)
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

    fn ingest_ports(&self, product: &str) -> Result<Vec<String>, StoreError> {
        self.ingest_ports_impl(product)
    }

    fn commit_input(&self, commit: &InputCommit) -> Result<InputCommitted, StoreError> {
        self.commit_input_impl(commit)
    }

    fn keyed_input(
        &self,
        product: &str,
        port: &str,
        key: &str,
        now_us: i64,
    ) -> Result<Option<InputVersion>, StoreError> {
        self.keyed_input_impl(product, port, key, now_us)
    }

    fn drop_versions(&self, commit: &DropCommit) -> Result<(), StoreError> {
        self.drop_versions_impl(commit)
    }

    fn garbage(&self, before_us: i64) -> Result<Vec<Garbage>, StoreError> {
        self.garbage_impl(before_us)
    }

    fn forget_garbage(&self, garbage: &[Garbage]) -> Result<(), StoreError> {
        for entry in garbage {
            self.garbage
                .remove(keys::garbage_key(entry.since_us, &entry.key))?;
        }
        self.flush()
    }

    fn usage(&self, product: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.usage.get(product)?.map(|v| decode_number(&v)))
    }

    fn set_usage(&self, product: &str, bytes: u64) -> Result<(), StoreError> {
        self.usage
            .insert(product.as_bytes(), &bytes.to_be_bytes())?;
        self.flush()
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

    fn prune_runs(
        &self,
        product: &str,
        keep: usize,
        at_us: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.prune_runs_impl(product, keep, at_us)
    }

    fn interrupt_unfinished(&self, reason: &str) -> Result<UnfinishedRuns, StoreError> {
        self.interrupt_unfinished_impl(reason)
    }

    fn set_quarantined(
        &self,
        run: &str,
        ports: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        self.quarantine
            .insert(run.as_bytes(), serde_json::to_vec(ports)?)?;
        self.flush()
    }

    fn quarantined(&self, run: &str) -> Result<Option<BTreeMap<String, String>>, StoreError> {
        self.quarantine
            .get(run.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
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
        self.flush()
    }

    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.tokens
            .insert(token.hash.as_bytes(), serde_json::to_vec(token)?)?;
        self.flush()
    }

    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.tokens
            .get(hash.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.tokens.iter().map(|e| decode(&e?.1)).collect()
    }

    fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let Some(token) = self.tokens()?.into_iter().find(|t| t.id == id) else {
            return Ok(false);
        };
        self.tokens.remove(token.hash.as_bytes())?;
        self.flush()?;
        Ok(true)
    }

    fn referenced_blobs(&self) -> Result<HashSet<String>, StoreError> {
        let mut blobs = HashSet::new();
        for entry in self.versions.iter() {
            let version: Version = decode(&entry?.1)?;
            blobs.extend(version.ports.into_values().map(|p| p.file));
        }
        for entry in self.input_versions.iter() {
            let version: InputVersion = decode(&entry?.1)?;
            blobs.extend(version.segments.into_iter().map(|s| s.file));
        }
        for entry in self.quarantine.iter() {
            let ports: BTreeMap<String, String> = decode(&entry?.1)?;
            blobs.extend(ports.into_values());
        }
        for entry in self.deployments.iter() {
            let (key, value) = entry?;
            let deployment: Deployment = decode(&value)?;
            blobs.insert(match self.components.get(&key)? {
                Some(blob) => String::from_utf8_lossy(&blob).into_owned(),
                None => legacy_component_key(&deployment.product, &deployment.version),
            });
        }
        for entry in self.garbage.iter() {
            let (key, _) = entry?;
            if let Some(blob) = key.get(8..) {
                blobs.insert(String::from_utf8_lossy(blob).into_owned());
            }
        }
        Ok(blobs)
    }
}

use sled::Transactional;
