//! A product's descriptor as an **ODPS** v1.0.0 document (Open Data Product Standard) and each
//! output port's contract as an **ODCS** v3.1.0 document (Open Data Contract Standard), made
//! from the manifest: the schema with logical types, required, unique and classification, the
//! checks as quality rules (ODCS library metrics where one fits, text otherwise), and the SLA
//! from freshness and retention. Both validate against the official JSON schemas.

use serde_json::{Value, json};
use tessera_core::manifest::{
    Access, Check, CheckRule, InputSource, Manifest, OutputPort, Severity,
};
use tessera_core::schema::{Column, DataType};

use crate::input::access_name;

/// Where the product is served, for the documents' URLs.
#[derive(Debug, Clone)]
pub struct Served<'a> {
    /// The server's base URL, such as `http://127.0.0.1:8080`.
    pub base_url: &'a str,
    /// Whether the described version is the active one (`active`) or only deployed (`draft`).
    pub active: bool,
}

fn status(served: &Served<'_>) -> &'static str {
    if served.active { "active" } else { "draft" }
}

fn team(manifest: &Manifest) -> Value {
    json!({
        "name": manifest.product.domain,
        "description": format!("The {} domain", manifest.product.domain),
        "members": [{"username": manifest.product.owner, "role": "owner"}],
    })
}

fn support(manifest: &Manifest, channel_key: &str) -> Vec<Value> {
    let owner = manifest.product.owner.trim();
    if owner.is_empty() {
        return Vec::new();
    }
    let url = if owner.contains('@') && !owner.contains(':') {
        format!("mailto:{owner}")
    } else {
        owner.to_string()
    };
    vec![
        json!({channel_key: "owner", "url": url, "tool": "email", "description": "The owning team"}),
    ]
}

/// The stable id of a port's contract: `product-port`.
pub fn contract_id(product: &str, port: &str) -> String {
    format!("{product}-{port}").replace('_', "-")
}

/// The product's ODPS v1.0.0 document.
pub fn odps(manifest: &Manifest, served: &Served<'_>) -> Value {
    let product = &manifest.product;
    let base = format!("{}/v1/products/{}", served.base_url, product.name);
    let inputs: Vec<Value> = manifest
        .inputs
        .iter()
        .map(|input| match &input.source {
            InputSource::Upstream(up) => json!({
                "name": input.name,
                "version": up.major.map_or_else(|| "any".to_string(), |m| m.to_string()),
                "contractId": contract_id(&up.product, &up.port),
            }),
            InputSource::Ingest(_) => json!({
                "name": input.name,
                "version": product.version.to_string(),
                "contractId": format!("{}-ingest-{}", product.name, input.name).replace('_', "-"),
                "customProperties": [
                    {"property": "ingestUrl", "value": format!("{base}/inputs/{}", input.name)}
                ],
            }),
        })
        .collect();
    let outputs: Vec<Value> = manifest
        .outputs
        .iter()
        .map(|port| {
            json!({
                "name": port.name,
                "description": port.description,
                "type": "tables",
                "version": product.version.to_string(),
                "contractId": contract_id(&product.name, &port.name),
                "customProperties": [
                    {"property": "access", "value": access_name(port.access)},
                    {"property": "url", "value": format!("{base}/outputs/{}", port.name)},
                    {"property": "contractUrl", "value": format!("{base}/outputs/{}/contract", port.name)},
                ],
            })
        })
        .collect();
    let kind = serde_json::to_value(product.kind).unwrap_or(Value::Null);
    json!({
        "apiVersion": "v1.0.0",
        "kind": "DataProduct",
        "id": product.name,
        "name": product.name,
        "version": product.version.to_string(),
        "status": status(served),
        "domain": product.domain,
        "description": {"purpose": product.description, "usage": format!("read the output ports at {base}/outputs/PORT")},
        "tags": product.tags,
        "inputPorts": inputs,
        "outputPorts": outputs,
        "managementPorts": [
            {"name": "descriptor", "content": "discoverability", "type": "rest", "url": base},
            {"name": "docs", "content": "dictionary", "type": "rest", "url": format!("{base}/docs")},
            {"name": "metrics", "content": "observability", "type": "rest", "url": format!("{base}/metrics")},
            {"name": "events", "content": "observability", "type": "topic", "url": format!("{base}/events")},
            {"name": "runs", "content": "control", "type": "rest", "url": format!("{base}/runs")},
        ],
        "support": support(manifest, "channel"),
        "team": team(manifest),
        "customProperties": [
            {"property": "productKind", "value": kind},
            {"property": "gpu", "value": serde_json::to_value(manifest.resources.gpu).unwrap_or(Value::Null)},
        ],
    })
}

fn logical_type(data_type: DataType) -> (&'static str, Option<Value>) {
    match data_type {
        DataType::Float64 | DataType::Float32 => ("number", None),
        DataType::Int64 => ("integer", None),
        DataType::Boolean => ("boolean", None),
        DataType::Text => ("string", None),
        DataType::Timestamp => ("timestamp", Some(json!({"timezone": true}))),
        DataType::Binary => ("string", Some(json!({"format": "binary"}))),
    }
}

fn severity(check: &Check) -> &'static str {
    match check.severity {
        Severity::Error => "error",
        Severity::Warn => "warning",
    }
}

