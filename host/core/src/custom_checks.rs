//! The rules for the checks a product computes itself (its `check` export): what the host
//! accepts before anyone sees the results. The runtime and `tessera_sdk`'s `TestRun` both apply
//! them, so a product's native tests refuse what the host would.

use std::collections::HashSet;

use crate::manifest::Manifest;

/// Results one `check` call may report.
pub const MAX_RESULTS: usize = 1_000;

/// Failing row indices kept per check; the host shows fewer.
pub const MAX_FAILING_ROWS: usize = 100;

/// Refuses a set of reported checks, each given as `(port, name)`, that the host cannot place:
/// too many, a port that is not an output of `manifest`, an empty name, or a name reported
/// twice on one port. The error says which and what to do.
pub fn validate<'a>(
    reported: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    manifest: &Manifest,
) -> Result<(), String> {
    if reported.len() > MAX_RESULTS {
        return Err(format!(
            "the product's checks reported {} results; at most {MAX_RESULTS} are accepted",
            reported.len()
        ));
    }
    let mut seen = HashSet::new();
    for (port, name) in reported {
        if manifest.output(port).is_none() {
            let outputs: Vec<&str> = manifest.outputs.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "custom check `{name}` reports on port `{port}`, which is not an output of this product (outputs: {})",
                outputs.join(", ")
            ));
        }
        if name.trim().is_empty() {
            return Err(format!(
                "a custom check on port `{port}` has an empty name; give every check a name"
            ));
        }
        if !seen.insert((port, name)) {
            return Err(format!(
                "custom check `{name}` on port `{port}` is reported twice; names must be unique per port"
            ));
        }
    }
    Ok(())
}
