//! `annotator-quality`: how well each annotator labels.
//!
//! For every annotator, over the studies they labeled (their latest label each, as
//! `labeled-studies/counted` gives them):
//!
//! - `agreement`: the share of their labels equal to the study's consensus;
//! - `kappa`: Cohen's kappa between their labels and the consensus (agreement corrected for
//!   chance; the annotator's own vote is part of the consensus, which favours them slightly);
//! - `sensitivity` and `specificity` for the `positive_label` against the biopsy ground truth,
//!   on the studies that have one.
//!
//! An annotator with at least `min_annotations` studies is flagged when a figure is below its
//! `min_*` parameter, with the reasons in words. A check in code ([`checks`]) quarantines a run
//! whose ground truth mostly names unknown studies or labels.

use std::collections::{BTreeMap, HashMap, HashSet};

use imaging_ml::metrics::{Confusion, cohen_kappa};
use tessera_sdk::{Batch, Check, Context, Result};

/// The thresholds from `[parameters]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Lowest acceptable kappa.
    pub min_kappa: f64,
    /// Lowest acceptable sensitivity.
    pub min_sensitivity: f64,
    /// Lowest acceptable specificity.
    pub min_specificity: f64,
    /// Fewest studies for a verdict.
    pub min_annotations: i64,
    /// The positive label.
    pub positive: String,
}

/// One annotator's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotatorQuality {
    /// Who.
    pub annotator_id: String,
    /// Studies labeled.
    pub annotations: i64,
    /// Share equal to consensus.
    pub agreement: f64,
    /// Kappa against consensus.
    pub kappa: Option<f64>,
    /// Studies with ground truth.
    pub with_truth: i64,
    /// Against ground truth.
    pub sensitivity: Option<f64>,
    /// Against ground truth.
    pub specificity: Option<f64>,
    /// Why flagged; empty when not.
    pub reasons: Vec<String>,
}

/// Figures for every annotator, best kappa first (then by id). `labels` are (study, annotator,
/// label); `consensus` and `truth` map a study to its label.
pub fn assess(
    labels: &[(&str, &str, &str)],
    consensus: &HashMap<&str, &str>,
    truth: &HashMap<&str, &str>,
    t: &Thresholds,
) -> Vec<AnnotatorQuality> {
    let mut by_annotator: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for &(study, annotator, label) in labels {
        by_annotator
            .entry(annotator)
            .or_default()
            .push((study, label));
    }
    let mut out: Vec<AnnotatorQuality> = by_annotator
        .into_iter()
        .map(|(annotator, studies)| {
            let pairs: Vec<(&str, &str)> = studies
                .iter()
                .filter_map(|(study, label)| consensus.get(study).map(|c| (*label, *c)))
                .collect();
            let agree = pairs.iter().filter(|(a, b)| a == b).count();
            let agreement = if pairs.is_empty() {
                0.0
            } else {
                agree as f64 / pairs.len() as f64
            };
            let kappa = cohen_kappa(pairs.iter().copied());
            let (predicted, actual): (Vec<bool>, Vec<bool>) = studies
                .iter()
                .filter_map(|(study, label)| {
                    truth
                        .get(study)
                        .map(|d| (*label == t.positive, *d == t.positive))
                })
                .unzip();
            let confusion = Confusion::of(&predicted, &actual);
            let mut q = AnnotatorQuality {
                annotator_id: annotator.to_string(),
                annotations: studies.len() as i64,
                agreement,
                kappa,
                with_truth: predicted.len() as i64,
                sensitivity: confusion.sensitivity(),
                specificity: confusion.specificity(),
                reasons: Vec::new(),
            };
            q.reasons = reasons(&q, t);
            q
        })
        .collect();
    out.sort_by(|a, b| {
        b.kappa
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.kappa.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| a.annotator_id.cmp(&b.annotator_id))
    });
    out
}

