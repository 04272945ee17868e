//! Records in a JetStream key-value bucket, with revisions and compare-and-swap.

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use futures_util::TryStreamExt;
use tessera_store::StoreError;
use tessera_store::bridge::AsyncBridge;

/// A record and the revision it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The value.
    pub value: Vec<u8>,
    /// The bucket's revision of this write: what a compare-and-swap names.
    pub revision: u64,
}

/// What a compare-and-swap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// Written, at this revision.
    Written(u64),
    /// Not written: the key exists already (a create), or was written since the revision
    /// named (an update). Read again and decide.
    Conflict,
}

/// Records in one JetStream key-value bucket. Keys are `/`- or `.`-separated names of
/// letters, digits, `-`, `_` and `=`.
pub struct JetStreamRecords {
    pub(crate) bridge: AsyncBridge,
    pub(crate) store: kv::Store,
    bucket: String,
}

fn unreachable_server(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("NATS: {what}: {e}"))
}

fn invalid_key(key: &str) -> StoreError {
    StoreError::Conflict(format!(
        "invalid record key `{key}`: use letters, digits, `-`, `_`, `=`, `/` and `.` (not at either end)"
    ))
}

impl JetStreamRecords {
    /// Connects to the NATS server at `url` and opens `bucket`, creating it when missing (one
    /// value per key, kept on disk). The client reconnects by itself after the server restarts.
    pub fn connect(url: &str, bucket: &str) -> Result<JetStreamRecords, StoreError> {
        Self::open(url, bucket, None)
    }

    /// As [`JetStreamRecords::connect`], with every entry dropped by the server `max_age`
    /// after its last write when given.
    pub(crate) fn open(
        url: &str,
        bucket: &str,
        max_age: Option<std::time::Duration>,
    ) -> Result<JetStreamRecords, StoreError> {
        let bridge = AsyncBridge::new("tessera-nats")?;
        let (url, name) = (url.to_string(), bucket.to_string());
        let store = bridge.wait(async move {
            let client = async_nats::ConnectOptions::new()
                .retry_on_initial_connect()
                .connection_timeout(std::time::Duration::from_secs(5))
                .connect(url.as_str())
                .await
                .map_err(|e| unreachable_server(&format!("connecting to {url}"), e))?;
            let jetstream = async_nats::jetstream::new(client);
            let config = kv::Config {
                bucket: name.clone(),
                history: 1,
                max_age: max_age.unwrap_or_default(),
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            };
            match jetstream.get_key_value(name.as_str()).await {
                Ok(store) => Ok(store),
                Err(_) => jetstream
                    .create_key_value(config)
                    .await
                    .map_err(|e| unreachable_server(&format!("creating bucket {name}"), e)),
            }
        })??;
        Ok(JetStreamRecords {
            bridge,
            store,
            bucket: bucket.to_string(),
        })
    }

    /// `bucket`, every entry of which the server drops `ttl` (at least a second) after its
    /// last write: for leases and the roster. The TTL it got.
    pub(crate) fn expiring(
        url: &str,
        bucket: &str,
        ttl: std::time::Duration,
    ) -> Result<(JetStreamRecords, std::time::Duration), StoreError> {
        let ttl = ttl.max(std::time::Duration::from_secs(1));
        Ok((Self::open(url, bucket, Some(ttl))?, ttl))
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The record at `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let (store, at) = (self.store.clone(), key.to_string());
        let entry = self.bridge.wait(async move { store.entry(at).await })?;
        let entry = entry.map_err(|e| match e.kind() {
            kv::EntryErrorKind::InvalidKey => invalid_key(key),
            _ => unreachable_server(&format!("reading {key}"), e),
        })?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .map(|e| Record {
                value: e.value.to_vec(),
                revision: e.revision,
            }))
    }

    /// Writes `value` at `key` only when there is no record there.
    pub fn create(&self, key: &str, value: &[u8]) -> Result<Swap, StoreError> {
        let (store, at) = (self.store.clone(), key.to_string());
        let value = bytes::Bytes::copy_from_slice(value);
        let created = self
            .bridge
            .wait(async move { store.create(at, value).await })?;
        match created {
            Ok(revision) => Ok(Swap::Written(revision)),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(Swap::Conflict),
            Err(e) if e.kind() == CreateErrorKind::InvalidKey => Err(invalid_key(key)),
            Err(e) => Err(unreachable_server(&format!("creating {key}"), e)),
        }
    }

    /// Writes `value` at `key` only when its record is still at `revision`.
    pub fn update(&self, key: &str, value: &[u8], revision: u64) -> Result<Swap, StoreError> {
        let (store, at) = (self.store.clone(), key.to_string());
        let value = bytes::Bytes::copy_from_slice(value);
        let updated = self
            .bridge
            .wait(async move { store.update(at, value, revision).await })?;
        match updated {
            Ok(revision) => Ok(Swap::Written(revision)),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(Swap::Conflict),
            Err(e) if e.kind() == UpdateErrorKind::InvalidKey => Err(invalid_key(key)),
            Err(e) => Err(unreachable_server(&format!("updating {key}"), e)),
        }
    }

    /// Writes `value` at `key` whatever is there. Its revision.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<u64, StoreError> {
        let (store, at) = (self.store.clone(), key.to_string());
        let value = bytes::Bytes::copy_from_slice(value);
        let put = self
            .bridge
            .wait(async move { store.put(at, value).await })?;
        put.map_err(|e| match e.kind() {
            kv::PutErrorKind::InvalidKey => invalid_key(key),
            _ => unreachable_server(&format!("writing {key}"), e),
        })
    }

    /// Deletes the record at `key` only when it is still at `revision`.
    pub fn delete(&self, key: &str, revision: u64) -> Result<Swap, StoreError> {
        let (store, at) = (self.store.clone(), key.to_string());
        let deleted = self
            .bridge
            .wait(async move { store.delete_expect_revision(at, Some(revision)).await })?;
        match deleted {
            Ok(()) => Ok(Swap::Written(revision)),
            Err(e) if e.kind() == kv::DeleteErrorKind::InvalidKey => Err(invalid_key(key)),
            Err(e) if e.to_string().contains("wrong last sequence") => Ok(Swap::Conflict),
            Err(e) => Err(unreachable_server(&format!("deleting {key}"), e)),
        }
    }

    /// Every key that starts with `prefix`, sorted. Reads every key of the bucket: for
    /// recovery and listings, not for a request's path.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let store = self.store.clone();
        let keys = self.bridge.wait(async move {
            match store.keys().await {
                Ok(keys) => keys
                    .try_collect::<Vec<String>>()
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })?;
        let mut keys = keys.map_err(|e| unreachable_server("listing keys", e))?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }
}
