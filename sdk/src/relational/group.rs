//! [`GroupBy`]: sum, mean, count, min and max per group of key columns, fed batch by batch.

use super::keys::Grouper;
use crate::batch::{Batch, Column, DataType, Values};
use crate::error::{Error, Result};

/// What an [`Agg`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggKind {
    Sum,
    Mean,
    Count,
    CountRows,
    Min,
    Max,
}

/// One aggregate of a [`GroupBy`]: which column, what it computes, and the output column's
/// name (the input column's name unless [`Agg::named`] says otherwise).
///
/// Nulls are skipped, as in SQL: a group whose values are all null has a null sum, mean, min
/// and max, and a count of 0.
///
/// | aggregate | input | output |
/// |---|---|---|
/// | [`Agg::sum`] | int64, boolean (trues) | int64 (an overflow is an error) |
/// | [`Agg::sum`] | float64, float32 | float64, compensated (Neumaier) |
/// | [`Agg::mean`] | int64, float64, float32, boolean | float64, compensated |
/// | [`Agg::count`] | any | int64: rows where the column is not null |
/// | [`Agg::count_rows`] | — | int64: rows in the group |
/// | [`Agg::min`], [`Agg::max`] | int64, timestamp | the same type |
/// | [`Agg::min`], [`Agg::max`] | float64, float32 | float64; NaN is skipped |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agg {
    kind: AggKind,
    column: String,
    name: String,
}

impl Agg {
    fn new(kind: AggKind, column: &str) -> Agg {
        Agg {
            kind,
            column: column.to_string(),
            name: column.to_string(),
        }
    }

    /// The sum of `column`.
    pub fn sum(column: &str) -> Agg {
        Agg::new(AggKind::Sum, column)
    }

    /// The mean of `column`.
    pub fn mean(column: &str) -> Agg {
        Agg::new(AggKind::Mean, column)
    }

    /// The number of rows where `column` is not null.
    pub fn count(column: &str) -> Agg {
        Agg::new(AggKind::Count, column)
    }

    /// The number of rows, in a column called `count` unless named.
    pub fn count_rows() -> Agg {
        Agg {
            kind: AggKind::CountRows,
            column: String::new(),
            name: "count".to_string(),
        }
    }

    /// The smallest value of `column`.
    pub fn min(column: &str) -> Agg {
        Agg::new(AggKind::Min, column)
    }

    /// The largest value of `column`.
    pub fn max(column: &str) -> Agg {
        Agg::new(AggKind::Max, column)
    }

    /// Names the output column.
    ///
    /// ```
    /// let agg = tessera_sdk::relational::Agg::mean("v3").named("v3_mean");
    /// assert_eq!(agg.name(), "v3_mean");
    /// ```
    pub fn named(mut self, name: &str) -> Agg {
        self.name = name.to_string();
        self
    }

