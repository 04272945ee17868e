//! Column statistics of an output port, computed in one pass over its batches as a run writes
//! them: row and null counts, distinct values, min, max, mean, standard deviation, quantiles,
//! a histogram for numeric columns and the most frequent values for text.
//!
//! Counts, nulls, min, max, mean and standard deviation are exact. Quantiles, histograms, top
//! values and distinct counts come from a deterministic systematic sample of at most
//! [`SAMPLE_CAPACITY`] values per column, so they are exact while a column has fewer values
//! than that (`sampled: false`); above it, distinct counts come from a HyperLogLog (about 0.8%
//! standard error) and the rest from the sample (`sampled: true`).

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType as ArrowType, Float64Type, Int64Type, SchemaRef, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;

use crate::sketch::{HyperLogLog, Sample, hash_bytes, mix64};

/// Values kept per column for quantiles, histograms and top values.
pub const SAMPLE_CAPACITY: usize = 1 << 17;
/// Bins of a numeric histogram.
pub const HISTOGRAM_BINS: usize = 20;
/// Most frequent values listed for a text column.
pub const TOP_VALUES: usize = 10;

pub use tessera_core::quality::{ColumnStats, Histogram, PortStats, Quantiles, TopValue};

/// Exact mean and M2 over batches (Chan et al.'s merge of per-batch moments).
#[derive(Default, Clone, Copy)]
struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn merge_slice(&mut self, values: &[f64]) {
        if values.is_empty() {
            return;
        }
        let n_b = values.len() as f64;
        let mean_b = values.iter().sum::<f64>() / n_b;
        let m2_b: f64 = values.iter().map(|v| (v - mean_b) * (v - mean_b)).sum();
        let n_a = self.n as f64;
        let total = n_a + n_b;
        let delta = mean_b - self.mean;
        self.mean += delta * n_b / total;
        self.m2 += m2_b + delta * delta * n_a * n_b / total;
        self.n += values.len() as u64;
    }
}

enum Kind {
    Float,
    Int { min: Option<i64>, max: Option<i64> },
    Timestamp { min: Option<i64>, max: Option<i64> },
}

enum Accumulator {
    Numeric {
        kind: Kind,
        moments: Moments,
        min: f64,
        max: f64,
        distinct: HyperLogLog,
        sample: Sample<f64>,
    },
    Text {
        min: Option<String>,
        max: Option<String>,
        distinct: HyperLogLog,
        sample: Sample<String>,
    },
    Binary {
        distinct: HyperLogLog,
        sample: Sample<u64>,
    },
    Boolean {
        trues: u64,
        falses: u64,
    },
}

struct Column {
    name: String,
    data_type: String,
    nulls: u64,
    accumulator: Accumulator,
}

/// Builds a port's statistics from its batches.
pub struct StatsBuilder {
    columns: Vec<Column>,
    rows: u64,
}

fn declared_name(t: &ArrowType) -> &'static str {
    match t {
        ArrowType::Float64 => "float64",
        ArrowType::Float32 => "float32",
        ArrowType::Int64 => "int64",
        ArrowType::Boolean => "boolean",
        ArrowType::Utf8 => "text",
        ArrowType::Timestamp(_, _) => "timestamp",
        ArrowType::Binary => "binary",
        _ => "other",
    }
}

impl StatsBuilder {
    /// A builder for batches of `schema`.
    pub fn new(schema: &SchemaRef) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let numeric = |kind| Accumulator::Numeric {
                    kind,
                    moments: Moments::default(),
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    distinct: HyperLogLog::default(),
                    sample: Sample::new(SAMPLE_CAPACITY),
                };
                let accumulator = match field.data_type() {
                    ArrowType::Int64 => numeric(Kind::Int {
                        min: None,
                        max: None,
                    }),
                    ArrowType::Timestamp(_, _) => numeric(Kind::Timestamp {
                        min: None,
                        max: None,
                    }),
                    ArrowType::Boolean => Accumulator::Boolean {
                        trues: 0,
                        falses: 0,
                    },
                    ArrowType::Utf8 => Accumulator::Text {
                        min: None,
                        max: None,
                        distinct: HyperLogLog::default(),
                        sample: Sample::new(SAMPLE_CAPACITY),
                    },
                    ArrowType::Binary => Accumulator::Binary {
                        distinct: HyperLogLog::default(),
                        sample: Sample::new(SAMPLE_CAPACITY),
                    },
                    _ => numeric(Kind::Float),
                };
                Column {
                    name: field.name().clone(),
                    data_type: declared_name(field.data_type()).to_string(),
                    nulls: 0,
                    accumulator,
                }
            })
            .collect();
        StatsBuilder { columns, rows: 0 }
    }

    /// Takes in the next batch (of the schema given to [`StatsBuilder::new`]).
    pub fn observe(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        for (column, array) in self.columns.iter_mut().zip(batch.columns()) {
            column.nulls += array.null_count() as u64;
            observe_column(&mut column.accumulator, array);
        }
    }

    /// The statistics.
    pub fn finish(self) -> PortStats {
        let rows = self.rows;
        PortStats {
            rows,
            columns: self
                .columns
                .into_iter()
                .map(|c| finish_column(c, rows))
                .collect(),
        }
    }
}

