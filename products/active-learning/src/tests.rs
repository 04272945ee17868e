//! Tests of the queue: ranking, spread, exclusions and the pool check.

use super::*;
use imaging_ml::{Activation, Layer};
use tessera_sdk::testing::TestRun;

#[test]
fn entropy_and_margin_peak_at_a_coin_flip() {
    assert!((entropy(0.5) - std::f64::consts::LN_2).abs() < 1e-12);
    assert_eq!(entropy(0.0), 0.0);
    assert_eq!(margin(0.5), 0.0);
    assert_eq!(margin(0.9), 0.8);
    assert_eq!(shortlist(&[0.1, 0.5, 0.7, 0.45], 2), vec![1, 3]);
}

#[test]
fn k_center_spreads_the_picks() {
    // Points on a line at 0, 0.1, 5, 10 (candidate order = uncertainty order).
    let points = [0.0f32, 0.1, 5.0, 10.0];
    let squared: Vec<f32> = points
        .iter()
        .flat_map(|a| points.iter().map(move |b| (a - b) * (a - b)))
        .collect();
    let picks = k_center(&[7, 8, 9, 10], &squared, 3);
    let order: Vec<usize> = picks.iter().map(|p| p.index).collect();
    // 0 first; then 10 (farthest); then 5 (5 from both), never the near-copy 0.1.
    assert_eq!(order, vec![7, 10, 9]);
    assert_eq!(picks[1].distance, Some(10.0));
    assert_eq!((picks[2].distance, picks[2].nearest), (Some(5.0), Some(7)));
}

/// A champion that is a coin flip at radius 10: p = sigmoid(2 (radius − 10)).
fn champion() -> Batch {
    let spec = ModelSpec {
        inputs: vec!["mean_radius".into()],
        mean: vec![10.0],
        scale: vec![1.0],
        layers: vec![Layer {
            weights: vec![vec![2.0]],
            bias: vec![0.0],
            activation: Activation::Sigmoid,
        }],
    };
    Batch::builder()
        .text("model_id", ["m"])
        .text("role", ["production"])
        .f64_opt("auc", [None])
        .text("spec", [spec.to_json()])
        .text("reason", ["the only model"])
        .build()
        .unwrap()
}

/// A pool with every declared column: these radii, the other features null.
fn pool(ids: &[&str], radius: &[Option<f64>]) -> Batch {
    let declared = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .input_schema("pool");
    let studies: Vec<String> = ids.iter().map(|id| format!("study-{id}")).collect();
    let mut batch = Batch::builder()
        .text("sample_id", ids)
        .text("study_id", &studies)
        .f64_opt("mean_radius", radius.iter().copied());
    for field in declared
        .iter()
        .filter(|f| !["sample_id", "study_id", "mean_radius"].contains(&f.name.as_str()))
    {
        batch = batch.f64_opt(&field.name, vec![None; ids.len()]);
    }
    batch.build().unwrap()
}

#[test]
fn run_queues_uncertain_and_spread_samples_with_reasons() {
    let model = champion();
    // Radius 10 is a coin flip and goes first; then the farthest from it, 20, rather than
    // 10.01, a near-copy of 10 and nearly as uncertain.
    let pool = pool(
        &["a", "b", "c", "d"],
        &[Some(10.0), Some(10.01), Some(10.6), Some(20.0)],
    );
    let mut test = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .parameter("batch_size", 2i64)
        .parameter("shortlist_factor", 2i64)
        .input("model", model)
        .input("pool", pool);
    test.run(run).unwrap();
    let queue = test.output("queue").unwrap();
    let ids: Vec<&str> = queue.text("sample_id").unwrap().iter().flatten().collect();
    assert_eq!(ids, vec!["a", "d"]);
    let reasons: Vec<&str> = queue.text("reason").unwrap().iter().flatten().collect();
    assert_eq!(reasons[0], "the most uncertain (p = 0.50, entropy 0.693)");
    assert!(
        reasons[1].ends_with("from the nearest chosen sample, a"),
        "{}",
        reasons[1]
    );
}

#[test]
fn a_sample_missing_a_feature_is_left_out_not_ranked() {
    // `b` has no radius (and `c` an infinite one): neither can be scored, so neither may be
    // queued, even though a missing score once looked like the most uncertain.
    let pool = pool(
        &["a", "b", "c", "d"],
        &[Some(12.0), None, Some(f64::INFINITY), Some(20.0)],
    );
    let mut test = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .parameter("batch_size", 4i64)
        .input("model", champion())
        .input("pool", pool);
    test.run(run).unwrap();
    let queue = test.output("queue").unwrap();
    let ids: Vec<&str> = queue.text("sample_id").unwrap().iter().flatten().collect();
    assert_eq!(ids, vec!["a", "d"]);
    assert_eq!(test.gauge("excluded_missing_features"), Some(2.0));
}

#[test]
fn a_pool_pushed_twice_fails_the_check() {
    let model = champion();
    let pool = pool(
        &["a", "b", "a", "b"],
        &[Some(10.0), Some(12.0), Some(10.0), Some(12.0)],
    );
    let mut test = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .input("model", model)
        .input("pool", pool);
    // One sample per study reaches the queue, so the queue itself has no repeat; the check
    // still reports the pool.
    test.run(run).unwrap();
    assert_eq!(test.output("queue").unwrap().num_rows(), 2);
    let checks = test.check(checks).unwrap();
    assert_eq!(
        (checks[0].is_passed(), checks[0].failing_rows()),
        (false, &[2, 3][..])
    );
    assert_eq!(checks[0].severity(), tessera_sdk::Severity::Error);
}

#[test]
fn a_labeled_study_is_never_queued_and_a_study_at_most_once() {
    // `a` is labeled already; `b` and `b2` are two samples of one study.
    let mut pool = pool(
        &["a", "b", "c", "b2"],
        &[Some(10.0), Some(10.1), Some(14.0), Some(10.05)],
    );
    let studies = ["study-a", "study-b", "study-c", "study-b"];
    pool = Batch::new(
        pool.into_columns()
            .into_iter()
            .map(|c| match c.name.as_str() {
                "study_id" => tessera_sdk::Column {
                    values: tessera_sdk::Values::Text(tessera_sdk::VarData::from_strs(studies)),
                    ..c
                },
                _ => c,
            })
            .collect(),
    )
    .unwrap();
    let labeled = Batch::builder()
        .text("study_id", ["study-a"])
        .build()
        .unwrap();
    let mut test = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .parameter("batch_size", 4i64)
        .input("model", champion())
        .input("labeled", labeled)
        .input("pool", pool);
    test.run(run).unwrap();
    let queue = test.output("queue").unwrap();
    let ids: Vec<&str> = queue.text("sample_id").unwrap().iter().flatten().collect();
    // Radius 10 is the coin flip: `a` would lead, but it is labeled; of `b` (10.1) and
    // `b2` (10.05), only the more uncertain `b2` is queued.
    assert_eq!(ids, vec!["b2", "c"]);
    assert_eq!(test.gauge("excluded_labeled"), Some(1.0));
}

#[test]
fn a_missing_champion_is_an_error_that_says_so() {
    let mut test = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .input(
            "model",
            Batch::builder()
                .text("model_id", [""; 0])
                .text("role", [""; 0])
                .f64_opt("auc", [])
                .text("spec", [""; 0])
                .text("reason", [""; 0])
                .build()
                .unwrap(),
        )
        .input("pool", pool(&["a"], &[Some(10.0)]));
    let err = test.run(run).unwrap_err();
    assert!(
        err.to_string()
            .contains("shadow-models has no champion yet"),
        "{err}"
    );
}
