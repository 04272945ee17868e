//! Ingested data: committing what an ingest staged as the port's next input version (exactly
//! once per `Idempotency-Key`), and reading an input version back.
//!
//! An input version is a list of segment blobs. `append` makes the new version the previous
//! version's segments plus the new one; `replace` makes it the new segment alone. Segments are
//! immutable, so versions share them freely.

use tessera_core::io::BatchSource;

use super::source::SegmentSource;
use super::{IpcSource, Storage, check_name};
use crate::catalog::{InputCommit, InputCommitted};
use crate::model::{IngestMode, IngestOutcome, InputVersion, PortVersion};
use crate::{StoreError, now_us};

impl Storage {
    pub(super) fn commit_ingest_impl(
        &self,
        product: &str,
        port: &str,
        staged_id: &str,
        mode: IngestMode,
        rows: u64,
        key: Option<&str>,
    ) -> Result<IngestOutcome, StoreError> {
        check_name("product", product)?;
        check_name("port", port)?;
        check_name("ingest", staged_id)?;
        let _guard = self.lock_commits()?;
        let now = now_us();
        if let Some(key) = key
            && let Some(version) = self.catalog.keyed_input(product, port, key, now)?
        {
            self.discard_staged(staged_id)?;
            return Ok(IngestOutcome {
                version,
                repeated: true,
            });
        }
        let staged = self.staged_blob(staged_id, port).map_err(|_| {
            StoreError::Conflict(format!("ingest {staged_id} staged nothing for `{port}`"))
        })?;
        let previous = self.catalog.current_input(product, port)?;
        let number = previous.as_ref().map_or(0, |v| v.number) + 1;
        let segment = PortVersion {
            file: staged.key,
            rows,
            bytes: staged.bytes,
            hash: staged.hash,
            added_at_us: Some(now),
        };
        let mut segments = match (mode, previous) {
            (IngestMode::Append, Some(previous)) => previous.segments,
            _ => Vec::new(),
        };
        segments.push(segment);
        let version = InputVersion {
            product: product.to_string(),
            port: port.to_string(),
            number,
            ingested_at_us: now,
            mode,
            added_rows: rows,
            segments,
            idempotency_key: key.map(str::to_string),
        };
        let usage_after = self.usage_locked(product)?.saturating_add(staged.bytes);
        let commit = InputCommit {
            version,
            usage_after,
        };
        match self.catalog.commit_input(&commit) {
            Ok(InputCommitted::Committed) => {
                // The segment is the version's now; anything else the ingest staged goes.
                let mut rest = self.take_staged(staged_id)?;
                rest.remove(port);
                for blob in rest.into_values() {
                    self.blobs.delete(&blob.key)?;
                }
                Ok(IngestOutcome {
                    version: commit.version,
                    repeated: false,
                })
            }
            Ok(InputCommitted::Repeated(version)) => {
                self.discard_staged(staged_id)?;
                Ok(IngestOutcome {
                    version,
                    repeated: true,
                })
            }
            Err(e) => {
                self.discard_staged(staged_id)?;
                Err(e)
            }
        }
    }

    pub(super) fn read_input_impl(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        let version = self
            .catalog
            .input_version(product, port, number)?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "input `{port}` of {product} has no version {number} (never ingested, or \
                     dropped by retention)"
                ))
            })?;
        let segments = version
            .segments
            .iter()
            .map(|s| IpcSource::open(&self.blobs, &s.file, number))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(SegmentSource::new(segments, number)))
    }
}
