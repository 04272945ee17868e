//! Turning a [`RawManifest`] into a [`Manifest`]: names, versions, references and cross-field
//! rules, each error located in the source.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;
use std::str::FromStr;

use toml::Spanned;

use super::raw::{RawCheck, RawColumn, RawManifest, RawSchema, RawView};
use super::{
    Check, CheckOrigin, CheckRule, InputPort, InputSource, Manifest, ManifestError, ManifestErrors,
    OutputPort, Parameter, ProductInfo, Resources, Retention, Severity, Slo, Trigger, UpstreamRef,
    View, ViewKind,
};
use crate::schema::{Classification, Column, DataType, Schema};

const MANUAL: &str = "see docs/MANIFEST.md for every key and its type";

struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
    errors: Vec<ManifestError>,
}

impl Ctx<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(ManifestError::at(
            self.file,
            self.source,
            Some(span),
            message,
            Some(hint.into()),
        ));
    }
}

pub(super) fn parse(source: &str, file: &str) -> Result<Manifest, ManifestErrors> {
    let raw: RawManifest = toml::from_str(source).map_err(|e| {
        let hint = hint_for_toml_error(e.message());
        ManifestErrors(vec![ManifestError::at(
            file,
            source,
            e.span(),
            e.message().trim(),
            Some(hint),
        )])
    })?;
    let mut ctx = Ctx {
        file,
        source,
        errors: Vec::new(),
    };
    let manifest = build(&mut ctx, raw);
    if ctx.errors.is_empty() {
        Ok(manifest)
    } else {
        Err(ManifestErrors(ctx.errors))
    }
}

fn hint_for_toml_error(message: &str) -> String {
    if message.contains("unknown field") {
        format!("remove the key or fix its spelling; {MANUAL}")
    } else if message.contains("missing field") {
        format!("add the key; {MANUAL}")
    } else if message.contains("invalid type") {
        format!("the value has the wrong type; {MANUAL}")
    } else if message.contains("unknown variant") {
        "use one of the values listed above".to_string()
    } else {
        format!("fix the value at this position; {MANUAL}")
    }
}

/// `kebab-case`: lowercase letters and digits, words joined by single hyphens.
pub fn is_kebab_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `snake_case` port names.
pub fn is_port_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Column names: an identifier of letters, digits and underscores.
pub fn is_column_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn build(ctx: &mut Ctx<'_>, raw: RawManifest) -> Manifest {
    let product = build_product(ctx, raw.product);
    let mut resources = Resources::default();
    if let Some(memory) = raw.resources.memory {
        if memory.get_ref().bytes() < 1 << 20 {
            ctx.error(
                memory.span(),
                "memory must be at least 1MiB",
                "a Rust product needs a few MiB; try \"64MiB\"",
            );
        }
        resources.memory = memory.into_inner();
    }
    if let Some(timeout) = raw.resources.timeout {
        if timeout.get_ref().duration().is_zero() {
            ctx.error(
                timeout.span(),
                "timeout must be longer than zero",
                "for example \"60s\"",
            );
        }
        resources.timeout = timeout.into_inner();
    }
    if let Some(gpu) = raw.resources.gpu {
        resources.gpu = gpu;
    }
    if let Some(gpu_memory) = raw.resources.gpu_memory {
        resources.gpu_memory = gpu_memory;
    }
    if let Some(storage) = raw.resources.storage {
        resources.storage = storage;
    }

    let mut port_names: HashSet<String> = HashSet::new();
    let mut inputs = Vec::new();
    for input in raw.inputs {
        let name = port_name(ctx, &input.name, &mut port_names);
        let source = match (input.ingest, input.from) {
            (Some(schema), None) => InputSource::Ingest(build_schema(ctx, schema)),
            (None, Some(from)) => InputSource::Upstream(parse_upstream(ctx, &from)),
            (Some(_), Some(from)) => {
                ctx.error(from.span(), format!("input `{name}` has both `ingest` and `from`"), "an input is either ingested (`ingest = { ... }`) or read from another product (`from = \"product/port\"`), not both");
                InputSource::Ingest(Schema::default())
            }
            (None, None) => {
                ctx.error(
                    input.name.span(),
                    format!("input `{name}` has neither `ingest` nor `from`"),
                    "add `ingest = { column = \"type\", ... }` or `from = \"product/port\"`",
                );
                InputSource::Ingest(Schema::default())
            }
        };
        inputs.push(InputPort {
            name,
            source,
            description: input.description,
        });
    }

    let trigger = Trigger {
        on_input: raw.trigger.on_input.unwrap_or(true),
        schedule: raw.trigger.schedule.map(|s| {
            if let Err(e) = croner::Cron::from_str(s.get_ref()) {
                ctx.error(s.span(), format!("invalid cron expression `{}`: {e}", s.get_ref()), "five fields in UTC: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\"");
            }
            s.into_inner()
        }),
    };

    let mut outputs = Vec::new();
    let mut view_names = BTreeSet::new();
    for output in raw.outputs {
        let name = port_name(ctx, &output.name, &mut port_names);
        let schema_span = output.schema.span();
        let schema = build_schema(ctx, output.schema);
        if schema.columns.is_empty() {
            ctx.error(
                schema_span.clone(),
                format!("output `{name}` declares no columns"),
                "declare at least one column, e.g. schema = { id = \"text\" }",
            );
        }
        let mut checks: Vec<Check> = output
            .checks
            .into_iter()
            .filter_map(|c| build_check(ctx, &schema, c))
            .collect();
        implied_unique_checks(&schema, &mut checks);
        let views = output
            .views
            .into_iter()
            .filter_map(|v| build_view(ctx, &schema, &mut view_names, v))
            .collect();
        outputs.push(OutputPort {
            name,
            access: output.access,
            description: output.description,
            schema,
            checks,
            views,
        });
    }
    if outputs.is_empty() {
        ctx.error(
            0..0,
            "the product declares no outputs",
            "add an [[outputs]] table with a name and a schema",
        );
    }

    let retention = match raw.retention {
        None => Retention::default(),
        Some(r) => Retention {
            keep_versions: r.keep_versions.and_then(|n| {
                let value = *n.get_ref();
                if value < 1 {
                    ctx.error(
                        n.span(),
                        format!("`keep_versions` must be at least 1, found {value}"),
                        "keep at least the newest version, e.g. keep_versions = 30",
                    );
                }
                u64::try_from(value).ok().filter(|v| *v >= 1)
            }),
            max_age: r.max_age,
            append_window: r.append_window,
        },
    };

    let parameters = build_parameters(ctx, raw.parameters);
    Manifest {
        product,
        resources,
        inputs,
        trigger,
        outputs,
        slo: Slo {
            freshness: raw.slo.and_then(|s| s.freshness),
        },
        retention,
        parameters,
    }
}