/// The non-null values of a float array, without copying when there are no nulls.
fn non_null(array: &arrow::array::Float64Array) -> std::borrow::Cow<'_, [f64]> {
    if array.null_count() == 0 {
        std::borrow::Cow::Borrowed(array.values().as_ref())
    } else {
        std::borrow::Cow::Owned(array.iter().flatten().collect())
    }
}

fn observe_column(accumulator: &mut Accumulator, array: &ArrayRef) {
    match accumulator {
        Accumulator::Numeric {
            kind,
            moments,
            min,
            max,
            distinct,
            sample,
        } => {
            match kind {
                Kind::Int { min, max } => {
                    let ints = array.as_primitive::<Int64Type>();
                    fold_min_max(
                        min,
                        max,
                        arrow::compute::min(ints),
                        arrow::compute::max(ints),
                    );
                }
                Kind::Timestamp { min, max } => {
                    if let Ok(ts) = cast(
                        array,
                        &ArrowType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                    ) {
                        let ts = ts.as_primitive::<TimestampMicrosecondType>();
                        fold_min_max(min, max, arrow::compute::min(ts), arrow::compute::max(ts));
                    }
                }
                Kind::Float => {}
            }
            let floats = match array.data_type() {
                ArrowType::Timestamp(_, _) => {
                    cast(array, &ArrowType::Int64).and_then(|a| cast(&a, &ArrowType::Float64))
                }
                _ => cast(array, &ArrowType::Float64),
            };
            let Ok(floats) = floats else {
                return;
            };
            let values = non_null(floats.as_primitive::<Float64Type>());
            moments.merge_slice(&values);
            *min = values.iter().copied().fold(*min, f64::min);
            *max = values.iter().copied().fold(*max, f64::max);
            for &v in values.iter() {
                // +0.0 and -0.0 are one value.
                distinct.add(mix64((v + 0.0).to_bits()));
            }
            sample.offer_many(values.len(), |i| values.get(i).copied().unwrap_or_default());
        }
        Accumulator::Text {
            min,
            max,
            distinct,
            sample,
        } => {
            let strings = array.as_string::<i32>();
            let offsets = strings.value_offsets();
            let data = strings.value_data();
            let nulls = strings.nulls();
            let mut kept: Vec<usize> =
                Vec::with_capacity(if nulls.is_some() { strings.len() } else { 0 });
            let (mut low, mut high): (Option<&[u8]>, Option<&[u8]>) = (None, None);
            for i in 0..strings.len() {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    continue;
                }
                if nulls.is_some() {
                    kept.push(i);
                }
                // Arrow validated the offsets: non-negative, increasing, within the data.
                let offset = |at: usize| {
                    offsets
                        .get(at)
                        .and_then(|o| usize::try_from(*o).ok())
                        .unwrap_or(0)
                };
                let (start, end) = (offset(i), offset(i + 1));
                let value = data.get(start..end).unwrap_or_default();
                distinct.add(hash_bytes(value));
                if low.is_none_or(|l| value < l) {
                    low = Some(value);
                }
                if high.is_none_or(|h| value > h) {
                    high = Some(value);
                }
            }
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            if let Some(low) = low
                && min.as_deref().is_none_or(|m| low < m.as_bytes())
            {
                *min = Some(text(low));
            }
            if let Some(high) = high
                && max.as_deref().is_none_or(|m| high > m.as_bytes())
            {
                *max = Some(text(high));
            }
            let count = if nulls.is_some() {
                kept.len()
            } else {
                strings.len()
            };
            sample.offer_many(count, |i| {
                let row = if nulls.is_some() {
                    kept.get(i).copied().unwrap_or(i)
                } else {
                    i
                };
                strings.value(row).to_string()
            });
        }
        Accumulator::Binary { distinct, sample } => {
            let bytes = array.as_binary::<i32>();
            let hashes: Vec<u64> = bytes.iter().flatten().map(hash_bytes).collect();
            for &h in &hashes {
                distinct.add(h);
            }
            sample.offer_many(hashes.len(), |i| hashes.get(i).copied().unwrap_or_default());
        }
        Accumulator::Boolean { trues, falses } => {
            let booleans = array.as_boolean();
            let t = booleans.true_count() as u64;
            *trues += t;
            *falses += (booleans.len() - booleans.null_count()) as u64 - t;
        }
    }
}

fn fold_min_max(min: &mut Option<i64>, max: &mut Option<i64>, low: Option<i64>, high: Option<i64>) {
    if let Some(low) = low {
        *min = Some(min.map_or(low, |m| m.min(low)));
    }
    if let Some(high) = high {
        *max = Some(max.map_or(high, |m| m.max(high)));
    }
}

/// Linear interpolation between closest ranks on sorted values (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    let at = |i: usize| sorted.get(i).copied().unwrap_or(f64::NAN);
    at(below) + (at(above) - at(below)) * fraction
}