fn reasons(q: &AnnotatorQuality, t: &Thresholds) -> Vec<String> {
    if q.annotations < t.min_annotations {
        return Vec::new();
    }
    let mut reasons = Vec::new();
    let mut below = |name: &str, value: Option<f64>, min: f64| {
        if let Some(v) = value.filter(|v| *v < min) {
            reasons.push(format!("{name} {v:.2} < {min:.2}"));
        }
    };
    below("kappa", q.kappa, t.min_kappa);
    below("sensitivity", q.sensitivity, t.min_sensitivity);
    below("specificity", q.specificity, t.min_specificity);
    reasons
}

fn thresholds(ctx: &mut Context) -> Result<Thresholds> {
    Ok(Thresholds {
        min_kappa: ctx.parameter_f64("min_kappa")?,
        min_sensitivity: ctx.parameter_f64("min_sensitivity")?,
        min_specificity: ctx.parameter_f64("min_specificity")?,
        min_annotations: ctx.parameter_i64("min_annotations")?,
        positive: ctx.parameter_text("positive_label")?,
    })
}

/// (study, label) pairs of a port with `study_id` and `column`.
fn study_labels(batch: &Batch, column: &str) -> Result<Vec<(String, String)>> {
    let (studies, labels) = (batch.text("study_id")?, batch.text(column)?);
    Ok((0..batch.num_rows())
        .filter_map(|i| Some((studies.get(i)?.to_string(), labels.get(i)?.to_string())))
        .collect())
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let t = thresholds(ctx)?;
    let annotations = ctx
        .input_columns("annotations", &["study_id", "annotator_id", "label"])?
        .read_all()?;
    let consensus = study_labels(&ctx.input("consensus")?.read_all()?, "label")?;
    let truth = study_labels(&ctx.input("ground_truth")?.read_all()?, "diagnosis")?;
    let (studies, annotators, labels) = (
        annotations.text("study_id")?,
        annotations.text("annotator_id")?,
        annotations.text("label")?,
    );
    let rows: Vec<(&str, &str, &str)> = (0..annotations.num_rows())
        .filter_map(|i| Some((studies.get(i)?, annotators.get(i)?, labels.get(i)?)))
        .collect();
    let consensus: HashMap<&str, &str> = consensus
        .iter()
        .map(|(s, l)| (s.as_str(), l.as_str()))
        .collect();
    let truth: HashMap<&str, &str> = truth
        .iter()
        .map(|(s, l)| (s.as_str(), l.as_str()))
        .collect();
    let result = assess(&rows, &consensus, &truth, &t);
    let flagged = result.iter().filter(|q| !q.reasons.is_empty()).count();
    tessera_sdk::info!(
        "{} annotators, {flagged} flagged; {} studies with ground truth",
        result.len(),
        truth.len()
    );
    ctx.gauge("annotators_flagged", flagged as f64);
    if let Some(worst) = result.iter().filter_map(|q| q.kappa).reduce(f64::min) {
        ctx.gauge("lowest_kappa", worst);
    }
    ctx.output("annotators")?.write(
        Batch::builder()
            .i64("rank", (1..=result.len() as i64).collect::<Vec<_>>())
            .text(
                "annotator_id",
                result.iter().map(|q| q.annotator_id.as_str()),
            )
            .i64("annotations", result.iter().map(|q| q.annotations))
            .f64("agreement", result.iter().map(|q| q.agreement))
            .f64_opt("kappa", result.iter().map(|q| q.kappa))
            .i64("with_truth", result.iter().map(|q| q.with_truth))
            .f64_opt("sensitivity", result.iter().map(|q| q.sensitivity))
            .f64_opt("specificity", result.iter().map(|q| q.specificity))
            .boolean("flagged", result.iter().map(|q| !q.reasons.is_empty()))
            .text("reasons", result.iter().map(|q| q.reasons.join("; ")))
            .build()?,
    )
}

/// The share of ground-truth rows that name a study with a consensus and a known label.
pub fn truth_match(truth: &[(String, String)], studies: &HashSet<&str>, known: &[&str]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let matching = truth
        .iter()
        .filter(|(s, d)| studies.contains(s.as_str()) && known.contains(&d.as_str()))
        .count();
    matching as f64 / truth.len() as f64
}

