//! The contract diff: what changes for consumers when a new version of a product replaces the
//! active one, port by port, each change classified.
//!
//! An output port's contract is what its consumers may rely on: the port exists, its columns
//! exist with their types, required columns have values, unique ones are keys, the port stays
//! readable by who reads it, and its checks hold. Taking any of that away is **breaking**;
//! weakening a promise without removing it (a check loosened or removed, values widened out
//! of the port's audience) is a **warning**; adding is **compatible**. The classes follow the
//! usual data-contract rule sets (datacontract-cli's among them):
//!
//! | change | class |
//! |---|---|
//! | port removed, column removed, type changed | breaking |
//! | column made nullable, unique dropped | breaking |
//! | access narrowed (public → domain → restricted) | breaking |
//! | accepted values widened (new values may appear) | breaking |
//! | check removed, check loosened (`error` → `warn`, a lower `mostly`, wider bounds) | warning |
//! | accepted values narrowed, access widened, classification changed | warning |
//! | port, column or check added, column made required or unique | compatible |

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tessera_core::manifest::{
    Access, Check, CheckOrigin, CheckRule, Manifest, OutputPort, Severity,
};
use tessera_core::schema::Column;

use crate::input::access_name;

/// How a change affects consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeClass {
    /// Nothing a consumer relies on is taken away.
    Compatible,
    /// A promise is weakened; consumers should look.
    Warning,
    /// Something consumers rely on is taken away.
    Breaking,
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// An output port is gone.
    PortRemoved,
    /// A new output port.
    PortAdded,
    /// A column is gone.
    ColumnRemoved,
    /// A new column.
    ColumnAdded,
    /// A column's type changed.
    TypeChanged,
    /// A required column may now be null.
    MadeNullable,
    /// A column is now required.
    MadeRequired,
    /// A unique column may now repeat.
    UniqueDropped,
    /// A column is now unique.
    UniqueAdded,
    /// Fewer callers may read the port.
    AccessNarrowed,
    /// More callers may read the port.
    AccessWidened,
    /// A column's classification changed.
    ClassificationChanged,
    /// A check is gone.
    CheckRemoved,
    /// A check is weaker.
    CheckLoosened,
    /// A new check.
    CheckAdded,
    /// A check is stricter.
    CheckTightened,
    /// An accepted-values check allows values it did not.
    AcceptedValuesWidened,
    /// An accepted-values check allows fewer values.
    AcceptedValuesNarrowed,
}

/// One change of one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractChange {
    /// The output port.
    pub port: String,
    /// The column, where the change is a column's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What changed.
    pub kind: ChangeKind,
    /// How it affects consumers.
    pub class: ChangeClass,
    /// The change in words.
    pub message: String,
}

/// What kind of release a version is, from the version it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Release {
    /// The first version of the product.
    First,
    /// A new major version (for `0.y.z`, a new minor: `0.y` is the major there, as in Cargo).
    Major,
    /// A new minor version.
    Minor,
    /// A new patch version.
    Patch,
    /// The same or a lower version.
    NotNewer,
}

/// The diff of a proposed manifest against the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractDiff {
    /// The version it replaces, if any.
    pub from: Option<String>,
    /// The version proposed.
    pub to: String,
    /// The kind of release.
    pub release: Release,
    /// Every change, breaking ones first.
    pub changes: Vec<ContractChange>,
    /// Whether any change is breaking.
    pub breaking: bool,
}

impl ContractDiff {
    /// The breaking changes.
    pub fn breaking_changes(&self) -> impl Iterator<Item = &ContractChange> {
        self.changes
            .iter()
            .filter(|c| c.class == ChangeClass::Breaking)
    }
}

