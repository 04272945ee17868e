//! Evaluation metrics for binary classifiers and for agreement between raters.

use std::collections::BTreeMap;

/// Area under the ROC curve of `scores` for `labels` (true = positive), by the rank-sum
/// (Mann–Whitney) formula with ties counted half. `None` without both classes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = order.iter().filter(|&&i| labels[i]).count();
    let negatives = order.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        rank_sum += average_rank * order[start..end].iter().filter(|&&i| labels[i]).count() as f64;
        start = end;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Counts of a binary confusion matrix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    /// Predicted positive, is positive.
    pub true_positive: u64,
    /// Predicted positive, is negative.
    pub false_positive: u64,
    /// Predicted negative, is negative.
    pub true_negative: u64,
    /// Predicted negative, is positive.
    pub false_negative: u64,
}

impl Confusion {
    /// The confusion of `predicted` against `actual`.
    pub fn of(predicted: &[bool], actual: &[bool]) -> Confusion {
        let mut c = Confusion::default();
        for (&p, &a) in predicted.iter().zip(actual) {
            match (p, a) {
                (true, true) => c.true_positive += 1,
                (true, false) => c.false_positive += 1,
                (false, false) => c.true_negative += 1,
                (false, true) => c.false_negative += 1,
            }
        }
        c
    }

    fn total(&self) -> u64 {
        self.true_positive + self.false_positive + self.true_negative + self.false_negative
    }

    /// Share of correct predictions.
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.true_positive + self.true_negative, self.total())
    }

    /// Share of positives found (recall).
    pub fn sensitivity(&self) -> Option<f64> {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }

    /// Share of negatives called negative.
    pub fn specificity(&self) -> Option<f64> {
        ratio(self.true_negative, self.true_negative + self.false_positive)
    }

    /// Share of positive calls that are right.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }

    /// Harmonic mean of precision and sensitivity.
    pub fn f1(&self) -> Option<f64> {
        ratio(
            2 * self.true_positive,
            2 * self.true_positive + self.false_positive + self.false_negative,
        )
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Cohen's kappa between two raters' labels of the same items: observed agreement corrected
/// for the agreement their label frequencies would give by chance. `None` for no items; 1.0
/// when both always give the same single label.
pub fn cohen_kappa<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<f64> {
    let mut n = 0u64;
    let mut agree = 0u64;
    let mut first: BTreeMap<&str, u64> = BTreeMap::new();
    let mut second: BTreeMap<&str, u64> = BTreeMap::new();
    for (a, b) in pairs {
        n += 1;
        agree += u64::from(a == b);
        *first.entry(a).or_default() += 1;
        *second.entry(b).or_default() += 1;
    }
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let observed = agree as f64 / n;
    let chance: f64 = first
        .iter()
        .map(|(label, &count)| count as f64 / n * *second.get(label).unwrap_or(&0) as f64 / n)
        .sum();
    if chance >= 1.0 {
        return Some(1.0);
    }
    Some((observed - chance) / (1.0 - chance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ordered_pairs_and_half_ties() {
        // positives 0.8, 0.4; negatives 0.5, 0.1: pairs (0.8>0.5, 0.8>0.1, 0.4<0.5, 0.4>0.1) = 3/4
        assert_eq!(
            auc(&[0.8, 0.5, 0.4, 0.1], &[true, false, true, false]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn confusion_rates() {
        let c = Confusion::of(
            &[true, true, false, false, true],
            &[true, false, false, true, true],
        );
        assert_eq!(
            (
                c.true_positive,
                c.false_positive,
                c.true_negative,
                c.false_negative
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(c.accuracy(), Some(0.6));
        assert_eq!(c.sensitivity(), Some(2.0 / 3.0));
        assert_eq!(c.specificity(), Some(0.5));
        assert_eq!(c.f1(), Some(4.0 / 6.0));
    }

    #[test]
    fn kappa_matches_the_textbook_example() {
        // Wikipedia's example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → κ = 0.4
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n(("yes", "yes"), 20));
        pairs.extend(std::iter::repeat_n(("yes", "no"), 5));
        pairs.extend(std::iter::repeat_n(("no", "yes"), 10));
        pairs.extend(std::iter::repeat_n(("no", "no"), 15));
        let kappa = cohen_kappa(pairs).unwrap_or_default();
        assert!((kappa - 0.4).abs() < 1e-12, "{kappa}");
        assert_eq!(cohen_kappa([("a", "a"), ("a", "a")]), Some(1.0));
        assert_eq!(cohen_kappa(std::iter::empty()), None);
    }
}
