//! Blobs in memory, with an object store's semantics rather than a file system's: a reader
//! reads through to the map on every range, so a blob deleted while someone reads it is gone
//! for them too. The store's tests run against it to show that nothing relies on an open file
//! surviving its deletion.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

use super::{BlobReader, BlobWriter, Blobs, check_key};
use crate::StoreError;

type Objects = Arc<RwLock<HashMap<String, Arc<Vec<u8>>>>>;

/// Blobs in a map.
#[derive(Default, Clone)]
pub struct MemoryBlobs {
    objects: Objects,
}

fn poisoned() -> StoreError {
    StoreError::Io("memory blobs lock poisoned".into())
}

impl Blobs for MemoryBlobs {
    fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        check_key(key)?;
        Ok(Box::new(MemoryWriter {
            objects: self.objects.clone(),
            key: key.to_string(),
            bytes: Vec::new(),
        }))
    }

    fn open(&self, key: &str) -> Result<Box<dyn BlobReader>, StoreError> {
        check_key(key)?;
        let length = self
            .objects
            .read()
            .map_err(|_| poisoned())?
            .get(key)
            .map(|b| b.len() as u64)
            .ok_or_else(|| StoreError::NotFound(format!("no blob {key}")))?;
        Ok(Box::new(MemoryReader {
            objects: self.objects.clone(),
            key: key.to_string(),
            length,
        }))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        check_key(key)?;
        Ok(self
            .objects
            .read()
            .map_err(|_| poisoned())?
            .get(key)
            .map(|b| b.len() as u64))
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        Ok(self
            .objects
            .write()
            .map_err(|_| poisoned())?
            .remove(key)
            .is_some())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .objects
            .read()
            .map_err(|_| poisoned())?
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}

struct MemoryWriter {
    objects: Objects,
    key: String,
    bytes: Vec<u8>,
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for MemoryWriter {
    fn finish(self: Box<Self>) -> Result<u64, StoreError> {
        let length = self.bytes.len() as u64;
        self.objects
            .write()
            .map_err(|_| poisoned())?
            .insert(self.key, Arc::new(self.bytes));
        Ok(length)
    }
}

struct MemoryReader {
    objects: Objects,
    key: String,
    length: u64,
}

impl BlobReader for MemoryReader {
    fn len(&self) -> u64 {
        self.length
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        let object = self
            .objects
            .read()
            .map_err(|_| poisoned())?
            .get(&self.key)
            .cloned()
            .ok_or_else(|| {
                StoreError::NotFound(format!("blob {} was deleted while being read", self.key))
            })?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let available = object.get(start..).unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        Ok(n)
    }
}
