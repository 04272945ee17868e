//! What a check found.

/// Failing rows kept per check.
pub const SAMPLE_ROWS: usize = 5;

pub use tessera_core::quality::{CheckResult, FailingRow};

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
