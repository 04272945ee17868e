//! [`join`]: a hash join of two batches on equal key columns.

use super::keys::{Grouper, MISSING};
use super::rows::take_column;
use crate::batch::Batch;
use crate::error::{Error, Result};

/// Which rows of the left side a [`join`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only left rows with a match, once per match.
    Inner,
    /// Every left row: once per match, or once with nulls on the right when none matches.
    Left,
}

/// Joins `left` and `right` where the key columns `on` (present in both, of the same types) are
/// equal. A null key matches nothing, as in SQL.
///
/// The result has every column of `left`, then the columns of `right` that are not keys; a
/// right column whose name the left already uses gets the suffix `_right`. Rows come in the
/// left's order, and for each left row its matches in the right's order. The right side is
/// the one hashed: make it the smaller.
///
/// ```
/// use tessera_sdk::Batch;
/// use tessera_sdk::relational::{join, JoinKind};
///
/// let studies = Batch::builder().text("study", ["s1", "s2", "s3"]).i64("images", [4, 2, 9]).build()?;
/// let labels = Batch::builder().text("study", ["s2", "s1", "s2"]).text("label", ["benign", "malignant", "benign"]).build()?;
/// let joined = join(&studies, &labels, &["study"], JoinKind::Left)?;
/// assert_eq!(joined.text("study")?.iter().collect::<Vec<_>>(), [Some("s1"), Some("s2"), Some("s2"), Some("s3")]);
/// assert_eq!(joined.text("label")?.iter().collect::<Vec<_>>(), [Some("malignant"), Some("benign"), Some("benign"), None]);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn join(left: &Batch, right: &Batch, on: &[&str], kind: JoinKind) -> Result<Batch> {
    let mut grouper = Grouper::for_batch(right, on)?;
    let mut right_ids = Vec::new();
    grouper.assign(right, true, &mut right_ids)?;
    let right_null = any_null_key(right, on)?;
    // The right rows of each group, as one list cut by `starts`.
    let groups = grouper.len();
    let mut starts = vec![0usize; groups + 1];
    for (row, &g) in right_ids.iter().enumerate() {
        if !right_null.get(row).copied().unwrap_or(false) {
            starts[g as usize + 1] += 1;
        }
    }
    for g in 0..groups {
        starts[g + 1] += starts[g];
    }
    let mut filled = starts.clone();
    let mut matches = vec![0usize; starts[groups]];
    for (row, &g) in right_ids.iter().enumerate() {
        if !right_null.get(row).copied().unwrap_or(false) {
            let at = &mut filled[g as usize];
            matches[*at] = row;
            *at += 1;
        }
    }

    let mut left_ids = Vec::new();
    grouper.assign(left, false, &mut left_ids)?;
    let left_null = any_null_key(left, on)?;
    let mut left_rows = Vec::new();
    let mut right_rows = Vec::new();
    for (row, &g) in left_ids.iter().enumerate() {
        let hits = if g == MISSING || left_null.get(row).copied().unwrap_or(false) {
            &[][..]
        } else {
            let g = g as usize;
            matches.get(starts[g]..starts[g + 1]).unwrap_or_default()
        };
        if hits.is_empty() && kind == JoinKind::Left {
            left_rows.push(Some(row));
            right_rows.push(None);
        }
        for &r in hits {
            left_rows.push(Some(row));
            right_rows.push(Some(r));
        }
    }

    let mut columns: Vec<_> = left
        .columns()
        .iter()
        .map(|c| take_column(c, &left_rows))
        .collect();
    for column in right.columns() {
        if on.contains(&column.name.as_str()) {
            continue;
        }
        let mut taken = take_column(column, &right_rows);
        if columns.iter().any(|c| c.name == taken.name) {
            taken.name.push_str("_right");
            if columns.iter().any(|c| c.name == taken.name) {
                return Err(Error::invalid(format!(
                    "both sides have a column `{}` and the left already has `{}`; rename one \
                     before joining",
                    column.name, taken.name
                )));
            }
        }
        columns.push(taken);
    }
    Batch::new(columns)
}

/// Per row, whether any key column is null there.
fn any_null_key(batch: &Batch, on: &[&str]) -> Result<Vec<bool>> {
    let mut null = vec![false; batch.num_rows()];
    for key in on {
        if let Some(valid) = &batch.column(key)?.valid {
            for (n, ok) in null.iter_mut().zip(valid) {
                *n |= !ok;
            }
        }
    }
    Ok(null)
}
