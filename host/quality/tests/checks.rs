//! Every check kind, passing and failing, with `mostly` and both severities, on checks parsed
//! from a real manifest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::manifest::Manifest;
use tessera_quality::{CheckEnv, CheckResult, PortChecks, blocking, reference_key};

const HOUR_US: i64 = 3_600_000_000;
const NOW: i64 = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z

/// A manifest whose one output `scores` has the given checks.
fn checks(toml_checks: &str) -> Manifest {
    let text = format!(
        r#"
[product]
name = "scored"
domain = "testing"
version = "1.0.0"
owner = "team@example.org"
description = "Scores"
kind = "aggregate"

[[outputs]]
name = "scores"
schema = {{ id = "text", annotator = "text", label = "text", score = "float64", n = "int64", at = "timestamp" }}
checks = [
{toml_checks}
]
"#
    );
    Manifest::parse(&text, "product.toml").unwrap()
}

struct Rows<'a> {
    id: Vec<Option<&'a str>>,
    annotator: Vec<Option<&'a str>>,
    label: Vec<Option<&'a str>>,
    score: Vec<Option<f64>>,
    n: Vec<Option<i64>>,
    at: Vec<Option<i64>>,
}

fn batch(rows: &Rows<'_>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("annotator", DataType::Utf8, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(rows.id.clone())) as ArrayRef,
            Arc::new(StringArray::from(rows.annotator.clone())),
            Arc::new(StringArray::from(rows.label.clone())),
            Arc::new(Float64Array::from(rows.score.clone())),
            Arc::new(Int64Array::from(rows.n.clone())),
            Arc::new(TimestampMicrosecondArray::from(rows.at.clone()).with_timezone("+00:00")),
        ],
    )
    .unwrap()
}

/// Ten rows: s0..s9, annotators a/b, labels, scores 0.0..0.9, n 0..9, one per hour until NOW.
/// Row 4 (s3) has a null label; row 8 (s7) repeats s2's id and annotator; row 10 has score 0.9.
fn sample() -> RecordBatch {
    let ids = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s2", "s8", "s9"];
    let annotators = ["a", "b", "a", "b", "a", "b", "a", "a", "a", "b"];
    let labels = [
        Some("benign"),
        Some("malignant"),
        Some("benign"),
        None,
        Some("benign"),
        Some("normal"),
        Some("benign"),
        Some("malignant"),
        Some("unsure"),
        Some("benign"),
    ];
    batch(&Rows {
        id: ids.iter().map(|s| Some(*s)).collect(),
        annotator: annotators.iter().map(|s| Some(*s)).collect(),
        label: labels.to_vec(),
        score: (0..10).map(|i| Some(i as f64 / 10.0)).collect(),
        n: (0..10).map(Some).collect(),
        at: (0..10).map(|i| Some(NOW - (9 - i) * HOUR_US)).collect(),
    })
}

fn env() -> CheckEnv {
    CheckEnv {
        now_us: NOW,
        ..CheckEnv::default()
    }
}

/// Runs the checks over the sample, split in two batches to cross a batch boundary.
fn run(toml_checks: &str, env: &CheckEnv) -> Vec<CheckResult> {
    let manifest = checks(toml_checks);
    let mut port = PortChecks::new("scores", &manifest.outputs[0].checks);
    let all = sample();
    port.observe(&all.slice(0, 6), env);
    port.observe(&all.slice(6, 4), env);
    port.finish(env)
}

fn one(toml_check: &str) -> CheckResult {
    run(toml_check, &env()).remove(0)
}