fn histogram(sorted: &[f64], min: f64, max: f64, scale: f64) -> Histogram {
    let bins = if max > min { HISTOGRAM_BINS } else { 1 };
    let width = if max > min {
        (max - min) / bins as f64
    } else {
        1.0
    };
    let edges: Vec<f64> = (0..=bins).map(|i| min + width * i as f64).collect();
    let mut counts = vec![0u64; bins];
    for &v in sorted {
        let bin = (((v - min) / width) as usize).min(bins - 1);
        if let Some(count) = counts.get_mut(bin) {
            *count += 1;
        }
    }
    Histogram {
        edges,
        counts: counts
            .into_iter()
            .map(|c| (c as f64 * scale).round() as u64)
            .collect(),
    }
}

fn rfc3339(us: i64) -> serde_json::Value {
    chrono_free_rfc3339(us).map_or(serde_json::Value::Null, serde_json::Value::String)
}

/// RFC 3339 in UTC without a date library: Arrow's own formatting of one timestamp.
fn chrono_free_rfc3339(us: i64) -> Option<String> {
    let array = arrow::array::TimestampMicrosecondArray::from(vec![us]).with_timezone("+00:00");
    let text = cast(&array, &ArrowType::Utf8).ok()?;
    let text = text.as_string::<i32>();
    text.is_valid(0)
        .then(|| text.value(0).replace("+00:00", "Z"))
}

fn top_values(counts: HashMap<String, u64>, scale: f64) -> Vec<TopValue> {
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(TOP_VALUES)
        .map(|(value, count)| TopValue {
            value,
            count: (count as f64 * scale).round() as u64,
        })
        .collect()
}

fn finish_column(column: Column, rows: u64) -> ColumnStats {
    let count = rows - column.nulls;
    let mut stats = ColumnStats {
        name: column.name,
        data_type: column.data_type,
        count,
        nulls: column.nulls,
        distinct: 0,
        min: None,
        max: None,
        mean: None,
        stddev: None,
        quantiles: None,
        histogram: None,
        top: Vec::new(),
        sampled: false,
    };
    match column.accumulator {
        Accumulator::Numeric {
            kind,
            moments,
            min,
            max,
            distinct,
            sample,
        } => {
            stats.sampled = !sample.is_complete();
            let scale = count as f64 / sample.values().len().max(1) as f64;
            let mut sorted = sample.into_values();
            sorted.sort_by(f64::total_cmp);
            stats.distinct = if stats.sampled {
                distinct.estimate()
            } else {
                let mut unique = sorted.clone();
                unique.dedup_by(|a, b| (*a + 0.0).to_bits() == (*b + 0.0).to_bits());
                unique.len() as u64
            };
            if moments.n > 0 {
                stats.mean = Some(moments.mean);
                stats.stddev =
                    (moments.n > 1).then(|| (moments.m2 / (moments.n - 1) as f64).sqrt());
                let q = |p| quantile(&sorted, p);
                stats.quantiles = Some(Quantiles {
                    p5: q(0.05),
                    p25: q(0.25),
                    p50: q(0.5),
                    p75: q(0.75),
                    p95: q(0.95),
                });
                stats.histogram = Some(histogram(&sorted, min, max, scale));
                let (low, high) = match kind {
                    Kind::Int { min, max } => (
                        min.map(serde_json::Value::from),
                        max.map(serde_json::Value::from),
                    ),
                    Kind::Timestamp { min, max } => (min.map(rfc3339), max.map(rfc3339)),
                    Kind::Float => (
                        serde_json::Number::from_f64(min).map(serde_json::Value::Number),
                        serde_json::Number::from_f64(max).map(serde_json::Value::Number),
                    ),
                };
                stats.min = low;
                stats.max = high;
            }
        }
        Accumulator::Text {
            min,
            max,
            distinct,
            sample,
        } => {
            stats.sampled = !sample.is_complete();
            let scale = count as f64 / sample.values().len().max(1) as f64;
            let mut counts: HashMap<String, u64> = HashMap::new();
            for value in sample.into_values() {
                *counts.entry(value).or_default() += 1;
            }
            stats.distinct = if stats.sampled {
                distinct.estimate()
            } else {
                counts.len() as u64
            };
            stats.top = top_values(counts, scale);
            stats.min = min.map(serde_json::Value::String);
            stats.max = max.map(serde_json::Value::String);
        }
        Accumulator::Binary { distinct, sample } => {
            stats.sampled = !sample.is_complete();
            stats.distinct = if stats.sampled {
                distinct.estimate()
            } else {
                let mut hashes = sample.into_values();
                hashes.sort_unstable();
                hashes.dedup();
                hashes.len() as u64
            };
        }
        Accumulator::Boolean { trues, falses } => {
            stats.distinct = u64::from(trues > 0) + u64::from(falses > 0);
            let mut top = vec![
                TopValue {
                    value: "true".into(),
                    count: trues,
                },
                TopValue {
                    value: "false".into(),
                    count: falses,
                },
            ];
            top.retain(|t| t.count > 0);
            top.sort_by_key(|t| std::cmp::Reverse(t.count));
            stats.top = top;
            if count > 0 {
                stats.mean = Some(trues as f64 / count as f64);
            }
        }
    }
    stats
}
