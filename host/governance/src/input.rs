//! The input document every policy sees, `input` in Rego. Its shape is stable and documented
//! in `docs/GOVERNANCE.md`; fields are only ever added.
//!
//! ```json
//! {
//!   "event": "deploy",
//!   "at": "2026-12-02T10:00:00Z",
//!   "actor": {"id": "tok_…", "role": "owner", "domain": "labeling"},
//!   "product": {"name": "…", "domain": "…", "owner": "…", "kind": "aggregate", "tags": []},
//!   "proposed": { the manifest as JSON },   "current": { the active manifest, or null },
//!   "facts": { numbers read off the manifest: memory_bytes, timeout_seconds, gpu,
//!              freshness_seconds, retention {keep_versions, max_age_days}, ports [...] },
//!   "diff": { from, to, release, breaking, changes: [{port, column, kind, class, message}] },
//!   "consumers": [{product, domain, owner, port, input, major}],
//!   "run": { id, checks: [...], stats: {port: {rows, columns}}, rows: {port: n} } | null,
//!   "grant": { token, role, domain, port, access } | null,
//!   "ingest": { port, format, bytes, stored_bytes, mode, columns: [{name, type}] } | null
//! }
//! ```

use std::collections::BTreeMap;

use serde::Serialize;
use tessera_core::manifest::{Access, GpuMode, Manifest};
use tessera_core::quality::PortStats;
use tessera_store::PolicyEvent;

use crate::diff::ContractDiff;

/// The input of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInput {
    /// The event.
    pub event: PolicyEvent,
    /// When, RFC 3339.
    pub at: String,
    /// Who acts.
    pub actor: Actor,
    /// The product concerned.
    pub product: ProductFacts,
    /// The manifest proposed (deploy, activate) or in force (publish, grant, ingest).
    pub proposed: Option<Manifest>,
    /// The active manifest it would replace (deploy, activate).
    pub current: Option<Manifest>,
    /// Numbers and summaries read off `proposed`.
    pub facts: Option<ManifestFacts>,
    /// The contract diff of `proposed` against `current` (deploy, activate).
    pub diff: Option<ContractDiff>,
    /// The products that read this one's ports.
    pub consumers: Vec<Consumer>,
    /// When the major this change replaces stops running for the consumers that pin it, if
    /// the owner gave a deprecation (deploy, activate).
    pub deprecation: Option<Deprecation>,
    /// The run about to publish (publish).
    pub run: Option<RunFacts>,
    /// The access being granted (grant).
    pub grant: Option<GrantFacts>,
    /// The push (ingest).
    pub ingest: Option<IngestFacts>,
}

/// The deprecation an owner gives the major a new one replaces.
#[derive(Debug, Clone, Serialize)]
pub struct Deprecation {
    /// The date, RFC 3339.
    pub until: String,
    /// Whole days from the event to that date (policies compare numbers; no time functions
    /// needed).
    pub days: u64,
}

/// Who acts.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    /// A token id, `host` for what the host does by itself (scheduled runs), or `local` for
    /// `tessera policy test`.
    pub id: String,
    /// The token's role.
    pub role: Option<String>,
    /// The token's domain.
    pub domain: Option<String>,
}

/// The product's identity.
#[derive(Debug, Clone, Serialize)]
pub struct ProductFacts {
    /// Its name.
    pub name: String,
    /// Its domain.
    pub domain: String,
    /// Its owner, as the manifest names it.
    pub owner: String,
    /// `source-aligned`, `aggregate` or `consumer-aligned`.
    pub kind: String,
    /// Its tags.
    pub tags: Vec<String>,
}

impl ProductFacts {
    /// The identity of `manifest`'s product.
    pub fn of(manifest: &Manifest) -> ProductFacts {
        let kind = serde_json::to_value(manifest.product.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        ProductFacts {
            name: manifest.product.name.clone(),
            domain: manifest.product.domain.clone(),
            owner: manifest.product.owner.clone(),
            kind,
            tags: manifest.product.tags.clone(),
        }
    }
}

/// What a manifest says, as numbers a policy compares.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestFacts {
    /// `resources.memory`.
    pub memory_bytes: u64,
    /// `resources.timeout`.
    pub timeout_seconds: f64,
    /// `none`, `optional` or `required`.
    pub gpu: &'static str,
    /// `resources.gpu_memory`.
    pub gpu_memory_bytes: u64,
    /// `resources.storage`.
    pub storage_bytes: u64,
    /// `slo.freshness`, if declared.
    pub freshness_seconds: Option<f64>,
    /// `[retention]`.
    pub retention: RetentionFacts,
    /// Each output port.
    pub ports: Vec<PortFacts>,
}

/// `[retention]` in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionFacts {
    /// Published versions kept, if bounded.
    pub keep_versions: Option<u64>,
    /// Days a version is kept, if bounded.
    pub max_age_days: Option<f64>,
}

