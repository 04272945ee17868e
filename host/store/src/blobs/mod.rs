//! Blobs: the immutable bytes of a Tessera host (deployed components, ingested segments,
//! staged and published outputs), by key, behind one narrow trait.
//!
//! The trait asks only what an object store (S3, GCS, Azure through `object_store`) can give:
//! a blob is written whole and becomes visible at its key only when its writer finishes, is
//! never changed afterwards, is read by ranges, and is deleted by key. There is no rename and
//! no "an open file survives deletion": nothing is ever moved into place, records point at the
//! key a blob was written under, and blobs that records stop naming are deleted only after a
//! grace period (see [`crate::storage`]). Listing is for recovery and garbage collection, never
//! for serving a request.
//!
//! Three implementations: [`LocalBlobs`] (files under a directory, the single-host default),
//! [`ObjectBlobs`] (an object store through `object_store`: S3 and S3-compatible servers, or
//! local files; what the hosts of a cluster share, read through a bounded [`BlobCache`]) and
//! [`MemoryBlobs`] (in memory, with an object store's semantics: a read after a delete fails).

mod local;
mod memory;
mod object;
mod sink;

use std::io::{Read, Seek, SeekFrom};

pub use local::LocalBlobs;
pub use memory::MemoryBlobs;
pub use object::{BlobCache, ObjectBlobs, PART_BYTES};
pub(crate) use sink::{BlobSink, StagedBlob, hash_bytes};

use crate::StoreError;

/// Immutable bytes by key. Keys are `/`-separated relative paths of names the store checked
/// (letters, digits, `-`, `_`, `.`; no `..`).
pub trait Blobs: Send + Sync {
    /// Starts a blob at `key`. Nothing is visible at `key` until [`BlobWriter::finish`]; a
    /// writer dropped unfinished leaves nothing behind (but a crash may leave a partial object
    /// that [`Blobs::list`] shows, for recovery to delete).
    fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError>;

    /// Opens the blob at `key` for ranged reads ([`StoreError::NotFound`] when there is none).
    fn open(&self, key: &str) -> Result<Box<dyn BlobReader>, StoreError>;

    /// The size of the blob at `key`, or `None` when there is none.
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError>;

    /// Deletes the blob at `key`; `false` when there was none.
    fn delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Every key that starts with `prefix`, in no particular order. For recovery and garbage
    /// collection only: never on a request's path.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Writes `bytes` as the blob at `key`.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut writer = self.create(key)?;
        writer.write_all(bytes)?;
        writer.finish()?;
        Ok(())
    }

    /// The whole blob at `key`.
    fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let reader = self.open(key)?;
        let length = usize::try_from(reader.len())
            .map_err(|_| StoreError::Io(format!("blob {key} is too large to read whole")))?;
        let mut bytes = vec![0u8; length];
        let mut filled = 0;
        while filled < length {
            let Some(rest) = bytes.get_mut(filled..) else {
                break;
            };
            let n = reader.read_at(filled as u64, rest)?;
            if n == 0 {
                return Err(StoreError::Io(format!("blob {key} ended early")));
            }
            filled += n;
        }
        Ok(bytes)
    }
}

/// A blob being written.
pub trait BlobWriter: std::io::Write + Send {
    /// Makes the bytes written durable and visible at the key. Returns their length.
    fn finish(self: Box<Self>) -> Result<u64, StoreError>;
}

/// A blob open for ranged reads.
pub trait BlobReader: Send + Sync {
    /// The blob's length in bytes.
    fn len(&self) -> u64;

    /// Whether the blob is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`; 0 at the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError>;
}

/// A [`BlobReader`] as `Read + Seek`, through a small buffer of its own, for decoders that
/// want a file (Arrow's IPC file reader). Reads of at least the buffer's size go straight to
/// the blob; the buffer is allocated on the first small read, once.
pub struct BlobCursor {
    reader: Box<dyn BlobReader>,
    position: u64,
    buffer: Vec<u8>,
    /// How much of `buffer` holds bytes of the blob.
    filled: usize,
    /// Where `buffer` starts in the blob.
    buffer_at: u64,
}

/// Bytes read from a blob at a time for small reads (footers, message headers); an input of
/// many segments opens one cursor per segment, so this stays small.
const CURSOR_BUFFER: usize = 64 << 10;

impl BlobCursor {
    /// A cursor at the start of `reader`.
    pub fn new(reader: Box<dyn BlobReader>) -> BlobCursor {
        BlobCursor {
            reader,
            position: 0,
            buffer: Vec::new(),
            filled: 0,
            buffer_at: 0,
        }
    }
}

