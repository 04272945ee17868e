//! Comparing two models on the same labeled samples with the confidence a release decision
//! needs, and how well a model's scores are calibrated:
//!
//! - [`delong`]: DeLong, DeLong and Clarke-Pearson (1988)'s test for the difference of two
//!   correlated AUCs, with the structural components computed from midranks (Sun and Xu,
//!   2014), its standard error, confidence interval and two-sided p-value;
//! - [`brier`]: the Brier score, the mean squared gap between score and outcome;
//! - [`expected_calibration_error`]: the gap between mean score and observed rate over
//!   equal-width score bins, weighted by the bins' sizes.

use crate::agreement::{Interval, normal_cdf, z_for};

/// The paired comparison of model `a` against model `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AucDifference {
    /// AUC of `a`.
    pub auc_a: f64,
    /// AUC of `b`.
    pub auc_b: f64,
    /// `auc_a − auc_b`, and its interval at the asked confidence.
    pub difference: Interval,
    /// Standard error of the difference.
    pub std_error: f64,
    /// Two-sided p-value of "no difference".
    pub p_value: f64,
}

/// Midranks (1-based, ties share their mean rank) of `values`.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Structural components of one model: per positive, the share of negatives it outscores
/// (ties half); per negative, the share of positives that outscore it.
fn components(positives: &[f64], negatives: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (m, n) = (positives.len(), negatives.len());
    let all: Vec<f64> = positives.iter().chain(negatives).copied().collect();
    let combined = midranks(&all);
    let within_positives = midranks(positives);
    let within_negatives = midranks(negatives);
    let v10 = (0..m)
        .map(|i| (combined[i] - within_positives[i]) / n as f64)
        .collect();
    let v01 = (0..n)
        .map(|j| 1.0 - (combined[m + j] - within_negatives[j]) / m as f64)
        .collect();
    (v10, v01)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn covariance(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (a.len() as f64 - 1.0)
}

/// DeLong's test of `a`'s AUC against `b`'s on the same samples (`labels[i]` is sample `i`'s
/// outcome, true = positive), with the interval at `confidence`. `None` with fewer than two
/// positives or two negatives.
pub fn delong(a: &[f64], b: &[f64], labels: &[bool], confidence: f64) -> Option<AucDifference> {
    let split = |scores: &[f64]| -> (Vec<f64>, Vec<f64>) {
        let positives = scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| **l)
            .map(|(s, _)| *s)
            .collect();
        let negatives = scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| !**l)
            .map(|(s, _)| *s)
            .collect();
        (positives, negatives)
    };
    let (pa, na) = split(a);
    let (pb, nb) = split(b);
    let (m, n) = (pa.len(), na.len());
    if m < 2 || n < 2 || a.len() != labels.len() || b.len() != labels.len() {
        return None;
    }
    let (v10a, v01a) = components(&pa, &na);
    let (v10b, v01b) = components(&pb, &nb);
    let (auc_a, auc_b) = (mean(&v10a), mean(&v10b));
    let variance = (covariance(&v10a, &v10a) + covariance(&v10b, &v10b)
        - 2.0 * covariance(&v10a, &v10b))
        / m as f64
        + (covariance(&v01a, &v01a) + covariance(&v01b, &v01b) - 2.0 * covariance(&v01a, &v01b))
            / n as f64;
    let std_error = variance.max(0.0).sqrt();
    let difference = auc_a - auc_b;
    let z = z_for(confidence);
    let p_value = if std_error > 0.0 {
        2.0 * (1.0 - normal_cdf((difference / std_error).abs()))
    } else if difference == 0.0 {
        1.0
    } else {
        0.0
    };
    Some(AucDifference {
        auc_a,
        auc_b,
        difference: Interval {
            value: difference,
            low: difference - z * std_error,
            high: difference + z * std_error,
        },
        std_error,
        p_value: p_value.clamp(0.0, 1.0),
    })
}

/// The Brier score of `scores` (probabilities of the positive class) against `labels`.
pub fn brier(scores: &[f64], labels: &[bool]) -> Option<f64> {
    (!scores.is_empty() && scores.len() == labels.len()).then(|| {
        scores
            .iter()
            .zip(labels)
            .map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2))
            .sum::<f64>()
            / scores.len() as f64
    })
}

/// Expected calibration error over `bins` equal-width bins of the score (a score of 1 falls in
/// the last): Σ (bin size / samples) · |observed positive rate − mean score|.
pub fn expected_calibration_error(scores: &[f64], labels: &[bool], bins: usize) -> Option<f64> {
    if scores.is_empty() || scores.len() != labels.len() || bins == 0 {
        return None;
    }
    let mut totals = vec![(0usize, 0.0f64, 0.0f64); bins];
    for (p, y) in scores.iter().zip(labels) {
        let bin = ((p.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        if let Some(t) = totals.get_mut(bin) {
            t.0 += 1;
            t.1 += p;
            t.2 += f64::from(u8::from(*y));
        }
    }
    let n = scores.len() as f64;
    Some(
        totals
            .iter()
            .filter(|t| t.0 > 0)
            .map(|(count, p, y)| (*count as f64 / n) * ((y - p) / *count as f64).abs())
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_models_do_not_differ() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.7, 0.2];
        let labels = [false, false, true, true, true, false];
        let d = delong(&scores, &scores, &labels, 0.95).unwrap();
        assert_eq!(d.difference.value, 0.0);
        assert_eq!(d.p_value, 1.0);
        // AUC by counting pairs: positives 0.35, 0.8, 0.7 against 0.1, 0.4, 0.2: 8 of 9.
        assert!((d.auc_a - 8.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn calibration_of_perfect_and_overconfident_scores() {
        let labels = [true, false, true, false];
        assert_eq!(brier(&[1.0, 0.0, 1.0, 0.0], &labels), Some(0.0));
        assert_eq!(brier(&[0.0, 1.0, 0.0, 1.0], &labels), Some(1.0));
        // All at 0.9, half positive: one bin, |0.5 − 0.9| = 0.4.
        let ece = expected_calibration_error(&[0.9; 4], &labels, 10).unwrap();
        assert!((ece - 0.4).abs() < 1e-12);
    }
}
