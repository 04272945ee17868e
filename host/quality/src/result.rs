//! What a check found.

use serde::{Deserialize, Serialize};

/// Failing rows kept per check.
pub const SAMPLE_ROWS: usize = 5;

/// The outcome of one check on one port of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Output port.
    pub port: String,
    /// The check as written, e.g. `not_null(label)` or `range(confidence, 0..=1)`.
    pub check: String,
    /// Its kind (`not_null`, `unique`, ...).
    pub kind: String,
    /// `error` (blocks publication) or `warn`.
    pub severity: tessera_core::manifest::Severity,
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

/// Whether any result stops publication (a failed `error` check).
pub fn blocking(results: &[CheckResult]) -> bool {
    results
        .iter()
        .any(|r| !r.passed && r.severity == tessera_core::manifest::Severity::Error)
}

/// The failing rows a custom check pointed at (indices from 0), with their values: the first
/// [`SAMPLE_ROWS`] distinct indices in order, read from the port's data. Indices past the end
/// are left out.
pub fn sample_rows(
    source: &mut dyn tessera_core::io::BatchSource,
    indices: &[u64],
) -> Result<Vec<FailingRow>, tessera_core::io::DataError> {
    let mut wanted: Vec<u64> = indices.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    wanted.truncate(SAMPLE_ROWS);
    let mut sample = Vec::with_capacity(wanted.len());
    let mut first_row = 0u64;
    let mut next = wanted.iter().peekable();
    while next.peek().is_some() {
        let Some(batch) = source.next_batch()? else {
            break;
        };
        let end = first_row + batch.num_rows() as u64;
        while let Some(&&index) = next.peek() {
            if index >= end {
                break;
            }
            sample.push(FailingRow {
                row: index + 1,
                values: crate::values::row_json(&batch, (index - first_row) as usize),
            });
            next.next();
        }
        first_row = end;
    }
    Ok(sample)
}