/// The kind of release `to` is after `from`.
pub fn release(from: &semver::Version, to: &semver::Version) -> Release {
    if to <= from {
        return Release::NotNewer;
    }
    let major_of = |v: &semver::Version| {
        if v.major == 0 {
            (0, v.minor)
        } else {
            (v.major, 0)
        }
    };
    if major_of(to) != major_of(from) {
        Release::Major
    } else if (to.major, to.minor) != (from.major, from.minor) {
        Release::Minor
    } else {
        Release::Patch
    }
}

/// The diff of `proposed` against `current` (none: the product's first version).
pub fn diff(current: Option<&Manifest>, proposed: &Manifest) -> ContractDiff {
    let to = proposed.product.version.to_string();
    let Some(current) = current else {
        return ContractDiff {
            from: None,
            to,
            release: Release::First,
            changes: Vec::new(),
            breaking: false,
        };
    };
    let mut changes = Vec::new();
    for old in &current.outputs {
        match proposed.outputs.iter().find(|p| p.name == old.name) {
            None => changes.push(change(
                &old.name,
                None,
                ChangeKind::PortRemoved,
                format!("output port `{}` is removed", old.name),
            )),
            Some(new) => port_changes(old, new, &mut changes),
        }
    }
    for new in &proposed.outputs {
        if !current.outputs.iter().any(|o| o.name == new.name) {
            changes.push(change(
                &new.name,
                None,
                ChangeKind::PortAdded,
                format!("output port `{}` is added", new.name),
            ));
        }
    }
    changes.sort_by_key(|c| std::cmp::Reverse(c.class));
    let breaking = changes.iter().any(|c| c.class == ChangeClass::Breaking);
    ContractDiff {
        from: Some(current.product.version.to_string()),
        to,
        release: release(&current.product.version, &proposed.product.version),
        changes,
        breaking,
    }
}

fn class_of(kind: ChangeKind) -> ChangeClass {
    use ChangeKind::*;
    match kind {
        PortRemoved
        | ColumnRemoved
        | TypeChanged
        | MadeNullable
        | UniqueDropped
        | AccessNarrowed
        | AcceptedValuesWidened => ChangeClass::Breaking,
        CheckRemoved
        | CheckLoosened
        | AcceptedValuesNarrowed
        | AccessWidened
        | ClassificationChanged => ChangeClass::Warning,
        PortAdded | ColumnAdded | MadeRequired | UniqueAdded | CheckAdded | CheckTightened => {
            ChangeClass::Compatible
        }
    }
}

fn change(port: &str, column: Option<&str>, kind: ChangeKind, message: String) -> ContractChange {
    ContractChange {
        port: port.to_string(),
        column: column.map(str::to_string),
        kind,
        class: class_of(kind),
        message,
    }
}

fn access_rank(access: Access) -> u8 {
    match access {
        Access::Public => 0,
        Access::Domain => 1,
        Access::Restricted => 2,
    }
}

fn port_changes(old: &OutputPort, new: &OutputPort, out: &mut Vec<ContractChange>) {
    let port = old.name.as_str();
    if old.access != new.access {
        let kind = if access_rank(new.access) > access_rank(old.access) {
            ChangeKind::AccessNarrowed
        } else {
            ChangeKind::AccessWidened
        };
        out.push(change(
            port,
            None,
            kind,
            format!(
                "`{port}` goes from {} to {} access",
                access_name(old.access),
                access_name(new.access)
            ),
        ));
    }
    for column in &old.schema.columns {
        match new.schema.column(&column.name) {
            None => out.push(change(
                port,
                Some(&column.name),
                ChangeKind::ColumnRemoved,
                format!("column `{port}.{}` is removed", column.name),
            )),
            Some(next) => column_changes(port, column, next, out),
        }
    }
    for column in &new.schema.columns {
        if old.schema.column(&column.name).is_none() {
            out.push(change(
                port,
                Some(&column.name),
                ChangeKind::ColumnAdded,
                format!(
                    "column `{port}.{}` ({}) is added",
                    column.name,
                    column.data_type.name()
                ),
            ));
        }
    }
    check_changes(port, &old.checks, &new.checks, out);
}

