//! Blobs in an object store (S3 and S3-compatible servers, or local files) through the
//! `object_store` crate: the bytes hosts of a cluster share.
//!
//! The [`Blobs`] trait is synchronous, the store asynchronous: each [`ObjectBlobs`] waits for
//! its requests through an [`AsyncBridge`] of its own.
//!
//! A writer spools to an unlinked local file and uploads when it finishes (one request up to
//! [`PART_BYTES`], a multipart upload beyond), so nothing is visible at the key before then:
//! an object store makes a put visible whole or not at all. Reads are ranged requests; with a
//! [`BlobCache`] a blob no larger than a quarter of the cache is fetched once, kept in a local
//! file and read from there (blobs never change, so a cached copy is never stale).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{BlobReader, BlobWriter, Blobs, check_key};
use crate::StoreError;
use crate::bridge::{AsyncBridge, Requests};

/// Bytes uploaded per request: a blob up to this size is one put, a larger one a multipart
/// upload of parts this size (S3 wants parts of at least 5 MiB).
pub const PART_BYTES: usize = 16 << 20;

/// The query parameters an `s3://` URL may carry (the rest of the settings come from the
/// `AWS_*` environment variables).
const S3_SETTINGS: &[&str] = &[
    "endpoint",
    "region",
    "allow_http",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "virtual_hosted_style_request",
];

/// Blobs under a prefix of an object store.
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    bridge: AsyncBridge,
    cache: Option<Arc<BlobCache>>,
    spool: PathBuf,
}

/// Spool files started by this process: each writer's file has a name of its own, whichever
/// [`ObjectBlobs`] spools it.
static SPOOLED: AtomicU64 = AtomicU64::new(0);

impl ObjectBlobs {
    /// Blobs at `url`: `s3://bucket/prefix?endpoint=http://host:port&region=…` or
    /// `file:///absolute/dir`. Reads go through `cache` when given; writers spool under `spool`.
    pub fn open(
        url: &str,
        cache: Option<Arc<BlobCache>>,
        spool: &FsPath,
    ) -> Result<ObjectBlobs, StoreError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| StoreError::Conflict(format!("objects URL `{url}`: {e}")))?;
        let mut options: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        for (key, value) in parsed.query_pairs() {
            if parsed.scheme() != "s3" || !S3_SETTINGS.contains(&key.as_ref()) {
                return Err(StoreError::Conflict(format!(
                    "objects URL `{url}`: unknown setting `{key}`; an s3:// URL takes {}",
                    S3_SETTINGS.join(", ")
                )));
            }
            options.push((key.into_owned(), value.into_owned()));
        }
        let mut bare = parsed.clone();
        bare.set_query(None);
        let (store, prefix) = object_store::parse_url_opts(&bare, options)
            .map_err(|e| StoreError::Conflict(format!("objects URL `{url}`: {e}")))?;
        Self::with_store(Arc::from(store), prefix.as_ref(), cache, spool)
    }

    /// Blobs under `prefix` of `store`.
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        cache: Option<Arc<BlobCache>>,
        spool: &FsPath,
    ) -> Result<ObjectBlobs, StoreError> {
        std::fs::create_dir_all(spool)?;
        Ok(ObjectBlobs {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            bridge: AsyncBridge::new("tessera-objects")?,
            cache,
            spool: spool.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> Result<Path, StoreError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(full).map_err(|e| StoreError::Conflict(format!("blob key `{key}`: {e}")))
    }

    fn handle(&self) -> Result<Requests, StoreError> {
        self.bridge.requests()
    }
}

fn failed(key: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound(format!("no blob {key}")),
        e => StoreError::Io(format!("blob {key}: {e}")),
    }
}

impl Blobs for ObjectBlobs {
    fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        let path = self.path(key)?;
        let spooled = self.spool.join(format!(
            "spool-{}-{}",
            std::process::id(),
            SPOOLED.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&spooled)?;
        // Unlinked at once: a crash leaves nothing to clean up.
        std::fs::remove_file(&spooled)?;
        Ok(Box::new(ObjectWriter {
            file,
            bytes: 0,
            key: key.to_string(),
            path,
            store: self.store.clone(),
            requests: self.handle()?,
        }))
    }

