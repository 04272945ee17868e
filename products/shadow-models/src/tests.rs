use imaging_ml::device::scores_on;
use imaging_ml::{Activation, Layer};
use tessera_sdk::testing::TestRun;

use super::*;

fn logistic(inputs: &[&str], weights: &[f64], bias: f64) -> ModelSpec {
    ModelSpec {
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        mean: vec![0.0; inputs.len()],
        scale: vec![1.0; inputs.len()],
        layers: vec![Layer {
            weights: vec![weights.to_vec()],
            bias: vec![bias],
            activation: Activation::Sigmoid,
        }],
    }
}

fn mlp() -> ModelSpec {
    ModelSpec {
        inputs: vec!["a".into(), "b".into()],
        mean: vec![1.0, 0.0],
        scale: vec![2.0, 1.0],
        layers: vec![
            Layer {
                weights: vec![vec![1.0, -1.0], vec![0.5, 2.0], vec![-1.0, 0.0]],
                bias: vec![0.1, -0.2, 0.3],
                activation: Activation::Relu,
            },
            Layer {
                weights: vec![vec![1.0, -0.5, 2.0]],
                bias: vec![-0.1],
                activation: Activation::Sigmoid,
            },
        ],
    }
}

#[test]
fn device_scores_equal_the_models_own_prediction() {
    let rows = vec![vec![3.0, 1.0], vec![-1.0, 2.0], vec![0.0, -3.0]];
    let mut test = TestRun::new();
    test.run(|ctx| {
        let gpu = ctx.gpu()?;
        for spec in [mlp(), logistic(&["a", "b"], &[0.3, -0.7], 0.2)] {
            let scores = scores_on(&gpu, &spec, &rows)?;
            for (row, score) in rows.iter().zip(&scores) {
                assert!((spec.predict(row) - score).abs() < 1e-5, "{score}");
            }
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn evaluation_uses_only_labeled_samples() {
    let e = evaluate(
        &[0.9, 0.2, 0.7, 0.4],
        &[Some(true), Some(false), None, Some(true)],
        0.5,
        10,
    );
    assert_eq!(e.samples, 3);
    assert_eq!(e.auc, Some(1.0));
    assert_eq!(e.accuracy, Some(2.0 / 3.0));
    assert_eq!(e.f1, Some(2.0 / 3.0));
    // (0.1² + 0.2² + 0.6²) / 3, written out.
    assert!((e.brier.unwrap() - (0.01 + 0.04 + 0.36) / 3.0).abs() < 1e-12);
}

#[test]
fn a_candidate_must_gain_auc_with_confidence_without_losing_f1() {
    let e = |auc, f1| Evaluation {
        samples: 10,
        auc: Some(auc),
        accuracy: None,
        f1: Some(f1),
        brier: None,
        ece: None,
    };
    let difference = |low: f64| AucDifference {
        auc_a: 0.95,
        auc_b: 0.94,
        difference: imaging_ml::agreement::Interval {
            value: 0.01,
            low,
            high: 0.02,
        },
        std_error: 0.005,
        p_value: 0.04,
    };
    let sure = difference(0.001);
    let unsure = difference(-0.001);
    assert!(beats(&e(0.95, 0.9), &e(0.94, 0.9), Some(&sure), 0.005));
    // The same gain without confidence, or with no test at all, does not.
    assert!(!beats(&e(0.95, 0.9), &e(0.94, 0.9), Some(&unsure), 0.005));
    assert!(!beats(&e(0.95, 0.9), &e(0.94, 0.9), None, 0.005));
    assert!(!beats(&e(0.942, 0.9), &e(0.94, 0.9), Some(&sure), 0.005));
    assert!(!beats(&e(0.99, 0.8), &e(0.94, 0.9), Some(&sure), 0.005));
    assert_eq!(
        agreement(&[0.9, 0.1, 0.6], &[0.8, 0.7, 0.4], 0.5),
        (1.0 / 3.0, 2)
    );
}

/// Twelve samples with every declared feature: `mean_radius` separates the classes (positive
/// for malignant), `mean_texture` barely does; the other features are null. The last sample
/// has no diagnosis.
fn features() -> Batch {
    let declared = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .input_schema("features");
    let malignant = [
        true, false, true, false, true, false, true, false, true, false, true,
    ];
    let radius: Vec<f64> = (0..12)
        .map(|i| {
            let size = 1.0 + 0.2 * i as f64;
            if malignant.get(i).copied().unwrap_or(true) {
                size
            } else {
                -size
            }
        })
        .collect();
    let texture = [
        0.3, -0.5, 0.8, 0.1, -0.9, 0.6, -0.2, 0.4, -0.7, 0.9, -0.1, 0.5,
    ];
    let diagnosis: Vec<Option<&str>> = (0..12)
        .map(|i| {
            malignant
                .get(i)
                .map(|&m| if m { "malignant" } else { "benign" })
        })
        .collect();
    let ids: Vec<String> = (1..=12).map(|i| format!("s{i}")).collect();
    let mut batch = Batch::builder()
        .text("sample_id", &ids)
        .f64("mean_radius", radius)
        .f64("mean_texture", texture)
        .text_opt("diagnosis", diagnosis);
    for field in declared.iter().filter(|f| {
        !["sample_id", "mean_radius", "mean_texture", "diagnosis"].contains(&f.name.as_str())
    }) {
        batch = batch.f64_opt(&field.name, [None; 12]);
    }
    batch.build().unwrap()
}

fn models(rows: &[(&str, &str, String)]) -> Batch {
    Batch::builder()
        .text("model_id", rows.iter().map(|r| r.0))
        .text("role", rows.iter().map(|r| r.1))
        .text("spec", rows.iter().map(|r| r.2.as_str()))
        .build()
        .unwrap()
}

fn shipped(models: Batch) -> TestRun {
    TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .input("features", features())
        .input("models", models)
}

#[test]
fn a_better_candidate_becomes_champion() {
    let weak = logistic(&["mean_texture"], &[0.5], 0.0).to_json();
    let strong = logistic(&["mean_radius"], &[3.0], 0.0).to_json();
    let mut test = shipped(models(&[
        ("prod", "production", weak),
        ("cand", "candidate", strong.clone()),
    ]));
    test.run(run).unwrap();
    let evaluation = test.output("evaluation").unwrap();
    assert_eq!(
        evaluation
            .boolean("beats_production")
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec![None, Some(true)]
    );
    let champion = test.output("champion").unwrap();
    assert_eq!(champion.text("model_id").unwrap().get(0), Some("cand"));
    assert_eq!(champion.text("spec").unwrap().get(0), Some(strong.as_str()));
    assert_eq!(test.output("predictions").unwrap().num_rows(), 24);
    // DeLong's test on the eleven labeled samples: the gain is significant.
    let low = evaluation
        .f64("auc_difference_low")
        .unwrap()
        .get(1)
        .unwrap();
    assert!(low > 0.0, "{low}");
    assert_eq!(evaluation.f64("auc_difference_low").unwrap().get(0), None);
    assert_eq!(test.output("agreement").unwrap().num_rows(), 4);
    let checks = test.check(checks).unwrap();
    assert!(checks.iter().all(|c| c.is_passed()));
}

#[test]
fn a_broken_model_or_two_productions_fail_the_checks() {
    let good = logistic(&["mean_radius"], &[3.0], 0.0).to_json();
    let unknown_feature = logistic(&["zzz"], &[1.0], 0.0).to_json();
    let mut test = shipped(models(&[
        ("p1", "production", good.clone()),
        ("p2", "production", good),
        ("bad-json", "candidate", "{\"inputs\": ".into()),
        ("bad-input", "candidate", unknown_feature),
    ]));
    test.run(run).unwrap();
    let evaluation = test.output("evaluation").unwrap();
    let verdicts: Vec<&str> = evaluation
        .text("verdict")
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert!(
        verdicts[2].starts_with("not usable: the model is not valid JSON"),
        "{}",
        verdicts[2]
    );
    assert_eq!(
        verdicts[3],
        "not usable: the samples have no float64 feature `zzz`"
    );
    let checks = test.check(checks).unwrap();
    assert_eq!(
        (checks[0].is_passed(), checks[0].failing_rows()),
        (false, &[2, 3][..])
    );
    assert!(!checks[1].is_passed());
    assert_eq!(
        checks[1].message_text(),
        "2 production models; exactly 1 expected"
    );
}