impl Read for BlobCursor {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let buffered_end = self.buffer_at + self.filled as u64;
        if self.position < self.buffer_at || self.position >= buffered_end {
            if out.len() >= CURSOR_BUFFER {
                let n = self
                    .reader
                    .read_at(self.position, out)
                    .map_err(std::io::Error::other)?;
                self.position += n as u64;
                return Ok(n);
            }
            if self.buffer.is_empty() {
                self.buffer = vec![0; CURSOR_BUFFER];
            }
            self.filled = self
                .reader
                .read_at(self.position, &mut self.buffer)
                .map_err(std::io::Error::other)?;
            self.buffer_at = self.position;
            if self.filled == 0 {
                return Ok(0);
            }
        }
        let start = usize::try_from(self.position - self.buffer_at).unwrap_or(usize::MAX);
        let available = self.buffer.get(start..self.filled).unwrap_or_default();
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for BlobCursor {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.reader.len().checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = target.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of a blob",
            )
        })?;
        Ok(self.position)
    }
}

/// Whether `key` is a blob key the store may use: `/`-separated names of letters, digits,
/// `-`, `_` and `.`, none of them empty, `.` or `..`.
pub(crate) fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
        })
}

pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if valid_key(key) {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!("invalid blob key `{key}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract both implementations keep.
    fn keeps_the_contract(blobs: &dyn Blobs) {
        assert!(blobs.size("a/b.bin").unwrap().is_none());
        let mut writer = blobs.create("a/b.bin").unwrap();
        writer.write_all(b"hello, ").unwrap();
        assert!(
            blobs.size("a/b.bin").unwrap().is_none(),
            "visible before finish"
        );
        writer.write_all(b"blobs").unwrap();
        assert_eq!(writer.finish().unwrap(), 12);
        assert_eq!(blobs.get("a/b.bin").unwrap(), b"hello, blobs");
        assert_eq!(blobs.size("a/b.bin").unwrap(), Some(12));

        let reader = blobs.open("a/b.bin").unwrap();
        let mut middle = [0u8; 5];
        assert_eq!(reader.read_at(7, &mut middle).unwrap(), 5);
        assert_eq!(&middle, b"blobs");
        assert_eq!(reader.read_at(12, &mut middle).unwrap(), 0);

        let mut cursor = BlobCursor::new(blobs.open("a/b.bin").unwrap());
        cursor.seek(SeekFrom::End(-5)).unwrap();
        let mut tail = String::new();
        cursor.read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "blobs");
        assert!(cursor.seek(SeekFrom::Current(-100)).is_err());

        // An unfinished writer leaves nothing visible.
        let mut dropped = blobs.create("a/never.bin").unwrap();
        dropped.write_all(b"half").unwrap();
        drop(dropped);
        assert!(blobs.size("a/never.bin").unwrap().is_none());

        blobs.put("c/d.bin", b"x").unwrap();
        let mut listed = blobs.list("a/").unwrap();
        listed.sort();
        assert_eq!(listed, ["a/b.bin"]);
        assert!(blobs.delete("a/b.bin").unwrap());
        assert!(!blobs.delete("a/b.bin").unwrap());
        assert!(matches!(
            blobs.open("a/b.bin"),
            Err(StoreError::NotFound(_))
        ));
        assert!(blobs.create("../escape").is_err());
        assert!(blobs.create("a//b").is_err());
    }

    #[test]
    fn local_blobs_keep_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        keeps_the_contract(&LocalBlobs::open(dir.path()).unwrap());
    }

    #[test]
    fn object_blobs_on_local_files_keep_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/bucket", dir.path().display());
        let blobs = ObjectBlobs::open(&url, None, &dir.path().join("spool")).unwrap();
        keeps_the_contract(&blobs);
    }

    #[test]
    fn object_blobs_read_through_their_cache_keep_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(object_store::memory::InMemory::new());
        let cache = BlobCache::open(&dir.path().join("cache"), 1 << 20).unwrap();
        let blobs =
            ObjectBlobs::with_store(store, "tessera", Some(cache), &dir.path().join("spool"))
                .unwrap();
        keeps_the_contract(&blobs);
    }

    #[test]
    fn a_blob_past_one_part_is_uploaded_in_parts_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(object_store::memory::InMemory::new());
        let blobs = ObjectBlobs::with_store(store, "", None, &dir.path().join("spool")).unwrap();
        // Two and a half parts of a pattern that differs in every part.
        let bytes: Vec<u8> = (0..PART_BYTES * 5 / 2).map(|i| (i % 251) as u8).collect();
        let mut writer = blobs.create("big/blob.bin").unwrap();
        for piece in bytes.chunks(1 << 20) {
            writer.write_all(piece).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), bytes.len() as u64);
        assert_eq!(blobs.get("big/blob.bin").unwrap(), bytes);
        let reader = blobs.open("big/blob.bin").unwrap();
        let mut across = vec![0u8; 10];
        let at = PART_BYTES as u64 - 5;
        assert_eq!(reader.read_at(at, &mut across).unwrap(), 10);
        assert_eq!(across, bytes[PART_BYTES - 5..PART_BYTES + 5]);
    }

    #[test]
    fn the_cache_keeps_within_its_bound_and_drops_the_least_recently_opened() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(object_store::memory::InMemory::new());
        let cache = BlobCache::open(&dir.path().join("cache"), 4000).unwrap();
        let blobs = ObjectBlobs::with_store(
            store.clone(),
            "p",
            Some(cache.clone()),
            &dir.path().join("spool"),
        )
        .unwrap();
        for name in ["a", "b", "c", "d", "e"] {
            blobs.put(name, &[name.as_bytes()[0]; 1000]).unwrap();
        }
        // Blobs up to a quarter of the bound are kept: four of 1000 bytes fill it.
        for name in ["a", "b", "c", "d"] {
            blobs.open(name).unwrap();
        }
        assert_eq!(cache.bytes(), 4000);
        blobs.open("a").unwrap(); // `a` is used again, so `b` is now the oldest
        blobs.open("e").unwrap();
        assert_eq!(cache.bytes(), 4000);
        let cached_files = std::fs::read_dir(dir.path().join("cache")).unwrap().count();
        assert_eq!(cached_files, 4);
        // `a` is served from its copy even once the store has lost it; `b` was dropped.
        futures_executor_delete(&store, "p/a");
        futures_executor_delete(&store, "p/b");
        let mut first = [0u8; 1];
        blobs.open("a").unwrap().read_at(0, &mut first).unwrap();
        assert_eq!(first, *b"a");
        assert!(matches!(blobs.open("b"), Err(StoreError::NotFound(_))));
        // A blob larger than a quarter of the bound is read by ranges, never kept.
        blobs.put("big", &[7u8; 1001]).unwrap();
        blobs.open("big").unwrap();
        assert_eq!(cache.bytes(), 4000);
    }

    /// Deletes behind the blobs' back, as another host would.
    fn futures_executor_delete(store: &object_store::memory::InMemory, key: &str) {
        use object_store::ObjectStoreExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(store.delete(&object_store::path::Path::from(key)))
            .unwrap();
    }

    #[test]
    fn an_unknown_setting_in_an_objects_url_is_refused_with_the_ones_it_takes() {
        let dir = tempfile::tempdir().unwrap();
        let refused = ObjectBlobs::open("s3://bucket?endpont=http://x", None, dir.path());
        let Err(StoreError::Conflict(message)) = refused else {
            panic!("accepted a misspelt setting");
        };
        assert!(
            message.contains("`endpont`") && message.contains("endpoint, region"),
            "{message}"
        );
    }

    /// An S3-compatible server (moto's), started for one test and stopped with it.
    struct S3Server {
        child: std::process::Child,
        port: u16,
    }

    impl S3Server {
        fn start() -> S3Server {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = std::process::Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("moto_server is not installed: python3 -m pip install 'moto[server]'");
            let server = S3Server { child, port };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "moto_server did not start"
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            server
        }

        /// Creates a bucket with a bare `PUT /bucket` (the store's API has no such call).
        fn create_bucket(&self, bucket: &str) {
            use std::io::Write as _;
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
            write!(
                stream,
                "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.port
            )
            .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
    }

    impl Drop for S3Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn object_blobs_on_an_s3_server_keep_the_contract() {
        let server = S3Server::start();
        server.create_bucket("tessera-test");
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "s3://tessera-test/host-blobs?endpoint=http://127.0.0.1:{}&region=us-east-1&allow_http=true&access_key_id=test&secret_access_key=test",
            server.port
        );
        let cache = BlobCache::open(&dir.path().join("cache"), 64 << 20).unwrap();
        let cached = ObjectBlobs::open(&url, Some(cache), &dir.path().join("spool")).unwrap();
        keeps_the_contract(&cached);
        let ranged = ObjectBlobs::open(&url, None, &dir.path().join("spool")).unwrap();
        keeps_the_contract(&ranged);
        // A multipart upload: two parts and a bit.
        let bytes: Vec<u8> = (0..PART_BYTES * 2 + 10).map(|i| (i % 253) as u8).collect();
        ranged.put("big/blob.bin", &bytes).unwrap();
        assert_eq!(
            ranged.size("big/blob.bin").unwrap(),
            Some(bytes.len() as u64)
        );
        assert_eq!(ranged.get("big/blob.bin").unwrap(), bytes);
        // Another host's view of the same bucket sees it.
        let other = ObjectBlobs::open(&url, None, &dir.path().join("spool2")).unwrap();
        assert_eq!(other.list("big/").unwrap(), ["big/blob.bin"]);
    }

    #[test]
    fn memory_blobs_keep_the_contract() {
        keeps_the_contract(&MemoryBlobs::default());
    }

    #[test]
    fn a_memory_blob_read_after_its_delete_fails_as_on_an_object_store() {
        let blobs = MemoryBlobs::default();
        blobs.put("k", b"bytes").unwrap();
        let reader = blobs.open("k").unwrap();
        blobs.delete("k").unwrap();
        let mut buf = [0u8; 2];
        assert!(matches!(
            reader.read_at(0, &mut buf),
            Err(StoreError::NotFound(_))
        ));
    }
}
