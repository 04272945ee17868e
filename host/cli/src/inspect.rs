//! `tessera inspect`: what a packaged product declares and what its component imports and
//! exports, without running it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tessera_core::manifest::{InputSource, Manifest};
use tessera_core::package;

/// Everything `inspect` reports.
#[derive(Debug, serde::Serialize)]
pub struct Inspection {
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the file.
    pub sha256: String,
    /// The embedded manifest text, if any.
    pub manifest: Option<String>,
    /// Whether a README is embedded.
    pub has_readme: bool,
    /// Top-level imports.
    pub imports: Vec<String>,
    /// Top-level exports.
    pub exports: Vec<String>,
}

/// Reads a packaged product.
pub fn inspect(path: &Path) -> Result<Inspection> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let embedded =
        package::read_embedded(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let interface =
        package::interface(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Inspection {
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        manifest: embedded.manifest,
        has_readme: embedded.readme.is_some(),
        imports: interface.imports,
        exports: interface.exports,
    })
}

/// A human-readable summary of a manifest.
pub fn describe(manifest: &Manifest) -> String {
    let mut out = String::new();
    let p = &manifest.product;
    let _ = writeln!(
        out,
        "{} {} ({:?}, domain {}, owner {})",
        p.name, p.version, p.kind, p.domain, p.owner
    );
    let _ = writeln!(out, "  {}", p.description);
    let r = &manifest.resources;
    let _ = writeln!(
        out,
        "resources: memory {}, timeout {}, gpu {:?}, storage {}",
        r.memory, r.timeout, r.gpu, r.storage
    );
    for input in &manifest.inputs {
        match &input.source {
            InputSource::Ingest(schema) => {
                let _ = writeln!(out, "input  {} (ingest): {}", input.name, columns(schema));
            }
            InputSource::Upstream(u) => {
                let _ = writeln!(out, "input  {} from {}/{}", input.name, u.product, u.port);
            }
        }
    }
    for output in &manifest.outputs {
        let _ = writeln!(
            out,
            "output {} ({:?}): {}",
            output.name,
            output.access,
            columns(&output.schema)
        );
        if !output.checks.is_empty() {
            let _ = writeln!(
                out,
                "       {} checks, {} views",
                output.checks.len(),
                output.views.len()
            );
        }
    }
    if let Some(schedule) = &manifest.trigger.schedule {
        let _ = writeln!(out, "schedule: {schedule} (UTC)");
    }
    out
}

fn columns(schema: &tessera_core::schema::Schema) -> String {
    schema
        .columns
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                c.name,
                c.data_type,
                if c.required { "!" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
