//! The product manifest, `product.toml`: who a product is, what it needs, what it reads and
//! what it publishes.
//!
//! Parsing is strict. Unknown keys, wrong types, bad names, bad versions, sizes or durations,
//! duplicate ports and references to undeclared columns are all errors that name the file,
//! line and column and give a hint. The full reference is `docs/MANIFEST.md`.
//!
//! ```
//! let manifest = tessera_core::manifest::Manifest::parse(r#"
//! [product]
//! name = "hello"
//! domain = "examples"
//! version = "0.1.0"
//! owner = "team@example.org"
//! description = "Greets"
//! kind = "source-aligned"
//!
//! [[inputs]]
//! name = "people"
//! ingest = { name = { type = "text", required = true } }
//!
//! [[outputs]]
//! name = "greetings"
//! schema = { greeting = "text" }
//! "#, "product.toml").unwrap();
//! assert_eq!(manifest.product.name, "hello");
//! assert_eq!(manifest.resources.memory.to_string(), "256MiB");
//! ```

mod error;
mod raw;
pub mod units;
mod validate;

use std::path::Path;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::{ManifestError, ManifestErrors};
pub use units::{ByteSize, Span};
pub use validate::{is_column_name, is_kebab_name, is_port_name};

use crate::schema::Schema;

/// The name of the custom section that carries the manifest inside a component.
pub const MANIFEST_SECTION: &str = "tessera:manifest";

/// A parsed, validated product manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Identity and ownership.
    pub product: ProductInfo,
    /// What the product may use.
    pub resources: Resources,
    /// Ports the product reads.
    pub inputs: Vec<InputPort>,
    /// When the product runs.
    pub trigger: Trigger,
    /// Ports the product publishes.
    pub outputs: Vec<OutputPort>,
    /// Service levels the product promises.
    pub slo: Slo,
    /// How many published versions the host keeps.
    #[serde(default)]
    pub retention: Retention,
    /// `[parameters]`: named settings the product reads at run time (thresholds, budgets), so
    /// an owner changes them in the manifest instead of in code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Parameter>,
}

/// One value of `[parameters]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Parameter {
    /// `true` or `false`.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Number(f64),
    /// Text.
    Text(String),
}

impl Parameter {
    /// The kind of value, as the manifest's reader would say it.
    pub fn kind(&self) -> &'static str {
        match self {
            Parameter::Boolean(_) => "a boolean",
            Parameter::Integer(_) => "a whole number",
            Parameter::Number(_) => "a number",
            Parameter::Text(_) => "text",
        }
    }

    /// `text` read as a value of the same kind as this one (a command line's override of a
    /// declared parameter); the error says what was expected.
    pub fn parse_like(&self, text: &str) -> Result<Parameter, String> {
        let refused = || format!("`{text}` is not {}", self.kind());
        match self {
            Parameter::Boolean(_) => match text {
                "true" => Ok(Parameter::Boolean(true)),
                "false" => Ok(Parameter::Boolean(false)),
                _ => Err(format!("{}; use true or false", refused())),
            },
            Parameter::Integer(_) => text.parse().map(Parameter::Integer).map_err(|_| refused()),
            Parameter::Number(_) => match text.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Parameter::Number(n)),
                _ => Err(refused()),
            },
            Parameter::Text(_) => Ok(Parameter::Text(text.to_string())),
        }
    }
}

impl std::fmt::Display for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Parameter::Boolean(b) => write!(f, "{b}"),
            Parameter::Integer(i) => write!(f, "{i}"),
            Parameter::Number(n) => write!(f, "{n}"),
            Parameter::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// `[product]`: identity and ownership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductInfo {
    /// Kebab-case name, unique on a host.
    pub name: String,
    /// The owning domain (kebab-case).
    pub domain: String,
    /// Semantic version of the product.
    pub version: semver::Version,
    /// Contact of the owning team.
    pub owner: String,
    /// One-line description.
    pub description: String,
    /// Data Mesh role of the product.
    pub kind: ProductKind,
    /// Free-form tags for the catalog.
    pub tags: Vec<String>,
}

/// The Data Mesh role of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProductKind {
    /// Close to an operational source; usually ingests.
    SourceAligned,
    /// Combines other products.
    Aggregate,
    /// Shaped for one use.
    ConsumerAligned,
}

