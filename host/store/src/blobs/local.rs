//! Blobs as files under one directory: a writer fills a partial file of its own, and
//! finishing fsyncs it, renames it to the key's path and fsyncs the directory, so a blob is
//! either whole at its key or absent.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{BlobReader, BlobWriter, Blobs, check_key};
use crate::StoreError;

/// The suffix of files still being written.
const PARTIAL: &str = ".partial";

/// Blobs in files under `root`, one file per key.
pub struct LocalBlobs {
    root: PathBuf,
    writes: AtomicU64,
}

impl LocalBlobs {
    /// Blobs under `root` (created when missing).
    pub fn open(root: &Path) -> Result<LocalBlobs, StoreError> {
        std::fs::create_dir_all(root)?;
        Ok(LocalBlobs {
            root: root.to_path_buf(),
            writes: AtomicU64::new(0),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

impl Blobs for LocalBlobs {
    fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        let path = self.path(key)?;
        let dir = path
            .parent()
            .ok_or_else(|| StoreError::Io(format!("blob {key} has no directory")))?
            .to_path_buf();
        create_dir_durably(&dir)?;
        // A partial file of its own per writer: two writers of one key never share one.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial = dir.join(format!(
            ".{name}.{}-{}{PARTIAL}",
            std::process::id(),
            self.writes.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&partial)
            .map_err(|e| StoreError::Io(format!("{}: {e}", partial.display())))?;
        // Unbuffered: callers write in large pieces (the batch sink buffers above this).
        Ok(Box::new(LocalWriter {
            file: Some(file),
            partial,
            path,
            dir,
            bytes: 0,
        }))
    }

    fn open(&self, key: &str) -> Result<Box<dyn BlobReader>, StoreError> {
        let path = self.path(key)?;
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound(format!("no blob {key}")),
            _ => StoreError::Io(format!("{}: {e}", path.display())),
        })?;
        let length = file.metadata()?.len();
        Ok(Box::new(LocalReader { file, length }))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match std::fs::metadata(self.path(key)?) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {
                // Directories are an artefact of this implementation: drop the emptied ones.
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
                    if std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        // Walk from the deepest directory the prefix names whole.
        let start = match prefix.rfind('/') {
            Some(at) => prefix.get(..at).unwrap_or_default(),
            None => "",
        };
        let dir = if start.is_empty() {
            self.root.clone()
        } else {
            self.path(start)?
        };
        walk(&self.root, &dir, &mut keys)?;
        keys.retain(|k| k.starts_with(prefix));
        Ok(keys)
    }
}

/// Every file under `dir`, as a key relative to `root` (partial files included: they are
/// garbage to whoever lists).
fn walk(root: &Path, dir: &Path, keys: &mut Vec<String>) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, keys)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            keys.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

struct LocalWriter {
    file: Option<File>,
    partial: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    bytes: u64,
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("blob writer already finished"))?;
        let n = file.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter for LocalWriter {
    fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        let file = self
            .file
            .take()
            .ok_or_else(|| StoreError::Io("blob writer already finished".into()))?;
        file.sync_all()?;
        std::fs::rename(&self.partial, &self.path)?;
        sync_dir(&self.dir)?;
        Ok(self.bytes)
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

struct LocalReader {
    file: File,
    length: u64,
}

impl BlobReader for LocalReader {
    fn len(&self) -> u64 {
        self.length
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        use std::os::unix::fs::FileExt;
        Ok(self.file.read_at(buf, offset)?)
    }
}

/// Creates `dir` and any missing parents, each new one made durable by fsyncing the directory
/// that holds it: a record that points into a new directory must not outlive it in a crash.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(path);
        current = path.parent();
    }
    std::fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)?.sync_all()?;
    Ok(())
}