/// One output port in brief.
#[derive(Debug, Clone, Serialize)]
pub struct PortFacts {
    /// Its name.
    pub name: String,
    /// `public`, `domain` or `restricted`.
    pub access: &'static str,
    /// Checks of severity `error`.
    pub error_checks: usize,
    /// Checks of severity `warn`.
    pub warn_checks: usize,
    /// Columns with a classification.
    pub classified: Vec<ClassifiedColumn>,
}

/// A classified column.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifiedColumn {
    /// The column.
    pub column: String,
    /// `pii`, `phi` or `confidential`.
    pub classification: &'static str,
}

/// The name of an access class.
pub fn access_name(access: Access) -> &'static str {
    match access {
        Access::Public => "public",
        Access::Domain => "domain",
        Access::Restricted => "restricted",
    }
}

impl ManifestFacts {
    /// The facts of `manifest`.
    pub fn of(manifest: &Manifest) -> ManifestFacts {
        let r = &manifest.resources;
        ManifestFacts {
            memory_bytes: r.memory.0,
            timeout_seconds: r.timeout.duration().as_secs_f64(),
            gpu: match r.gpu {
                GpuMode::None => "none",
                GpuMode::Optional => "optional",
                GpuMode::Required => "required",
            },
            gpu_memory_bytes: r.gpu_memory.0,
            storage_bytes: r.storage.0,
            freshness_seconds: manifest.slo.freshness.map(|s| s.duration().as_secs_f64()),
            retention: RetentionFacts {
                keep_versions: manifest.retention.keep_versions,
                max_age_days: manifest
                    .retention
                    .max_age
                    .map(|s| s.duration().as_secs_f64() / 86_400.0),
            },
            ports: manifest
                .outputs
                .iter()
                .map(|port| PortFacts {
                    name: port.name.clone(),
                    access: access_name(port.access),
                    error_checks: port
                        .checks
                        .iter()
                        .filter(|c| c.severity == tessera_core::manifest::Severity::Error)
                        .count(),
                    warn_checks: port
                        .checks
                        .iter()
                        .filter(|c| c.severity == tessera_core::manifest::Severity::Warn)
                        .count(),
                    classified: port
                        .schema
                        .columns
                        .iter()
                        .filter_map(|c| {
                            Some(ClassifiedColumn {
                                column: c.name.clone(),
                                classification: c.classification?.name(),
                            })
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A product that reads one of this product's ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumer {
    /// The reading product.
    pub product: String,
    /// Its domain.
    pub domain: String,
    /// Its owner.
    pub owner: String,
    /// The port of this product it reads.
    pub port: String,
    /// Its input port that reads it.
    pub input: String,
    /// The major version it pins, if any.
    pub major: Option<u64>,
}

/// Every active product of `mesh` that reads a port of `product`.
pub fn consumers_of<'a>(
    product: &str,
    mesh: impl IntoIterator<Item = &'a Manifest>,
) -> Vec<Consumer> {
    let mut out = Vec::new();
    for reader in mesh {
        for input in &reader.inputs {
            if let tessera_core::manifest::InputSource::Upstream(upstream) = &input.source
                && upstream.product == product
            {
                out.push(Consumer {
                    product: reader.product.name.clone(),
                    domain: reader.product.domain.clone(),
                    owner: reader.product.owner.clone(),
                    port: upstream.port.clone(),
                    input: input.name.clone(),
                    major: upstream.major,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.product, &a.input).cmp(&(&b.product, &b.input)));
    out
}

/// One check's outcome in a run.
#[derive(Debug, Clone, Serialize)]
pub struct CheckFacts {
    /// The port checked.
    pub port: String,
    /// The check, in words.
    pub check: String,
    /// `error` or `warn`.
    pub severity: String,
    /// Whether it passed.
    pub passed: bool,
    /// Rows that failed it.
    pub failed_rows: u64,
}

/// The run about to publish.
#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    /// The run's id.
    pub id: String,
    /// Its checks' outcomes.
    pub checks: Vec<CheckFacts>,
    /// Column statistics by port.
    pub stats: BTreeMap<String, PortStats>,
    /// Rows by port.
    pub rows: BTreeMap<String, u64>,
}

/// Access being granted to a token.
#[derive(Debug, Clone, Serialize)]
pub struct GrantFacts {
    /// The token's id.
    pub token: String,
    /// Its role.
    pub role: String,
    /// Its domain, if any.
    pub domain: Option<String>,
    /// The port granted, `product/port`.
    pub port: String,
    /// The port's access class.
    pub access: &'static str,
    /// When the token expires (RFC 3339), if it does.
    pub expires_at: Option<String>,
}

/// A push into an ingest port, without its rows.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFacts {
    /// The port.
    pub port: String,
    /// The body's format (`csv`, `ndjson`, `arrow`, `parquet`).
    pub format: String,
    /// The request body's size in bytes.
    pub bytes: u64,
    /// The size of what it would store (an Arrow IPC file), in bytes.
    pub stored_bytes: u64,
    /// `append` or `replace`.
    pub mode: String,
    /// The columns the port declares.
    pub columns: Vec<IngestColumn>,
}

/// A column of an ingest port.
#[derive(Debug, Clone, Serialize)]
pub struct IngestColumn {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Its classification, if any.
    pub classification: Option<&'static str>,
}
