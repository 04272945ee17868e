//! `labeled-studies`: the consensus label of every annotated study.
//!
//! Every raw annotation is first validated ([`validate`]): a label outside the `labels`
//! parameter, an exact repeat of an earlier annotation (same study, annotator and time), a
//! confidence outside 0..1 or a time after the run started sends the row to `rejected` with
//! its reason. Of the rest, each annotator's latest annotation of a study counts once. The consensus label is the one
//! most annotators gave; ties go to the label with the larger summed confidence (a missing
//! confidence counts as 0), then to the alphabetically first; a tie is flagged (`tie`) and the
//! study listed in `adjudication` for a person to decide, never broken silently. `agreement` is
//! the share of the study's annotators who gave the consensus label. Beside the majority, a
//! Dawid–Skene estimate ([`dawid_skene`]) weighs each annotator by their estimated confusion
//! matrix and gives each study's label a posterior probability.
//!
//! Besides the declarative checks in `product.toml`, three checks in code run on every run's
//! outputs before they publish ([`checks`]): a consensus of `critical_label` should rest on at
//! least two annotators (a warning), `label_counts` must add up to the rows of `consensus` (an
//! error), and
//! at most `max_rejected_share` of the annotations may be rejected (an error: a feed that is
//! mostly bad data blocks publication instead of silently shrinking the consensus).

use std::collections::{BTreeMap, HashSet};

use tessera_sdk::relational::{Agg, GroupBy, SortKey};
use tessera_sdk::{Batch, Check, Context, Error, Result};

pub mod dawid_skene;

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
    /// The labels that tied for the most votes (empty when one label led).
    pub tied: Vec<String>,
}

/// Why an annotation was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The label is not one of the `labels` parameter.
    UnknownLabel,
    /// Same study, annotator and time as an earlier row.
    Duplicate,
    /// Confidence below 0 or above 1 (or not a number).
    ConfidenceOutOfRange,
    /// Annotated after the run started.
    FutureTimestamp,
}

impl Reason {
    /// The reason as written in `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownLabel => "unknown-label",
            Reason::Duplicate => "duplicate",
            Reason::ConfidenceOutOfRange => "confidence-out-of-range",
            Reason::FutureTimestamp => "future-timestamp",
        }
    }
}

/// The outcome of validating the raw annotations.
#[derive(Debug, Default, PartialEq)]
pub struct Validated<'a> {
    /// Rows that passed, in input order.
    pub accepted: Vec<Annotation<'a>>,
    /// Rows that did not, in input order, with the first problem found and its details.
    pub rejected: Vec<(Annotation<'a>, Reason, String)>,
}

/// Sorts raw annotations into accepted and rejected. `labels` are the known labels; `now` is
/// the run's start (µs). A row with several problems is rejected for the first in [`Reason`]
/// order.
pub fn validate<'a>(
    rows: impl IntoIterator<Item = Annotation<'a>>,
    labels: &[&str],
    now: i64,
) -> Validated<'a> {
    let mut seen: HashSet<(&str, &str, i64)> = HashSet::new();
    let mut out = Validated::default();
    for a in rows {
        let first = seen.insert((a.study_id, a.annotator_id, a.annotated_at));
        let problem = if !labels.contains(&a.label) {
            Some((
                Reason::UnknownLabel,
                format!("label {:?} is not one of {}", a.label, labels.join(", ")),
            ))
        } else if !first {
            Some((
                Reason::Duplicate,
                format!(
                    "{} already labeled {} at this time",
                    a.annotator_id, a.study_id
                ),
            ))
        } else if a.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            Some((
                Reason::ConfidenceOutOfRange,
                format!(
                    "confidence {} is outside 0..1",
                    a.confidence.unwrap_or_default()
                ),
            ))
        } else if a.annotated_at > now {
            Some((
                Reason::FutureTimestamp,
                format!(
                    "annotated {} s after the run started",
                    (a.annotated_at - now) / 1_000_000
                ),
            ))
        } else {
            None
        };
        match problem {
            Some((reason, detail)) => out.rejected.push((a, reason, detail)),
            None => out.accepted.push(a),
        }
    }
    out
}

