//! Which ports a run may open: the manifest's inputs for reading, its outputs for writing, and
//! while the product's own checks run, its outputs for reading back what `run` wrote. The
//! runtime and `tessera_sdk`'s `TestRun` both ask here, so both refuse the same ports with the
//! same words.

use crate::manifest::Manifest;

/// Refuses reading `port` unless it is a declared input, or a declared output while `checking`.
pub fn may_read(manifest: &Manifest, port: &str, checking: bool) -> Result<(), String> {
    let readable = manifest.input(port).is_some() || (checking && manifest.output(port).is_some());
    if readable {
        return Ok(());
    }
    let declared: Vec<&str> = manifest.inputs.iter().map(|p| p.name.as_str()).collect();
    let declared = if declared.is_empty() {
        "none".to_string()
    } else {
        declared.join(", ")
    };
    let outputs = if checking {
        format!(
            "; output ports readable while checking: {}",
            output_names(manifest)
        )
    } else {
        String::new()
    };
    Err(format!(
        "input `{port}` is not declared in product.toml (declared inputs: {declared}{outputs})"
    ))
}

/// Refuses writing `port` unless it is a declared output and the product is not checking.
pub fn may_write(manifest: &Manifest, port: &str, checking: bool) -> Result<(), String> {
    if checking {
        return Err(format!(
            "output `{port}` cannot be written while checking: checks read what `run` staged (open it as an input)"
        ));
    }
    if manifest.output(port).is_none() {
        return Err(format!(
            "output `{port}` is not declared in product.toml (declared outputs: {})",
            output_names(manifest)
        ));
    }
    Ok(())
}

/// Refuses a column list that names a column twice.
pub fn distinct_columns(port: &str, columns: &[&str]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    match columns.iter().find(|name| !seen.insert(**name)) {
        Some(twice) => Err(format!(
            "input `{port}`: column `{twice}` is asked for twice; name each column once"
        )),
        None => Ok(()),
    }
}

fn output_names(manifest: &Manifest) -> String {
    let names: Vec<&str> = manifest.outputs.iter().map(|p| p.name.as_str()).collect();
    names.join(", ")
}
