//! Which published data a caller may read: an output port of a deployed product, the data
//! version asked for (a pinned number, the newest one a major produced, or the current one),
//! under the access the port has today and the access it had in the code version that published
//! that data. Every protocol that serves outputs (the HTTP routes, Arrow Flight) reads through
//! here, so the rules are one set.

use std::path::PathBuf;
use std::sync::Arc;

use tessera_core::manifest::Manifest;
use tessera_store::Version;

use crate::auth::Caller;
use crate::encode::{OutputFormat, Selection, encode};
use crate::error::{ServiceError, ServiceResult};
use crate::registry::deployed_manifest;
use crate::state::AppState;

/// Which data version of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChoice {
    /// The current published version.
    Current,
    /// This published version.
    Pinned(u64),
    /// The newest version published by code of this major.
    Major(u64),
}

/// The manifest of `name`, after checking that `port` is one of its output ports and that the
/// caller may read it (404s list what exists; 401/403 say what is missing).
pub fn readable_output(
    state: &AppState,
    caller: &Caller,
    name: &str,
    port: &str,
) -> ServiceResult<Arc<Manifest>> {
    let manifest = deployed_manifest(state, name)?;
    let Some(declared) = manifest.output(port) else {
        return Err(no_such_port(&manifest, port));
    };
    caller.require_port(
        state.config().public_reads,
        name,
        &manifest.product.domain,
        port,
        declared.access,
    )?;
    Ok(manifest)
}

/// The 404 for `port`, which is none of `manifest`'s output ports; the hint lists them.
pub fn no_such_port(manifest: &Manifest, port: &str) -> ServiceError {
    ServiceError::not_found(
        format!("{} has no output port `{port}`", manifest.product.name),
        &manifest
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .collect::<Vec<_>>(),
    )
}

/// The published version of `name` that `choice` names, once `caller` may read `port` of it:
/// `manifest` is the active one (from [`readable_output`]), and a version that older code
/// published is read under that code's access as well as today's, so making a port public in
/// a new code version does not open what older versions published.
pub fn readable_version(
    state: &AppState,
    caller: &Caller,
    manifest: &Manifest,
    port: &str,
    choice: VersionChoice,
) -> ServiceResult<Version> {
    let name = manifest.product.name.as_str();
    let store = state.store();
    let version = match choice {
        VersionChoice::Major(major) => store.current_of_major(name, major)?.ok_or_else(|| {
            ServiceError::not_found(
                format!("{name} has no published data of major version {major}"),
                &[],
            )
            .hint(format!(
                "GET /v1/products/{name} lists the active version and the retained majors"
            ))
        })?,
        VersionChoice::Pinned(number) => store.version(name, number)?.ok_or_else(|| {
            let existing: Vec<String> = store
                .versions(name)
                .unwrap_or_default()
                .iter()
                .map(|v| v.number.to_string())
                .collect();
            ServiceError::not_found(format!("{name} has no data version {number}"), &existing)
        })?,
        VersionChoice::Current => store.current_version(name)?.ok_or_else(|| {
            ServiceError::not_found(format!("{name} has published no data yet"), &[]).hint(format!(
                "trigger a run with POST /v1/products/{name}/runs, then read again"
            ))
        })?,
    };
    // Only another code version's manifest needs reading (kept in memory: it never changes).
    let published_by_active = manifest.product.version.to_string() == version.product_version;
    if !published_by_active
        && let Some(then) = state.version_manifest(name, &version.product_version)?
        && let Some(declared_then) = then.output(port)
    {
        caller.require_port(
            state.config().public_reads,
            name,
            &then.product.domain,
            port,
            declared_then.access,
        )?;
    }
    if !version.ports.contains_key(port) {
        return Err(ServiceError::not_found(
            format!(
                "data version {} of {name} has no port `{port}`",
                version.number
            ),
            &version.ports.keys().cloned().collect::<Vec<_>>(),
        ));
    }
    Ok(version)
}

/// The indexes of `columns` in the declared schema of `port`, in the order given; an unknown
/// column is a 400 (`parameter` names where it came from) listing the port's columns.
pub fn projection(
    manifest: &Manifest,
    port: &str,
    columns: &[&str],
    parameter: &str,
) -> ServiceResult<Vec<usize>> {
    let declared = manifest.output(port).ok_or_else(|| {
        ServiceError::internal(format!("{} lost its port {port}", manifest.product.name))
    })?;
    let schema = &declared.schema;
    columns
        .iter()
        .map(|c| {
            schema.index_of(c).ok_or_else(|| {
                ServiceError::bad_parameter(
                    parameter,
                    format!(
                        "`{c}` is not a column of {port}; its columns are {}",
                        schema.names().join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// A port a caller may read, with its current published version.
pub struct ReadablePort {
    /// The active manifest of its product.
    pub manifest: Arc<Manifest>,
    /// The port.
    pub port: String,
    /// Its current published version.
    pub version: Version,
}

/// Every output port of every deployed product that `caller` may read and that has published
/// data, by product and then port name.
pub fn readable_ports(state: &AppState, caller: &Caller) -> ServiceResult<Vec<ReadablePort>> {
    let public_reads = state.config().public_reads;
    let mut ports = Vec::new();
    for name in state.store().products()? {
        let manifest = match deployed_manifest(state, &name) {
            Ok(manifest) => manifest,
            // Deleted, or never activated: nothing to read.
            Err(e) if e.kind == crate::error::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let Some(current) = state.store().current_version(&name)? else {
            continue;
        };
        for output in &manifest.outputs {
            let readable = caller
                .require_port(
                    public_reads,
                    &name,
                    &manifest.product.domain,
                    &output.name,
                    output.access,
                )
                .is_ok();
            if !readable {
                continue;
            }
            // Read under the access of the code that published it, too.
            if let Ok(version) = readable_version(
                state,
                caller,
                &manifest,
                &output.name,
                VersionChoice::Pinned(current.number),
            ) {
                ports.push(ReadablePort {
                    manifest: manifest.clone(),
                    port: output.name.clone(),
                    version,
                });
            }
        }
    }
    Ok(ports)
}

/// The whole port of a published version as a Parquet file, written once into the cache
/// beside the store (a published version never changes) and reused; its path.
pub async fn parquet_rendition(
    state: &AppState,
    name: &str,
    version: u64,
    port: &str,
) -> ServiceResult<PathBuf> {
    let dir = state.parquet_cache().join(name).join(version.to_string());
    let path = dir.join(format!("{port}.parquet"));
    if path.exists() {
        return Ok(path);
    }
    let source = state.store().read(name, version, port)?;
    let target = path.clone();
    let port = port.to_string();
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let temporary = dir.join(format!(
            ".{port}.{:x}.partial",
            std::process::id() as u64 ^ tessera_store::now_us() as u64
        ));
        let file = std::fs::File::create(&temporary).map_err(|e| e.to_string())?;
        let file = encode(
            source,
            Selection::default(),
            OutputFormat::Parquet,
            std::io::BufWriter::new(file),
        )
        .map_err(|e| e.to_string())?;
        file.into_inner()
            .map_err(|e| e.to_string())?
            .sync_all()
            .map_err(|e| e.to_string())?;
        std::fs::rename(&temporary, &target).map_err(|e| e.to_string())
    })
    .await
    .map_err(ServiceError::internal)?
    .map_err(|e| ServiceError::internal(format!("writing the Parquet rendition failed: {e}")))?;
    Ok(path)
}