    /// The output column's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An aggregate under way: the type its column had in the first batch, and its state.
type Running = (Option<DataType>, State);

/// A running aggregate: one slot per group.
enum State {
    SumInt {
        sums: Vec<i64>,
        seen: Vec<bool>,
    },
    SumFloat {
        sums: Vec<f64>,
        fix: Vec<f64>,
        seen: Vec<bool>,
    },
    Mean {
        sums: Vec<f64>,
        fix: Vec<f64>,
        counts: Vec<i64>,
    },
    Count {
        counts: Vec<i64>,
    },
    Extreme {
        best: Vec<f64>,
        seen: Vec<bool>,
        max: bool,
    },
    ExtremeInt {
        best: Vec<i64>,
        seen: Vec<bool>,
        max: bool,
        timestamp: bool,
    },
}

/// Adds `x` to the compensated sum (`sum`, `fix`) (Neumaier's variant of Kahan summation).
#[inline]
fn add_compensated(sum: &mut f64, fix: &mut f64, x: f64) {
    let t = *sum + x;
    if sum.abs() >= x.abs() {
        *fix += (*sum - t) + x;
    } else {
        *fix += (x - t) + *sum;
    }
    *sum = t;
}

/// The numbers of a column, whatever their width.
enum Numbers<'a> {
    Ints(&'a [i64]),
    Floats(&'a [f64]),
    Floats32(&'a [f32]),
    Bools(&'a [bool]),
}

/// Calls `f(group, value)` for each present row, with `values` read through `read`.
#[inline]
fn each<T: Copy, U>(
    ids: &[u32],
    values: &[T],
    valid: Option<&[bool]>,
    read: impl Fn(T) -> U,
    mut f: impl FnMut(usize, U) -> Result<()>,
) -> Result<()> {
    match valid {
        None => {
            for (&g, &x) in ids.iter().zip(values) {
                f(g as usize, read(x))?;
            }
        }
        Some(mask) => {
            for ((&g, &x), &ok) in ids.iter().zip(values).zip(mask) {
                if ok {
                    f(g as usize, read(x))?;
                }
            }
        }
    }
    Ok(())
}

/// [`each`] over the rows as floats.
fn floats(
    ids: &[u32],
    values: &Numbers<'_>,
    valid: Option<&[bool]>,
    mut f: impl FnMut(usize, f64),
) -> Result<()> {
    let mut g = |group, x| {
        f(group, x);
        Ok(())
    };
    match values {
        Numbers::Floats(v) => each(ids, v, valid, |x| x, &mut g),
        Numbers::Ints(v) => each(ids, v, valid, |x| x as f64, &mut g),
        Numbers::Floats32(v) => each(ids, v, valid, f64::from, &mut g),
        Numbers::Bools(v) => each(ids, v, valid, |b| f64::from(u8::from(b)), &mut g),
    }
}

/// [`each`] over the rows as integers (floats have none: their states are never integer).
fn ints(
    ids: &[u32],
    values: &Numbers<'_>,
    valid: Option<&[bool]>,
    f: impl FnMut(usize, i64) -> Result<()>,
) -> Result<()> {
    match values {
        Numbers::Ints(v) => each(ids, v, valid, |x| x, f),
        Numbers::Bools(v) => each(ids, v, valid, i64::from, f),
        Numbers::Floats(_) | Numbers::Floats32(_) => Ok(()),
    }
}

fn numbers<'a>(agg: &Agg, column: &'a Column) -> Result<Numbers<'a>> {
    Ok(match &column.values {
        Values::Int64(v) | Values::Timestamp(v) => Numbers::Ints(v),
        Values::Float64(v) => Numbers::Floats(v),
        Values::Float32(v) => Numbers::Floats32(v),
        Values::Boolean(v) => Numbers::Bools(v),
        other => {
            return Err(Error::invalid(format!(
                "`{}` of column `{}`: it is {}, which has no numbers",
                agg.name,
                agg.column,
                other.data_type().name()
            )));
        }
    })
}

impl State {
    fn start(agg: &Agg, data_type: Option<DataType>) -> Result<State> {
        let refuse = |what: &str| {
            Err(Error::invalid(format!(
                "`{}`: cannot take the {what} of column `{}`, which is {}",
                agg.name,
                agg.column,
                data_type.map_or("absent", DataType::name)
            )))
        };
        use DataType as T;
        Ok(match (agg.kind, data_type) {
            (AggKind::CountRows, _) | (AggKind::Count, Some(_)) => {
                State::Count { counts: Vec::new() }
            }
            (AggKind::Sum, Some(T::Int64 | T::Boolean)) => State::SumInt {
                sums: Vec::new(),
                seen: Vec::new(),
            },
            (AggKind::Sum, Some(T::Float64 | T::Float32)) => State::SumFloat {
                sums: Vec::new(),
                fix: Vec::new(),
                seen: Vec::new(),
            },
            (AggKind::Mean, Some(T::Int64 | T::Boolean | T::Float64 | T::Float32)) => State::Mean {
                sums: Vec::new(),
                fix: Vec::new(),
                counts: Vec::new(),
            },
            (AggKind::Min | AggKind::Max, Some(t @ (T::Int64 | T::Timestamp))) => {
                State::ExtremeInt {
                    best: Vec::new(),
                    seen: Vec::new(),
                    max: agg.kind == AggKind::Max,
                    timestamp: t == T::Timestamp,
                }
            }
            (AggKind::Min | AggKind::Max, Some(T::Float64 | T::Float32)) => State::Extreme {
                best: Vec::new(),
                seen: Vec::new(),
                max: agg.kind == AggKind::Max,
            },
            (AggKind::Sum, _) => return refuse("sum"),
            (AggKind::Mean, _) => return refuse("mean"),
            (AggKind::Min, _) => return refuse("minimum"),
            (AggKind::Max, _) => return refuse("maximum"),
            (AggKind::Count, None) => return refuse("count"),
        })
    }

    fn grow(&mut self, groups: usize) {
        match self {
            State::SumInt { sums, seen } => {
                sums.resize(groups, 0);
                seen.resize(groups, false);
            }
            State::SumFloat { sums, fix, seen } => {
                sums.resize(groups, 0.0);
                fix.resize(groups, 0.0);
                seen.resize(groups, false);
            }
            State::Mean { sums, fix, counts } => {
                sums.resize(groups, 0.0);
                fix.resize(groups, 0.0);
                counts.resize(groups, 0);
            }
            State::Count { counts } => counts.resize(groups, 0),
            State::Extreme { best, seen, .. } => {
                best.resize(groups, 0.0);
                seen.resize(groups, false);
            }
            State::ExtremeInt { best, seen, .. } => {
                best.resize(groups, 0);
                seen.resize(groups, false);
            }
        }
    }

    /// Adds the rows of `column` (absent for `count_rows`) to the groups `ids`.
    fn update(&mut self, agg: &Agg, ids: &[u32], column: Option<&Column>) -> Result<()> {
        let Some(column) = column else {
            if let State::Count { counts } = self {
                for &g in ids {
                    counts[g as usize] += 1;
                }
            }
            return Ok(());
        };
        let valid = column.valid.as_deref();
        if let State::Count { counts } = self {
            match valid {
                None => {
                    for &g in ids {
                        counts[g as usize] += 1;
                    }
                }
                Some(mask) => {
                    for (&g, &ok) in ids.iter().zip(mask) {
                        counts[g as usize] += i64::from(ok);
                    }
                }
            }
            return Ok(());
        }
        let values = numbers(agg, column)?;
        match self {
            State::SumInt { sums, seen } => ints(ids, &values, valid, |g, x| {
                sums[g] = sums[g].checked_add(x).ok_or_else(|| {
                    Error::invalid(format!(
                        "`{}`: the sum of column `{}` overflows int64; sum it as float64 \
                         instead",
                        agg.name, agg.column
                    ))
                })?;
                seen[g] = true;
                Ok(())
            }),
            State::SumFloat { sums, fix, seen } => floats(ids, &values, valid, |g, x| {
                add_compensated(&mut sums[g], &mut fix[g], x);
                seen[g] = true;
            }),
            State::Mean { sums, fix, counts } => floats(ids, &values, valid, |g, x| {
                add_compensated(&mut sums[g], &mut fix[g], x);
                counts[g] += 1;
            }),
            State::Extreme { best, seen, max } => {
                let max = *max;
                floats(ids, &values, valid, |g, x| {
                    if !x.is_nan() && (!seen[g] || (max && x > best[g]) || (!max && x < best[g])) {
                        best[g] = x;
                        seen[g] = true;
                    }
                })
            }
            State::ExtremeInt {
                best, seen, max, ..
            } => {
                let max = *max;
                ints(ids, &values, valid, |g, x| {
                    if !seen[g] || (max && x > best[g]) || (!max && x < best[g]) {
                        best[g] = x;
                        seen[g] = true;
                    }
                    Ok(())
                })
            }
            State::Count { .. } => Ok(()),
        }
    }

    fn finish(self, name: &str) -> Column {
        let masked = |seen: Vec<bool>| (!seen.iter().all(|s| *s)).then_some(seen);
        let (values, valid) = match self {
            State::SumInt { sums, seen } => (Values::Int64(sums), masked(seen)),
            State::SumFloat { sums, fix, seen } => (
                Values::Float64(sums.iter().zip(&fix).map(|(s, f)| s + f).collect()),
                masked(seen),
            ),
            State::Mean { sums, fix, counts } => {
                let means = sums
                    .iter()
                    .zip(&fix)
                    .zip(&counts)
                    .map(|((s, f), &n)| if n > 0 { (s + f) / n as f64 } else { 0.0 })
                    .collect();
                (
                    Values::Float64(means),
                    masked(counts.iter().map(|&n| n > 0).collect()),
                )
            }
            State::Count { counts } => (Values::Int64(counts), None),
            State::Extreme { best, seen, .. } => (Values::Float64(best), masked(seen)),
            State::ExtremeInt {
                best,
                seen,
                timestamp,
                ..
            } => (
                if timestamp {
                    Values::Timestamp(best)
                } else {
                    Values::Int64(best)
                },
                masked(seen),
            ),
        };
        Column {
            name: name.to_string(),
            values,
            valid,
        }
    }
}

/// Sums, means, counts, minima and maxima per group of key columns, fed batch by batch, so a
/// product aggregates an input of any size in the memory its groups need.
///
/// Keys may be text, binary, int64, timestamp or boolean columns, one or several; a null key is
/// a group of its own. Groups come out in the order they were first seen (sort them with
/// [`Batch::sort_by`]). Per row it hashes one short key per key column with a fast hasher and
/// allocates nothing.
///
/// ```
/// use tessera_sdk::Batch;
/// use tessera_sdk::relational::{Agg, GroupBy};
///
/// let mut by = GroupBy::new(&["id1"], [Agg::sum("v1"), Agg::mean("v3").named("v3_mean")]);
/// by.add(&Batch::builder().text("id1", ["a", "b", "a"]).i64("v1", [1, 2, 3]).f64("v3", [1.0, 2.0, 4.0]).build()?)?;
/// by.add(&Batch::builder().text("id1", ["b"]).i64("v1", [5]).f64("v3", [0.5]).build()?)?;
/// let table = by.finish()?;
/// assert_eq!(table.text("id1")?.iter().collect::<Vec<_>>(), [Some("a"), Some("b")]);
/// assert_eq!(table.i64("v1")?.values(), &[4, 7]);
/// assert_eq!(table.f64("v3_mean")?.values(), &[2.5, 1.25]);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub struct GroupBy {
    keys: Vec<String>,
    aggs: Vec<Agg>,
    running: Option<(Grouper, Vec<Running>)>,
    ids: Vec<u32>,
}

impl GroupBy {
    /// Groups by the columns `keys` and computes `aggs` per group.
    pub fn new(keys: &[&str], aggs: impl IntoIterator<Item = Agg>) -> GroupBy {
        GroupBy {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            aggs: aggs.into_iter().collect(),
            running: None,
            ids: Vec::new(),
        }
    }

