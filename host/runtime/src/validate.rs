//! Deploy-time checks of a component, before anything is compiled: is it a component, does it
//! export `run`, does it import only what the host provides, and does it carry a manifest.

use tessera_core::package::{self, Interface};

/// Import prefixes the host provides.
const PROVIDED: [&str; 2] = ["tessera:product/", "wasi:"];

/// WASI packages the host links (0.2.x).
const WASI_PACKAGES: [&str; 6] = [
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// Checks what can be checked from the binary alone.
pub(crate) fn check_interface(bytes: &[u8]) -> Result<Interface, String> {
    package::require_component(bytes).map_err(|e| e.0)?;
    let interface = package::interface(bytes).map_err(|e| e.0)?;
    if !interface.exports.iter().any(|e| e == "run") {
        let found = if interface.exports.is_empty() {
            "nothing".to_string()
        } else {
            interface.exports.join(", ")
        };
        return Err(format!(
            "the component does not target the tessera:product/product world: it exports {found}, but a product exports `run`; build it with tessera-sdk and `#[tessera_sdk::product]`"
        ));
    }
    for import in &interface.imports {
        let provided = PROVIDED.iter().any(|p| import.starts_with(p));
        let wasi_ok = !import.starts_with("wasi:")
            || (WASI_PACKAGES.iter().any(|p| import.starts_with(p)) && import.contains("@0.2."));
        if !provided || !wasi_ok {
            return Err(format!(
                "the component imports `{import}`, which the host does not provide; a product may import tessera:product/{{types,inputs,outputs,log,metrics}}@0.1 and WASI 0.2 (io, cli, clocks, random, filesystem, sockets)"
            ));
        }
    }
    Ok(interface)
}
