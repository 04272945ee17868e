//! Evaluating one port's declarative checks in one pass over its batches.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use arrow::array::{Array, ArrayRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use tessera_core::manifest::{Check, CheckRule};

use crate::result::{CheckResult, FailingRow, SAMPLE_ROWS};
use crate::values::{numbers, row_json, texts};

/// What checks need besides the rows: the time, the previous version, referenced columns.
#[derive(Debug, Clone, Default)]
pub struct CheckEnv {
    /// Now, in µs since the epoch (for `freshness`).
    pub now_us: i64,
    /// Rows of this port in the previous published version (for `change`).
    pub previous_rows: Option<u64>,
    /// Means of this port's columns in the previous published version (for `change`).
    pub previous_means: BTreeMap<String, f64>,
    /// The values of each referenced column, by `product/port.field` (for `relationships`);
    /// absent when that port has no published version.
    pub references: BTreeMap<String, HashSet<String>>,
}

/// The key `relationships` looks its referenced values up by.
pub fn reference_key(to: &str, field: &str) -> String {
    format!("{to}.{field}")
}

/// Running sums for mean and standard deviation (Welford).
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    count: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn add(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
    }

    fn stddev(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.m2 / (self.count - 1) as f64).sqrt())
    }
}

/// Per-check state carried from batch to batch.
enum State {
    Rows,
    Unique {
        seen: HashSet<Box<[u8]>>,
        converter: Option<RowConverter>,
    },
    Accepted {
        text: HashSet<String>,
        numbers: Vec<f64>,
    },
    Regex(Option<regex::Regex>),
    Newest(Option<f64>),
    Moments(Moments),
}

struct Active {
    check: Check,
    state: State,
    evaluated: u64,
    failed: u64,
    sample: Vec<FailingRow>,
}

/// The checks of one output port, fed its batches in order.
pub struct PortChecks {
    port: String,
    checks: Vec<Active>,
    rows: u64,
}

impl PortChecks {
    /// Starts evaluating `checks` on `port`.
    pub fn new(port: &str, checks: &[Check]) -> PortChecks {
        let checks = checks
            .iter()
            .map(|check| Active {
                state: match &check.rule {
                    CheckRule::Unique { .. } => State::Unique {
                        seen: HashSet::new(),
                        converter: None,
                    },
                    CheckRule::AcceptedValues { values, .. } => State::Accepted {
                        text: values.iter().cloned().collect(),
                        numbers: values.iter().filter_map(|v| v.parse().ok()).collect(),
                    },
                    CheckRule::Regex { pattern, .. } => {
                        State::Regex(regex::Regex::new(pattern).ok())
                    }
                    CheckRule::Freshness { .. } => State::Newest(None),
                    CheckRule::MeanBetween { .. }
                    | CheckRule::StddevBetween { .. }
                    | CheckRule::Change { .. } => State::Moments(Moments::default()),
                    _ => State::Rows,
                },
                check: check.clone(),
                evaluated: 0,
                failed: 0,
                sample: Vec::new(),
            })
            .collect();
        PortChecks {
            port: port.to_string(),
            checks,
            rows: 0,
        }
    }

    /// Looks at the next batch of the port.
    pub fn observe(&mut self, batch: &RecordBatch, env: &CheckEnv) {
        let first_row = self.rows;
        for active in &mut self.checks {
            let outcomes = row_outcomes(active, batch, env);
            if let Some(outcomes) = outcomes {
                for (i, outcome) in outcomes.iter().enumerate() {
                    match outcome {
                        None => {}
                        Some(true) => active.evaluated += 1,
                        Some(false) => {
                            active.evaluated += 1;
                            active.failed += 1;
                            if active.sample.len() < SAMPLE_ROWS {
                                active.sample.push(FailingRow {
                                    row: first_row + i as u64 + 1,
                                    values: row_json(batch, i),
                                });
                            }
                        }
                    }
                }
            }
        }
        self.rows += batch.num_rows() as u64;
    }

