//! Semantic versioning, enforced: a version whose contract diff has a breaking change must be
//! a new major version (for `0.y.z`, a new `0.y`). The refusal names each breaking change and
//! the products (and owners) that read the ports it breaks.

use crate::diff::{ContractDiff, Release};
use crate::input::Consumer;

/// A release refused by the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRefusal {
    /// What is wrong, in words.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// Checks that `diff` is released as it must be, given the products that read the product.
pub fn check_release(diff: &ContractDiff, consumers: &[Consumer]) -> Result<(), ReleaseRefusal> {
    if !diff.breaking || matches!(diff.release, Release::Major | Release::First) {
        return Ok(());
    }
    let from = diff.from.as_deref().unwrap_or("?");
    let release = match diff.release {
        Release::Minor => "a minor release",
        Release::Patch => "a patch release",
        _ => "not a newer version",
    };
    let mut lines = Vec::new();
    for change in diff.breaking_changes() {
        let readers: Vec<String> = consumers
            .iter()
            .filter(|c| c.port == change.port)
            .map(|c| format!("{} (owner {}, input `{}`)", c.product, c.owner, c.input))
            .collect();
        let readers = if readers.is_empty() {
            "no product reads it yet".to_string()
        } else {
            format!("read by {}", readers.join(", "))
        };
        lines.push(format!("{}; {readers}", change.message));
    }
    Err(ReleaseRefusal {
        message: format!(
            "{} is {release} of {from} but breaks its contract: {}",
            diff.to,
            lines.join(". ")
        ),
        hint: "a breaking change needs a new major version: raise product.version's major (and \
               let consumers pin `product/port@MAJOR`), or keep the contract"
            .into(),
    })
}
