//! A product's deployable package: one WebAssembly component with its manifest (and README)
//! embedded as custom sections, so a single `.wasm` file is the whole product.
//!
//! This module reads and writes those sections and tells what kind of file a byte string is,
//! without compiling anything.

use std::fmt;

use wasm_encoder::{ComponentSection, CustomSection, Encode};

use crate::manifest::MANIFEST_SECTION;

/// The custom section carrying the product's README.
pub const README_SECTION: &str = "tessera:readme";

const MAGIC: &[u8; 4] = b"\0asm";
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];

/// What kind of file a byte string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// Not WebAssembly at all.
    NotWasm,
    /// A core WebAssembly module (not a component).
    CoreModule,
    /// A WebAssembly component.
    Component,
    /// WebAssembly of an unknown version or layer.
    Unknown,
}

/// Tells what kind of WebAssembly `bytes` hold.
pub fn kind(bytes: &[u8]) -> WasmKind {
    let (Some(magic), Some(version)) = (bytes.get(..4), bytes.get(4..8)) else {
        return WasmKind::NotWasm;
    };
    if magic != MAGIC {
        return WasmKind::NotWasm;
    }
    if version == CORE_VERSION {
        WasmKind::CoreModule
    } else if version == COMPONENT_VERSION {
        WasmKind::Component
    } else {
        WasmKind::Unknown
    }
}

/// Why a package could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageError(pub String);

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PackageError {}

/// Explains why `bytes` are not a component, or returns `Ok` if they are.
pub fn require_component(bytes: &[u8]) -> Result<(), PackageError> {
    match kind(bytes) {
        WasmKind::Component => Ok(()),
        WasmKind::NotWasm => {
            let head: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
            Err(PackageError(format!(
                "not a WebAssembly file: it starts with [{head}], not the `\\0asm` magic number; build the product with `tessera build`"
            )))
        }
        WasmKind::CoreModule => Err(PackageError(
            "this is a core WebAssembly module, not a component; build with `tessera build` (cargo build --target wasm32-wasip2) or `cargo component build`, which produce components".into(),
        )),
        WasmKind::Unknown => Err(PackageError(format!(
            "unsupported WebAssembly version or layer {:02x?}; Tessera runs components (version 0x0d, layer 1)",
            bytes.get(4..8).unwrap_or_default()
        ))),
    }
}

/// One top-level section of a component: its id and the byte range of the whole section.
struct Section {
    id: u8,
    name: Option<String>,
    range: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

fn read_leb(bytes: &[u8], pos: &mut usize) -> Result<u64, PackageError> {
    let mut result = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*pos)
            .ok_or_else(|| PackageError("truncated WebAssembly file".into()))?;
        *pos += 1;
        result |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err(PackageError(
        "malformed LEB128 number in a section header".into(),
    ))
}

/// The bytes in `range`, or a truncation error (ranges come from the file's own headers).
fn slice(bytes: &[u8], range: std::ops::Range<usize>) -> Result<&[u8], PackageError> {
    bytes
        .get(range)
        .ok_or_else(|| PackageError("truncated component: a section runs past its end".into()))
}

fn sections(bytes: &[u8]) -> Result<Vec<Section>, PackageError> {
    require_component(bytes)?;
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < bytes.len() {
        let start = pos;
        let Some(&id) = bytes.get(pos) else {
            break;
        };
        pos += 1;
        let size = usize::try_from(read_leb(bytes, &mut pos)?)
            .map_err(|_| PackageError("section too large".into()))?;
        let end = pos
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| PackageError("truncated section".into()))?;
        let mut name = None;
        if id == 0 {
            let mut p = pos;
            let len = usize::try_from(read_leb(bytes, &mut p)?)
                .map_err(|_| PackageError("name too long".into()))?;
            let name_end = p
                .checked_add(len)
                .filter(|&e| e <= end)
                .ok_or_else(|| PackageError("truncated custom section name".into()))?;
            name = Some(String::from_utf8_lossy(slice(bytes, p..name_end)?).into_owned());
            out.push(Section {
                id,
                name,
                range: start..end,
                payload: name_end..end,
            });
        } else {
            out.push(Section {
                id,
                name,
                range: start..end,
                payload: pos..end,
            });
        }
        pos = end;
    }
    Ok(out)
}