    /// The results, one per check, in manifest order.
    pub fn finish(self, env: &CheckEnv) -> Vec<CheckResult> {
        let rows = self.rows;
        self.checks
            .into_iter()
            .map(|active| conclude(&self.port, active, rows, env))
            .collect()
    }
}

/// Evaluates `checks` on every batch of `source` (one port's data).
pub fn check_source(
    port: &str,
    checks: &[Check],
    source: &mut dyn tessera_core::io::BatchSource,
    env: &CheckEnv,
) -> Result<Vec<CheckResult>, tessera_core::io::DataError> {
    let mut evaluation = PortChecks::new(port, checks);
    while let Some(batch) = source.next_batch()? {
        evaluation.observe(&batch, env);
    }
    Ok(evaluation.finish(env))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

/// Pass (`Some(true)`), fail (`Some(false)`) or not looked at (`None`, a null) per row, for
/// row-level checks; table-level checks accumulate and return `None`.
fn row_outcomes(
    active: &mut Active,
    batch: &RecordBatch,
    env: &CheckEnv,
) -> Option<Vec<Option<bool>>> {
    let rule = &active.check.rule;
    match (rule, &mut active.state) {
        (CheckRule::NotNull { column: name }, _) => {
            let array = column(batch, name)?;
            Some((0..array.len()).map(|i| Some(array.is_valid(i))).collect())
        }
        (CheckRule::Unique { columns }, State::Unique { seen, converter }) => {
            let arrays: Vec<ArrayRef> = columns
                .iter()
                .filter_map(|c| column(batch, c).cloned())
                .collect();
            if arrays.len() != columns.len() {
                return None;
            }
            if converter.is_none() {
                let fields = arrays
                    .iter()
                    .map(|a| SortField::new(a.data_type().clone()))
                    .collect();
                *converter = RowConverter::new(fields).ok();
            }
            let rows = converter.as_mut()?.convert_columns(&arrays).ok()?;
            Some(
                (0..batch.num_rows())
                    .map(|i| {
                        if arrays.iter().any(|a| a.is_null(i)) {
                            return None;
                        }
                        Some(seen.insert(rows.row(i).as_ref().into()))
                    })
                    .collect(),
            )
        }
        (
            CheckRule::AcceptedValues { column: name, .. },
            State::Accepted {
                text,
                numbers: allowed,
            },
        ) => {
            let array = column(batch, name)?;
            if array.data_type().is_numeric() {
                Some(
                    numbers(array)
                        .into_iter()
                        .map(|v| v.map(|v| allowed.contains(&v)))
                        .collect(),
                )
            } else {
                Some(
                    texts(array)
                        .into_iter()
                        .map(|v| v.map(|v| text.contains(&v)))
                        .collect(),
                )
            }
        }
        (CheckRule::Regex { column: name, .. }, State::Regex(pattern)) => {
            let array = column(batch, name)?;
            let pattern = pattern.as_ref()?;
            Some(
                texts(array)
                    .into_iter()
                    .map(|v| v.map(|v| pattern.is_match(&v)))
                    .collect(),
            )
        }
        (
            CheckRule::Range {
                column: name,
                min,
                max,
                inclusive,
            },
            _,
        ) => {
            let array = column(batch, name)?;
            let (min, max, inclusive) = (*min, *max, *inclusive);
            Some(
                numbers(array)
                    .into_iter()
                    .map(|v| {
                        v.map(|v| {
                            let above = min.is_none_or(|m| if inclusive { v >= m } else { v > m });
                            let below = max.is_none_or(|m| if inclusive { v <= m } else { v < m });
                            above && below
                        })
                    })
                    .collect(),
            )
        }
        (
            CheckRule::Relationships {
                column: name,
                to,
                field,
            },
            _,
        ) => {
            let array = column(batch, name)?;
            let known = env.references.get(&reference_key(to, field));
            Some(
                texts(array)
                    .into_iter()
                    .map(|v| v.map(|v| known.is_some_and(|k| k.contains(&v))))
                    .collect(),
            )
        }
        (CheckRule::Freshness { column: name, .. }, State::Newest(newest)) => {
            if let Some(array) = column(batch, name) {
                for v in numbers(array).into_iter().flatten() {
                    *newest = Some(newest.map_or(v, |n: f64| n.max(v)));
                }
            }
            None
        }
        (
            CheckRule::MeanBetween { column: name, .. }
            | CheckRule::StddevBetween { column: name, .. }
            | CheckRule::Change {
                column: Some(name), ..
            },
            State::Moments(moments),
        ) => {
            if let Some(array) = column(batch, name) {
                for v in numbers(array).into_iter().flatten() {
                    moments.add(v);
                }
            }
            None
        }
        _ => None,
    }
}

fn label(rule: &CheckRule) -> String {
    match rule {
        CheckRule::NotNull { column } => format!("not_null({column})"),
        CheckRule::Unique { columns } => format!("unique({})", columns.join(", ")),
        CheckRule::AcceptedValues { column, values } => {
            format!("accepted_values({column} in [{}])", values.join(", "))
        }
        CheckRule::Regex { column, pattern } => format!("regex({column} ~ /{pattern}/)"),
        CheckRule::Range {
            column,
            min,
            max,
            inclusive,
        } => {
            let bound = |b: Option<f64>| b.map_or(String::new(), |b| b.to_string());
            let dots = if *inclusive { "..=" } else { ".." };
            format!("range({column} in {}{dots}{})", bound(*min), bound(*max))
        }
        CheckRule::RowCount { .. } => "row_count".into(),
        CheckRule::Relationships { column, to, field } => {
            format!("relationships({column} → {to}.{field})")
        }
        CheckRule::Freshness { column, max_age } => format!("freshness({column} ≤ {max_age})"),
        CheckRule::MeanBetween { column, .. } => format!("mean_between({column})"),
        CheckRule::StddevBetween { column, .. } => format!("stddev_between({column})"),
        CheckRule::Change {
            column,
            max_percent,
        } => format!(
            "change({} ≤ {max_percent}%)",
            column.as_deref().unwrap_or("row_count")
        ),
    }
}

fn kind(rule: &CheckRule) -> &'static str {
    match rule {
        CheckRule::NotNull { .. } => "not_null",
        CheckRule::Unique { .. } => "unique",
        CheckRule::AcceptedValues { .. } => "accepted_values",
        CheckRule::Regex { .. } => "regex",
        CheckRule::Range { .. } => "range",
        CheckRule::RowCount { .. } => "row_count",
        CheckRule::Relationships { .. } => "relationships",
        CheckRule::Freshness { .. } => "freshness",
        CheckRule::MeanBetween { .. } => "mean_between",
        CheckRule::StddevBetween { .. } => "stddev_between",
        CheckRule::Change { .. } => "change",
    }
}

