//! The policy library shipped with the host: the federation's starting rules, as Rego files in
//! `host/governance/library/`. `tessera demo` installs them; an operator installs them with
//! `[governance] library = true` or `tessera policy add --library`. Each is an ordinary global
//! policy once installed: versioned, listed, waivable.

use tessera_store::{Effect, PolicyEvent, PolicyRecord, PolicyScope};

/// A policy of the library.
#[derive(Debug, Clone, Copy)]
pub struct LibraryPolicy {
    /// Its id.
    pub id: &'static str,
    /// What it asks for.
    pub description: &'static str,
    /// The events it applies to.
    pub events: &'static [PolicyEvent],
    /// Its effect.
    pub effect: Effect,
    /// Its Rego module.
    pub rego: &'static str,
}

const MANIFEST_EVENTS: &[PolicyEvent] = &[PolicyEvent::Deploy, PolicyEvent::Activate];

/// Every policy of the library.
pub const LIBRARY: &[LibraryPolicy] = &[
    LibraryPolicy {
        id: "owner-and-description",
        description: "every product names an owner and a description",
        events: MANIFEST_EVENTS,
        effect: Effect::Deny,
        rego: include_str!("../library/owner-and-description.rego"),
    },
    LibraryPolicy {
        id: "error-check-per-port",
        description: "every output port has at least one check of severity error",
        events: MANIFEST_EVENTS,
        effect: Effect::Deny,
        rego: include_str!("../library/error-check-per-port.rego"),
    },
    LibraryPolicy {
        id: "sensitive-columns-restricted",
        description: "columns classified pii or phi are only published on restricted ports",
        events: MANIFEST_EVENTS,
        effect: Effect::Deny,
        rego: include_str!("../library/sensitive-columns-restricted.rego"),
    },
    LibraryPolicy {
        id: "source-aligned-freshness",
        description: "source-aligned products declare a freshness SLO",
        events: MANIFEST_EVENTS,
        effect: Effect::Deny,
        rego: include_str!("../library/source-aligned-freshness.rego"),
    },
    LibraryPolicy {
        id: "gpu-domains",
        description: "only the imaging and ml-platform domains may use GPUs",
        events: MANIFEST_EVENTS,
        effect: Effect::Deny,
        rego: include_str!("../library/gpu-domains.rego"),
    },
    LibraryPolicy {
        id: "clinical-retention",
        description: "products tagged clinical keep published versions at least 30 days",
        events: MANIFEST_EVENTS,
        effect: Effect::Deny,
        rego: include_str!("../library/clinical-retention.rego"),
    },
];

impl LibraryPolicy {
    /// The policy as a record of `version`, added by the host at `at_us`.
    pub fn record(&self, version: u32, at_us: i64) -> PolicyRecord {
        PolicyRecord {
            id: self.id.to_string(),
            version,
            description: self.description.to_string(),
            scope: PolicyScope::Global,
            events: self.events.to_vec(),
            effect: self.effect,
            rego: self.rego.to_string(),
            enabled: true,
            created_at_us: at_us,
            created_by: HOST_ACTOR.to_string(),
        }
    }
}

/// The actor of what the host does by itself.
pub const HOST_ACTOR: &str = "host";

/// The library as records, version 1, for offline evaluation (`tessera policy test`).
pub fn library_records(at_us: i64) -> Vec<PolicyRecord> {
    LIBRARY.iter().map(|p| p.record(1, at_us)).collect()
}
