//! Agreement between raters, with the uncertainty a clinician reads it by: Cohen's kappa with
//! its asymptotic standard error and confidence interval (Fleiss, Cohen and Everitt, 1969),
//! Fleiss' kappa for a panel that rates the same items, and Wilson score intervals for
//! proportions such as sensitivity.

use std::collections::BTreeMap;

/// A figure with a two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The point estimate.
    pub value: f64,
    /// Lower confidence limit.
    pub low: f64,
    /// Upper confidence limit.
    pub high: f64,
}

/// Cohen's kappa of paired labels with its asymptotic standard error and interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kappa {
    /// Kappa, and its interval at the asked confidence.
    pub estimate: Interval,
    /// Asymptotic standard error (not under the null: for intervals).
    pub std_error: f64,
    /// Items compared.
    pub items: u64,
}

/// The standard normal quantile for `confidence` (two-sided): 1.959964 for 0.95. Bisection
/// on the normal distribution function, to 1e-12; `confidence` is clamped to [0.5, 0.9999].
pub fn z_for(confidence: f64) -> f64 {
    let p = 0.5 + confidence.clamp(0.5, 0.9999) / 2.0;
    let (mut low, mut high) = (0.0f64, 5.0f64);
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if normal_cdf(mid) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// The standard normal distribution function Φ(x): the Maclaurin series of erf below 3,
/// Laplace's continued fraction for the upper tail from 3 on (both to about 1e-12).
pub fn normal_cdf(x: f64) -> f64 {
    if x < 0.0 {
        return 1.0 - normal_cdf(-x);
    }
    if x >= 3.0 {
        return 1.0 - normal_upper_tail(x);
    }
    let t = x / std::f64::consts::SQRT_2;
    // erf(t) = 2/√π Σ (-1)^n t^(2n+1) / (n! (2n+1))
    let mut term = t;
    let mut sum = t;
    let mut n = 0.0;
    while term.abs() > 1e-17 * sum.abs().max(1e-300) && n < 200.0 {
        n += 1.0;
        term *= -t * t / n;
        sum += term / (2.0 * n + 1.0);
    }
    0.5 * (1.0 + 2.0 / std::f64::consts::PI.sqrt() * sum)
}

/// 1 − Φ(x) for x ≥ 3: φ(x) / (x + 1/(x + 2/(x + 3/(x + …)))), evaluated from the 80th term.
fn normal_upper_tail(x: f64) -> f64 {
    let mut fraction = x;
    for k in (1..=80).rev() {
        fraction = x + f64::from(k) / fraction;
    }
    (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt() / fraction
}

/// Cohen's kappa between two raters over `pairs` (first rater's label, second's), with the
/// interval at `z` standard errors. `None` for no pairs, or when chance agreement is 1 (both
/// raters give one and the same label throughout: kappa is undefined).
pub fn cohen_kappa<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    z: f64,
) -> Option<Kappa> {
    let mut cells: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut n = 0u64;
    for (a, b) in pairs {
        *cells.entry((a, b)).or_default() += 1;
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let total = n as f64;
    let mut rows: BTreeMap<&str, f64> = BTreeMap::new();
    let mut columns: BTreeMap<&str, f64> = BTreeMap::new();
    for (&(a, b), &count) in &cells {
        *rows.entry(a).or_default() += count as f64 / total;
        *columns.entry(b).or_default() += count as f64 / total;
    }
    let row = |label: &str| rows.get(label).copied().unwrap_or(0.0);
    let column = |label: &str| columns.get(label).copied().unwrap_or(0.0);
    let observed: f64 = cells
        .iter()
        .filter(|((a, b), _)| a == b)
        .map(|(_, &c)| c as f64 / total)
        .sum();
    let labels: Vec<&str> = rows.keys().chain(columns.keys()).copied().collect();
    let mut chance = 0.0;
    let mut seen = std::collections::BTreeSet::new();
    for label in labels {
        if seen.insert(label) {
            chance += row(label) * column(label);
        }
    }
    if chance >= 1.0 - 1e-15 {
        return None;
    }
    let kappa = (observed - chance) / (1.0 - chance);
    // Fleiss, Cohen and Everitt (1969): the large-sample variance of kappa.
    let mut diagonal = 0.0;
    let mut off_diagonal = 0.0;
    for (&(a, b), &count) in &cells {
        let p = count as f64 / total;
        if a == b {
            diagonal += p * (1.0 - (row(a) + column(a)) * (1.0 - kappa)).powi(2);
        } else {
            off_diagonal += p * (column(a) + row(b)).powi(2);
        }
    }
    let variance = (diagonal + (1.0 - kappa).powi(2) * off_diagonal
        - (kappa - chance * (1.0 - kappa)).powi(2))
        / ((1.0 - chance).powi(2) * total);
    let std_error = variance.max(0.0).sqrt();
    Some(Kappa {
        estimate: Interval {
            value: kappa,
            low: kappa - z * std_error,
            high: kappa + z * std_error,
        },
        std_error,
        items: n,
    })
}

/// Fleiss' kappa of a panel: `ratings` holds, per item, how many raters gave each category
/// (the same categories, in the same order, for every item). Items rated fewer than twice
/// carry no agreement and are left out; items may have different numbers of raters (each
/// item's agreement is over its own pairs of raters). `None` without two rated items or
/// when every rating is the same category.
pub fn fleiss_kappa(ratings: &[Vec<u64>]) -> Option<f64> {
    let rated: Vec<&Vec<u64>> = ratings
        .iter()
        .filter(|counts| counts.iter().sum::<u64>() >= 2)
        .collect();
    if rated.len() < 2 {
        return None;
    }
    let categories = rated.iter().map(|c| c.len()).max().unwrap_or(0);
    let mut per_category = vec![0.0; categories];
    let mut all_ratings = 0.0;
    let mut agreement = 0.0;
    for counts in &rated {
        let raters: u64 = counts.iter().sum();
        let agreeing_pairs: u64 = counts.iter().map(|&c| c * c.saturating_sub(1)).sum();
        agreement += agreeing_pairs as f64 / (raters * (raters - 1)) as f64;
        for (category, &count) in counts.iter().enumerate() {
            if let Some(total) = per_category.get_mut(category) {
                *total += count as f64;
            }
        }
        all_ratings += raters as f64;
    }
    let observed = agreement / rated.len() as f64;
    let chance: f64 = per_category.iter().map(|c| (c / all_ratings).powi(2)).sum();
    if chance >= 1.0 - 1e-15 {
        return None;
    }
    Some((observed - chance) / (1.0 - chance))
}

/// The Wilson score interval of `successes` out of `trials` at `z` standard errors; `None`
/// for no trials.
pub fn wilson(successes: u64, trials: u64, z: f64) -> Option<Interval> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_tail_matches_the_table() {
        // Upper tails from the standard normal table.
        for (x, tail) in [
            (1.96, 0.024_997_895),
            (3.0, 0.001_349_898),
            (5.0, 2.866_515_7e-7),
            (8.0, 6.220_960_6e-16),
        ] {
            let got = 1.0 - normal_cdf(x);
            assert!(
                (got - tail).abs() <= tail * 1e-6 + 1e-15,
                "{x}: {got} vs {tail}"
            );
            assert!((normal_cdf(-x) - tail).abs() <= tail * 1e-6 + 1e-15, "{x}");
        }
    }

    #[test]
    fn z_matches_the_normal_table() {
        // Values from the standard normal table.
        assert!((z_for(0.95) - 1.959_963_985).abs() < 1e-8);
        assert!((z_for(0.90) - 1.644_853_627).abs() < 1e-8);
        assert!((z_for(0.99) - 2.575_829_304).abs() < 1e-8);
    }

    #[test]
    fn fleiss_kappa_of_the_textbook_example() {
        // Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters,
        // 5 categories; kappa = 0.210.
        let table: Vec<Vec<u64>> = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let kappa = fleiss_kappa(&table).unwrap();
        assert!((kappa - 0.210).abs() < 5e-4, "{kappa}");
    }

    #[test]
    fn undefined_figures_are_none() {
        assert_eq!(cohen_kappa([("a", "a"), ("a", "a")], 1.96), None);
        assert_eq!(cohen_kappa(std::iter::empty(), 1.96), None);
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![3, 0]]), None);
        assert_eq!(wilson(0, 0, 1.96), None);
    }

    #[test]
    fn wilson_stays_inside_zero_and_one() {
        let all = wilson(10, 10, 1.96).unwrap();
        assert_eq!(all.high, 1.0);
        assert!(all.low > 0.65 && all.low < 0.75, "{all:?}");
        let none = wilson(0, 10, 1.96).unwrap();
        assert_eq!(none.low, 0.0);
    }
}
