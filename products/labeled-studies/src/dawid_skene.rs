//! Dawid and Skene (1979): the true label of each study and each annotator's confusion matrix,
//! estimated together by expectation–maximisation, so a reliable annotator counts for more
//! than an unreliable one and every study gets the posterior probability of its label.
//!
//! Start from the soft majority vote (each study's share of votes per label); then repeat:
//! class priors are the mean posteriors; each annotator's confusion matrix is the posterior
//! mass behind each label they gave, per true class, normalised per class over the labels
//! they used (entries floored at 1e-10); each study's posterior is proportional to the prior
//! times the product of its annotators' matrix entries for the labels they gave (in logs,
//! shifted before exponentiating). Stops when no posterior moves by more than 1e-12, or after
//! 1,000 rounds.

use std::collections::BTreeMap;

/// Floor of a confusion-matrix entry and of a prior, so a log is always finite.
const FLOOR: f64 = 1e-10;
/// The largest change of any posterior at which the iteration stops.
const TOLERANCE: f64 = 1e-12;
/// Rounds at most.
const MAX_ROUNDS: usize = 1_000;

/// The estimate for one study.
#[derive(Debug, Clone, PartialEq)]
pub struct Posterior {
    /// The most probable label (ties to the first in label order).
    pub label: String,
    /// Its posterior probability.
    pub probability: f64,
}

/// Posteriors per study (in study order) from `answers` (study, annotator, label), over
/// `labels` (the label set; answers with other labels are ignored). Also the rounds run.
pub fn estimate(
    answers: &[(&str, &str, &str)],
    labels: &[&str],
) -> (BTreeMap<String, Posterior>, usize) {
    let k = labels.len();
    let mut studies: BTreeMap<&str, usize> = BTreeMap::new();
    let mut annotators: BTreeMap<&str, usize> = BTreeMap::new();
    let mut coded: Vec<(usize, usize, usize)> = Vec::new();
    for (study, annotator, label) in answers {
        let Some(l) = labels.iter().position(|x| x == label) else {
            continue;
        };
        let next = studies.len();
        let s = *studies.entry(study).or_insert(next);
        let next = annotators.len();
        let a = *annotators.entry(annotator).or_insert(next);
        coded.push((s, a, l));
    }
    let (n, m) = (studies.len(), annotators.len());
    if n == 0 || k == 0 {
        return (BTreeMap::new(), 0);
    }
    // Soft majority vote.
    let mut posterior = vec![vec![0.0; k]; n];
    for &(s, _, l) in &coded {
        posterior[s][l] += 1.0;
    }
    for row in &mut posterior {
        let total: f64 = row.iter().sum();
        row.iter_mut().for_each(|p| *p /= total);
    }
    let mut rounds = 0;
    while rounds < MAX_ROUNDS {
        rounds += 1;
        let priors: Vec<f64> = (0..k)
            .map(|c| (posterior.iter().map(|row| row[c]).sum::<f64>() / n as f64).max(FLOOR))
            .collect();
        // errors[a][given label][true class], for the labels each annotator used.
        let mut errors = vec![vec![vec![0.0; k]; k]; m];
        let mut used = vec![vec![false; k]; m];
        for &(s, a, l) in &coded {
            used[a][l] = true;
            for c in 0..k {
                errors[a][l][c] += posterior[s][c];
            }
        }
        for (matrix, used) in errors.iter_mut().zip(&used) {
            for (row, _) in matrix.iter_mut().zip(used).filter(|(_, used)| **used) {
                row.iter_mut().for_each(|e| *e = e.max(FLOOR));
            }
            // Per true class, the labels this annotator used sum to one.
            let totals: Vec<f64> = (0..k)
                .map(|c| {
                    matrix
                        .iter()
                        .zip(used)
                        .filter(|(_, used)| **used)
                        .map(|(row, _)| row[c])
                        .sum()
                })
                .collect();
            for (row, _) in matrix.iter_mut().zip(used).filter(|(_, used)| **used) {
                row.iter_mut().zip(&totals).for_each(|(e, t)| *e /= t);
            }
        }
        let mut log = vec![priors.iter().map(|p| p.log2()).collect::<Vec<f64>>(); n];
        for &(s, a, l) in &coded {
            for c in 0..k {
                log[s][c] += errors[a][l][c].log2();
            }
        }
        let mut change: f64 = 0.0;
        for (s, row) in log.iter().enumerate() {
            let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let scaled: Vec<f64> = row.iter().map(|x| (x - top).exp2()).collect();
            let total: f64 = scaled.iter().sum();
            for c in 0..k {
                let p = scaled[c] / total;
                change = change.max((p - posterior[s][c]).abs());
                posterior[s][c] = p;
            }
        }
        if change <= TOLERANCE {
            break;
        }
    }
    let estimates = studies
        .iter()
        .map(|(study, &s)| {
            let (best, probability) =
                posterior[s]
                    .iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (c, &p)| {
                        if p > best.1 { (c, p) } else { best }
                    });
            (
                study.to_string(),
                Posterior {
                    label: labels[best].to_string(),
                    probability,
                },
            )
        })
        .collect();
    (estimates, rounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reliable_annotator_outweighs_two_who_guess() {
        // `expert` always agrees with the truth on the 12 anchor studies where `a` and `b` do
        // too; on the 12 others `a` and `b` give opposite, coin-flip answers. On the contested
        // study, `expert` says malignant against `a` and `b`'s benign: the majority says
        // benign, Dawid–Skene trusts the expert.
        let mut answers: Vec<(String, String, String)> = Vec::new();
        for i in 0..12 {
            let truth = if i % 2 == 0 { "benign" } else { "malignant" };
            for who in ["expert", "a", "b"] {
                answers.push((format!("anchor-{i}"), who.into(), truth.into()));
            }
        }
        for i in 0..12 {
            let truth = if i % 2 == 0 { "benign" } else { "malignant" };
            let flip = if truth == "benign" {
                "malignant"
            } else {
                "benign"
            };
            answers.push((format!("noisy-{i}"), "expert".into(), truth.into()));
            answers.push((
                format!("noisy-{i}"),
                "a".into(),
                if i % 4 < 2 { truth } else { flip }.into(),
            ));
            answers.push((
                format!("noisy-{i}"),
                "b".into(),
                if i % 4 < 2 { flip } else { truth }.into(),
            ));
        }
        answers.push(("contested".into(), "expert".into(), "malignant".into()));
        answers.push(("contested".into(), "a".into(), "benign".into()));
        answers.push(("contested".into(), "b".into(), "benign".into()));
        let refs: Vec<(&str, &str, &str)> = answers
            .iter()
            .map(|(s, a, l)| (s.as_str(), a.as_str(), l.as_str()))
            .collect();
        let (estimates, rounds) = estimate(&refs, &["benign", "malignant"]);
        assert!(rounds > 1 && rounds < MAX_ROUNDS, "{rounds}");
        let contested = &estimates["contested"];
        assert_eq!(contested.label, "malignant");
        assert!(contested.probability > 0.5 && contested.probability < 1.0);
        // Unanimous studies are near certain.
        assert!(estimates["anchor-0"].probability > 0.99);
    }

    #[test]
    fn nothing_to_estimate_gives_nothing() {
        assert!(estimate(&[], &["benign"]).0.is_empty());
        assert!(estimate(&[("s", "a", "cat")], &["benign"]).0.is_empty());
    }
}
