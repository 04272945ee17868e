//! `labeled-studies`: the consensus label of every annotated study.
//!
//! Each annotator's latest annotation of a study counts once. The consensus label is the one
//! most annotators gave; ties go to the label with the larger summed confidence (a missing
//! confidence counts as 0), then to the alphabetically first. `agreement` is the share of the
//! study's annotators who gave the consensus label.
//!
//! Besides the declarative checks in `product.toml`, two checks in code run on every run's
//! outputs before they publish ([`checks`]): a malignant consensus should rest on at least two
//! annotators (a warning), and `label_counts` must add up to the rows of `consensus` (an error).

use std::collections::BTreeMap;

use tessera_sdk::{Batch, Check, Context, Result};

/// One annotation as read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation<'a> {
    /// The study labeled.
    pub study_id: &'a str,
    /// Who labeled it.
    pub annotator_id: &'a str,
    /// The label given.
    pub label: &'a str,
    /// How sure the annotator was, 0..1, if recorded.
    pub confidence: Option<f64>,
    /// When, in µs since the epoch.
    pub annotated_at: i64,
}

/// The consensus of one study.
#[derive(Debug, Clone, PartialEq)]
pub struct Consensus {
    /// The study.
    pub study_id: String,
    /// The consensus label.
    pub label: String,
    /// Share of annotators who gave it.
    pub agreement: f64,
    /// Distinct annotators.
    pub annotators: i64,
}

/// Consensus per study, in study order.
pub fn consensus<'a>(annotations: impl IntoIterator<Item = Annotation<'a>>) -> Vec<Consensus> {
    // study → annotator → latest annotation
    let mut latest: BTreeMap<&str, BTreeMap<&str, Annotation<'a>>> = BTreeMap::new();
    for a in annotations {
        let slot = latest.entry(a.study_id).or_default();
        match slot.get(a.annotator_id) {
            Some(previous) if previous.annotated_at >= a.annotated_at => {}
            _ => {
                slot.insert(a.annotator_id, a);
            }
        }
    }
    latest
        .into_iter()
        .map(|(study, by_annotator)| {
            let mut votes: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
            for a in by_annotator.values() {
                let v = votes.entry(a.label).or_default();
                v.0 += 1;
                v.1 += a.confidence.unwrap_or(0.0);
            }
            // BTreeMap iterates labels alphabetically, so `max_by` keeping the first of equals
            // needs the reversed comparison on the label.
            let (label, (count, _)) = votes
                .iter()
                .max_by(|a, b| {
                    a.1.0
                        .cmp(&b.1.0)
                        .then(a.1.1.total_cmp(&b.1.1))
                        .then(b.0.cmp(a.0))
                })
                .map(|(l, v)| (*l, *v))
                .unwrap_or(("", (0, 0.0)));
            let annotators = by_annotator.len();
            Consensus {
                study_id: study.to_string(),
                label: label.to_string(),
                agreement: count as f64 / annotators as f64,
                annotators: annotators as i64,
            }
        })
        .collect()
}

/// Number of studies per consensus label, in label order.
pub fn label_counts(consensus: &[Consensus]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for c in consensus {
        *counts.entry(c.label.clone()).or_insert(0) += 1;
    }
    counts
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let input = ctx.input("annotations")?.read_all()?;
    let (studies, annotators, labels) = (
        input.text("study_id")?,
        input.text("annotator_id")?,
        input.text("label")?,
    );
    let (confidence, at) = (input.f64("confidence")?, input.timestamp("annotated_at")?);
    let annotations = (0..input.num_rows()).map(|i| Annotation {
        study_id: studies.get(i).unwrap_or_default(),
        annotator_id: annotators.get(i).unwrap_or_default(),
        label: labels.get(i).unwrap_or_default(),
        confidence: confidence.get(i),
        annotated_at: at.get(i).unwrap_or_default(),
    });
    let result = consensus(annotations);
    tessera_sdk::info!(
        "{} annotations → {} studies",
        input.num_rows(),
        result.len()
    );

    let unanimous = result.iter().filter(|c| c.agreement >= 1.0).count();
    if !result.is_empty() {
        ctx.gauge("unanimous_share", unanimous as f64 / result.len() as f64);
    }
    let counts = label_counts(&result);
    ctx.output("consensus")?.write(
        Batch::builder()
            .text("study_id", result.iter().map(|c| c.study_id.as_str()))
            .text("label", result.iter().map(|c| c.label.as_str()))
            .f64("agreement", result.iter().map(|c| c.agreement))
            .i64("annotators", result.iter().map(|c| c.annotators))
            .build()?,
    )?;
    ctx.output("label_counts")?.write(
        Batch::builder()
            .text("label", counts.keys())
            .i64("studies", counts.values().copied())
            .build()?,
    )
}

/// The checks that need code, on what `run` staged.
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let consensus = ctx.input("consensus")?.read_all()?;
    let (labels, annotators) = (consensus.text("label")?, consensus.i64("annotators")?);
    let thin = (0..consensus.num_rows())
        .filter(|&row| labels.get(row) == Some("malignant") && annotators.get(row) < Some(2));
    let malignant = Check::new("consensus", "malignant-needs-two-annotators")
        .warn()
        .rows(consensus.num_rows(), thin);

    let counts = ctx.input("label_counts")?.read_all()?;
    let counted: i64 = counts.i64("studies")?.iter().flatten().sum();
    let add_up = Check::new("label_counts", "counts-add-up-to-consensus")
        .passed(counted == consensus.num_rows() as i64)
        .message(format!(
            "label_counts counts {counted} studies; consensus has {} rows",
            consensus.num_rows()
        ));
    Ok(vec![malignant, add_up])
}

#[cfg(test)]
mod tests {
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
                annotators: 3
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
        let counts = label_counts(&c);
        assert_eq!(counts.get("benign"), Some(&2));
        assert_eq!(counts.get("normal"), Some(&1));
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
        let mut test = tessera_sdk::testing::TestRun::new().input("annotations", input);
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
    }

    #[test]
    fn counts_that_do_not_add_up_fail_the_check() {
        let mut test = tessera_sdk::testing::TestRun::new();
        test.run(|ctx| {
            ctx.output("consensus")?.write(
                Batch::builder()
                    .text("label", ["benign"])
                    .i64("annotators", [3])
                    .build()?,
            )?;
            ctx.output("label_counts")?
                .write(Batch::builder().i64("studies", [2]).build()?)
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
}