/// `lo ≤ value ≤ hi` with open ends, and the words for the bounds.
fn within(value: f64, min: Option<f64>, max: Option<f64>) -> (bool, String) {
    let ok = min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m);
    let expected = match (min, max) {
        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("at most {hi}"),
        (None, None) => "anything".into(),
    };
    (ok, expected)
}

fn seconds(us: f64) -> String {
    let total = (us / 1e6).max(0.0) as u64;
    format!(
        "{}",
        tessera_core::manifest::Span(Duration::from_secs(total))
    )
}

fn conclude(port: &str, active: Active, rows: u64, env: &CheckEnv) -> CheckResult {
    let Active {
        check,
        state,
        evaluated,
        failed,
        sample,
    } = active;
    let mut observed = None;
    let (passed, message) = match (&check.rule, &state) {
        (CheckRule::RowCount { min, max }, _) => {
            observed = Some(rows as f64);
            let (ok, expected) = within(rows as f64, min.map(|m| m as f64), max.map(|m| m as f64));
            (ok, format!("{rows} rows; expected {expected}"))
        }
        (CheckRule::Freshness { column, max_age }, State::Newest(newest)) => match newest {
            None => (
                false,
                format!("`{column}` has no values, so nothing is fresh"),
            ),
            Some(newest) => {
                let age = env.now_us as f64 - newest;
                observed = Some(age / 1e6);
                let allowed = max_age.duration().as_micros() as f64;
                (
                    age <= allowed,
                    format!(
                        "the newest `{column}` is {} old; allowed {max_age}",
                        seconds(age)
                    ),
                )
            }
        },
        (CheckRule::MeanBetween { column, min, max }, State::Moments(m)) => {
            if m.count == 0 {
                (false, format!("`{column}` has no values to average"))
            } else {
                observed = Some(m.mean);
                let (ok, expected) = within(m.mean, *min, *max);
                (
                    ok,
                    format!("mean of `{column}` is {}; expected {expected}", m.mean),
                )
            }
        }
        (CheckRule::StddevBetween { column, min, max }, State::Moments(m)) => match m.stddev() {
            None => (false, format!("`{column}` has fewer than two values")),
            Some(sd) => {
                observed = Some(sd);
                let (ok, expected) = within(sd, *min, *max);
                (
                    ok,
                    format!("standard deviation of `{column}` is {sd}; expected {expected}"),
                )
            }
        },
        (
            CheckRule::Change {
                column,
                max_percent,
            },
            state,
        ) => {
            let (now, before, what) = match (column, state) {
                (None, _) => (
                    Some(rows as f64),
                    env.previous_rows.map(|r| r as f64),
                    "row count".to_string(),
                ),
                (Some(c), State::Moments(m)) => (
                    (m.count > 0).then_some(m.mean),
                    env.previous_means.get(c).copied(),
                    format!("mean of `{c}`"),
                ),
                (Some(c), _) => (None, None, format!("mean of `{c}`")),
            };
            match (now, before) {
                (_, None) => (
                    true,
                    format!("no previous version to compare the {what} with"),
                ),
                (None, Some(_)) => (false, format!("the {what} cannot be computed: no values")),
                (Some(now), Some(before)) => {
                    let percent = if before == 0.0 {
                        if now == 0.0 { 0.0 } else { f64::INFINITY }
                    } else {
                        ((now - before) / before.abs() * 100.0).abs()
                    };
                    observed = Some(percent);
                    (
                        percent <= *max_percent,
                        format!(
                            "the {what} changed by {percent:.1}% ({before} → {now}); allowed {max_percent}%"
                        ),
                    )
                }
            }
        }
        (CheckRule::Relationships { to, field, .. }, _)
            if !env.references.contains_key(&reference_key(to, field)) =>
        {
            (
                false,
                format!("{to} has no published version to check `{field}` against"),
            )
        }
        _ => {
            let mostly = check.mostly.unwrap_or(1.0);
            let share = if evaluated == 0 {
                1.0
            } else {
                (evaluated - failed) as f64 / evaluated as f64
            };
            let passed = share >= mostly;
            let message = if failed == 0 {
                format!("all {evaluated} rows pass")
            } else {
                format!(
                    "{failed} of {evaluated} rows fail ({:.2}% pass; {:.2}% needed)",
                    share * 100.0,
                    mostly * 100.0
                )
            };
            (passed, message)
        }
    };
    CheckResult {
        port: port.to_string(),
        check: label(&check.rule),
        kind: kind(&check.rule).to_string(),
        column: check.rule.column().map(str::to_string),
        severity: check.severity,
        passed,
        evaluated,
        failed,
        mostly: check.mostly,
        observed,
        message,
        description: check.description.clone(),
        sample,
    }
}