fn column_changes(port: &str, old: &Column, new: &Column, out: &mut Vec<ContractChange>) {
    let name = old.name.as_str();
    let at = Some(name);
    if old.data_type != new.data_type {
        out.push(change(
            port,
            at,
            ChangeKind::TypeChanged,
            format!(
                "column `{port}.{name}` changes type from {} to {}",
                old.data_type.name(),
                new.data_type.name()
            ),
        ));
    }
    match (old.required, new.required) {
        (true, false) => out.push(change(
            port,
            at,
            ChangeKind::MadeNullable,
            format!("column `{port}.{name}` is no longer required: it may be null"),
        )),
        (false, true) => out.push(change(
            port,
            at,
            ChangeKind::MadeRequired,
            format!("column `{port}.{name}` is now required"),
        )),
        _ => {}
    }
    match (old.unique, new.unique) {
        (true, false) => out.push(change(
            port,
            at,
            ChangeKind::UniqueDropped,
            format!("column `{port}.{name}` is no longer unique"),
        )),
        (false, true) => out.push(change(
            port,
            at,
            ChangeKind::UniqueAdded,
            format!("column `{port}.{name}` is now unique"),
        )),
        _ => {}
    }
    if old.classification != new.classification {
        let name_of = |c: Option<tessera_core::schema::Classification>| {
            c.map_or("unclassified", |c| c.name())
        };
        out.push(change(
            port,
            at,
            ChangeKind::ClassificationChanged,
            format!(
                "column `{port}.{name}` goes from {} to {}",
                name_of(old.classification),
                name_of(new.classification)
            ),
        ));
    }
}

/// A check's identity across versions: its kind and the columns or port it is about; what
/// remains (bounds, values, severity, `mostly`) is how strict it is.
fn identity(rule: &CheckRule) -> String {
    let value = serde_json::to_value(rule).unwrap_or_default();
    let mut parts = Vec::new();
    for key in ["kind", "column", "columns", "to", "field"] {
        if let Some(v) = value.get(key) {
            parts.push(format!("{key}={v}"));
        }
    }
    parts.join(" ")
}

