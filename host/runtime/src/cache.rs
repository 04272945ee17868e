//! The compiled-code cache: components compiled by this host are kept in the data directory,
//! keyed by the component's hash and the engine's configuration, with a SHA-256 checksum of our
//! own. Only files this host wrote and whose checksum matches are ever deserialized; a user can
//! never hand the host precompiled code.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct CodeCache {
    dir: PathBuf,
    engine_key: String,
}

impl CodeCache {
    pub fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Ok(CodeCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn paths(&self, wasm_hash: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{wasm_hash}-{}", self.engine_key);
        (
            self.dir.join(format!("{stem}.cwasm")),
            self.dir.join(format!("{stem}.sha256")),
        )
    }

    /// The cached compilation of the component with this hash, if present and intact.
    pub fn load(&self, engine: &Engine, wasm_hash: &str) -> Option<Component> {
        let (code, sum) = self.paths(wasm_hash);
        let bytes = std::fs::read(&code).ok()?;
        let expected = std::fs::read_to_string(&sum).ok()?;
        if hex::encode(Sha256::digest(&bytes)) != expected.trim() {
            tracing::warn!(path = %code.display(), "compiled-code cache entry failed its checksum; recompiling");
            let _ = std::fs::remove_file(&code);
            let _ = std::fs::remove_file(&sum);
            return None;
        }
        // SAFETY: `bytes` were produced by `Component::serialize` of an engine with the same
        // compatibility hash (it is part of the file name), written by this host into its own
        // data directory, and verified against the checksum we stored beside them.
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

    /// Stores a compilation (atomically: temporary file, then rename).
    pub fn store(&self, wasm_hash: &str, component: &Component) {
        let result = (|| -> std::io::Result<()> {
            let bytes = component.serialize().map_err(std::io::Error::other)?;
            let (code, sum) = self.paths(wasm_hash);
            let tmp = code.with_extension("cwasm.tmp");
            std::fs::write(&tmp, &bytes)?;
            std::fs::write(&sum, hex::encode(Sha256::digest(&bytes)))?;
            std::fs::rename(&tmp, &code)
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write the compiled-code cache");
        }
    }
}
