//! Tests of validation, the consensus, ties, Dawid-Skene and the checks.

use super::*;

fn a<'a>(
    study: &'a str,
    annotator: &'a str,
    label: &'a str,
    confidence: Option<f64>,
    at: i64,
) -> Annotation<'a> {
    Annotation {
        study_id: study,
        annotator_id: annotator,
        label,
        confidence,
        annotated_at: at,
    }
}

/// A test run with the parameters product.toml ships with, started in 2026.
fn shipped() -> tessera_sdk::testing::TestRun {
    tessera_sdk::testing::TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .info(tessera_sdk::RunInfo {
            started_at: NOW,
            ..Default::default()
        })
}

/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000_000_000;

#[test]
fn validation_rejects_each_kind_of_bad_row_with_its_reason() {
    let labels = ["benign", "malignant"];
    let v = validate(
        [
            a("s1", "x", "benign", Some(0.9), 10),
            a("s1", "y", "malignnt", Some(0.9), 10),
            a("s1", "x", "benign", Some(0.9), 10),
            a("s2", "x", "malignant", Some(1.5), 10),
            a("s2", "y", "malignant", None, NOW + 1_000_000),
            a("s2", "z", "malignant", Some(1.0), NOW),
        ],
        &labels,
        NOW,
    );
    let reasons: Vec<(&str, &str)> = v
        .rejected
        .iter()
        .map(|(row, reason, _)| (row.annotator_id, reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("y", "unknown-label"),
            ("x", "duplicate"),
            ("x", "confidence-out-of-range"),
            ("y", "future-timestamp"),
        ]
    );
    assert_eq!(v.accepted.len(), 2);
    assert_eq!(
        v.rejected[0].2,
        "label \"malignnt\" is not one of benign, malignant"
    );
}

#[test]
fn a_feed_of_mostly_bad_rows_fails_the_rejected_share_check() {
    let input = Batch::builder()
        .text("study_id", ["s1", "s1", "s2"])
        .text("annotator_id", ["x", "y", "x"])
        .text("label", ["benign", "??", "??"])
        .f64_opt("confidence", [Some(0.9), None, None])
        .timestamp("annotated_at", [1, 2, 3])
        .build()
        .unwrap();
    let mut test = shipped().input("annotations", input);
    test.run(run).unwrap();
    assert_eq!(test.output("rejected").unwrap().num_rows(), 2);
    let checks = test.check(checks).unwrap();
    let share = &checks[2];
    assert!(!share.is_passed());
    assert_eq!(share.severity(), tessera_sdk::Severity::Error);
    assert_eq!(
        share.message_text(),
        "2 annotations rejected (66.7% of 3; the limit is 5.0%)"
    );
}

#[test]
fn majority_wins_and_agreement_is_the_share() {
    let c = consensus([
        a("s1", "x", "benign", None, 0),
        a("s1", "y", "benign", None, 0),
        a("s1", "z", "malignant", Some(1.0), 0),
    ]);
    assert_eq!(
        c,
        vec![Consensus {
            study_id: "s1".into(),
            label: "benign".into(),
            agreement: 2.0 / 3.0,
            annotators: 3,
            tied: Vec::new(),
        }]
    );
}

#[test]
fn ties_go_to_summed_confidence_then_alphabetical() {
    let by_confidence = consensus([
        a("s", "x", "benign", Some(0.6), 0),
        a("s", "y", "malignant", Some(0.9), 0),
    ]);
    assert_eq!(by_confidence[0].label, "malignant");
    // The tie is broken for `label`, but said: both labels are listed for adjudication.
    assert_eq!(by_confidence[0].tied, ["benign", "malignant"]);
    let alphabetical = consensus([
        a("s", "x", "malignant", Some(0.5), 0),
        a("s", "y", "benign", Some(0.5), 0),
    ]);
    assert_eq!(alphabetical[0].label, "benign");
    assert_eq!(alphabetical[0].agreement, 0.5);
}

#[test]
fn an_annotators_latest_label_counts_once() {
    let c = consensus([
        a("s", "x", "benign", None, 1),
        a("s", "x", "malignant", None, 5),
        a("s", "y", "malignant", None, 2),
    ]);
    assert_eq!(
        (c[0].label.as_str(), c[0].annotators, c[0].agreement),
        ("malignant", 2, 1.0)
    );
}

#[test]
fn counts_studies_per_label() {
    let c = consensus([
        a("s1", "x", "benign", None, 0),
        a("s2", "x", "benign", None, 0),
        a("s3", "x", "normal", None, 0),
    ]);
    let batch = Batch::builder()
        .text("label", c.iter().map(|c| c.label.as_str()))
        .build()
        .unwrap();
    let counts = label_counts(&batch).unwrap();
    assert_eq!(
        counts.text("label").unwrap().iter().collect::<Vec<_>>(),
        [Some("benign"), Some("normal")]
    );
    assert_eq!(counts.i64("studies").unwrap().values(), &[2, 1]);
}

#[test]
fn run_writes_both_ports() {
    let input = Batch::builder()
        .text("study_id", ["s1", "s1", "s2"])
        .text("annotator_id", ["x", "y", "x"])
        .text("label", ["benign", "benign", "malignant"])
        .f64_opt("confidence", [Some(0.9), None, Some(0.7)])
        .timestamp("annotated_at", [1, 2, 3])
        .build()
        .unwrap();
    let mut test = shipped().input("annotations", input);
    test.run(run).unwrap();
    assert_eq!(test.output("consensus").unwrap().num_rows(), 2);
    assert_eq!(
        test.output("label_counts")
            .unwrap()
            .i64("studies")
            .unwrap()
            .values(),
        &[1, 1]
    );
    assert_eq!(test.gauge("unanimous_share"), Some(1.0));

    // s2's malignant consensus rests on one annotator: a warning, on row index 1.
    let checks = test.check(checks).unwrap();
    let malignant = &checks[0];
    assert_eq!(
        (malignant.is_passed(), malignant.failing_rows()),
        (false, &[1][..])
    );
    assert_eq!(malignant.severity(), tessera_sdk::Severity::Warn);
    assert!(checks[1].is_passed(), "{}", checks[1].message_text());
    assert!(checks[2].is_passed(), "{}", checks[2].message_text());
    assert_eq!(test.output("rejected").unwrap().num_rows(), 0);
    assert_eq!(test.output("counted").unwrap().num_rows(), 3);
}

#[test]
fn counts_that_do_not_add_up_fail_the_check() {
    // The check function alone, on the few columns it reads: a run held to no manifest.
    let mut test = tessera_sdk::testing::TestRun::new()
        .parameters_from_manifest(include_str!("../product.toml"))
        .unwrap()
        .input(
            "annotations",
            Batch::builder().text("study_id", ["s1"]).build().unwrap(),
        );
    test.run(|ctx| {
        ctx.output("consensus")?.write(
            Batch::builder()
                .text("label", ["benign"])
                .i64("annotators", [3])
                .build()?,
        )?;
        ctx.output("label_counts")?
            .write(Batch::builder().i64("studies", [2]).build()?)?;
        ctx.output("counted")?
            .write(Batch::builder().i64("n", [1]).build()?)?;
        ctx.output("rejected")?
            .write(Batch::builder().i64("n", [0; 0]).build()?)
    })
    .unwrap();
    let checks = test.check(checks).unwrap();
    assert!(checks[0].is_passed());
    assert!(!checks[1].is_passed());
    assert_eq!(
        checks[1].message_text(),
        "label_counts counts 2 studies; consensus has 1 rows"
    );
}