impl ProductKind {
    /// The name used in manifests and APIs (`source-aligned`, `aggregate`, `consumer-aligned`).
    pub fn name(self) -> &'static str {
        match self {
            ProductKind::SourceAligned => "source-aligned",
            ProductKind::Aggregate => "aggregate",
            ProductKind::ConsumerAligned => "consumer-aligned",
        }
    }
}

/// Whether a product uses a GPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuMode {
    /// Never.
    #[default]
    None,
    /// When one is available; falls back to the CPU otherwise.
    Optional,
    /// The product cannot run without one.
    Required,
}

/// Who may read an output port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone with a reader token.
    #[default]
    Public,
    /// Members of the owning domain.
    Domain,
    /// Owners and admins only.
    Restricted,
}

/// `[resources]`: limits the host enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Linear memory limit; growing past it traps.
    pub memory: ByteSize,
    /// Wall-clock limit of one run.
    pub timeout: Span,
    /// GPU use.
    pub gpu: GpuMode,
    /// GPU memory the product may allocate.
    pub gpu_memory: ByteSize,
    /// Quota for the product's published data.
    pub storage: ByteSize,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            memory: ByteSize::mib(256),
            timeout: Span(std::time::Duration::from_secs(60)),
            gpu: GpuMode::None,
            gpu_memory: ByteSize::mib(256),
            storage: ByteSize::mib(1024),
        }
    }
}

/// One `[[inputs]]` port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPort {
    /// Port name, unique within the product.
    pub name: String,
    /// Where the data comes from.
    pub source: InputSource,
    /// What the port holds.
    pub description: String,
}

/// Where an input port's data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputSource {
    /// Pushed over HTTP (or given to a local run) with this schema.
    Ingest(Schema),
    /// Another product's output port.
    Upstream(UpstreamRef),
}

/// `from = "product/port"` or `"product/port@MAJOR"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamRef {
    /// The upstream product.
    pub product: String,
    /// Its output port.
    pub port: String,
    /// The major version required, if pinned.
    pub major: Option<u64>,
}

impl InputPort {
    /// The declared schema for ingested ports; `None` for upstream ports (their schema is the
    /// upstream output's).
    pub fn ingest_schema(&self) -> Option<&Schema> {
        match &self.source {
            InputSource::Ingest(schema) => Some(schema),
            InputSource::Upstream(_) => None,
        }
    }
}

/// `[trigger]`: when the product runs besides manual runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Run when any input gets a new version.
    pub on_input: bool,
    /// Cron expression, UTC.
    pub schedule: Option<String>,
}

/// One `[[outputs]]` port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputPort {
    /// Port name, unique within the product.
    pub name: String,
    /// Who may read it.
    pub access: Access,
    /// What the port holds.
    pub description: String,
    /// Declared columns; every written batch must match.
    pub schema: Schema,
    /// Data tests run before publishing.
    pub checks: Vec<Check>,
    /// Charts for the docs page.
    pub views: Vec<View>,
}

/// How bad a failing check is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks publication.
    #[default]
    Error,
    /// Reported, publishes anyway.
    Warn,
}

impl Severity {
    /// The name in manifests and reports: `error` or `warn`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A declarative data test on an output port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The rule.
    pub rule: CheckRule,
    /// What a failure does.
    pub severity: Severity,
    /// Share of rows that must pass (1.0 when absent).
    pub mostly: Option<f64>,
    /// Why the check exists.
    pub description: String,
    /// Where the check comes from.
    #[serde(default)]
    pub origin: CheckOrigin,
}

/// Where a port's check comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOrigin {
    /// Written in the port's `checks`.
    #[default]
    Declared,
    /// A column's `unique = true`: the check follows the column, not the `checks` list.
    UniqueColumn,
}

