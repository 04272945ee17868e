//! Keys the host keeps to authenticate what it wrote and reads back (the compiled-code cache's
//! entries, the signed URLs of shared files): 32 random bytes in a file only the host's user
//! may read, created on first use.

use std::io::Write;
use std::path::Path;

/// The length of a key.
pub const KEY_BYTES: usize = 32;

/// The key at `path` (`what` names it in errors), created with owner-only permissions when
/// there is none; an existing key others may read or write is refused.
pub fn load_or_create(path: &Path, what: &str) -> std::io::Result<[u8; KEY_BYTES]> {
    match create_key(path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{what} {} may be read or written by others (mode {:o}); \
                     remove it (and what it signed) or make it owner-only (chmod 600)",
                    path.display(),
                    mode & 0o777
                ),
            ));
        }
    }
    let bytes = std::fs::read(path)?;
    <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{what} {} is not {KEY_BYTES} bytes; remove it to make a new one",
                path.display()
            ),
        )
    })
}

fn create_key(path: &Path) -> std::io::Result<[u8; KEY_BYTES]> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(&key)?;
    file.sync_all()?;
    Ok(key)
}
