//! The product's figures on small cases worked by hand, and whole runs held to product.toml.

use super::*;
use tessera_sdk::Batch;
use tessera_sdk::testing::TestRun;

fn thresholds(min_annotations: i64) -> Thresholds {
    Thresholds {
        min_kappa: 0.6,
        min_sensitivity: 0.85,
        min_specificity: 0.85,
        min_annotations,
        positive: "malignant".into(),
        confidence: 0.95,
    }
}

#[test]
fn the_consensus_an_annotator_is_scored_against_leaves_them_out() {
    // Three annotators on four studies. On s1, `c` is alone against `a` and `b`.
    let labels = [
        ("s1", "a", "benign"),
        ("s1", "b", "benign"),
        ("s1", "c", "malignant"),
        ("s2", "a", "malignant"),
        ("s2", "b", "malignant"),
        ("s2", "c", "malignant"),
        ("s3", "a", "benign"),
        ("s3", "b", "malignant"),
        ("s3", "c", "benign"),
        ("s4", "a", "malignant"),
    ];
    let rows = assess(&labels, &HashMap::new(), &thresholds(100));
    let c = rows.iter().find(|r| r.annotator_id == "c").unwrap();
    // c against the others: s1 (benign, benign) → benign ≠ malignant; s2 malignant = malignant;
    // s3 others tie (benign, malignant) → not compared. Two compared, one agrees.
    assert_eq!((c.annotations, c.compared, c.agreement), (3, 2, Some(0.5)));
    let a = rows.iter().find(|r| r.annotator_id == "a").unwrap();
    // a: s1 others (benign, malignant) tie; s2 malignant = malignant; s3 others (malignant,
    // benign) tie; s4 nobody else. One compared.
    assert_eq!((a.annotations, a.compared, a.agreement), (4, 1, Some(1.0)));
    // One pair with a single label: kappa is undefined, not 1.
    assert_eq!(a.kappa, None);
}

#[test]
fn a_low_kappa_is_flagged_only_when_its_interval_clears_the_threshold() {
    // `x` agrees with the other two on 3 of every 4 studies, in both classes: kappa 0.5.
    let mut labels: Vec<(String, String, String)> = Vec::new();
    for i in 0..400 {
        let truth = if i % 2 == 0 { "benign" } else { "malignant" };
        let other = if truth == "benign" {
            "malignant"
        } else {
            "benign"
        };
        let study = format!("s{i}");
        labels.push((study.clone(), "y".into(), truth.into()));
        labels.push((study.clone(), "z".into(), truth.into()));
        let x = if i % 4 < 3 { truth } else { other };
        labels.push((study, "x".into(), x.into()));
    }
    let as_refs = |n: usize| -> Vec<(&str, &str, &str)> {
        labels[..n * 3]
            .iter()
            .map(|(s, a, l)| (s.as_str(), a.as_str(), l.as_str()))
            .collect()
    };
    // Eight studies: kappa 0.5 with a wide interval that reaches above 0.6: no flag.
    let few = assess(&as_refs(8), &HashMap::new(), &thresholds(1));
    let x = few.iter().find(|r| r.annotator_id == "x").unwrap();
    assert_eq!(x.kappa, Some(0.5));
    assert!(x.kappa_high.unwrap() > 0.6, "{x:?}");
    assert!(!x.flagged);
    // Four hundred studies: the interval lies below 0.6: flagged, with the interval in words.
    let many = assess(&as_refs(400), &HashMap::new(), &thresholds(1));
    let x = many.iter().find(|r| r.annotator_id == "x").unwrap();
    assert_eq!(x.kappa, Some(0.5));
    assert!(x.kappa_high.unwrap() < 0.6, "{x:?}");
    assert!(x.flagged);
    assert!(
        x.reasons.starts_with("kappa 0.50 (95% CI 0."),
        "{}",
        x.reasons
    );
    assert_eq!(many[0].rank, 1);
    assert_eq!(many.last().unwrap().annotator_id, "x");
}

#[test]
fn the_panel_agreement_is_fleiss_kappa_over_studies_with_two_raters_or_more() {
    // Two studies, three raters each, and one study labeled once (left out).
    // s1: 3 benign; s2: 2 malignant, 1 benign. P1 = 1, P2 = 1/3, P̄ = 2/3;
    // p(benign) = 4/6, p(malignant) = 2/6, Pe = 5/9; kappa = (2/3 − 5/9)/(4/9) = 1/4.
    let labels = [
        ("s1", "a", "benign"),
        ("s1", "b", "benign"),
        ("s1", "c", "benign"),
        ("s2", "a", "malignant"),
        ("s2", "b", "malignant"),
        ("s2", "c", "benign"),
        ("s3", "a", "benign"),
    ];
    let panel = panel(&labels);
    assert_eq!((panel.studies, panel.annotators), (2, 3));
    assert_eq!(panel.mean_annotators_per_study, Some(3.0));
    assert!((panel.fleiss_kappa.unwrap() - 0.25).abs() < 1e-12);
}

fn run_with(truth: Batch) -> TestRun {
    let annotations = Batch::builder()
        .text("study_id", ["s1", "s2", "s1", "s2"])
        .text("annotator_id", ["a", "a", "b", "b"])
        .text("label", ["malignant", "benign", "malignant", "malignant"])
        .f64_opt("confidence", [None, None, None, None])
        .timestamp("annotated_at", [1, 2, 3, 4])
        .build()
        .unwrap();
    let consensus = Batch::builder()
        .text("study_id", ["s1", "s2"])
        .text("label", ["malignant", "benign"])
        .f64("agreement", [1.0, 0.5])
        .i64("annotators", [2, 2])
        .boolean("tie", [false, true])
        .text("ds_label", ["malignant", "benign"])
        .f64("ds_posterior", [0.99, 0.6])
        .build()
        .unwrap();
    let mut test = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .input("annotations", annotations)
        .input("consensus", consensus)
        .input("ground_truth", truth);
    test.run(run).unwrap();
    test
}

#[test]
fn run_writes_ranked_annotators_and_the_panel_and_checks_pass_on_matching_truth() {
    let truth = Batch::builder()
        .text("study_id", ["s1", "s2"])
        .text("diagnosis", ["malignant", "benign"])
        .build()
        .unwrap();
    let mut test = run_with(truth);
    let out = test.output("annotators").unwrap();
    assert_eq!(out.i64("rank").unwrap().values(), &[1, 2]);
    assert_eq!(out.f64("sensitivity").unwrap().get(0), Some(1.0));
    assert_eq!(test.output("panel").unwrap().num_rows(), 1);
    let checks = test.check(checks).unwrap();
    assert!(checks[0].is_passed(), "{}", checks[0].message_text());
}

#[test]
fn ground_truth_from_another_data_set_fails_the_check() {
    let truth = Batch::builder()
        .text("study_id", ["s1", "x-9", "x-10"])
        .text("diagnosis", ["malignant", "benign", "cat"])
        .build()
        .unwrap();
    let mut test = run_with(truth);
    let checks = test.check(checks).unwrap();
    assert!(!checks[0].is_passed());
    assert_eq!(
        checks[0].message_text(),
        "33.3% of 3 ground-truth rows name a labeled study and a known label (at least 90% needed)"
    );
}
