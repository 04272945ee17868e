//! `annotator-quality`: how well each annotator labels, with the uncertainty of every figure.
//!
//! For every annotator, over the studies they labeled (their latest label each, as
//! `labeled-studies/counted` gives them):
//!
//! - `agreement` and Cohen's `kappa` against a **leave-one-out** consensus: the majority of the
//!   *other* annotators of each study (a study whose other annotators tie, or that nobody else
//!   labeled, is not compared), so an annotator's own vote never props up their score;
//! - `sensitivity` and `specificity` for `positive_label` against the biopsy ground truth;
//! - a confidence interval for each (asymptotic for kappa, Wilson for the proportions) at
//!   `confidence`.
//!
//! An annotator with at least `min_annotations` studies is flagged only when an interval lies
//! wholly below its `min_*` threshold: too few studies give wide intervals, not flags. The
//! `panel` output holds Fleiss' kappa over every study with two or more annotators. A check in
//! code ([`checks`]) quarantines a run whose ground truth mostly names unknown studies or labels.

use std::collections::{BTreeMap, HashMap, HashSet};

use imaging_ml::agreement::{Interval, cohen_kappa, fleiss_kappa, wilson, z_for};
use tessera_sdk::{Check, Context, Result};

tessera_sdk::ports!(upstream = ["../../labeled-studies/product.toml"]);

/// The thresholds and confidence from `[parameters]`.
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
    /// Two-sided confidence of the intervals, e.g. 0.95.
    pub confidence: f64,
}

impl Thresholds {
    fn read(ctx: &mut Context) -> Result<Thresholds> {
        Ok(Thresholds {
            min_kappa: ctx.parameter_f64("min_kappa")?,
            min_sensitivity: ctx.parameter_f64("min_sensitivity")?,
            min_specificity: ctx.parameter_f64("min_specificity")?,
            min_annotations: ctx.parameter_i64("min_annotations")?,
            positive: ctx.parameter_text("positive_label")?,
            confidence: ctx.parameter_f64("confidence")?,
        })
    }
}

/// The label the other annotators of a study agree on: the majority of their labels, `None`
/// when they tie or there are none.
fn majority<'a>(labels: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for label in labels {
        *votes.entry(label).or_default() += 1;
    }
    let top = votes.values().copied().max()?;
    let mut leaders = votes.into_iter().filter(|(_, n)| *n == top);
    match (leaders.next(), leaders.next()) {
        (Some((label, _)), None) => Some(label),
        _ => None,
    }
}

/// Figures for every annotator, best kappa first (then by id). `labels` are (study, annotator,
/// label), one per study and annotator; `truth` maps a study to its diagnosis.
pub fn assess(
    labels: &[(&str, &str, &str)],
    truth: &HashMap<&str, &str>,
    t: &Thresholds,
) -> Vec<ports::annotators::Row> {
    let z = z_for(t.confidence);
    let mut by_study: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    let mut by_annotator: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for &(study, annotator, label) in labels {
        by_study.entry(study).or_default().push((annotator, label));
        by_annotator
            .entry(annotator)
            .or_default()
            .push((study, label));
    }
    let mut rows: Vec<ports::annotators::Row> = by_annotator
        .into_iter()
        .map(|(annotator, studies)| {
            let pairs: Vec<(&str, &str)> = studies
                .iter()
                .filter_map(|&(study, label)| {
                    let others = by_study.get(study)?.iter().filter(|(a, _)| *a != annotator);
                    Some((label, majority(others.map(|(_, l)| *l))?))
                })
                .collect();
            let agreeing = pairs.iter().filter(|(a, b)| a == b).count() as u64;
            let kappa = cohen_kappa(pairs.iter().copied(), z).map(|k| k.estimate);
            let judged: Vec<(bool, bool)> = studies
                .iter()
                .filter_map(|(study, label)| {
                    truth
                        .get(study)
                        .map(|d| (*label == t.positive, *d == t.positive))
                })
                .collect();
            let count = |predicted: bool, actual: bool| {
                judged.iter().filter(|&&j| j == (predicted, actual)).count() as u64
            };
            let positives = count(true, true) + count(false, true);
            let negatives = count(false, false) + count(true, false);
            let sensitivity = wilson(count(true, true), positives, z);
            let specificity = wilson(count(false, false), negatives, z);
            let mut row = ports::annotators::Row {
                annotator_id: annotator.to_string(),
                annotations: studies.len() as i64,
                compared: pairs.len() as i64,
                agreement: (!pairs.is_empty()).then(|| agreeing as f64 / pairs.len() as f64),
                kappa: kappa.map(|k| k.value),
                kappa_low: kappa.map(|k| k.low),
                kappa_high: kappa.map(|k| k.high),
                with_truth: judged.len() as i64,
                sensitivity: sensitivity.map(|s| s.value),
                sensitivity_low: sensitivity.map(|s| s.low),
                sensitivity_high: sensitivity.map(|s| s.high),
                specificity: specificity.map(|s| s.value),
                specificity_low: specificity.map(|s| s.low),
                specificity_high: specificity.map(|s| s.high),
                ..Default::default()
            };
            if row.annotations >= t.min_annotations {
                let percent = t.confidence * 100.0;
                let below = |name: &str, figure: Option<Interval>, min: f64| {
                    figure.filter(|f| f.high < min).map(|f| {
                        format!(
                            "{name} {:.2} ({percent:.0}% CI {:.2}–{:.2}) < {min:.2}",
                            f.value, f.low, f.high
                        )
                    })
                };
                let reasons: Vec<String> = [
                    below("kappa", kappa, t.min_kappa),
                    below("sensitivity", sensitivity, t.min_sensitivity),
                    below("specificity", specificity, t.min_specificity),
                ]
                .into_iter()
                .flatten()
                .collect();
                row.reasons = reasons.join("; ");
            }
            row
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |k: Option<f64>| k.unwrap_or(f64::NEG_INFINITY);
        key(b.kappa)
            .total_cmp(&key(a.kappa))
            .then_with(|| a.annotator_id.cmp(&b.annotator_id))
    });
    for (rank, row) in rows.iter_mut().enumerate() {
        row.rank = rank as i64 + 1;
        row.flagged = !row.reasons.is_empty();
    }
    rows
}