#[test]
fn not_null_counts_nulls_and_keeps_the_failing_rows() {
    let result = one(r#"{ kind = "not_null", column = "label" }"#);
    assert!(!result.passed);
    assert_eq!((result.evaluated, result.failed), (10, 1));
    assert_eq!(result.sample.len(), 1);
    assert_eq!(result.sample[0].row, 4);
    assert_eq!(result.sample[0].values["id"], "s3");
    assert_eq!(result.check, "not_null(label)");
    assert_eq!(
        result.message,
        "1 of 10 rows fail (90.00% pass; 100.00% needed)"
    );
    assert!(one(r#"{ kind = "not_null", column = "id" }"#).passed);
    // With `mostly`, 90% passing is enough.
    assert!(one(r#"{ kind = "not_null", column = "label", mostly = 0.9 }"#).passed);
    assert!(!one(r#"{ kind = "not_null", column = "label", mostly = 0.95 }"#).passed);
}

#[test]
fn unique_over_one_or_several_columns_across_batches() {
    let result = one(r#"{ kind = "unique", column = "id" }"#);
    assert!(!result.passed);
    assert_eq!(result.failed, 1);
    assert_eq!(
        result.sample[0].row, 8,
        "the second s2, in the second batch"
    );
    let result = one(r#"{ kind = "unique", columns = ["id", "annotator"] }"#);
    assert_eq!(result.failed, 1, "s2 by a twice");
    assert!(one(r#"{ kind = "unique", columns = ["n"] }"#).passed);
    assert!(one(r#"{ kind = "unique", columns = ["id", "n"] }"#).passed);
}

#[test]
fn accepted_values_and_regex_skip_nulls() {
    let result = one(
        r#"{ kind = "accepted_values", column = "label", values = ["benign", "malignant", "normal"] }"#,
    );
    assert_eq!(
        (result.passed, result.evaluated, result.failed),
        (false, 9, 1)
    );
    assert_eq!(result.sample[0].values["label"], "unsure");
    let result =
        one(r#"{ kind = "accepted_values", column = "n", values = [0, 1, 2, 3, 4, 5, 6, 7, 8] }"#);
    assert_eq!((result.failed, result.sample[0].row), (1, 10));
    let result = one(r#"{ kind = "regex", column = "id", pattern = "^s[0-8]$" }"#);
    assert_eq!(
        (result.failed, result.sample[0].values["id"].as_str()),
        (1, Some("s9"))
    );
    assert!(one(r#"{ kind = "regex", column = "id", pattern = "^s\\d$" }"#).passed);
}

#[test]
fn range_is_inclusive_by_default() {
    assert!(one(r#"{ kind = "range", column = "score", min = 0.0, max = 0.9 }"#).passed);
    let result =
        one(r#"{ kind = "range", column = "score", min = 0.0, max = 0.9, inclusive = false }"#);
    assert_eq!(result.failed, 2, "0.0 and 0.9 sit on the bounds");
    let result = one(r#"{ kind = "range", column = "n", min = 5 }"#);
    assert_eq!(result.failed, 5);
    assert_eq!(
        result.sample.iter().map(|s| s.row).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn table_level_checks_compare_one_figure() {
    let result = one(r#"{ kind = "row_count", min = 1, max = 5 }"#);
    assert_eq!((result.passed, result.observed), (false, Some(10.0)));
    assert_eq!(result.message, "10 rows; expected between 1 and 5");
    assert!(one(r#"{ kind = "row_count", min = 10 }"#).passed);

    let result = one(r#"{ kind = "mean_between", column = "score", min = 0.4, max = 0.5 }"#);
    assert!(result.passed);
    assert!((result.observed.unwrap() - 0.45).abs() < 1e-12);
    assert!(!one(r#"{ kind = "mean_between", column = "score", min = 0.5 }"#).passed);

    // Sample standard deviation of 0.0, 0.1, ..., 0.9.
    let expected = ((0..10)
        .map(|i| (i as f64 / 10.0 - 0.45).powi(2))
        .sum::<f64>()
        / 9.0)
        .sqrt();
    let result = one(r#"{ kind = "stddev_between", column = "score", max = 0.2 }"#);
    assert!(!result.passed);
    assert!((result.observed.unwrap() - expected).abs() < 1e-12);

    let result = one(r#"{ kind = "freshness", column = "at", max_age = "30m" }"#);
    assert!(result.passed, "{}", result.message);
    let later = CheckEnv {
        now_us: NOW + 2 * HOUR_US,
        ..env()
    };
    let result = run(
        r#"{ kind = "freshness", column = "at", max_age = "1h" }"#,
        &later,
    )
    .remove(0);
    assert!(!result.passed);
    assert_eq!(result.observed, Some(7200.0));
    assert_eq!(result.message, "the newest `at` is 2h old; allowed 1h");
}

#[test]
fn change_compares_with_the_previous_version() {
    let result = one(r#"{ kind = "change", max_percent = 10 }"#);
    assert!(result.passed, "no previous version: {}", result.message);
    let previous = CheckEnv {
        previous_rows: Some(8),
        previous_means: BTreeMap::from([("score".to_string(), 0.5)]),
        ..env()
    };
    let result = run(r#"{ kind = "change", max_percent = 20 }"#, &previous).remove(0);
    assert_eq!((result.passed, result.observed), (false, Some(25.0)));
    assert_eq!(
        result.message,
        "the row count changed by 25.0% (8 → 10); allowed 20%"
    );
    let result = run(
        r#"{ kind = "change", column = "score", max_percent = 11 }"#,
        &previous,
    )
    .remove(0);
    assert!(result.passed, "0.5 → 0.45 is 10%: {}", result.message);
    let result = run(
        r#"{ kind = "change", column = "score", max_percent = 9 }"#,
        &previous,
    )
    .remove(0);
    assert!(!result.passed, "{}", result.message);
}

#[test]
fn relationships_look_values_up_in_the_referenced_column() {
    let check = r#"{ kind = "relationships", column = "annotator", to = "annotators/roster", field = "id" }"#;
    let result = one(check);
    assert!(!result.passed);
    assert!(
        result
            .message
            .contains("annotators/roster has no published version"),
        "{}",
        result.message
    );
    let known = CheckEnv {
        references: BTreeMap::from([(
            reference_key("annotators/roster", "id"),
            HashSet::from(["a".to_string()]),
        )]),
        ..env()
    };
    let result = run(check, &known).remove(0);
    assert_eq!((result.passed, result.failed), (false, 4));
    assert_eq!(result.sample[0].values["annotator"], "b");
}

#[test]
fn only_failed_error_checks_block_publication() {
    let results = run(
        r#"{ kind = "not_null", column = "label", severity = "warn", description = "labels may lag" },
           { kind = "row_count", min = 1 }"#,
        &env(),
    );
    assert_eq!(
        (results[0].passed, results[0].severity.name()),
        (false, "warn")
    );
    assert_eq!(results[0].description, "labels may lag");
    assert!(results[1].passed);
    assert!(!blocking(&results));
    let results = run(r#"{ kind = "not_null", column = "label" }"#, &env());
    assert!(blocking(&results));
}
