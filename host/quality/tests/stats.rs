//! Column statistics against values computed independently here: exact on small data, within
//! stated bounds on large data.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_quality::{PortStats, StatsBuilder};

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ),
    ]))
}

fn batch(
    x: Vec<Option<f64>>,
    n: Vec<Option<i64>>,
    label: Vec<Option<&str>>,
    ok: Vec<Option<bool>>,
    at: Vec<Option<i64>>,
) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Float64Array::from(x)) as ArrayRef,
            Arc::new(Int64Array::from(n)),
            Arc::new(StringArray::from(label)),
            Arc::new(BooleanArray::from(ok)),
            Arc::new(TimestampMicrosecondArray::from(at).with_timezone("+00:00")),
        ],
    )
    .unwrap()
}

/// numpy's default percentile, written out independently.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = q * (sorted.len() as f64 - 1.0);
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] * (1.0 - (rank - lo as f64)) + sorted[hi] * (rank - lo as f64)
}

fn stats_of(batches: &[RecordBatch]) -> PortStats {
    let mut builder = StatsBuilder::new(&schema());
    for b in batches {
        builder.observe(b);
    }
    builder.finish()
}

#[test]
fn small_data_gets_exact_statistics() {
    let xs = [3.5, -1.0, 2.0, 2.0, 10.25, 0.0, 7.0];
    let first = batch(
        vec![Some(xs[0]), Some(xs[1]), None, Some(xs[2])],
        vec![Some(5), Some(-3), Some(5), None],
        vec![Some("benign"), Some("malignant"), Some("benign"), None],
        vec![Some(true), Some(false), Some(true), None],
        vec![
            Some(1_714_564_800_000_000),
            None,
            Some(1_714_521_600_000_000),
            None,
        ],
    );
    let second = batch(
        vec![Some(xs[3]), Some(xs[4]), Some(xs[5]), Some(xs[6])],
        vec![Some(9), Some(9), Some(9), Some(1)],
        vec![
            Some("benign"),
            Some("normal"),
            Some("benign"),
            Some("normal"),
        ],
        vec![Some(true), Some(true), None, Some(false)],
        vec![None, None, None, Some(1_714_608_000_000_000)],
    );
    let stats = stats_of(&[first, second]);
    assert_eq!(stats.rows, 8);

    let x = &stats.columns[0];
    assert_eq!((x.count, x.nulls, x.distinct, x.sampled), (7, 1, 6, false));
    let mean = xs.iter().sum::<f64>() / 7.0;
    let variance = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0;
    assert!((x.mean.unwrap() - mean).abs() < 1e-12);
    assert!((x.stddev.unwrap() - variance.sqrt()).abs() < 1e-12);
    assert_eq!(x.min, Some(serde_json::json!(-1.0)));
    assert_eq!(x.max, Some(serde_json::json!(10.25)));
    let q = x.quantiles.unwrap();
    for (got, p) in [
        (q.p5, 0.05),
        (q.p25, 0.25),
        (q.p50, 0.5),
        (q.p75, 0.75),
        (q.p95, 0.95),
    ] {
        assert_eq!(got, percentile(&xs, p), "p{}", p * 100.0);
    }
    let histogram = x.histogram.as_ref().unwrap();
    assert_eq!(histogram.edges.len(), 21);
    assert_eq!((histogram.edges[0], histogram.edges[20]), (-1.0, 10.25));
    assert_eq!(histogram.counts.iter().sum::<u64>(), 7);
    assert_eq!(histogram.counts[20 - 1], 1, "the max falls in the last bin");

    let n = &stats.columns[1];
    assert_eq!((n.count, n.distinct), (7, 4));
    assert_eq!(
        (n.min.clone(), n.max.clone()),
        (Some(serde_json::json!(-3)), Some(serde_json::json!(9)))
    );
    assert_eq!(n.quantiles.unwrap().p50, 5.0);

    let label = &stats.columns[2];
    assert_eq!((label.count, label.nulls, label.distinct), (7, 1, 3));
    let top: Vec<(&str, u64)> = label
        .top
        .iter()
        .map(|t| (t.value.as_str(), t.count))
        .collect();
    assert_eq!(top, [("benign", 4), ("normal", 2), ("malignant", 1)]);
    assert_eq!(label.min, Some(serde_json::json!("benign")));
    assert_eq!(label.max, Some(serde_json::json!("normal")));
    assert!(label.mean.is_none() && label.quantiles.is_none());

    let ok = &stats.columns[3];
    assert_eq!((ok.count, ok.nulls, ok.distinct), (6, 2, 2));
    assert_eq!(ok.top[0].value, "true");
    assert_eq!(ok.top[0].count, 4);
    assert!((ok.mean.unwrap() - 4.0 / 6.0).abs() < 1e-12);

    let at = &stats.columns[4];
    assert_eq!((at.count, at.nulls), (3, 5));
    assert_eq!(at.min, Some(serde_json::json!("2024-05-01T00:00:00Z")));
    assert_eq!(at.max, Some(serde_json::json!("2024-05-02T00:00:00Z")));
}

#[test]
fn large_data_is_estimated_within_bounds() {
    const ROWS: usize = 1_000_000;
    let mut builder = StatsBuilder::new(&schema());
    for start in (0..ROWS).step_by(65_536) {
        let end = (start + 65_536).min(ROWS);
        let x: Vec<Option<f64>> = (start..end).map(|i| Some(i as f64)).collect();
        let n: Vec<Option<i64>> = (start..end).map(|i| Some((i % 1000) as i64)).collect();
        let labels: Vec<String> = (start..end).map(|i| format!("id-{i}")).collect();
        let label: Vec<Option<&str>> = labels.iter().map(|l| Some(l.as_str())).collect();
        let ok: Vec<Option<bool>> = (start..end).map(|i| Some(i % 4 == 0)).collect();
        let at: Vec<Option<i64>> = (start..end).map(|_| None).collect();
        builder.observe(&batch(x, n, label, ok, at));
    }
    let stats = builder.finish();
    let x = &stats.columns[0];
    assert!(x.sampled);
    assert_eq!(x.count, ROWS as u64);
    let distinct_error = (x.distinct as f64 - ROWS as f64).abs() / ROWS as f64;
    assert!(distinct_error < 0.03, "HyperLogLog error {distinct_error}");
    assert_eq!(
        x.mean.unwrap(),
        (ROWS - 1) as f64 / 2.0,
        "the mean is exact"
    );
    let median_error = (x.quantiles.unwrap().p50 - (ROWS - 1) as f64 / 2.0).abs() / ROWS as f64;
    assert!(
        median_error < 0.01,
        "median off by {median_error} of the range"
    );
    let histogram = x.histogram.as_ref().unwrap();
    let per_bin = ROWS as f64 / 20.0;
    assert!(
        histogram
            .counts
            .iter()
            .all(|&c| (c as f64 - per_bin).abs() / per_bin < 0.05),
        "{histogram:?}"
    );
    let label = &stats.columns[2];
    let distinct_error = (label.distinct as f64 - ROWS as f64).abs() / ROWS as f64;
    assert!(
        distinct_error < 0.03,
        "text HyperLogLog error {distinct_error}"
    );
    let n = &stats.columns[1];
    assert!(
        (n.distinct as f64 - 1000.0).abs() / 1000.0 < 0.03,
        "{}",
        n.distinct
    );
    assert_eq!(
        stats.columns[3].top[0].count,
        (ROWS * 3 / 4) as u64,
        "boolean counts are exact"
    );
}