/// Words for a check: `accepted_values on `label``.
fn describe(rule: &CheckRule) -> String {
    let value = serde_json::to_value(rule).unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("check")
        .to_string();
    match (value.get("column"), value.get("columns")) {
        (Some(serde_json::Value::String(c)), _) => format!("{kind} on `{c}`"),
        (_, Some(serde_json::Value::Array(cs))) => format!(
            "{kind} on {}",
            cs.iter()
                .filter_map(|c| c.as_str())
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => kind,
    }
}

fn check_changes(port: &str, old: &[Check], new: &[Check], out: &mut Vec<ContractChange>) {
    let by_identity = |checks: &[Check]| {
        let mut map: BTreeMap<String, Vec<Check>> = BTreeMap::new();
        // A column's `unique = true` is compared with the column, not as a check.
        for c in checks.iter().filter(|c| c.origin == CheckOrigin::Declared) {
            map.entry(identity(&c.rule)).or_default().push(c.clone());
        }
        map
    };
    let old_checks = by_identity(old);
    let new_checks = by_identity(new);
    for (id, olds) in &old_checks {
        let news = new_checks.get(id).map(Vec::as_slice).unwrap_or_default();
        for (index, before) in olds.iter().enumerate() {
            let what = describe(&before.rule);
            match news.get(index) {
                None => out.push(change(
                    port,
                    None,
                    ChangeKind::CheckRemoved,
                    format!("check {what} ({}) of `{port}` is removed", before.severity),
                )),
                Some(after) => strictness_changes(port, &what, before, after, out),
            }
        }
    }
    for (id, news) in &new_checks {
        let olds = old_checks.get(id).map_or(0, Vec::len);
        for added in news.iter().skip(olds) {
            out.push(change(
                port,
                None,
                ChangeKind::CheckAdded,
                format!("check {} of `{port}` is added", describe(&added.rule)),
            ));
        }
    }
}

fn strictness_changes(
    port: &str,
    what: &str,
    before: &Check,
    after: &Check,
    out: &mut Vec<ContractChange>,
) {
    let mut loosened = Vec::new();
    let mut tightened = Vec::new();
    match (before.severity, after.severity) {
        (Severity::Error, Severity::Warn) => loosened.push("it no longer blocks publication"),
        (Severity::Warn, Severity::Error) => tightened.push("it now blocks publication"),
        _ => {}
    }
    let mostly = |c: &Check| c.mostly.unwrap_or(1.0);
    if mostly(after) < mostly(before) {
        loosened.push("a smaller share of rows must pass");
    } else if mostly(after) > mostly(before) {
        tightened.push("a larger share of rows must pass");
    }
    let bounds = bounds_change(&before.rule, &after.rule);
    if bounds < 0 {
        loosened.push("its bounds are wider");
    } else if bounds > 0 {
        tightened.push("its bounds are narrower");
    }
    if let (
        CheckRule::AcceptedValues { values: was, .. },
        CheckRule::AcceptedValues { values: now, .. },
    ) = (&before.rule, &after.rule)
    {
        let was: BTreeSet<&String> = was.iter().collect();
        let now: BTreeSet<&String> = now.iter().collect();
        let added: Vec<String> = now.difference(&was).map(|v| format!("`{v}`")).collect();
        let removed: Vec<String> = was.difference(&now).map(|v| format!("`{v}`")).collect();
        if !added.is_empty() {
            out.push(change(
                port,
                None,
                ChangeKind::AcceptedValuesWidened,
                format!(
                    "check {what} of `{port}` now accepts {}: consumers may see values they \
                     never saw",
                    added.join(", ")
                ),
            ));
        }
        if !removed.is_empty() {
            out.push(change(
                port,
                None,
                ChangeKind::AcceptedValuesNarrowed,
                format!(
                    "check {what} of `{port}` no longer accepts {}",
                    removed.join(", ")
                ),
            ));
        }
    }
    if !loosened.is_empty() {
        out.push(change(
            port,
            None,
            ChangeKind::CheckLoosened,
            format!(
                "check {what} of `{port}` is looser: {}",
                loosened.join(", ")
            ),
        ));
    }
    if !tightened.is_empty() {
        out.push(change(
            port,
            None,
            ChangeKind::CheckTightened,
            format!(
                "check {what} of `{port}` is stricter: {}",
                tightened.join(", ")
            ),
        ));
    }
}

/// Whether the bounds of a range-like check got wider (-1), narrower (1) or neither (0);
/// mixed changes count as wider.
fn bounds_change(before: &CheckRule, after: &CheckRule) -> i8 {
    fn bounds(rule: &CheckRule) -> Option<(Option<f64>, Option<f64>)> {
        match rule {
            CheckRule::Range { min, max, .. }
            | CheckRule::MeanBetween { min, max, .. }
            | CheckRule::StddevBetween { min, max, .. } => Some((*min, *max)),
            CheckRule::RowCount { min, max } => {
                Some((min.map(|v| v as f64), max.map(|v| v as f64)))
            }
            CheckRule::Change { max_percent, .. } => Some((None, Some(*max_percent))),
            _ => None,
        }
    }
    let (Some((min0, max0)), Some((min1, max1))) = (bounds(before), bounds(after)) else {
        return 0;
    };
    // A missing lower bound is -inf, a missing upper bound +inf.
    let lo = |v: Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
    let hi = |v: Option<f64>| v.unwrap_or(f64::INFINITY);
    let wider = lo(min1) < lo(min0) || hi(max1) > hi(max0);
    let narrower = lo(min1) > lo(min0) || hi(max1) < hi(max0);
    if wider {
        -1
    } else if narrower {
        1
    } else {
        0
    }
}