/// `[parameters]`: kebab or snake names with a boolean, a number or text each.
fn build_parameters(
    ctx: &mut Ctx<'_>,
    raw: BTreeMap<String, Spanned<toml::Value>>,
) -> BTreeMap<String, Parameter> {
    let mut parameters = BTreeMap::new();
    for (name, value) in raw {
        if !is_column_name(&name) {
            ctx.error(
                value.span(),
                format!("parameter name {name:?} is not a valid name"),
                "use lowercase letters, digits and underscores, starting with a letter",
            );
            continue;
        }
        let span = value.span();
        let parameter = match value.into_inner() {
            toml::Value::Boolean(b) => Parameter::Boolean(b),
            toml::Value::Integer(i) => Parameter::Integer(i),
            toml::Value::Float(f) => Parameter::Number(f),
            toml::Value::String(s) => Parameter::Text(s),
            other => {
                ctx.error(
                    span,
                    format!(
                        "parameter {name:?} is a {}; parameters are booleans, numbers or text",
                        other.type_str()
                    ),
                    "write one value, e.g. `min_kappa = 0.6`",
                );
                continue;
            }
        };
        parameters.insert(name, parameter);
    }
    parameters
}

fn build_product(ctx: &mut Ctx<'_>, raw: super::raw::RawProduct) -> ProductInfo {
    if !is_kebab_name(raw.name.get_ref()) {
        ctx.error(raw.name.span(), format!("invalid product name `{}`", raw.name.get_ref()), "use kebab-case: lowercase letters, digits and single hyphens, starting with a letter, at most 63 characters (e.g. \"labeled-studies\")");
    }
    if !is_kebab_name(raw.domain.get_ref()) {
        ctx.error(
            raw.domain.span(),
            format!("invalid domain `{}`", raw.domain.get_ref()),
            "use kebab-case, e.g. \"labeling\" or \"image-quality\"",
        );
    }
    let version = match semver::Version::parse(raw.version.get_ref()) {
        Ok(v) => v,
        Err(e) => {
            ctx.error(
                raw.version.span(),
                format!("invalid version `{}`: {e}", raw.version.get_ref()),
                "use semantic versioning MAJOR.MINOR.PATCH, e.g. \"1.0.0\"",
            );
            semver::Version::new(0, 0, 0)
        }
    };
    let mut tags = Vec::new();
    for tag in raw.tags {
        if !is_kebab_name(tag.get_ref()) {
            ctx.error(
                tag.span(),
                format!("invalid tag `{}`", tag.get_ref()),
                "tags are kebab-case words, e.g. \"ml\" or \"ground-truth\"",
            );
        }
        tags.push(tag.into_inner());
    }
    ProductInfo {
        name: raw.name.into_inner(),
        domain: raw.domain.into_inner(),
        version,
        owner: raw.owner,
        description: raw.description,
        kind: raw.kind,
        tags,
    }
}