/// What a package carries besides code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Embedded {
    /// The `product.toml` text.
    pub manifest: Option<String>,
    /// The README text.
    pub readme: Option<String>,
}

/// Reads the embedded manifest and README of a component.
pub fn read_embedded(bytes: &[u8]) -> Result<Embedded, PackageError> {
    let mut embedded = Embedded::default();
    for section in sections(bytes)? {
        let text = || {
            String::from_utf8(slice(bytes, section.payload.clone())?.to_vec()).map_err(|_| {
                PackageError(format!(
                    "section `{}` is not UTF-8",
                    section.name.clone().unwrap_or_default()
                ))
            })
        };
        match section.name.as_deref() {
            Some(MANIFEST_SECTION) => embedded.manifest = Some(text()?),
            Some(README_SECTION) => embedded.readme = Some(text()?),
            _ => {}
        }
    }
    Ok(embedded)
}

/// Returns `component` with `manifest` (and `readme`) embedded, replacing any embedded before.
pub fn embed(
    component: &[u8],
    manifest: &str,
    readme: Option<&str>,
) -> Result<Vec<u8>, PackageError> {
    let all = sections(component)?;
    let mut out =
        Vec::with_capacity(component.len() + manifest.len() + readme.map_or(0, str::len) + 64);
    out.extend_from_slice(slice(component, 0..8)?);
    for section in &all {
        let ours = matches!(
            section.name.as_deref(),
            Some(MANIFEST_SECTION | README_SECTION)
        );
        if !ours {
            out.extend_from_slice(slice(component, section.range.clone())?);
        }
    }
    let mut push = |name: &str, data: &str| {
        let section = CustomSection {
            name: name.into(),
            data: data.as_bytes().into(),
        };
        out.push(section.id());
        section.encode(&mut out);
    };
    push(MANIFEST_SECTION, manifest);
    if let Some(readme) = readme {
        push(README_SECTION, readme);
    }
    Ok(out)
}

/// The names a component imports and exports at its top level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// Imported instances and functions, such as `tessera:product/inputs@0.1.1` (imported
    /// types are left out).
    pub imports: Vec<String>,
    /// Exported names, such as `run`.
    pub exports: Vec<String>,
}

/// Lists a component's top-level imports and exports.
pub fn interface(bytes: &[u8]) -> Result<Interface, PackageError> {
    let mut interface = Interface::default();
    let bad = |e: wasmparser::BinaryReaderError| PackageError(format!("malformed component: {e}"));
    for section in sections(bytes)? {
        let reader = wasmparser::BinaryReader::new(
            slice(bytes, section.payload.clone())?,
            section.payload.start,
        );
        match section.id {
            10 => {
                for import in wasmparser::ComponentImportSectionReader::new(reader).map_err(bad)? {
                    let import = import.map_err(bad)?;
                    // Type imports (`use types.{...}` in a world) name types, not capabilities.
                    if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                        interface.imports.push(import.name.name.to_string());
                    }
                }
            }
            11 => {
                for export in wasmparser::ComponentExportSectionReader::new(reader).map_err(bad)? {
                    interface
                        .exports
                        .push(export.map_err(bad)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(interface)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_files_apart() {
        assert_eq!(kind(b"hello world"), WasmKind::NotWasm);
        assert_eq!(kind(b"\0asm\x01\0\0\0"), WasmKind::CoreModule);
        assert_eq!(kind(b"\0asm\x0d\0\x01\0"), WasmKind::Component);
        assert!(
            require_component(b"\0asm\x01\0\0\0")
                .unwrap_err()
                .0
                .contains("core WebAssembly module")
        );
        assert!(
            require_component(b"PK\x03\x04zip")
                .unwrap_err()
                .0
                .contains("not a WebAssembly file")
        );
    }

    #[test]
    fn embeds_and_replaces_the_manifest() {
        let empty = b"\0asm\x0d\0\x01\0".to_vec();
        let once = embed(&empty, "first", Some("# readme")).unwrap();
        let twice = embed(&once, "second", None).unwrap();
        assert_eq!(
            read_embedded(&once).unwrap(),
            Embedded {
                manifest: Some("first".into()),
                readme: Some("# readme".into())
            }
        );
        assert_eq!(
            read_embedded(&twice).unwrap(),
            Embedded {
                manifest: Some("second".into()),
                readme: None
            }
        );
        assert!(read_embedded(&empty[..7]).is_err());
    }
}
