//! What the data tests and column statistics of a run found, as the store keeps and the API
//! serves them. The checks and statistics themselves are computed by `tessera-quality`; these
//! are their results, so storage and the API can hold them without depending on it.

use serde::{Deserialize, Serialize};

/// The outcome of one check on one port of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Output port.
    pub port: String,
    /// The check as written, e.g. `not_null(label)` or `range(confidence, 0..=1)`.
    pub check: String,
    /// Its kind (`not_null`, `unique`, ...).
    pub kind: String,
    /// The one column it tests, if it tests one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `error` (blocks publication) or `warn`.
    pub severity: crate::manifest::Severity,
    /// Whether it passed.
    pub passed: bool,
    /// Rows looked at (row-level checks; nulls are skipped except by `not_null`).
    pub evaluated: u64,
    /// Rows that failed.
    pub failed: u64,
    /// The share of looked-at rows that must pass.
    pub mostly: Option<f64>,
    /// The figure a table-level check compared (row count, mean, age in seconds, change in
    /// percent).
    pub observed: Option<f64>,
    /// What was found, in words.
    pub message: String,
    /// Why the check exists (from the manifest).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The first failing rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<FailingRow>,
}

/// One failing row: its number in the port's output (from 1) and its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailingRow {
    /// Row number, from 1.
    pub row: u64,
    /// The row's columns.
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// Statistics of every column of one output port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortStats {
    /// Rows.
    pub rows: u64,
    /// One entry per column, in schema order.
    pub columns: Vec<ColumnStats>,
}

/// Statistics of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Column name.
    pub name: String,
    /// Declared type (`float64`, `text`, ...).
    pub data_type: String,
    /// Non-null values.
    pub count: u64,
    /// Nulls.
    pub nulls: u64,
    /// Distinct non-null values (estimated above the sample capacity).
    pub distinct: u64,
    /// Smallest value (numbers, timestamps as RFC 3339, text).
    pub min: Option<serde_json::Value>,
    /// Largest value.
    pub max: Option<serde_json::Value>,
    /// Mean of a numeric column (of a boolean column: the share of `true`).
    pub mean: Option<f64>,
    /// Sample standard deviation of a numeric column.
    pub stddev: Option<f64>,
    /// Quantiles of a numeric column.
    pub quantiles: Option<Quantiles>,
    /// Equal-width histogram of a numeric column between its min and max.
    pub histogram: Option<Histogram>,
    /// Most frequent values of a text or boolean column, most frequent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopValue>,
    /// Whether distinct, quantiles, histogram and top values are estimates from a sample.
    pub sampled: bool,
}

/// The 5th, 25th, 50th, 75th and 95th percentiles (linear interpolation between closest ranks,
/// as numpy's default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// 5th percentile.
    pub p5: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// Bin edges (one more than counts) and the values per bin; the last bin includes the max.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Edges, ascending.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
}

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopValue {
    /// The value, as text.
    pub value: String,
    /// Its occurrences (scaled from the sample when `sampled`).
    pub count: u64,
}
