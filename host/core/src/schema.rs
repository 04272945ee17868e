//! Column types and schemas as products declare them, and their Arrow equivalents.
//!
//! A declared schema is an ordered list of named columns, each with a [`DataType`], whether it
//! may hold nulls, and whether its values must be unique. Inside the host every batch is an
//! Arrow `RecordBatch` whose schema is [`Schema::to_arrow`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{
    DataType as ArrowType, Field as ArrowField, Schema as ArrowSchema, TimeUnit,
};
use serde::{Deserialize, Serialize};

/// The time zone of every timestamp column, as Arrow records it: UTC written as an offset, which
/// every Arrow reader understands without a time-zone database.
pub const UTC: &str = "+00:00";

/// The value kinds a column can hold; the same set as the WIT `data-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// 64-bit IEEE float.
    Float64,
    /// 32-bit IEEE float.
    Float32,
    /// 64-bit signed integer.
    Int64,
    /// `true` or `false`.
    Boolean,
    /// UTF-8 text.
    Text,
    /// Microseconds since the Unix epoch, UTC.
    Timestamp,
    /// Raw bytes.
    Binary,
}

impl DataType {
    /// Every data type, in declaration order.
    pub const ALL: [DataType; 7] = [
        DataType::Float64,
        DataType::Float32,
        DataType::Int64,
        DataType::Boolean,
        DataType::Text,
        DataType::Timestamp,
        DataType::Binary,
    ];

    /// The name used in manifests and APIs.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Float64 => "float64",
            DataType::Float32 => "float32",
            DataType::Int64 => "int64",
            DataType::Boolean => "boolean",
            DataType::Text => "text",
            DataType::Timestamp => "timestamp",
            DataType::Binary => "binary",
        }
    }

    /// The Arrow type that stores this column inside the host.
    pub fn to_arrow(self) -> ArrowType {
        match self {
            DataType::Float64 => ArrowType::Float64,
            DataType::Float32 => ArrowType::Float32,
            DataType::Int64 => ArrowType::Int64,
            DataType::Boolean => ArrowType::Boolean,
            DataType::Text => ArrowType::Utf8,
            DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            DataType::Binary => ArrowType::Binary,
        }
    }

    /// Whether values are numbers (statistics such as mean apply).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            DataType::Float64 | DataType::Float32 | DataType::Int64
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DataType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "float64" | "f64" | "double" => Ok(DataType::Float64),
            "float32" | "f32" | "float" => Ok(DataType::Float32),
            "int64" | "i64" | "integer" => Ok(DataType::Int64),
            "boolean" | "bool" => Ok(DataType::Boolean),
            "text" | "string" | "utf8" => Ok(DataType::Text),
            "timestamp" => Ok(DataType::Timestamp),
            "binary" | "bytes" => Ok(DataType::Binary),
            other => Err(format!(
                "unknown column type `{other}`; expected one of {}",
                DataType::ALL.map(DataType::name).join(", ")
            )),
        }
    }
}

/// One declared column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name, unique within its schema.
    pub name: String,
    /// Value kind.
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// `true` when every row must have a value.
    #[serde(default)]
    pub required: bool,
    /// `true` when no two rows may share a value.
    #[serde(default)]
    pub unique: bool,
    /// What the column means, for the docs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What kind of sensitive data it holds, if any (`classification = "phi"` in the
    /// manifest); the federation's policies decide where such columns may be published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
}

/// The sensitivity of a column's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// Personal data: identifies a person (names, ids, addresses).
    Pii,
    /// Protected health information: a person's health data.
    Phi,
    /// Not personal, but not for everyone (business secrets).
    Confidential,
}

impl Classification {
    /// Every classification.
    pub const ALL: [Classification; 3] = [
        Classification::Pii,
        Classification::Phi,
        Classification::Confidential,
    ];

    /// Its name in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Classification::Pii => "pii",
            Classification::Phi => "phi",
            Classification::Confidential => "confidential",
        }
    }

    /// The classification called `name`.
    pub fn parse(name: &str) -> Option<Classification> {
        Classification::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl Column {
    /// A nullable, non-unique column without a description.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Column {
            name: name.into(),
            data_type,
            required: false,
            unique: false,
            description: String::new(),
            classification: None,
        }
    }

    /// The same column with `required = true`.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// An ordered list of declared columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schema {
    /// The columns, in declaration order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// A schema of the given columns.
    pub fn new(columns: Vec<Column>) -> Self {
        Schema { columns }
    }

    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The position of the column with this name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// The Arrow schema batches of this schema have. Nullability follows `required`.
    pub fn to_arrow(&self) -> Arc<ArrowSchema> {
        Arc::new(ArrowSchema::new(
            self.columns
                .iter()
                .map(|c| ArrowField::new(&c.name, c.data_type.to_arrow(), !c.required))
                .collect::<Vec<_>>(),
        ))
    }
}