    /// The columns this group-by reads: the keys, then each aggregate's column. Pass them to
    /// [`crate::Context::input_columns`] so the host decodes nothing else.
    ///
    /// ```
    /// use tessera_sdk::relational::{Agg, GroupBy};
    /// let by = GroupBy::new(&["id1", "id4"], [Agg::sum("v1"), Agg::count_rows()]);
    /// assert_eq!(by.columns(), ["id1", "id4", "v1"]);
    /// ```
    pub fn columns(&self) -> Vec<&str> {
        let mut columns: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        for agg in &self.aggs {
            if agg.kind != AggKind::CountRows && !columns.contains(&agg.column.as_str()) {
                columns.push(&agg.column);
            }
        }
        columns
    }

    /// Adds the rows of `batch`, which must hold the key columns and the aggregates' columns.
    pub fn add(&mut self, batch: &Batch) -> Result<()> {
        if self.running.is_none() {
            let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
            let grouper = Grouper::for_batch(batch, &keys)?;
            let states = self
                .aggs
                .iter()
                .map(|agg| {
                    let data_type = match agg.kind {
                        AggKind::CountRows => None,
                        _ => Some(batch.column(&agg.column)?.values.data_type()),
                    };
                    Ok((data_type, State::start(agg, data_type)?))
                })
                .collect::<Result<Vec<_>>>()?;
            self.running = Some((grouper, states));
        }
        let Some((grouper, states)) = self.running.as_mut() else {
            return Ok(());
        };
        grouper.assign(batch, true, &mut self.ids)?;
        let groups = grouper.len();
        for (agg, (data_type, state)) in self.aggs.iter().zip(states.iter_mut()) {
            state.grow(groups);
            let column = match agg.kind {
                AggKind::CountRows => None,
                _ => Some(batch.column(&agg.column)?),
            };
            let found = column.map(|c| c.values.data_type());
            if found != *data_type {
                return Err(Error::invalid(format!(
                    "column `{}` is {} in this batch but {} in the first",
                    agg.column,
                    found.map_or("absent", DataType::name),
                    data_type.map_or("absent", DataType::name)
                )));
            }
            state.update(agg, &self.ids, column)?;
        }
        Ok(())
    }

    /// The result: the key columns, then one column per aggregate, one row per group. With no
    /// rows added it has no rows (and no columns).
    pub fn finish(self) -> Result<Batch> {
        let Some((grouper, states)) = self.running else {
            return Ok(Batch::default());
        };
        let mut columns = grouper.key_columns();
        for (agg, (_, state)) in self.aggs.iter().zip(states) {
            if columns.iter().any(|c| c.name == agg.name) {
                return Err(Error::invalid(format!(
                    "two output columns are called `{}`; name one with Agg::named",
                    agg.name
                )));
            }
            columns.push(state.finish(&agg.name));
        }
        Batch::new(columns)
    }
}