/// A library-metric rule: `metric`, one operator, and the usual fields.
fn library(check: &Check, metric: &str, dimension: &str, operator: (&str, Value)) -> Value {
    let mut rule = json!({
        "type": "library",
        "metric": metric,
        "dimension": dimension,
        "severity": severity(check),
        "description": check_words(check),
    });
    if let Some(object) = rule.as_object_mut() {
        object.insert(operator.0.to_string(), operator.1);
    }
    rule
}

fn check_words(check: &Check) -> String {
    let rule = serde_json::to_string(&check.rule).unwrap_or_default();
    if check.description.is_empty() {
        rule
    } else {
        format!("{}: {rule}", check.description)
    }
}

fn text_rule(check: &Check, dimension: &str) -> Value {
    json!({
        "type": "text",
        "dimension": dimension,
        "severity": severity(check),
        "description": check_words(check),
    })
}

/// Allowed failures: none, or the share `mostly` leaves, in percent.
fn tolerance(check: &Check) -> (&'static str, Value) {
    match check.mostly {
        Some(m) if m < 1.0 => ("mustBeLessOrEqualTo", json!(((1.0 - m) * 100.0).max(0.0))),
        _ => ("mustBe", json!(0)),
    }
}

fn with_unit(mut rule: Value, check: &Check) -> Value {
    if check.mostly.is_some_and(|m| m < 1.0)
        && let Some(object) = rule.as_object_mut()
    {
        object.insert("unit".into(), json!("percent"));
    }
    rule
}

/// Where a check's rule goes: a column's `quality` (`Some(column)`) or the table's.
fn quality_rule(check: &Check) -> (Option<String>, Value) {
    match &check.rule {
        CheckRule::NotNull { column } => (
            Some(column.clone()),
            with_unit(
                library(check, "nullValues", "completeness", tolerance(check)),
                check,
            ),
        ),
        CheckRule::Unique { columns } if columns.len() == 1 => (
            columns.first().cloned(),
            with_unit(
                library(check, "duplicateValues", "uniqueness", tolerance(check)),
                check,
            ),
        ),
        CheckRule::Unique { columns } => {
            let mut rule = with_unit(
                library(check, "duplicateValues", "uniqueness", tolerance(check)),
                check,
            );
            if let Some(object) = rule.as_object_mut() {
                object.insert("arguments".into(), json!({"properties": columns}));
            }
            (None, rule)
        }
        CheckRule::AcceptedValues { column, values } => {
            let mut rule = with_unit(
                library(check, "invalidValues", "conformity", tolerance(check)),
                check,
            );
            if let Some(object) = rule.as_object_mut() {
                object.insert("arguments".into(), json!({"validValues": values}));
            }
            (Some(column.clone()), rule)
        }
        CheckRule::Regex { column, pattern } => {
            let mut rule = with_unit(
                library(check, "invalidValues", "conformity", tolerance(check)),
                check,
            );
            if let Some(object) = rule.as_object_mut() {
                object.insert("arguments".into(), json!({"pattern": pattern}));
            }
            (Some(column.clone()), rule)
        }
        CheckRule::RowCount { min, max } => {
            let operator = match (min, max) {
                (Some(a), Some(b)) if a == b => ("mustBe", json!(a)),
                (Some(a), Some(b)) => ("mustBeBetween", json!([a, b])),
                (Some(a), None) => ("mustBeGreaterOrEqualTo", json!(a)),
                (None, Some(b)) => ("mustBeLessOrEqualTo", json!(b)),
                (None, None) => ("mustBeGreaterOrEqualTo", json!(0)),
            };
            (None, library(check, "rowCount", "completeness", operator))
        }
        CheckRule::Range { column, .. }
        | CheckRule::MeanBetween { column, .. }
        | CheckRule::StddevBetween { column, .. }
        | CheckRule::Relationships { column, .. } => {
            (Some(column.clone()), text_rule(check, "accuracy"))
        }
        CheckRule::Freshness { column, .. } => {
            (Some(column.clone()), text_rule(check, "timeliness"))
        }
        CheckRule::Change { .. } => (None, text_rule(check, "consistency")),
    }
}