/// The vocabulary of declarative checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckRule {
    /// No nulls in the column.
    NotNull {
        /// Column checked.
        column: String,
    },
    /// No two rows share the values of these columns.
    Unique {
        /// Columns that together must be unique.
        columns: Vec<String>,
    },
    /// Every value is one of a list.
    AcceptedValues {
        /// Column checked.
        column: String,
        /// Allowed values, as text.
        values: Vec<String>,
    },
    /// Every text value matches a regular expression.
    Regex {
        /// Column checked.
        column: String,
        /// The pattern.
        pattern: String,
    },
    /// Every value lies within bounds.
    Range {
        /// Column checked.
        column: String,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
        /// Whether the bounds are allowed values.
        inclusive: bool,
    },
    /// The number of rows lies within bounds.
    RowCount {
        /// Fewest rows.
        min: Option<u64>,
        /// Most rows.
        max: Option<u64>,
    },
    /// Every value exists in a column of another product's port.
    Relationships {
        /// Column checked.
        column: String,
        /// `product/port` referred to.
        to: String,
        /// Column of that port.
        field: String,
    },
    /// The newest timestamp is younger than a duration.
    Freshness {
        /// Timestamp column.
        column: String,
        /// Largest allowed age.
        max_age: Span,
    },
    /// The mean lies within bounds.
    MeanBetween {
        /// Column checked.
        column: String,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// The standard deviation lies within bounds.
    StddevBetween {
        /// Column checked.
        column: String,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Row count or a column's mean moves by at most a percentage from the previous version.
    Change {
        /// `row_count`, or a column whose mean is compared.
        column: Option<String>,
        /// Largest allowed change, in percent.
        max_percent: f64,
    },
}

impl CheckRule {
    /// The one column the rule tests, if it tests one (a `unique` over several columns, a row
    /// count or a row-count change test none).
    pub fn column(&self) -> Option<&str> {
        match self {
            CheckRule::NotNull { column }
            | CheckRule::AcceptedValues { column, .. }
            | CheckRule::Regex { column, .. }
            | CheckRule::Range { column, .. }
            | CheckRule::Relationships { column, .. }
            | CheckRule::Freshness { column, .. }
            | CheckRule::MeanBetween { column, .. }
            | CheckRule::StddevBetween { column, .. } => Some(column),
            CheckRule::Unique { columns } => match columns.as_slice() {
                [only] => Some(only),
                _ => None,
            },
            CheckRule::Change { column, .. } => column.as_deref(),
            CheckRule::RowCount { .. } => None,
        }
    }
}

/// A chart of an output port, drawn from its published data on the product's page and served
/// as SVG or as a Vega-Lite specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The view's name in URLs, unique within the product: the manifest's `name`, or the title
    /// in kebab-case.
    #[serde(default)]
    pub name: String,
    /// Chart kind.
    pub kind: ViewKind,
    /// Column on the x axis.
    pub x: String,
    /// Column on the y axis, if the chart has one.
    pub y: Option<String>,
    /// Column that colours the marks.
    pub color: Option<String>,
    /// Title above the chart.
    pub title: String,
}

/// Chart kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewKind {
    /// Bars per category.
    Bar,
    /// A line over an ordered x.
    Line,
    /// Points.
    Scatter,
    /// Binned counts of one column.
    Histogram,
    /// A grid of cells: categories on x and y, `color` the value of each cell.
    Heatmap,
}

impl ViewKind {
    /// The name used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Bar => "bar",
            ViewKind::Line => "line",
            ViewKind::Scatter => "scatter",
            ViewKind::Histogram => "histogram",
            ViewKind::Heatmap => "heatmap",
        }
    }
}

/// `[retention]`: which published versions the host keeps. The newest version is always kept;
/// without a policy every version is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Keep at most this many newest versions.
    pub keep_versions: Option<u64>,
    /// Drop versions older than this.
    pub max_age: Option<Span>,
    /// Append ingest ports keep the rows they took in within this window (and always the last
    /// ingest's): older segments leave the port in a new input version, and their bytes go
    /// once no kept version read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_window: Option<Span>,
}

/// `[slo]`: service levels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slo {
    /// Largest acceptable age of the newest published version.
    pub freshness: Option<Span>,
}

impl Manifest {
    /// Parses and validates manifest text; `file` names it in errors.
    pub fn parse(source: &str, file: &str) -> Result<Manifest, ManifestErrors> {
        validate::parse(source, file)
    }

    /// Reads, parses and validates a manifest file.
    pub fn from_file(path: &Path) -> Result<Manifest, ManifestErrors> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(source) => Manifest::parse(&source, &file),
            Err(e) => Err(ManifestErrors(vec![ManifestError {
                file,
                line: 0,
                column: 0,
                message: format!("cannot read the manifest: {e}"),
                hint: Some(
                    "a product directory needs a product.toml; `tessera new NAME` creates one"
                        .into(),
                ),
                source_line: String::new(),
                width: 1,
            }])),
        }
    }

    /// The input port with this name.
    pub fn input(&self, name: &str) -> Option<&InputPort> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// The output port with this name.
    pub fn output(&self, name: &str) -> Option<&OutputPort> {
        self.outputs.iter().find(|p| p.name == name)
    }
}