fn port_name(ctx: &mut Ctx<'_>, name: &Spanned<String>, seen: &mut HashSet<String>) -> String {
    let text = name.get_ref().clone();
    if !is_port_name(&text) {
        ctx.error(name.span(), format!("invalid port name `{text}`"), "use snake_case: lowercase letters, digits and underscores, starting with a letter (e.g. \"label_counts\")");
    } else if !seen.insert(text.clone()) {
        ctx.error(
            name.span(),
            format!("duplicate port `{text}`"),
            "every input and output port of a product needs its own name",
        );
    }
    text
}

fn build_schema(ctx: &mut Ctx<'_>, raw: Spanned<RawSchema>) -> Schema {
    let mut seen = HashSet::new();
    let mut columns = Vec::new();
    for (name, column) in raw.into_inner().0 {
        let column_span = column.span();
        let RawColumn {
            data_type,
            required,
            unique,
            description,
            classification,
        } = column.into_inner();
        let classification = classification.and_then(|c| {
            let parsed = Classification::parse(c.get_ref());
            if parsed.is_none() {
                ctx.error(
                    c.span(),
                    format!("`{}` is not a classification", c.get_ref()),
                    "classifications: pii (personal data), phi (health data), confidential",
                );
            }
            parsed
        });
        if !is_column_name(name.get_ref()) {
            ctx.error(name.span(), format!("invalid column name `{}`", name.get_ref()), "column names are identifiers: letters, digits and underscores, not starting with a digit");
        } else if !seen.insert(name.get_ref().clone()) {
            ctx.error(
                name.span(),
                format!("duplicate column `{}`", name.get_ref()),
                "each column of a schema needs its own name",
            );
        }
        let type_span = if data_type.span() == (0..0) {
            column_span
        } else {
            data_type.span()
        };
        let data_type = match DataType::from_str(data_type.get_ref()) {
            Ok(t) => t,
            Err(e) => {
                ctx.error(
                    type_span,
                    e,
                    "column types: float64, float32, int64, boolean, text, timestamp, binary",
                );
                DataType::Text
            }
        };
        columns.push(Column {
            name: name.into_inner(),
            data_type,
            required,
            unique,
            description,
            classification,
        });
    }
    Schema::new(columns)
}

fn parse_upstream(ctx: &mut Ctx<'_>, from: &Spanned<String>) -> UpstreamRef {
    let text = from.get_ref();
    let (path, major) = match text.split_once('@') {
        Some((path, major)) => match major.parse::<u64>() {
            Ok(m) => (path, Some(m)),
            Err(_) => {
                ctx.error(
                    from.span(),
                    format!("invalid major version `{major}` in `{text}`"),
                    "pin a major version with a number, e.g. \"pacs/features@1\"",
                );
                (path, None)
            }
        },
        None => (text.as_str(), None),
    };
    match path.split_once('/') {
        Some((product, port)) if is_kebab_name(product) && is_port_name(port) => UpstreamRef {
            product: product.to_string(),
            port: port.to_string(),
            major,
        },
        _ => {
            ctx.error(from.span(), format!("invalid upstream reference `{text}`"), "write `from = \"product/port\"` (optionally `@MAJOR`), e.g. \"labeled-studies/consensus\"");
            UpstreamRef {
                product: String::new(),
                port: String::new(),
                major,
            }
        }
    }
}

fn column_ref(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    column: &Spanned<String>,
    what: &str,
) -> Option<DataType> {
    match schema.column(column.get_ref()) {
        Some(c) => Some(c.data_type),
        None => {
            ctx.error(
                column.span(),
                format!(
                    "{what} refers to column `{}`, which the schema does not declare",
                    column.get_ref()
                ),
                format!("declared columns: {}", schema.names().join(", ")),
            );
            None
        }
    }
}