/// Fleiss' kappa of the panel over the studies that two or more annotators labeled.
pub fn panel(labels: &[(&str, &str, &str)]) -> ports::panel::Row {
    let categories: Vec<&str> = {
        let mut all: Vec<&str> = labels.iter().map(|(_, _, l)| *l).collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let mut by_study: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (study, _, label) in labels {
        let counts = by_study
            .entry(study)
            .or_insert_with(|| vec![0; categories.len()]);
        if let Some(count) = categories
            .binary_search(label)
            .ok()
            .and_then(|i| counts.get_mut(i))
        {
            *count += 1;
        }
    }
    let rated: Vec<Vec<u64>> = by_study
        .into_values()
        .filter(|c| c.iter().sum::<u64>() >= 2)
        .collect();
    let ratings: u64 = rated.iter().flatten().sum();
    ports::panel::Row {
        studies: rated.len() as i64,
        annotators: labels
            .iter()
            .map(|(_, a, _)| *a)
            .collect::<HashSet<_>>()
            .len() as i64,
        mean_annotators_per_study: (!rated.is_empty()).then(|| ratings as f64 / rated.len() as f64),
        fleiss_kappa: fleiss_kappa(&rated),
    }
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let t = Thresholds::read(ctx)?;
    let annotations = ports::annotations::read_all(ctx)?;
    let truth_batch = ports::ground_truth::read_all(ctx)?;
    let labels: Vec<(&str, &str, &str)> = ports::annotations::rows(&annotations)?
        .into_iter()
        .map(|r| (r.study_id, r.annotator_id, r.label))
        .collect();
    let truth: HashMap<&str, &str> = ports::ground_truth::rows(&truth_batch)?
        .into_iter()
        .map(|r| (r.study_id, r.diagnosis))
        .collect();
    let result = assess(&labels, &truth, &t);
    let panel = panel(&labels);
    let flagged = result.iter().filter(|q| q.flagged).count();
    tessera_sdk::info!(
        "{} annotators, {flagged} flagged; Fleiss' kappa {:?} over {} studies",
        result.len(),
        panel.fleiss_kappa,
        panel.studies
    );
    ctx.gauge("annotators_flagged", flagged as f64);
    if let Some(worst) = result.iter().filter_map(|q| q.kappa).reduce(f64::min) {
        ctx.gauge("lowest_kappa", worst);
    }
    if let Some(kappa) = panel.fleiss_kappa {
        ctx.gauge("fleiss_kappa", kappa);
    }
    ports::annotators::write(ctx, result)?;
    ports::panel::write(ctx, [panel])
}

/// The share of ground-truth rows that name a study with a consensus and a known label.
pub fn truth_match(truth: &[(&str, &str)], studies: &HashSet<&str>, known: &[&str]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let matching = truth
        .iter()
        .filter(|(s, d)| studies.contains(s) && known.contains(d))
        .count();
    matching as f64 / truth.len() as f64
}

/// The checks that need code: ground truth must describe these studies.
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let min_match = ctx.parameter_f64("min_truth_match")?;
    let positive = ctx.parameter_text("positive_label")?;
    let consensus = ports::consensus::read_all(ctx)?;
    let consensus = ports::consensus::rows(&consensus)?;
    let truth = ports::ground_truth::read_all(ctx)?;
    let truth: Vec<(&str, &str)> = ports::ground_truth::rows(&truth)?
        .into_iter()
        .map(|r| (r.study_id, r.diagnosis))
        .collect();
    let studies: HashSet<&str> = consensus.iter().map(|r| r.study_id).collect();
    let mut known: Vec<&str> = consensus.iter().map(|r| r.label).collect();
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
mod tests;