    fn open(&self, key: &str) -> Result<Box<dyn BlobReader>, StoreError> {
        let path = self.path(key)?;
        // A copy in the cache is read without asking the store: blobs never change.
        if let Some((file, length)) = self.cache.as_ref().and_then(|c| c.lookup(key)) {
            return Ok(Box::new(CachedReader { file, length }));
        }
        let requests = self.handle()?;
        let (store, at) = (self.store.clone(), path.clone());
        let meta = requests
            .wait(async move { store.head(&at).await })?
            .map_err(|e| failed(key, e))?;
        if let Some(cache) = self.cache.as_ref().filter(|c| meta.size <= c.max_entry()) {
            let (store, at) = (self.store.clone(), path.clone());
            let bytes = requests
                .wait(async move { store.get(&at).await?.bytes().await })?
                .map_err(|e| failed(key, e))?;
            let file = cache.insert(key, meta.size, &bytes)?;
            return Ok(Box::new(CachedReader {
                file,
                length: meta.size,
            }));
        }
        Ok(Box::new(RangedReader {
            store: self.store.clone(),
            path,
            key: key.to_string(),
            length: meta.size,
            requests,
        }))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let (store, path) = (self.store.clone(), self.path(key)?);
        match self
            .handle()?
            .wait(async move { store.head(&path).await })?
        {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(failed(key, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        if let Some(cache) = &self.cache {
            cache.forget(key);
        }
        let (store, path) = (self.store.clone(), self.path(key)?);
        // S3 answers a delete of a missing key with success: ask first.
        let deleted = self.handle()?.wait(async move {
            match store.head(&path).await {
                Ok(_) => store.delete(&path).await.map(|()| true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })?;
        deleted.map_err(|e| failed(key, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Listing is by whole path segments: list the prefix's directory, keep what matches.
        let directory = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let root = self.prefix.clone();
        let under = match (root.is_empty(), directory.is_empty()) {
            (true, _) => directory.to_string(),
            (false, true) => root.clone(),
            (false, false) => format!("{root}/{directory}"),
        };
        let store = self.store.clone();
        let listed = self.handle()?.wait(async move {
            let under = (!under.is_empty()).then(|| Path::from(under));
            let mut stream = store.list(under.as_ref());
            let mut keys = Vec::new();
            while let Some(meta) = stream.next().await {
                keys.push(meta?.location.to_string());
            }
            Ok::<_, object_store::Error>(keys)
        })?;
        let listed = listed.map_err(|e| StoreError::Io(format!("listing `{prefix}`: {e}")))?;
        let strip = |k: String| match root.is_empty() {
            true => Some(k),
            false => k.strip_prefix(&format!("{root}/")).map(str::to_string),
        };
        let keys = listed.into_iter().filter_map(strip);
        Ok(keys.filter(|k| k.starts_with(prefix)).collect())
    }
}

/// A blob being spooled before its upload.
struct ObjectWriter {
    file: File,
    bytes: u64,
    key: String,
    path: Path,
    store: Arc<dyn ObjectStore>,
    requests: Requests,
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter {
    /// The next part of the spooled bytes, at most [`PART_BYTES`]; empty at the end.
    fn next_part(&mut self) -> Result<Vec<u8>, StoreError> {
        let mut part = Vec::with_capacity(PART_BYTES.min(self.bytes as usize));
        (&mut self.file)
            .take(PART_BYTES as u64)
            .read_to_end(&mut part)?;
        Ok(part)
    }
}

impl BlobWriter for ObjectWriter {
    fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        self.file.seek(SeekFrom::Start(0))?;
        let (store, path, key) = (self.store.clone(), self.path.clone(), self.key.clone());
        if self.bytes <= PART_BYTES as u64 {
            let payload = PutPayload::from(self.next_part()?);
            let put = self
                .requests
                .wait(async move { store.put(&path, payload).await })?;
            put.map_err(|e| failed(&key, e))?;
            return Ok(self.bytes);
        }
        let upload = self
            .requests
            .wait(async move { store.put_multipart(&path).await })?;
        let mut upload = upload.map_err(|e| failed(&key, e))?;
        loop {
            let part = self.next_part()?;
            if part.is_empty() {
                break;
            }
            let sent = self
                .requests
                .wait(upload.put_part(PutPayload::from(part)))?;
            if let Err(e) = sent {
                let _ = self.requests.wait(async move { upload.abort().await });
                return Err(failed(&key, e));
            }
        }
        let done = self.requests.wait(async move { upload.complete().await })?;
        done.map_err(|e| failed(&key, e))?;
        Ok(self.bytes)
    }
}

/// Ranged reads straight from the store.
struct RangedReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    key: String,
    length: u64,
    requests: Requests,
}

impl BlobReader for RangedReader {
    fn len(&self) -> u64 {
        self.length
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        let end = offset.saturating_add(buf.len() as u64).min(self.length);
        if offset >= end {
            return Ok(0);
        }
        let (store, path) = (self.store.clone(), self.path.clone());
        let bytes = self
            .requests
            .wait(async move { store.get_range(&path, offset..end).await })?
            .map_err(|e| failed(&self.key, e))?;
        let n = bytes.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), bytes.get(..n)) {
            to.copy_from_slice(from);
        }
        Ok(n)
    }
}

/// Reads from a blob's copy in the cache.
struct CachedReader {
    file: File,
    length: u64,
}

impl BlobReader for CachedReader {
    fn len(&self) -> u64 {
        self.length
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        if offset >= self.length {
            return Ok(0);
        }
        Ok(self.file.read_at(buf, offset)?)
    }
}

/// A host's local copies of blobs it read, in files under one directory, within a size bound:
/// the least recently opened go first. The directory is emptied when the cache opens (the
/// bound covers only what this process knows of).
pub struct BlobCache {
    dir: PathBuf,
    bound: u64,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// Key → (file name, size, last use).
    entries: HashMap<String, (String, u64, u64)>,
    bytes: u64,
    clock: u64,
    names: u64,
}

impl BlobCache {
    /// A cache of at most `bound` bytes in `dir` (emptied first).
    pub fn open(dir: &FsPath, bound: u64) -> Result<Arc<BlobCache>, StoreError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(Arc::new(BlobCache {
            dir: dir.to_path_buf(),
            bound,
            state: Mutex::new(CacheState::default()),
        }))
    }

    /// The largest blob kept: a quarter of the bound, so one blob never empties the cache.
    pub fn max_entry(&self) -> u64 {
        self.bound / 4
    }

    /// The bytes the cache holds now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached copy of `key` and its length, if there is one.
    fn lookup(&self, key: &str) -> Option<(File, u64)> {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(key)?;
        entry.2 = now;
        let (name, size) = (entry.0.clone(), entry.1);
        drop(state);
        match File::open(self.dir.join(name)) {
            Ok(file) => Some((file, size)),
            Err(_) => {
                self.forget(key);
                None
            }
        }
    }

    /// Keeps `bytes` as the copy of `key` (dropping the least recently used copies past the
    /// bound) and opens it.
    fn insert(&self, key: &str, size: u64, bytes: &[u8]) -> Result<File, StoreError> {
        if bytes.len() as u64 != size {
            return Err(StoreError::Io(format!(
                "blob {key} changed while it was read: {} bytes, {size} expected",
                bytes.len()
            )));
        }
        let name = {
            let mut state = self.lock();
            state.names += 1;
            format!("{}.blob", state.names)
        };
        let path = self.dir.join(&name);
        let partial = self.dir.join(format!("{name}.partial"));
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, &path)?;
        let file = File::open(&path)?;
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        if let Some((old, old_size, _)) = state.entries.insert(key.to_string(), (name, size, now)) {
            state.bytes = state.bytes.saturating_sub(old_size);
            let _ = std::fs::remove_file(self.dir.join(old));
        }
        state.bytes += size;
        while state.bytes > self.bound {
            let oldest = state
                .entries
                .iter()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some((old, old_size, _)) = state.entries.remove(&oldest) {
                state.bytes = state.bytes.saturating_sub(old_size);
                // An open reader keeps its file's bytes: unlinking never breaks it.
                let _ = std::fs::remove_file(self.dir.join(old));
            }
        }
        Ok(file)
    }

    /// Drops the copy of `key`, if any.
    fn forget(&self, key: &str) {
        let mut state = self.lock();
        if let Some((name, size, _)) = state.entries.remove(key) {
            state.bytes = state.bytes.saturating_sub(size);
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }
}
