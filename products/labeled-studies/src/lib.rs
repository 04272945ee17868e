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

tessera_sdk::ports!();

/// One annotation as read from the input (and written to `counted`).
pub type Annotation<'a> = ports::annotations::Row<'a>;

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
    let input = ports::annotations::read_all(ctx)?;
    let rows = ports::annotations::rows(&input)?;
    let validated = validate(rows, &labels, ctx.info().started_at);
    let counted = latest(validated.accepted.iter().copied());
    let result = consensus(counted.iter().copied());
    let rejected = &validated.rejected;
    let (read, studies) = (input.num_rows(), result.len());
    tessera_sdk::info!(
        "{read} annotations: {} rejected, {} counted → {studies} studies",
        rejected.len(),
        counted.len(),
    );
    let unanimous = result.iter().filter(|c| c.agreement >= 1.0).count();
    if !result.is_empty() {
        ctx.gauge("unanimous_share", unanimous as f64 / result.len() as f64);
    }
    ctx.gauge("rejected", rejected.len() as f64);
    let answers: Vec<(&str, &str, &str)> = counted
        .iter()
        .map(|a| (a.study_id, a.annotator_id, a.label))
        .collect();
    let (estimates, rounds) = dawid_skene::estimate(&answers, &labels);
    let estimate = |study: &str| {
        let found = estimates.get(study);
        found.map_or((String::new(), 0.0), |e| (e.label.clone(), e.probability))
    };
    let consensus_rows = result.iter().map(|c| {
        let (ds_label, ds_posterior) = estimate(&c.study_id);
        ports::consensus::Row {
            study_id: c.study_id.clone(),
            label: c.label.clone(),
            agreement: c.agreement,
            annotators: c.annotators,
            tie: !c.tied.is_empty(),
            ds_label,
            ds_posterior,
        }
    });
    let consensus = ports::consensus::batch(consensus_rows)?;
    let ties: Vec<ports::adjudication::Row> = result
        .iter()
        .filter(|c| !c.tied.is_empty())
        .map(|c| {
            let (ds_label, ds_posterior) = estimate(&c.study_id);
            ports::adjudication::Row {
                study_id: c.study_id.clone(),
                tied_labels: c.tied.join(","),
                annotators: c.annotators,
                majority_label: c.label.clone(),
                ds_label,
                ds_posterior,
            }
        })
        .collect();
    let disagree = result.iter().filter(|c| estimate(&c.study_id).0 != c.label);
    let disagree = disagree.count();
    tessera_sdk::info!(
        "Dawid-Skene converged in {rounds} rounds; it differs from the majority on {disagree} studies; {} ties for adjudication",
        ties.len()
    );
    ctx.gauge("ties", ties.len() as f64);
    ctx.gauge("dawid_skene_disagreements", disagree as f64);
    let counts = label_counts(&consensus)?;
    ctx.output(ports::consensus::NAME)?.write(consensus)?;
    ports::adjudication::write(ctx, ties)?;
    ctx.output(ports::label_counts::NAME)?.write(counts)?;
    ctx.output(ports::counted::NAME)?
        .write(annotation_batch(&counted)?)?;
    let rejected = rejected
        .iter()
        .map(|(a, reason, detail)| ports::rejected::Row {
            study_id: Some(a.study_id.to_string()),
            annotator_id: Some(a.annotator_id.to_string()),
            label: Some(a.label.to_string()),
            confidence: a.confidence,
            annotated_at: Some(a.annotated_at),
            reason: reason.as_str().to_string(),
            detail: detail.clone(),
        });
    ports::rejected::write(ctx, rejected)
}

fn annotation_batch(rows: &[Annotation<'_>]) -> Result<Batch> {
    ports::counted::batch(rows.iter().map(|a| ports::counted::Row {
        study_id: a.study_id.to_string(),
        annotator_id: a.annotator_id.to_string(),
        label: a.label.to_string(),
        confidence: a.confidence,
        annotated_at: a.annotated_at,
    }))
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
mod tests;
