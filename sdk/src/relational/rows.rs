//! Picking rows out of a batch: [`Batch::take`], and [`Batch::sort_by`] with [`SortKey`]s.

use std::cmp::Ordering;

use crate::batch::{Batch, Column, Values, VarData};
use crate::dictionary::Dictionary;
use crate::error::{Error, Result};

/// One column to sort by, and which way. Nulls sort last either way.
///
/// ```
/// use tessera_sdk::{Batch, relational::SortKey};
/// let b = Batch::builder().text("k", ["b", "a", "b"]).i64("n", [1, 2, 3]).build()?;
/// let sorted = b.sort_by(&[SortKey::asc("k"), SortKey::desc("n")])?;
/// assert_eq!(sorted.i64("n")?.values(), &[2, 3, 1]);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    column: String,
    descending: bool,
}

impl SortKey {
    /// Smallest first (text by its UTF-8 bytes, which is code point order).
    pub fn asc(column: &str) -> SortKey {
        SortKey {
            column: column.to_string(),
            descending: false,
        }
    }

    /// Largest first.
    pub fn desc(column: &str) -> SortKey {
        SortKey {
            column: column.to_string(),
            descending: true,
        }
    }
}

type Compare<'a> = Box<dyn Fn(usize, usize) -> Ordering + 'a>;

fn comparator<'a>(column: &'a Column, descending: bool) -> Compare<'a> {
    fn by<'a, T>(
        values: &'a [T],
        order: impl Fn(&T, &T) -> Ordering + 'a,
    ) -> impl Fn(usize, usize) -> Ordering + 'a {
        move |a, b| match (values.get(a), values.get(b)) {
            (Some(x), Some(y)) => order(x, y),
            _ => Ordering::Equal,
        }
    }
    let values: Compare<'a> = match &column.values {
        Values::Float64(v) => Box::new(by(v, f64::total_cmp)),
        Values::Float32(v) => Box::new(by(v, f32::total_cmp)),
        Values::Int64(v) | Values::Timestamp(v) => Box::new(by(v, Ord::cmp)),
        Values::Boolean(v) => Box::new(by(v, Ord::cmp)),
        Values::Text(v) | Values::Binary(v) => Box::new(move |a, b| v.get(a).cmp(v.get(b))),
        Values::TextDictionary(d) | Values::BinaryDictionary(d) => {
            Box::new(move |a, b| d.get(a).cmp(d.get(b)))
        }
    };
    let valid = column.valid.as_deref();
    Box::new(move |a, b| {
        let null = |i: usize| valid.is_some_and(|v| !v.get(i).copied().unwrap_or(true));
        match (null(a), null(b)) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) if descending => values(b, a),
            (false, false) => values(a, b),
        }
    })
}

fn take_values(values: &Values, rows: &[Option<usize>]) -> Values {
    fn pick<T: Copy + Default>(v: &[T], rows: &[Option<usize>]) -> Vec<T> {
        rows.iter()
            .map(|r| r.and_then(|r| v.get(r)).copied().unwrap_or_default())
            .collect()
    }
    let var = |v: &VarData| {
        let mut out = VarData::default();
        for r in rows {
            out.push(r.map_or(&[][..], |r| v.get(r)));
        }
        out
    };
    match values {
        Values::Float64(v) => Values::Float64(pick(v, rows)),
        Values::Float32(v) => Values::Float32(pick(v, rows)),
        Values::Int64(v) => Values::Int64(pick(v, rows)),
        Values::Boolean(v) => Values::Boolean(pick(v, rows)),
        Values::Timestamp(v) => Values::Timestamp(pick(v, rows)),
        Values::Text(v) => Values::Text(var(v)),
        Values::Binary(v) => Values::Binary(var(v)),
        Values::TextDictionary(d) => Values::TextDictionary(take_keys(d, rows)),
        Values::BinaryDictionary(d) => Values::BinaryDictionary(take_keys(d, rows)),
    }
}

/// The rows `rows` of a dictionary, sharing its values.
fn take_keys(d: &Dictionary, rows: &[Option<usize>]) -> Dictionary {
    Dictionary {
        keys: rows
            .iter()
            .map(|r| r.and_then(|r| d.keys.get(r)).copied().unwrap_or(0))
            .collect(),
        values: d.values.clone(),
    }
}

/// The rows `rows` of `column` in that order; `None` gives a null row.
pub(crate) fn take_column(column: &Column, rows: &[Option<usize>]) -> Column {
    let valid: Vec<bool> = rows
        .iter()
        .map(|r| r.is_some_and(|r| !column.is_null(r)))
        .collect();
    Column {
        name: column.name.clone(),
        values: take_values(&column.values, rows),
        valid: (!valid.iter().all(|v| *v)).then_some(valid),
    }
}

impl Batch {
    /// The rows at `rows`, in that order (a row may repeat); an index past the end is an
    /// error.
    ///
    /// ```
    /// let b = tessera_sdk::Batch::builder().i64("n", [10, 20, 30]).build()?;
    /// assert_eq!(b.take(&[2, 0, 2])?.i64("n")?.values(), &[30, 10, 30]);
    /// assert!(b.take(&[3]).is_err());
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn take(&self, rows: &[usize]) -> Result<Batch> {
        let n = self.num_rows();
        if let Some(bad) = rows.iter().find(|&&r| r >= n) {
            return Err(Error::invalid(format!(
                "row {bad} is past the end of a batch of {n} rows"
            )));
        }
        let rows: Vec<Option<usize>> = rows.iter().copied().map(Some).collect();
        Batch::new(
            self.columns()
                .iter()
                .map(|c| take_column(c, &rows))
                .collect(),
        )
    }

    /// The order of the rows sorted by `keys` (the first key first; ties keep their order).
    pub fn sort_indices(&self, keys: &[SortKey]) -> Result<Vec<usize>> {
        let compare = keys
            .iter()
            .map(|k| Ok(comparator(self.column(&k.column)?, k.descending)))
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..self.num_rows()).collect();
        order.sort_by(|&a, &b| {
            compare
                .iter()
                .map(|c| c(a, b))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        Ok(order)
    }

    /// The rows sorted by `keys` (see [`SortKey`]).
    pub fn sort_by(&self, keys: &[SortKey]) -> Result<Batch> {
        self.take(&self.sort_indices(keys)?)
    }
}
