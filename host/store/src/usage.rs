//! The bytes each product keeps (published versions and ingested segments), maintained by the
//! transactions that change them, so a quota check reads one number instead of every record.
//!
//! Publishes and ingest commits add what they commit; retention subtracts, in its own
//! transaction, the bytes of the files no kept record refers to any more. A product whose data
//! predates the counter gets it computed once from its records. Every change happens under the
//! store's publish lock.

use crate::StoreError;
use crate::sled_store::{SledStore, decode_number, product_prefix};

impl SledStore {
    /// The bytes `product` keeps, computing and recording the figure the first time. Call with
    /// the publish lock held.
    pub(crate) fn usage_locked(&self, product: &str) -> Result<u64, StoreError> {
        if let Some(bytes) = self.usage.get(product)? {
            return Ok(decode_number(&bytes));
        }
        let bytes = self.usage_from_records(product)?;
        self.usage
            .insert(product.as_bytes(), &bytes.to_be_bytes())?;
        Ok(bytes)
    }

    /// The figure from the records themselves: every published port file, and every ingested
    /// segment once (appends share segments, also ones whose first version retention dropped).
    fn usage_from_records(&self, product: &str) -> Result<u64, StoreError> {
        let mut bytes = 0u64;
        for entry in self.versions.scan_prefix(product_prefix(product)) {
            let version: crate::model::Version = serde_json::from_slice(&entry?.1)?;
            bytes += version.bytes();
        }
        let mut segments = std::collections::HashMap::new();
        for entry in self.input_versions.scan_prefix(product_prefix(product)) {
            let version: crate::model::InputVersion = serde_json::from_slice(&entry?.1)?;
            for segment in version.segments {
                segments.insert(segment.file, segment.bytes);
            }
        }
        Ok(bytes + segments.values().sum::<u64>())
    }

    pub(crate) fn stored_bytes_impl(&self, product: &str) -> Result<u64, StoreError> {
        let _guard = self
            .publish_lock
            .lock()
            .map_err(|_| StoreError::Io("publish lock poisoned".into()))?;
        self.usage_locked(product)
    }
}

/// `usage` moved by `delta` bytes, as the value a transaction writes.
pub(crate) fn moved(usage: u64, delta: i128) -> [u8; 8] {
    let moved = i128::from(usage).saturating_add(delta).max(0);
    u64::try_from(moved).unwrap_or(u64::MAX).to_be_bytes()
}
