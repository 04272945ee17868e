//! Input versions in the sled catalog: the commit that makes an ingest the port's next input
//! version (exactly once per `Idempotency-Key` within its window), and the reads of them.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError::Abort;

use super::SledCatalog;
use super::keys::{
    current_input_key, decode_number, idempotency_key, input_key, key_by_time, port_prefix,
    product_prefix, time_bytes,
};
use crate::catalog::{InputCommit, InputCommitted};
use crate::model::InputVersion;
use crate::{IDEMPOTENCY_WINDOW_US, StoreError};

impl SledCatalog {
    pub(super) fn commit_input_impl(
        &self,
        commit: &InputCommit,
    ) -> Result<InputCommitted, StoreError> {
        let version = &commit.version;
        let (product, port, number) = (
            version.product.as_str(),
            version.port.as_str(),
            version.number,
        );
        let key = version.idempotency_key.as_deref();
        if let Some(key) = key
            && let Some(earlier) =
                self.keyed_input_impl(product, port, key, version.ingested_at_us)?
        {
            return Ok(InputCommitted::Repeated(earlier));
        }
        let record = serde_json::to_vec(version)?;
        let committed = (
            &self.input_versions,
            &self.current_inputs,
            &self.idempotency,
            &self.idempotency_by_time,
            &self.usage,
        )
            .transaction(|(versions, current, keys, by_time, usage)| {
                let previous = current
                    .get(current_input_key(product, port))?
                    .map(|v| decode_number(&v));
                if previous.unwrap_or(0) + 1 != number {
                    return Err(Abort(format!(
                        "input `{port}` of {product} moved on to version {} meanwhile",
                        previous.unwrap_or(0)
                    )));
                }
                usage.insert(product.as_bytes(), &commit.usage_after.to_be_bytes())?;
                versions.insert(input_key(product, port, number), record.clone())?;
                current.insert(current_input_key(product, port), &number.to_be_bytes())?;
                if let Some(key) = key {
                    // The key keeps the version it made, so it answers for the whole window
                    // even after retention drops that version.
                    keys.insert(idempotency_key(product, port, key), record.clone())?;
                    by_time.insert(key_by_time(version.ingested_at_us, product, port, key), &[])?;
                }
                Ok(())
            });
        super::compare_and_swap_outcome(committed, "ingest")?;
        self.expire_idempotency_keys(version.ingested_at_us)?;
        self.db.flush()?;
        Ok(InputCommitted::Committed)
    }

    pub(super) fn keyed_input_impl(
        &self,
        product: &str,
        port: &str,
        key: &str,
        now_us: i64,
    ) -> Result<Option<InputVersion>, StoreError> {
        match self.idempotency.get(idempotency_key(product, port, key))? {
            None => Ok(None),
            // Keys written before they kept their version name it by number.
            Some(number) if number.len() == 8 => {
                self.input_version_impl(product, port, decode_number(&number))
            }
            Some(version) => {
                let version: InputVersion = serde_json::from_slice(&version)?;
                let expired = version.ingested_at_us < now_us.saturating_sub(IDEMPOTENCY_WINDOW_US);
                Ok((!expired).then_some(version))
            }
        }
    }

    /// Drops the idempotency keys used longer than [`IDEMPOTENCY_WINDOW_US`] before `now_us`,
    /// oldest first; reads nothing else.
    fn expire_idempotency_keys(&self, now_us: i64) -> Result<(), StoreError> {
        let horizon = time_bytes(now_us.saturating_sub(IDEMPOTENCY_WINDOW_US));
        for entry in self.idempotency_by_time.range(..horizon.to_vec()) {
            let (index, _) = entry?;
            if let Some(key) = index.get(8..) {
                self.idempotency.remove(key)?;
            }
            self.idempotency_by_time.remove(index)?;
        }
        Ok(())
    }

    pub(super) fn current_input_impl(
        &self,
        product: &str,
        port: &str,
    ) -> Result<Option<InputVersion>, StoreError> {
        match self.current_inputs.get(current_input_key(product, port))? {
            None => Ok(None),
            Some(number) => self.input_version_impl(product, port, decode_number(&number)),
        }
    }

    pub(super) fn input_version_impl(
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

    pub(super) fn input_versions_impl(
        &self,
        product: &str,
        port: &str,
    ) -> Result<Vec<InputVersion>, StoreError> {
        self.input_versions
            .scan_prefix(port_prefix(product, port))
            .map(|e| Ok(serde_json::from_slice(&e?.1)?))
            .collect()
    }

    pub(super) fn ingest_ports_impl(&self, product: &str) -> Result<Vec<String>, StoreError> {
        let mut ports = Vec::new();
        for entry in self.current_inputs.scan_prefix(product_prefix(product)) {
            let (key, _) = entry?;
            let port = key
                .splitn(2, |b| *b == 0)
                .nth(1)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default();
            ports.push(port);
        }
        Ok(ports)
    }
}
