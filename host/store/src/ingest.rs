//! Ingested data in the sled store: committing a staged ingest as the next input version of a
//! port (exactly once per `Idempotency-Key`), and reading an input version back.
//!
//! An input version is a list of segment files. `append` makes the new version the previous
//! version's segments plus the new one; `replace` makes it the new segment alone. Segments are
//! immutable, so versions share them freely.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sled::Transactional;
use tessera_core::io::{BatchSource, DataError};

use crate::model::{IngestMode, IngestOutcome, InputVersion, PortVersion};
use crate::sled_store::{
    IpcSource, SledStore, check_name, create_dir_durably, decode_number, sync_dir,
};
use crate::{StoreError, now_us};

/// `product \0 port`, the prefix of a port's keys.
pub(crate) fn port_prefix(product: &str, port: &str) -> Vec<u8> {
    let mut key = product.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(port.as_bytes());
    key.push(0);
    key
}

pub(crate) fn input_key(product: &str, port: &str, number: u64) -> Vec<u8> {
    let mut key = port_prefix(product, port);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

fn current_key(product: &str, port: &str) -> Vec<u8> {
    let mut key = product.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(port.as_bytes());
    key
}

fn idempotency_key(product: &str, port: &str, key: &str) -> Vec<u8> {
    let mut out = port_prefix(product, port);
    out.extend_from_slice(key.as_bytes());
    out
}

/// How long an `Idempotency-Key` keeps answering with what it made: 24 hours from its first
/// use, whatever retention does to the input version meanwhile. A key used again after the
/// window is a new request.
pub const IDEMPOTENCY_WINDOW_US: i64 = 24 * 3600 * 1_000_000;

/// `at (8 bytes, big-endian) product \0 port \0 key`: the by-time index of a key.
fn key_by_time(at_us: i64, product: &str, port: &str, key: &str) -> Vec<u8> {
    let mut out = u64::try_from(at_us.max(0))
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&idempotency_key(product, port, key));
    out
}