/// Each annotator's latest annotation of each study, in study then annotator order.
pub fn latest<'a>(annotations: impl IntoIterator<Item = Annotation<'a>>) -> Vec<Annotation<'a>> {
    let mut latest: BTreeMap<(&str, &str), Annotation<'a>> = BTreeMap::new();
    for a in annotations {
        match latest.get(&(a.study_id, a.annotator_id)) {
            Some(previous) if previous.annotated_at >= a.annotated_at => {}
            _ => {
                latest.insert((a.study_id, a.annotator_id), a);
            }
        }
    }
    latest.into_values().collect()
}

/// Consensus per study, in study order.
pub fn consensus<'a>(annotations: impl IntoIterator<Item = Annotation<'a>>) -> Vec<Consensus> {
    // study → annotator → latest annotation
    let mut by_study: BTreeMap<&str, BTreeMap<&str, Annotation<'a>>> = BTreeMap::new();
    for a in latest(annotations) {
        by_study
            .entry(a.study_id)
            .or_default()
            .insert(a.annotator_id, a);
    }
    by_study
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
            let leaders: Vec<String> = votes
                .iter()
                .filter(|(_, v)| v.0 == count)
                .map(|(l, _)| l.to_string())
                .collect();
            Consensus {
                study_id: study.to_string(),
                label: label.to_string(),
                agreement: count as f64 / annotators as f64,
                annotators: annotators as i64,
                tied: if leaders.len() > 1 {
                    leaders
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

/// Number of studies per consensus label (`label`, `studies`), in label order, from the
/// `consensus` port's batch.
pub fn label_counts(consensus: &Batch) -> Result<Batch> {
    let mut by = GroupBy::new(&["label"], [Agg::count_rows().named("studies")]);
    by.add(consensus)?;
    by.finish()?.sort_by(&[SortKey::asc("label")])
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let labels = ctx.parameter_text("labels")?;
    let labels: Vec<&str> = labels.split(',').map(str::trim).collect();
    let critical = ctx.parameter_text("critical_label")?;
    if !labels.contains(&critical.as_str()) {
        return Err(Error::invalid(format!(
            "parameter `critical_label` is {critical:?}, which is not one of `labels` ({})",
            labels.join(", ")
        )));
    }
    let input = ctx.input("annotations")?.read_all()?;
    let (studies, annotators, label) = (
        input.text("study_id")?,
        input.text("annotator_id")?,
        input.text("label")?,
    );
    let (confidence, at) = (input.f64("confidence")?, input.timestamp("annotated_at")?);
    let rows = (0..input.num_rows()).map(|i| Annotation {
        study_id: studies.get(i).unwrap_or_default(),
        annotator_id: annotators.get(i).unwrap_or_default(),
        label: label.get(i).unwrap_or_default(),
        confidence: confidence.get(i),
        annotated_at: at.get(i).unwrap_or_default(),
    });
    let validated = validate(rows, &labels, ctx.info().started_at);
    let counted = latest(validated.accepted.iter().cloned());
    let result = consensus(counted.iter().cloned());
    tessera_sdk::info!(
        "{} annotations: {} rejected, {} counted → {} studies",
        input.num_rows(),
        validated.rejected.len(),
        counted.len(),
        result.len()
    );

    let unanimous = result.iter().filter(|c| c.agreement >= 1.0).count();
    if !result.is_empty() {
        ctx.gauge("unanimous_share", unanimous as f64 / result.len() as f64);
    }
    ctx.gauge("rejected", validated.rejected.len() as f64);
    let answers: Vec<(&str, &str, &str)> = counted
        .iter()
        .map(|a| (a.study_id, a.annotator_id, a.label))
        .collect();
    let (estimates, rounds) = dawid_skene::estimate(&answers, &labels);
    let estimate = |study: &str| {
        estimates
            .get(study)
            .map_or(("", 0.0), |e| (e.label.as_str(), e.probability))
    };
    let ties: Vec<&Consensus> = result.iter().filter(|c| !c.tied.is_empty()).collect();
    let disagree = result
        .iter()
        .filter(|c| estimate(&c.study_id).0 != c.label)
        .count();
    tessera_sdk::info!(
        "Dawid-Skene converged in {rounds} rounds; it differs from the majority on {disagree} studies; {} ties for adjudication",
        ties.len()
    );
    ctx.gauge("ties", ties.len() as f64);
    ctx.gauge("dawid_skene_disagreements", disagree as f64);
    let consensus = Batch::builder()
        .text("study_id", result.iter().map(|c| c.study_id.as_str()))
        .text("label", result.iter().map(|c| c.label.as_str()))
        .f64("agreement", result.iter().map(|c| c.agreement))
        .i64("annotators", result.iter().map(|c| c.annotators))
        .boolean("tie", result.iter().map(|c| !c.tied.is_empty()))
        .text("ds_label", result.iter().map(|c| estimate(&c.study_id).0))
        .f64(
            "ds_posterior",
            result.iter().map(|c| estimate(&c.study_id).1),
        )
        .build()?;
    let counts = label_counts(&consensus)?;
    ctx.output("consensus")?.write(consensus)?;
    ctx.output("adjudication")?.write(
        Batch::builder()
            .text("study_id", ties.iter().map(|c| c.study_id.as_str()))
            .text("tied_labels", ties.iter().map(|c| c.tied.join(",")))
            .i64("annotators", ties.iter().map(|c| c.annotators))
            .text("majority_label", ties.iter().map(|c| c.label.as_str()))
            .text("ds_label", ties.iter().map(|c| estimate(&c.study_id).0))
            .f64("ds_posterior", ties.iter().map(|c| estimate(&c.study_id).1))
            .build()?,
    )?;
    ctx.output("label_counts")?.write(counts)?;
    ctx.output("counted")?.write(annotation_batch(&counted)?)?;
    let rejected = &validated.rejected;
    ctx.output("rejected")?.write(
        Batch::builder()
            .text("study_id", rejected.iter().map(|r| r.0.study_id))
            .text("annotator_id", rejected.iter().map(|r| r.0.annotator_id))
            .text("label", rejected.iter().map(|r| r.0.label))
            .f64_opt("confidence", rejected.iter().map(|r| r.0.confidence))
            .timestamp("annotated_at", rejected.iter().map(|r| r.0.annotated_at))
            .text("reason", rejected.iter().map(|r| r.1.as_str()))
            .text("detail", rejected.iter().map(|r| r.2.as_str()))
            .build()?,
    )
}

fn annotation_batch(rows: &[Annotation<'_>]) -> Result<Batch> {
    Batch::builder()
        .text("study_id", rows.iter().map(|a| a.study_id))
        .text("annotator_id", rows.iter().map(|a| a.annotator_id))
        .text("label", rows.iter().map(|a| a.label))
        .f64_opt("confidence", rows.iter().map(|a| a.confidence))
        .timestamp("annotated_at", rows.iter().map(|a| a.annotated_at))
        .build()
}

/// The checks that need code, on what `run` staged.
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let critical = ctx.parameter_text("critical_label")?;
    let consensus = ctx.input("consensus")?.read_all()?;
    let (labels, annotators) = (consensus.text("label")?, consensus.i64("annotators")?);
    let thin = (0..consensus.num_rows())
        .filter(|&row| labels.get(row) == Some(critical.as_str()) && annotators.get(row) < Some(2));
    let critical = Check::new("consensus", "critical-label-needs-two-annotators")
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
    let max_share = ctx.parameter_f64("max_rejected_share")?;
    let rejected = ctx.input("rejected")?.read_all()?.num_rows();
    // Against every raw row the run read (the input, at the version the run read).
    let total = ctx
        .input_columns("annotations", &["study_id"])?
        .read_all()?
        .num_rows();
    let share = if total == 0 {
        0.0
    } else {
        rejected as f64 / total as f64
    };
    let rejected_share = Check::new("rejected", "rejected-share-within-limit")
        .passed(share <= max_share)
        .message(format!(
            "{rejected} annotations rejected ({:.1}% of {total}; the limit is {:.1}%)",
            share * 100.0,
            max_share * 100.0
        ));
    Ok(vec![critical, add_up, rejected_share])
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
}