fn require<'a, T>(
    ctx: &mut Ctx<'_>,
    span: &Range<usize>,
    kind: &str,
    key: &str,
    value: &'a Option<T>,
) -> Option<&'a T> {
    if value.is_none() {
        ctx.error(
            span.clone(),
            format!("check `{kind}` needs `{key}`"),
            format!("add `{key} = ...` to this check; {MANUAL}"),
        );
    }
    value.as_ref()
}

fn build_check(ctx: &mut Ctx<'_>, schema: &Schema, raw: Spanned<RawCheck>) -> Option<Check> {
    let span = raw.span();
    let raw = raw.into_inner();
    let kind = raw.kind.get_ref().clone();
    let what = format!("check `{kind}`");
    let mut used: Vec<&str> = vec!["kind", "severity", "mostly", "description"];
    let column = |ctx: &mut Ctx<'_>, used: &mut Vec<&str>| -> Option<(String, DataType)> {
        used.push("column");
        let c = require(ctx, &span, &kind, "column", &raw.column)?;
        column_ref(ctx, schema, c, &what).map(|t| (c.get_ref().clone(), t))
    };
    let rule = match kind.as_str() {
        "not_null" => CheckRule::NotNull {
            column: column(ctx, &mut used)?.0,
        },
        "unique" => {
            used.extend(["column", "columns"]);
            let mut names = Vec::new();
            if let Some(c) = &raw.column {
                column_ref(ctx, schema, c, &what)?;
                names.push(c.get_ref().clone());
            }
            for c in raw.columns.iter().flatten() {
                column_ref(ctx, schema, c, &what)?;
                names.push(c.get_ref().clone());
            }
            if names.is_empty() {
                ctx.error(
                    span.clone(),
                    "check `unique` needs `column` or `columns`",
                    "e.g. { kind = \"unique\", columns = [\"study_id\", \"annotator_id\"] }",
                );
                return None;
            }
            CheckRule::Unique { columns: names }
        }
        "accepted_values" => {
            let (column, _) = column(ctx, &mut used)?;
            used.push("values");
            let values = require(ctx, &span, &kind, "values", &raw.values)?
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            CheckRule::AcceptedValues { column, values }
        }
        "regex" => {
            let (column, data_type) = column(ctx, &mut used)?;
            used.push("pattern");
            let pattern = require(ctx, &span, &kind, "pattern", &raw.pattern)?;
            if data_type != DataType::Text {
                ctx.error(
                    span.clone(),
                    format!("check `regex` needs a text column; `{column}` is {data_type}"),
                    "apply `regex` to a text column",
                );
            }
            if let Err(e) = regex::Regex::new(pattern.get_ref()) {
                ctx.error(
                    pattern.span(),
                    format!("invalid regular expression: {e}"),
                    "the syntax is that of the Rust `regex` crate",
                );
            }
            CheckRule::Regex {
                column,
                pattern: pattern.get_ref().clone(),
            }
        }
        "range" => {
            let (column, data_type) = column(ctx, &mut used)?;
            used.extend(["min", "max", "inclusive"]);
            numeric(ctx, &span, &kind, &column, data_type);
            bounds(ctx, &span, &kind, raw.min, raw.max);
            CheckRule::Range {
                column,
                min: raw.min,
                max: raw.max,
                inclusive: raw.inclusive.unwrap_or(true),
            }
        }
        "row_count" => {
            used.extend(["min", "max"]);
            bounds(ctx, &span, &kind, raw.min, raw.max);
            let count = |v: Option<f64>| v.map(|v| v.max(0.0) as u64);
            CheckRule::RowCount {
                min: count(raw.min),
                max: count(raw.max),
            }
        }
        "relationships" => {
            let (column, _) = column(ctx, &mut used)?;
            used.extend(["to", "field"]);
            let to = require(ctx, &span, &kind, "to", &raw.to)?;
            let field = require(ctx, &span, &kind, "field", &raw.field)?;
            let valid = to
                .get_ref()
                .split_once('/')
                .is_some_and(|(p, port)| is_kebab_name(p) && is_port_name(port));
            if !valid {
                ctx.error(
                    to.span(),
                    format!("invalid reference `{}`", to.get_ref()),
                    "write `to = \"product/port\"` and `field = \"column\"`",
                );
            }
            CheckRule::Relationships {
                column,
                to: to.get_ref().clone(),
                field: field.get_ref().clone(),
            }
        }
        "freshness" => {
            let (column, data_type) = column(ctx, &mut used)?;
            used.push("max_age");
            let max_age = *require(ctx, &span, &kind, "max_age", &raw.max_age)?;
            if data_type != DataType::Timestamp {
                ctx.error(
                    span.clone(),
                    format!(
                        "check `freshness` needs a timestamp column; `{column}` is {data_type}"
                    ),
                    "apply `freshness` to a timestamp column",
                );
            }
            CheckRule::Freshness { column, max_age }
        }
        "mean_between" | "stddev_between" => {
            let (column, data_type) = column(ctx, &mut used)?;
            used.extend(["min", "max"]);
            numeric(ctx, &span, &kind, &column, data_type);
            bounds(ctx, &span, &kind, raw.min, raw.max);
            if kind == "mean_between" {
                CheckRule::MeanBetween {
                    column,
                    min: raw.min,
                    max: raw.max,
                }
            } else {
                CheckRule::StddevBetween {
                    column,
                    min: raw.min,
                    max: raw.max,
                }
            }
        }
        "change" => {
            used.extend(["column", "max_percent"]);
            let column = match &raw.column {
                Some(c) => {
                    let data_type = column_ref(ctx, schema, c, &what)?;
                    numeric(ctx, &span, &kind, c.get_ref(), data_type);
                    Some(c.get_ref().clone())
                }
                None => None,
            };
            let max_percent = *require(ctx, &span, &kind, "max_percent", &raw.max_percent)?;
            CheckRule::Change {
                column,
                max_percent,
            }
        }
        other => {
            ctx.error(raw.kind.span(), format!("unknown check kind `{other}`"), "check kinds: not_null, unique, accepted_values, regex, range, row_count, relationships, freshness, mean_between, stddev_between, change");
            return None;
        }
    };
    let present: [(&str, bool); 12] = [
        ("column", raw.column.is_some()),
        ("columns", raw.columns.is_some()),
        ("values", raw.values.is_some()),
        ("pattern", raw.pattern.is_some()),
        ("min", raw.min.is_some()),
        ("max", raw.max.is_some()),
        ("inclusive", raw.inclusive.is_some()),
        ("to", raw.to.is_some()),
        ("field", raw.field.is_some()),
        ("max_age", raw.max_age.is_some()),
        ("metric", raw.metric.is_some()),
        ("max_percent", raw.max_percent.is_some()),
    ];
    for (key, is_present) in present {
        if is_present && !used.contains(&key) {
            ctx.error(
                span.clone(),
                format!("`{key}` does not apply to check `{kind}`"),
                format!("remove `{key}`; {MANUAL}"),
            );
        }
    }
    if let Some(mostly) = &raw.mostly {
        let m = *mostly.get_ref();
        if !(0.0..=1.0).contains(&m) {
            ctx.error(
                mostly.span(),
                format!("`mostly` is {m}, outside 0..1"),
                "`mostly` is the share of rows that must pass, e.g. 0.95",
            );
        }
    }
    Some(Check {
        rule,
        severity: raw.severity.unwrap_or_default(),
        mostly: raw.mostly.map(Spanned::into_inner),
        description: raw.description.unwrap_or_default(),
        origin: CheckOrigin::Declared,
    })
}