/// The checks that need code: ground truth must describe these studies.
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let min_match = ctx.parameter_f64("min_truth_match")?;
    let positive = ctx.parameter_text("positive_label")?;
    let consensus = study_labels(&ctx.input("consensus")?.read_all()?, "label")?;
    let truth = study_labels(&ctx.input("ground_truth")?.read_all()?, "diagnosis")?;
    let studies: HashSet<&str> = consensus.iter().map(|(s, _)| s.as_str()).collect();
    let mut known: Vec<&str> = consensus.iter().map(|(_, l)| l.as_str()).collect();
    known.push(&positive);
    known.sort_unstable();
    known.dedup();
    let share = truth_match(&truth, &studies, &known);
    Ok(vec![
        Check::new("annotators", "ground-truth-matches-the-studies")
            .passed(share >= min_match)
            .message(format!(
                "{:.1}% of {} ground-truth rows name a labeled study and a known label (at least {:.0}% needed)",
                share * 100.0,
                truth.len(),
                min_match * 100.0
            )),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_sdk::testing::TestRun;

    fn thresholds() -> Thresholds {
        Thresholds {
            min_kappa: 0.6,
            min_sensitivity: 0.85,
            min_specificity: 0.85,
            min_annotations: 2,
            positive: "malignant".into(),
        }
    }

    #[test]
    fn figures_per_annotator_and_flags_with_reasons() {
        let labels = [
            ("s1", "good", "malignant"),
            ("s2", "good", "benign"),
            ("s3", "good", "benign"),
            ("s4", "good", "malignant"),
            ("s1", "bad", "benign"),
            ("s2", "bad", "malignant"),
            ("s3", "bad", "benign"),
            ("s4", "bad", "malignant"),
        ];
        let consensus: HashMap<&str, &str> = [
            ("s1", "malignant"),
            ("s2", "benign"),
            ("s3", "benign"),
            ("s4", "malignant"),
        ]
        .into();
        let truth: HashMap<&str, &str> =
            [("s1", "malignant"), ("s2", "benign"), ("s3", "benign")].into();
        let result = assess(&labels, &consensus, &truth, &thresholds());
        assert_eq!(result[0].annotator_id, "good");
        assert_eq!(result[0].kappa, Some(1.0));
        assert_eq!(
            (result[0].sensitivity, result[0].specificity),
            (Some(1.0), Some(1.0))
        );
        assert!(result[0].reasons.is_empty());
        let bad = &result[1];
        assert_eq!(bad.agreement, 0.5);
        // pairs (b,m) (m,b) (b,b) (m,m): observed 0.5, chance 0.5 → kappa 0
        assert_eq!(bad.kappa, Some(0.0));
        assert_eq!((bad.sensitivity, bad.specificity), (Some(0.0), Some(0.5)));
        assert_eq!(
            bad.reasons,
            vec![
                "kappa 0.00 < 0.60",
                "sensitivity 0.00 < 0.85",
                "specificity 0.50 < 0.85"
            ]
        );
    }

    #[test]
    fn too_few_annotations_give_no_flag() {
        let consensus: HashMap<&str, &str> = [("s1", "malignant")].into();
        let result = assess(
            &[("s1", "new", "benign")],
            &consensus,
            &HashMap::new(),
            &thresholds(),
        );
        assert!(result[0].reasons.is_empty());
        assert_eq!(result[0].sensitivity, None);
    }

    fn run_with(truth: Batch) -> TestRun {
        let annotations = Batch::builder()
            .text("study_id", ["s1", "s2", "s1", "s2"])
            .text("annotator_id", ["a", "a", "b", "b"])
            .text("label", ["malignant", "benign", "malignant", "malignant"])
            .build()
            .unwrap();
        let consensus = Batch::builder()
            .text("study_id", ["s1", "s2"])
            .text("label", ["malignant", "benign"])
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
    fn run_writes_ranked_annotators_and_checks_pass_on_matching_truth() {
        let truth = Batch::builder()
            .text("study_id", ["s1", "s2"])
            .text("diagnosis", ["malignant", "benign"])
            .build()
            .unwrap();
        let mut test = run_with(truth);
        let out = test.output("annotators").unwrap();
        assert_eq!(out.text("annotator_id").unwrap().get(0), Some("a"));
        assert_eq!(out.i64("rank").unwrap().values(), &[1, 2]);
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
}
