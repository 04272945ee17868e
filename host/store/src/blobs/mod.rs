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
//! Two implementations: [`LocalBlobs`] (files under a directory, the single-host default) and
//! [`MemoryBlobs`] (in memory, with an object store's semantics: a read after a delete fails).

mod local;
mod memory;
mod sink;

use std::io::{Read, Seek, SeekFrom};

pub use local::LocalBlobs;
pub use memory::MemoryBlobs;
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