fn property(column: &Column, rules: Vec<Value>) -> Value {
    let (logical, options) = logical_type(column.data_type);
    let mut p = json!({
        "name": column.name,
        "logicalType": logical,
        "physicalType": column.data_type.name(),
        "required": column.required,
        "unique": column.unique,
    });
    if let Some(object) = p.as_object_mut() {
        if let Some(options) = options {
            object.insert("logicalTypeOptions".into(), options);
        }
        if !column.description.is_empty() {
            object.insert("description".into(), json!(column.description));
        }
        if let Some(c) = column.classification {
            object.insert("classification".into(), json!(c.name()));
        }
        if !rules.is_empty() {
            object.insert("quality".into(), Value::Array(rules));
        }
    }
    p
}

/// The ODCS v3.1.0 contract of one output port.
pub fn odcs(manifest: &Manifest, port: &OutputPort, served: &Served<'_>) -> Value {
    let product = &manifest.product;
    let mut table_rules = Vec::new();
    let mut column_rules: Vec<(String, Value)> = Vec::new();
    for check in &port.checks {
        match quality_rule(check) {
            (Some(column), rule) => column_rules.push((column, rule)),
            (None, rule) => table_rules.push(rule),
        }
    }
    let properties: Vec<Value> = port
        .schema
        .columns
        .iter()
        .map(|c| {
            let rules = column_rules
                .iter()
                .filter(|(name, _)| name == &c.name)
                .map(|(_, rule)| rule.clone())
                .collect();
            property(c, rules)
        })
        .collect();
    let mut object = json!({
        "name": port.name,
        "logicalType": "object",
        "physicalType": "table",
        "description": port.description,
        "properties": properties,
    });
    if !table_rules.is_empty()
        && let Some(o) = object.as_object_mut()
    {
        o.insert("quality".into(), Value::Array(table_rules));
    }
    let mut sla = Vec::new();
    if let Some(freshness) = manifest.slo.freshness {
        sla.push(json!({
            "property": "frequency",
            "value": freshness.duration().as_secs_f64() / 3600.0,
            "unit": "h",
            "description": "a new version is published at least this often (the freshness SLO)",
        }));
    }
    if let Some(age) = manifest.retention.max_age {
        sla.push(json!({
            "property": "retention",
            "value": age.duration().as_secs_f64() / 86_400.0,
            "unit": "d",
            "description": "published versions stay readable at least this long",
        }));
    }
    if let Some(keep) = manifest.retention.keep_versions {
        sla.push(json!({
            "property": "retention",
            "value": keep,
            "unit": "versions",
            "description": "the newest versions kept",
        }));
    }
    let url = format!(
        "{}/v1/products/{}/outputs/{}",
        served.base_url, product.name, port.name
    );
    json!({
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": contract_id(&product.name, &port.name),
        "name": format!("{}/{}", product.name, port.name),
        "version": product.version.to_string(),
        "status": status(served),
        "domain": product.domain,
        "tenant": product.domain,
        "tags": product.tags,
        "description": {
            "purpose": port.description,
            "usage": format!("GET {url}?format=parquet (or csv, json, ndjson, arrow)"),
            "limitations": match port.access {
                Access::Public => "readable by every reader".to_string(),
                Access::Domain => format!("readable by the {} domain and granted tokens", product.domain),
                Access::Restricted => format!("readable by the {} domain's owners and granted tokens", product.domain),
            },
        },
        "schema": [object],
        "slaProperties": sla,
        "team": team(manifest),
        "support": support(manifest, "channel"),
        "customProperties": [
            {"property": "access", "value": access_name(port.access)},
            {"property": "url", "value": url},
        ],
    })
}
