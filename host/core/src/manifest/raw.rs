//! The manifest as written: serde structures that reject unknown keys and keep source spans,
//! before [`super::validate`] turns them into a [`super::Manifest`].

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

use super::{Access, GpuMode, ProductKind, Severity};
use crate::manifest::units::{ByteSize, Span};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub product: RawProduct,
    #[serde(default)]
    pub resources: RawResources,
    #[serde(default)]
    pub inputs: Vec<RawInput>,
    #[serde(default)]
    pub trigger: RawTrigger,
    #[serde(default)]
    pub outputs: Vec<RawOutput>,
    pub slo: Option<RawSlo>,
    pub retention: Option<RawRetention>,
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProduct {
    pub name: Spanned<String>,
    pub domain: Spanned<String>,
    pub version: Spanned<String>,
    pub owner: String,
    pub description: String,
    pub kind: ProductKind,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResources {
    pub memory: Option<Spanned<ByteSize>>,
    pub timeout: Option<Spanned<Span>>,
    pub gpu: Option<GpuMode>,
    pub gpu_memory: Option<ByteSize>,
    pub storage: Option<ByteSize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInput {
    pub name: Spanned<String>,
    pub ingest: Option<Spanned<RawSchema>>,
    pub from: Option<Spanned<String>>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    pub on_input: Option<bool>,
    pub schedule: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    pub name: Spanned<String>,
    #[serde(default)]
    pub access: Access,
    #[serde(default)]
    pub description: String,
    pub schema: Spanned<RawSchema>,
    #[serde(default)]
    pub checks: Vec<Spanned<RawCheck>>,
    #[serde(default)]
    pub views: Vec<Spanned<RawView>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub keep_versions: Option<Spanned<i64>>,
    pub max_age: Option<Span>,
    pub append_window: Option<Span>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlo {
    pub freshness: Option<Span>,
}

/// Columns in document order: `{ name = "type" }` or `{ name = { type = "...", required = true } }`.
#[derive(Debug, Default)]
pub(super) struct RawSchema(pub Vec<(Spanned<String>, Spanned<RawColumn>)>);

#[derive(Debug)]
pub(super) struct RawColumn {
    pub data_type: Spanned<String>,
    pub required: bool,
    pub unique: bool,
    pub description: String,
    pub classification: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawSchema {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SchemaVisitor;
        impl<'de> Visitor<'de> for SchemaVisitor {
            type Value = RawSchema;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of columns, such as { id = \"text\", score = \"float64\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSchema, A::Error> {
                let mut columns = Vec::new();
                while let Some(name) = map.next_key::<Spanned<String>>()? {
                    let column: Spanned<RawColumn> = map.next_value()?;
                    columns.push((name, column));
                }
                Ok(RawSchema(columns))
            }
        }
        d.deserialize_map(SchemaVisitor)
    }
}

impl<'de> Deserialize<'de> for RawColumn {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ColumnVisitor;
        impl<'de> Visitor<'de> for ColumnVisitor {
            type Value = RawColumn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a column type such as \"text\", or a table { type = \"text\", required = true }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawColumn, E> {
                Ok(RawColumn {
                    data_type: Spanned::new(0..0, v.to_string()),
                    required: false,
                    unique: false,
                    description: String::new(),
                    classification: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawColumn, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Table {
                    #[serde(rename = "type")]
                    data_type: Spanned<String>,
                    #[serde(default)]
                    required: bool,
                    #[serde(default)]
                    unique: bool,
                    #[serde(default)]
                    description: String,
                    #[serde(default)]
                    classification: Option<Spanned<String>>,
                }
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawColumn {
                    data_type: t.data_type,
                    required: t.required,
                    unique: t.unique,
                    description: t.description,
                    classification: t.classification,
                })
            }
        }
        d.deserialize_any(ColumnVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub kind: Spanned<String>,
    pub column: Option<Spanned<String>>,
    pub columns: Option<Vec<Spanned<String>>>,
    pub values: Option<Vec<toml::Value>>,
    pub pattern: Option<Spanned<String>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub inclusive: Option<bool>,
    pub to: Option<Spanned<String>>,
    pub field: Option<Spanned<String>>,
    pub max_age: Option<Span>,
    pub metric: Option<Spanned<String>>,
    pub max_percent: Option<f64>,
    pub severity: Option<Severity>,
    pub mostly: Option<Spanned<f64>>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawView {
    pub name: Option<Spanned<String>>,
    pub kind: Spanned<String>,
    pub x: Option<Spanned<String>>,
    pub y: Option<Spanned<String>>,
    pub color: Option<Spanned<String>>,
    pub title: Option<String>,
}