fn numeric(ctx: &mut Ctx<'_>, span: &Range<usize>, kind: &str, column: &str, data_type: DataType) {
    if !data_type.is_numeric() {
        ctx.error(
            span.clone(),
            format!("check `{kind}` needs a numeric column; `{column}` is {data_type}"),
            "apply it to a float64, float32 or int64 column",
        );
    }
}

fn bounds(ctx: &mut Ctx<'_>, span: &Range<usize>, kind: &str, min: Option<f64>, max: Option<f64>) {
    match (min, max) {
        (None, None) => ctx.error(
            span.clone(),
            format!("check `{kind}` needs `min`, `max` or both"),
            "e.g. min = 0.0, max = 1.0",
        ),
        (Some(lo), Some(hi)) if lo > hi => ctx.error(
            span.clone(),
            format!("check `{kind}` has min {lo} above max {hi}"),
            "swap the bounds",
        ),
        _ => {}
    }
}

fn build_view(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    names: &mut BTreeSet<String>,
    raw: Spanned<RawView>,
) -> Option<View> {
    let span = raw.span();
    let raw = raw.into_inner();
    let kind = match raw.kind.get_ref().as_str() {
        "bar" => ViewKind::Bar,
        "line" => ViewKind::Line,
        "scatter" => ViewKind::Scatter,
        "histogram" => ViewKind::Histogram,
        "heatmap" => ViewKind::Heatmap,
        other => {
            ctx.error(
                raw.kind.span(),
                format!("unknown view kind `{other}`"),
                "view kinds: bar, line, scatter, histogram, heatmap",
            );
            return None;
        }
    };
    let what = format!("view `{}`", raw.kind.get_ref());
    let Some(x) = raw.x else {
        ctx.error(
            span,
            format!("{what} needs `x`"),
            "name the column on the x axis: x = \"column\"",
        );
        return None;
    };
    let x_type = column_ref(ctx, schema, &x, &what)?;
    if kind != ViewKind::Histogram && raw.y.is_none() {
        ctx.error(
            span.clone(),
            format!("{what} needs `y`"),
            "name the column on the y axis: y = \"column\"",
        );
        return None;
    }
    if kind == ViewKind::Heatmap && raw.color.is_none() {
        ctx.error(
            span.clone(),
            format!("{what} needs `color`, the column that holds each cell's value"),
            "name a numeric column: color = \"column\"",
        );
        return None;
    }
    let y_type = match &raw.y {
        Some(y) => Some(column_ref(ctx, schema, y, &what)?),
        None => None,
    };
    let color_type = match &raw.color {
        Some(c) => Some(column_ref(ctx, schema, c, &what)?),
        None => None,
    };
    // The axes that carry quantities must be numbers.
    let quantities: Vec<(&Spanned<String>, Option<DataType>)> = match kind {
        ViewKind::Bar | ViewKind::Line => vec![(raw.y.as_ref()?, y_type)],
        ViewKind::Scatter => vec![(&x, Some(x_type)), (raw.y.as_ref()?, y_type)],
        ViewKind::Histogram => vec![(&x, Some(x_type))],
        ViewKind::Heatmap => vec![(raw.color.as_ref()?, color_type)],
    };
    for (column, data_type) in quantities {
        if let Some(t) = data_type
            && !matches!(t, DataType::Float64 | DataType::Float32 | DataType::Int64)
        {
            ctx.error(
                column.span(),
                format!(
                    "{what} plots `{}` as a quantity, but it is {}",
                    column.get_ref(),
                    t.name()
                ),
                "use a float64, float32 or int64 column",
            );
            return None;
        }
    }
    let title = raw.title.unwrap_or_default();
    let name = match raw.name {
        Some(name) => {
            if !is_view_name(name.get_ref()) {
                ctx.error(
                    name.span(),
                    format!("`{}` is not a view name", name.get_ref()),
                    "use 1 to 64 lower-case letters, digits and `-`",
                );
                return None;
            }
            name.into_inner()
        }
        None => kebab(if title.is_empty() {
            raw.kind.get_ref()
        } else {
            &title
        }),
    };
    if names.len() >= MAX_VIEWS {
        ctx.error(
            span,
            format!("more than {MAX_VIEWS} views"),
            "a product page draws every view; keep the ones its users read first",
        );
        return None;
    }
    if !names.insert(name.clone()) {
        ctx.error(
            span,
            format!("two views are named `{name}`"),
            "give one of them another `name`: views are addressed by name",
        );
        return None;
    }
    Some(View {
        name,
        kind,
        x: x.into_inner(),
        y: raw.y.map(Spanned::into_inner),
        color: raw.color.map(Spanned::into_inner),
        title,
    })
}

/// The most views one product declares (its page draws every one).
pub const MAX_VIEWS: usize = 20;

/// Whether `name` can name a view in a URL.
fn is_view_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `text` in kebab-case, at most 64 characters: `"Studies by label"` is `studies-by-label`.
fn kebab(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if out.len() + word.len() + 1 > 64 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    if out.is_empty() { "view".into() } else { out }
}

/// A column declared `unique = true` is held to it: a `unique` check of error severity on that
/// column joins the port's checks, unless the port already declares one.
fn implied_unique_checks(schema: &Schema, checks: &mut Vec<Check>) {
    for column in schema.columns.iter().filter(|c| c.unique) {
        let declared = checks.iter().any(|c| {
            matches!(&c.rule, CheckRule::Unique { columns } if columns.len() == 1 && c.rule.column() == Some(column.name.as_str()))
        });
        if !declared {
            checks.push(Check {
                rule: CheckRule::Unique {
                    columns: vec![column.name.clone()],
                },
                severity: Severity::Error,
                mostly: None,
                description: format!("`{}` is declared `unique = true`", column.name),
                origin: CheckOrigin::UniqueColumn,
            });
        }
    }
}
