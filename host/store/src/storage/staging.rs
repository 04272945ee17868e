//! Staging and publishing: a run writes each output port to a blob of its own, and one catalog
//! commit publishes them together; a run that fails discards them, one that an `error` check
//! stopped sets them aside (quarantine) by recording them.

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;
use tessera_core::io::{BatchSink, BatchSource};

use super::{IpcSource, Storage, check_name};
use crate::blobs::{BlobSink, StagedBlob};
use crate::catalog::VersionCommit;
use crate::model::{PortVersion, Publication, RunState, Version};
use crate::{StoreError, now_us};

impl Storage {
    pub(super) fn stage_impl(
        &self,
        product: &str,
        run_id: &str,
        port: &str,
        schema: SchemaRef,
    ) -> Result<Box<dyn BatchSink>, StoreError> {
        check_name("product", product)?;
        check_name("run", run_id)?;
        check_name("port", port)?;
        let key = format!("data/{product}/{run_id}/{port}.arrow");
        let writer = self.blobs.create(&key)?;
        let staged = self.staged.clone();
        let (run, name) = (run_id.to_string(), port.to_string());
        let sink = BlobSink::new(
            key,
            writer,
            &schema,
            Box::new(move |blob| {
                if let Ok(mut staged) = staged.lock() {
                    staged.entry(run).or_default().insert(name, blob);
                }
            }),
        )?;
        Ok(Box::new(sink))
    }

    /// The finished blob a run (or an ingest) staged for `port`.
    pub(super) fn staged_blob(&self, run_id: &str, port: &str) -> Result<StagedBlob, StoreError> {
        check_name("run", run_id)?;
        check_name("port", port)?;
        self.staged
            .lock()
            .map_err(|_| StoreError::Io("staging lock poisoned".into()))?
            .get(run_id)
            .and_then(|ports| ports.get(port))
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("run {run_id} staged no output `{port}`")))
    }

    /// Forgets what `run_id` staged and returns it.
    pub(super) fn take_staged(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<String, StagedBlob>, StoreError> {
        Ok(self
            .staged
            .lock()
            .map_err(|_| StoreError::Io("staging lock poisoned".into()))?
            .remove(run_id)
            .unwrap_or_default())
    }

    /// Deletes what `run_id` staged.
    pub(super) fn discard_staged(&self, run_id: &str) -> Result<(), StoreError> {
        for blob in self.take_staged(run_id)?.into_values() {
            self.blobs.delete(&blob.key)?;
        }
        Ok(())
    }

    pub(super) fn publish_impl(
        &self,
        product: &str,
        run_id: &str,
        publication: &Publication,
    ) -> Result<Version, StoreError> {
        check_name("product", product)?;
        check_name("run", run_id)?;
        let _guard = self.lock_commits()?;
        let mut ports = BTreeMap::new();
        for (port, rows) in &publication.ports {
            let blob = self.staged_blob(run_id, port).map_err(|_| {
                StoreError::Conflict(format!("run {run_id} staged no output `{port}`"))
            })?;
            ports.insert(
                port.clone(),
                PortVersion {
                    file: blob.key,
                    rows: *rows,
                    bytes: blob.bytes,
                    hash: blob.hash,
                    added_at_us: None,
                },
            );
        }
        let number = self.catalog.latest_version_number(product)?.unwrap_or(0) + 1;
        let version = Version {
            product: product.to_string(),
            number,
            run_id: run_id.to_string(),
            published_at_us: now_us(),
            ports,
            product_version: publication.product_version.clone(),
            inputs: publication.inputs.clone(),
        };
        // The run's record, marked succeeded with the version, goes in the same commit.
        let run = match &publication.record {
            Some(record) if record.id == run_id => Some((**record).clone()),
            _ => self.catalog.run(run_id)?,
        }
        .map(|mut run| {
            run.state = RunState::Succeeded;
            run.published_version = Some(number);
            run.finished_at_us = run.finished_at_us.or(Some(version.published_at_us));
            run
        });
        let usage_after = self.usage_locked(product)?.saturating_add(version.bytes());
        let commit = VersionCommit {
            version,
            stats: publication.stats.clone(),
            run,
            usage_after,
            moves_current: publication.line.is_none(),
        };
        if let Err(e) = self.catalog.commit_version(&commit) {
            if matches!(e, StoreError::Conflict(_)) {
                self.discard_staged(run_id)?;
            }
            return Err(e);
        }
        // Staged ports the publication did not name are dropped; the named ones are the
        // version's now.
        let mut staged = self.take_staged(run_id)?;
        for port in publication.ports.keys() {
            staged.remove(port);
        }
        for blob in staged.into_values() {
            self.blobs.delete(&blob.key)?;
        }
        if commit.moves_current
            && let Ok(mut cache) = self.current.write()
        {
            cache.insert(product.to_string(), commit.version.clone());
        }
        Ok(commit.version)
    }

    pub(super) fn quarantine_impl(&self, run_id: &str) -> Result<(), StoreError> {
        check_name("run", run_id)?;
        let staged = self.take_staged(run_id)?;
        if staged.is_empty() {
            return Ok(());
        }
        let ports: BTreeMap<String, String> = staged
            .into_iter()
            .map(|(port, blob)| (port, blob.key))
            .collect();
        self.catalog.set_quarantined(run_id, &ports)
    }

    pub(super) fn read_quarantined_impl(
        &self,
        run_id: &str,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        check_name("run", run_id)?;
        check_name("port", port)?;
        let missing =
            || StoreError::NotFound(format!("run {run_id} has no quarantined output `{port}`"));
        let key = match self.catalog.quarantined(run_id)? {
            Some(ports) => ports.get(port).cloned().ok_or_else(missing)?,
            // Runs quarantined before quarantine was recorded kept their outputs here.
            None => format!("quarantine/{run_id}/{port}.arrow"),
        };
        if self.blobs.size(&key)?.is_none() {
            return Err(missing());
        }
        Ok(Box::new(IpcSource::open(&self.blobs, &key, 0)?))
    }
}