impl SledStore {
    pub(crate) fn commit_ingest_impl(
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
        let _guard = self
            .publish_lock
            .lock()
            .map_err(|_| StoreError::Io("publish lock poisoned".into()))?;
        if let Some(key) = key
            && let Some(version) = self.ingested_with_key_impl(product, port, key)?
        {
            self.discard_staged(staged_id)?;
            return Ok(IngestOutcome {
                version,
                repeated: true,
            });
        }
        let staged = self.staged_path(staged_id, port);
        if !staged.is_file() {
            return Err(StoreError::Conflict(format!(
                "ingest {staged_id} staged nothing for `{port}`"
            )));
        }
        let previous = self.current_input_impl(product, port)?;
        let number = previous.as_ref().map_or(0, |v| v.number) + 1;
        let relative = format!("inputs/{product}/{port}/{number}.arrow");
        let target = self.root.join(&relative);
        let dir = target
            .parent()
            .ok_or_else(|| StoreError::Io("input path has no directory".into()))?;
        create_dir_durably(dir)?;
        // Segments are named by version and never change; lineage refers to them by number, so
        // ingest skips hashing (the largest share of its cost after parsing).
        let bytes = std::fs::metadata(&staged)?.len();
        std::fs::rename(&staged, &target)?;
        sync_dir(dir)?;
        if self
            .fail_before_commit
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Io(
                "simulated crash before the metadata commit".into(),
            ));
        }
        let segment = PortVersion {
            file: relative,
            rows,
            bytes,
            hash: String::new(),
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
            ingested_at_us: now_us(),
            mode,
            added_rows: rows,
            segments,
            idempotency_key: key.map(str::to_string),
        };
        let record = serde_json::to_vec(&version)?;
        let usage = crate::usage::moved(self.usage_locked(product)?, i128::from(bytes));
        (
            &self.input_versions,
            &self.current_inputs,
            &self.idempotency,
            &self.idempotency_by_time,
            &self.usage,
        )
            .transaction(|(versions, current, keys, by_time, usage_tree)| {
                usage_tree.insert(product.as_bytes(), &usage)?;
                versions.insert(input_key(product, port, number), record.clone())?;
                current.insert(current_key(product, port), &number.to_be_bytes())?;
                if let Some(key) = key {
                    // The key keeps the version it made, so it answers for the whole window
                    // even after retention drops that version.
                    keys.insert(idempotency_key(product, port, key), record.clone())?;
                    by_time.insert(key_by_time(version.ingested_at_us, product, port, key), &[])?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Io(format!("ingest transaction failed: {e:?}")))?;
        self.expire_idempotency_keys(version.ingested_at_us)?;
        self.db.flush()?;
        self.discard_staged(staged_id)?;
        Ok(IngestOutcome {
            version,
            repeated: false,
        })
    }

    fn discard_staged(&self, staged_id: &str) -> Result<(), StoreError> {
        let dir = self.root.join("staging").join(staged_id);
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }

    pub(crate) fn ingested_with_key_impl(
        &self,
        product: &str,
        port: &str,
        key: &str,
    ) -> Result<Option<InputVersion>, StoreError> {
        match self.idempotency.get(idempotency_key(product, port, key))? {
            None => Ok(None),
            // Keys written before they kept their version name it by number.
            Some(number) if number.len() == 8 => {
                self.input_version_impl(product, port, decode_number(&number))
            }
            Some(version) => {
                let version: InputVersion = serde_json::from_slice(&version)?;
                let expired =
                    version.ingested_at_us < now_us().saturating_sub(IDEMPOTENCY_WINDOW_US);
                Ok((!expired).then_some(version))
            }
        }
    }

    /// Drops the idempotency keys used longer than [`IDEMPOTENCY_WINDOW_US`] before `now_us`,
    /// oldest first; reads nothing else.
    fn expire_idempotency_keys(&self, now_us: i64) -> Result<(), StoreError> {
        let horizon = u64::try_from(now_us.saturating_sub(IDEMPOTENCY_WINDOW_US).max(0))
            .unwrap_or(0)
            .to_be_bytes();
        for entry in self.idempotency_by_time.range(..horizon.to_vec()) {
            let (index, _) = entry?;
            if let Some(key) = index.get(8..) {
                self.idempotency.remove(key)?;
            }
            self.idempotency_by_time.remove(index)?;
        }
        Ok(())
    }

    pub(crate) fn current_input_impl(
        &self,
        product: &str,
        port: &str,
    ) -> Result<Option<InputVersion>, StoreError> {
        match self.current_inputs.get(current_key(product, port))? {
            None => Ok(None),
            Some(number) => self.input_version_impl(product, port, decode_number(&number)),
        }
    }

    pub(crate) fn input_version_impl(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Option<InputVersion>, StoreError> {
        match self.input_versions.get(input_key(product, port, number))? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        }
    }

    pub(crate) fn input_versions_impl(
        &self,
        product: &str,
        port: &str,
    ) -> Result<Vec<InputVersion>, StoreError> {
        self.input_versions
            .scan_prefix(port_prefix(product, port))
            .map(|e| Ok(serde_json::from_slice(&e?.1)?))
            .collect()
    }

    pub(crate) fn read_input_impl(
        &self,
        product: &str,
        port: &str,
        number: u64,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        let version = self
            .input_version_impl(product, port, number)?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "input `{port}` of {product} has no version {number} (never ingested, or \
                     dropped by retention)"
                ))
            })?;
        let segments = version
            .segments
            .iter()
            .map(|s| IpcSource::open(&self.root.join(&s.file), number))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(SegmentSource {
            schema: segments.first().map(|s| s.schema()),
            segments: segments.into(),
            version: number,
        }))
    }
}

/// The segments of one input version, read one after the other.
struct SegmentSource {
    schema: Option<SchemaRef>,
    segments: std::collections::VecDeque<IpcSource>,
    version: u64,
}

impl BatchSource for SegmentSource {
    fn schema(&self) -> SchemaRef {
        self.schema
            .clone()
            .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty()))
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        while let Some(segment) = self.segments.front_mut() {
            match segment.next_batch()? {
                Some(batch) => return Ok(Some(batch)),
                None => {
                    self.segments.pop_front();
                }
            }
        }
        Ok(None)
    }
}
