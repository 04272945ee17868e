//! The compiled-code cache: components compiled by this host are kept in a directory, keyed by
//! the component's hash and the engine's configuration, each with an HMAC-SHA256 tag under a
//! key only this host holds. Only entries whose tag verifies are ever deserialized (turned into
//! native code), so whoever can write the cache directory, but not the key, cannot make the
//! host run code of their choosing; a user can never hand the host precompiled code.
//!
//! The key is 32 bytes of operating-system randomness in a file beside the directory
//! (`<dir>.key`), created with owner-only permissions; a key file that others may read or
//! write is refused, and the runtime does not start until it is fixed or removed.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

type Tag = Hmac<Sha256>;

/// Bytes of the cache key.
const KEY_BYTES: usize = crate::host_key::KEY_BYTES;

pub(crate) struct CodeCache {
    dir: PathBuf,
    engine_key: String,
    key: [u8; KEY_BYTES],
}

impl CodeCache {
    /// The cache in `dir`, with its key (made on first use) at `<dir>.key`. An error means
    /// the cache cannot be used safely; the caller compiles without it.
    pub fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let key = crate::host_key::load_or_create(&key_path(dir), "the code cache key")?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Ok(CodeCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
            key,
        })
    }

    fn paths(&self, wasm_hash: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{wasm_hash}-{}", self.engine_key);
        (
            self.dir.join(format!("{stem}.cwasm")),
            self.dir.join(format!("{stem}.hmac")),
        )
    }

    /// The tag of a compilation: over the entry's name (component hash and engine) and its bytes,
    /// so an entry cannot be moved to another name either.
    fn tag(&self, wasm_hash: &str, bytes: &[u8]) -> Option<Tag> {
        let mut mac = Tag::new_from_slice(&self.key).ok()?;
        mac.update(wasm_hash.as_bytes());
        mac.update(b"\0");
        mac.update(self.engine_key.as_bytes());
        mac.update(b"\0");
        mac.update(bytes);
        Some(mac)
    }

    /// The cached compilation of the component with this hash, if present and authentic.
    pub fn load(&self, engine: &Engine, wasm_hash: &str) -> Option<Component> {
        let (code, tag_path) = self.paths(wasm_hash);
        let bytes = std::fs::read(&code).ok()?;
        let stored = std::fs::read_to_string(&tag_path).ok()?;
        let stored = hex::decode(stored.trim()).ok();
        let authentic = match (self.tag(wasm_hash, &bytes), stored) {
            // `verify_slice` compares in constant time.
            (Some(tag), Some(stored)) => tag.verify_slice(&stored).is_ok(),
            _ => false,
        };
        if !authentic {
            tracing::warn!(path = %code.display(), "compiled-code cache entry failed authentication; recompiling");
            let _ = std::fs::remove_file(&code);
            let _ = std::fs::remove_file(&tag_path);
            return None;
        }
        // SAFETY: `bytes` were produced by `Component::serialize` of an engine with the same
        // compatibility hash (it is part of the file name and of the tag), and carry an HMAC
        // under a key only this host holds: this host wrote them.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &bytes) };
        match component {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "compiled-code cache entry could not be loaded; recompiling");
                None
            }
        }
    }

    /// Stores a compilation (atomically: temporary files, then renames; the tag goes last, so
    /// a crash leaves an entry that fails authentication, never a wrong one that passes).
    pub fn store(&self, wasm_hash: &str, component: &Component) {
        let result = (|| -> std::io::Result<()> {
            let bytes = component.serialize().map_err(std::io::Error::other)?;
            let tag = self
                .tag(wasm_hash, &bytes)
                .ok_or_else(|| std::io::Error::other("the cache key is unusable"))?;
            let (code, tag_path) = self.paths(wasm_hash);
            let tmp = code.with_extension("cwasm.tmp");
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &code)?;
            let tmp = tag_path.with_extension("hmac.tmp");
            std::fs::write(&tmp, hex::encode(tag.finalize().into_bytes()))?;
            std::fs::rename(&tmp, &tag_path)
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write the compiled-code cache");
        }
    }
}

/// Where the key of the cache in `dir` lives: beside the directory, not in it.
pub(crate) fn key_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".key");
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    fn component(engine: &Engine, name: &str) -> Component {
        Component::new(
            engine,
            wat::parse_str(format!("(component (core module ${name}))")).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn an_entry_this_host_wrote_loads() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = CodeCache::new(&dir.path().join("code"), &engine).unwrap();
        cache.store("abc", &component(&engine, "a"));
        assert!(cache.load(&engine, "abc").is_some());
    }

    #[test]
    fn entries_written_by_someone_else_are_never_deserialized() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let code = dir.path().join("code");
        let cache = CodeCache::new(&code, &engine).unwrap();
        cache.store("abc", &component(&engine, "a"));
        let (cwasm, tag) = cache.paths("abc");

        // Other code under the same name, with the checksum an unkeyed cache would accept.
        let other = component(&engine, "b").serialize().unwrap();
        std::fs::write(&cwasm, &other).unwrap();
        std::fs::write(&tag, hex::encode(<Sha256 as sha2::Digest>::digest(&other))).unwrap();
        assert!(cache.load(&engine, "abc").is_none());
        assert!(!cwasm.exists(), "a forged entry is removed");

        // A tag made with another key.
        let elsewhere = tempfile::tempdir().unwrap();
        let foreign = CodeCache::new(&elsewhere.path().join("code"), &engine).unwrap();
        let mac = foreign.tag("abc", &other).unwrap().finalize().into_bytes();
        std::fs::write(&cwasm, &other).unwrap();
        std::fs::write(&tag, hex::encode(mac)).unwrap();
        assert!(cache.load(&engine, "abc").is_none());

        // An authentic entry moved to another component's name.
        cache.store("abc", &component(&engine, "a"));
        let (moved, moved_tag) = cache.paths("xyz");
        std::fs::copy(cache.paths("abc").0, &moved).unwrap();
        std::fs::copy(cache.paths("abc").1, &moved_tag).unwrap();
        assert!(cache.load(&engine, "xyz").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_is_owner_only_and_a_shared_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let code = dir.path().join("code");
        CodeCache::new(&code, &engine).unwrap();
        let key = key_path(&code);
        assert_eq!(key, dir.path().join("code.key"));
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = CodeCache::new(&code, &engine).err().unwrap();
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
    }
}
