//! `active-learning`: which unlabeled samples to send to the annotators next.
//!
//! The current model (`shadow-models/champion`) scores every sample of the pool on the GPU.
//! Uncertainty is the binary entropy of the score (and the margin `|2p − 1|`). The
//! `batch_size × shortlist_factor` most uncertain samples form a shortlist; k-center greedy
//! over their pairwise distances (computed on the GPU, in the model's standardised feature
//! space) then picks `batch_size` of them: first the most uncertain, then each time the one
//! farthest from everything chosen so far, so the batch does not spend labels on near-copies.
//! Every queued sample says why it was chosen.
//!
//! The loop is closed on `labeled-studies`: a pool sample whose study already has a consensus
//! label is left out before ranking, and of several samples of one study only the most
//! uncertain can be queued, so no label is spent twice on a study.

use imaging_ml::ModelSpec;
use imaging_ml::device::scores_on;
use tessera_sdk::{Batch, Check, Context, Error, Gpu, Result};

/// Binary entropy of `p`, in nats.
pub fn entropy(p: f64) -> f64 {
    let term = |q: f64| if q > 0.0 { -q * q.ln() } else { 0.0 };
    term(p) + term(1.0 - p)
}

/// Gap between the two class probabilities.
pub fn margin(p: f64) -> f64 {
    (2.0 * p - 1.0).abs()
}

/// One chosen sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Index in the pool.
    pub index: usize,
    /// Distance to the nearest earlier pick (`None` for the first).
    pub distance: Option<f64>,
    /// The earlier pick it is nearest to.
    pub nearest: Option<usize>,
}

/// The indices of the `k` most uncertain scores, most uncertain first (ties by index).
pub fn shortlist(scores: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        entropy(scores[b])
            .total_cmp(&entropy(scores[a]))
            .then(a.cmp(&b))
    });
    order.truncate(k);
    order
}

/// k-center greedy over `candidates` (most uncertain first) with `squared` their `m × m`
/// squared distances, row-major: the first candidate, then each time the one whose nearest
/// chosen sample is farthest (ties to the more uncertain).
pub fn k_center(candidates: &[usize], squared: &[f32], k: usize) -> Vec<Pick> {
    let m = candidates.len();
    if m == 0 || k == 0 {
        return Vec::new();
    }
    let mut picks = vec![Pick {
        index: candidates[0],
        distance: None,
        nearest: None,
    }];
    let mut chosen = vec![false; m];
    chosen[0] = true;
    // For each candidate: squared distance to its nearest chosen one, and which.
    let mut nearest: Vec<(f32, usize)> = (0..m).map(|j| (squared[j].max(0.0), 0)).collect();
    while picks.len() < k.min(m) {
        let Some(next) = (0..m)
            .filter(|&j| !chosen[j])
            .max_by(|&a, &b| nearest[a].0.total_cmp(&nearest[b].0).then(b.cmp(&a)))
        else {
            break;
        };
        chosen[next] = true;
        picks.push(Pick {
            index: candidates[next],
            distance: Some(f64::from(nearest[next].0).sqrt()),
            nearest: Some(candidates[nearest[next].1]),
        });
        for j in 0..m {
            let d = squared[next * m + j].max(0.0);
            if d < nearest[j].0 {
                nearest[j] = (d, next);
            }
        }
    }
    picks
}

/// Standardised rows of the shortlist, their squared distances on the GPU.
fn distances_on(
    gpu: &Gpu,
    spec: &ModelSpec,
    rows: &[Vec<f64>],
    shortlist: &[usize],
) -> Result<Vec<f32>> {
    let x: Vec<f32> = shortlist
        .iter()
        .flat_map(|&i| spec.standardise(&rows[i]))
        .map(|v| v as f32)
        .collect();
    let t = gpu.tensor(&x, &[shortlist.len(), spec.inputs.len()])?;
    t.sq_distances(&t)?.to_vec()
}

fn read_model(ctx: &mut Context) -> Result<(String, ModelSpec)> {
    let champion = ctx.input("model")?.read_all()?;
    if champion.num_rows() == 0 {
        return Err(Error::invalid(
            "`model` has no row: shadow-models has no champion yet",
        ));
    }
    let id = champion.text("model_id")?.get(0).map(str::to_string);
    let spec = champion.text("spec")?.get(0).map(ModelSpec::from_json);
    match (id, spec) {
        (Some(id), Some(Ok(spec))) => Ok((id, spec)),
        (Some(id), Some(Err(e))) => Err(Error::invalid(format!("model {id}: {e}"))),
        _ => Err(Error::invalid(
            "`model` has no row: shadow-models has no champion yet",
        )),
    }
}

/// The studies `labeled-studies` has a consensus for; none before its first publication.
fn labeled_studies(ctx: &mut Context) -> Result<std::collections::HashSet<String>> {
    let consensus = match ctx.input_columns("labeled", &["study_id"]) {
        Ok(input) => input.read_all()?,
        Err(Error::NotFound(_)) => return Ok(Default::default()),
        Err(e) => return Err(e),
    };
    Ok(consensus
        .text("study_id")?
        .iter()
        .flatten()
        .map(str::to_string)
        .collect())
}

/// The first `k` of `ranked` (most uncertain first), keeping only the first sample of each
/// study (samples without a study are each their own).
pub fn one_per_study(ranked: &[usize], studies: &[Option<&str>], k: usize) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    ranked
        .iter()
        .copied()
        .filter(|&i| match studies.get(i).copied().flatten() {
            Some(study) => seen.insert(study),
            None => true,
        })
        .take(k)
        .collect()
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let batch_size = usize::try_from(ctx.parameter_i64("batch_size")?).unwrap_or(0);
    let factor = usize::try_from(ctx.parameter_i64("shortlist_factor")?).unwrap_or(1);
    let (model_id, spec) = read_model(ctx)?;
    let labeled = labeled_studies(ctx)?;
    let pool = ctx.input("pool")?.read_all()?;
    let studies = pool.text("study_id")?;
    let labeled_rows: Vec<bool> = (0..pool.num_rows())
        .map(|i| studies.get(i).is_some_and(|s| labeled.contains(s)))
        .collect();
    let already_labeled = labeled_rows.iter().filter(|l| **l).count();
    ctx.gauge("excluded_labeled", already_labeled as f64);
    let ids: Vec<&str> = pool
        .text("sample_id")?
        .iter()
        .map(|s| s.unwrap_or_default())
        .collect();
    let columns = spec
        .inputs
        .iter()
        .map(|name| pool.f64(name))
        .collect::<Result<Vec<_>>>()?;
    // A sample missing a feature the model needs (null, or not a finite number) cannot be
    // scored: it is left out with the reason, never ranked.
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(pool.num_rows());
    let mut kept: Vec<&str> = Vec::with_capacity(pool.num_rows());
    let mut kept_studies: Vec<Option<&str>> = Vec::with_capacity(pool.num_rows());
    let mut excluded: Vec<String> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if labeled_rows[i] {
            continue;
        }
        let values: Vec<Option<f64>> = columns
            .iter()
            .map(|c| c.get(i).filter(|v| v.is_finite()))
            .collect();
        match values.iter().position(Option::is_none) {
            Some(missing) => excluded.push(format!(
                "{id} (no value for `{}`)",
                spec.inputs.get(missing).map_or("?", String::as_str)
            )),
            None => {
                rows.push(values.into_iter().flatten().collect());
                kept.push(*id);
                kept_studies.push(studies.get(i));
            }
        }
    }
    ctx.gauge("excluded_missing_features", excluded.len() as f64);
    if !excluded.is_empty() {
        tessera_sdk::warn!(
            "{} pool samples lack a feature the model needs and are not ranked: {}{}",
            excluded.len(),
            excluded
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if excluded.len() > 10 { ", ..." } else { "" }
        );
    }
    let ids = kept;

    let gpu = ctx.gpu()?;
    let scores = scores_on(&gpu, &spec, &rows)?;
    let short = one_per_study(
        &shortlist(&scores, scores.len()),
        &kept_studies,
        batch_size.saturating_mul(factor),
    );
    let squared = distances_on(&gpu, &spec, &rows, &short)?;
    let picks = k_center(&short, &squared, batch_size);
    tessera_sdk::info!(
        "{model_id} scored {} pool samples ({already_labeled} left out as already labeled); {} queued from a shortlist of {}",
        rows.len(),
        picks.len(),
        short.len()
    );
    if !picks.is_empty() {
        let mean: f64 =
            picks.iter().map(|p| entropy(scores[p.index])).sum::<f64>() / picks.len() as f64;
        ctx.gauge("queued_mean_entropy", mean);
    }
    let reasons: Vec<String> = picks
        .iter()
        .map(|p| {
            let s = scores[p.index];
            match (p.distance, p.nearest) {
                (Some(d), Some(n)) => format!(
                    "among the {} most uncertain (p = {s:.2}, entropy {:.3}), {d:.2} from the nearest chosen sample, {}",
                    short.len(),
                    entropy(s),
                    ids[n]
                ),
                _ => format!("the most uncertain (p = {s:.2}, entropy {:.3})", entropy(s)),
            }
        })
        .collect();
    ctx.output("queue")?.write(
        Batch::builder()
            .i64("rank", 1..=picks.len() as i64)
            .text("sample_id", picks.iter().map(|p| ids[p.index]))
            .text_opt("study_id", picks.iter().map(|p| kept_studies[p.index]))
            .f64("score", picks.iter().map(|p| scores[p.index]))
            .f64("entropy", picks.iter().map(|p| entropy(scores[p.index])))
            .f64("margin", picks.iter().map(|p| margin(scores[p.index])))
            .f64_opt("distance", picks.iter().map(|p| p.distance))
            .text("reason", reasons)
            .build()?,
    )
}

/// The check that needs code: each pool sample appears once (a pool pushed twice would spend
/// two labels on one sample and skew the shortlist).
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let pool = ctx.input_columns("pool", &["sample_id"])?.read_all()?;
    let ids = pool.text("sample_id")?;
    let mut seen = std::collections::HashSet::new();
    let repeated = (0..pool.num_rows()).filter(|&i| !seen.insert(ids.get(i)));
    Ok(vec![
        Check::new("queue", "pool-samples-are-unique").rows(pool.num_rows(), repeated),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use imaging_ml::{Activation, Layer};
    use tessera_sdk::testing::TestRun;

    #[test]
    fn entropy_and_margin_peak_at_a_coin_flip() {
        assert!((entropy(0.5) - std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!(entropy(0.0), 0.0);
        assert_eq!(margin(0.5), 0.0);
        assert_eq!(margin(0.9), 0.8);
        assert_eq!(shortlist(&[0.1, 0.5, 0.7, 0.45], 2), vec![1, 3]);
    }

    #[test]
    fn k_center_spreads_the_picks() {
        // Points on a line at 0, 0.1, 5, 10 (candidate order = uncertainty order).
        let points = [0.0f32, 0.1, 5.0, 10.0];
        let squared: Vec<f32> = points
            .iter()
            .flat_map(|a| points.iter().map(move |b| (a - b) * (a - b)))
            .collect();
        let picks = k_center(&[7, 8, 9, 10], &squared, 3);
        let order: Vec<usize> = picks.iter().map(|p| p.index).collect();
        // 0 first; then 10 (farthest); then 5 (5 from both), never the near-copy 0.1.
        assert_eq!(order, vec![7, 10, 9]);
        assert_eq!(picks[1].distance, Some(10.0));
        assert_eq!((picks[2].distance, picks[2].nearest), (Some(5.0), Some(7)));
    }

    /// A champion that is a coin flip at radius 10: p = sigmoid(2 (radius − 10)).
    fn champion() -> Batch {
        let spec = ModelSpec {
            inputs: vec!["mean_radius".into()],
            mean: vec![10.0],
            scale: vec![1.0],
            layers: vec![Layer {
                weights: vec![vec![2.0]],
                bias: vec![0.0],
                activation: Activation::Sigmoid,
            }],
        };
        Batch::builder()
            .text("model_id", ["m"])
            .text("spec", [spec.to_json()])
            .build()
            .unwrap()
    }

    /// A pool with every declared column: these radii, the other features null.
    fn pool(ids: &[&str], radius: &[Option<f64>]) -> Batch {
        let declared = TestRun::for_product(include_str!("../product.toml"))
            .unwrap()
            .input_schema("pool");
        let studies: Vec<String> = ids.iter().map(|id| format!("study-{id}")).collect();
        let mut batch = Batch::builder()
            .text("sample_id", ids)
            .text("study_id", &studies)
            .f64_opt("mean_radius", radius.iter().copied());
        for field in declared
            .iter()
            .filter(|f| !["sample_id", "study_id", "mean_radius"].contains(&f.name.as_str()))
        {
            batch = batch.f64_opt(&field.name, vec![None; ids.len()]);
        }
        batch.build().unwrap()
    }

    #[test]
    fn run_queues_uncertain_and_spread_samples_with_reasons() {
        let model = champion();
        // Radius 10 is a coin flip and goes first; then the farthest from it, 20, rather than
        // 10.01, a near-copy of 10 and nearly as uncertain.
        let pool = pool(
            &["a", "b", "c", "d"],
            &[Some(10.0), Some(10.01), Some(10.6), Some(20.0)],
        );
        let mut test = TestRun::for_product(include_str!("../product.toml"))
            .unwrap()
            .parameter("batch_size", 2i64)
            .parameter("shortlist_factor", 2i64)
            .input("model", model)
            .input("pool", pool);
        test.run(run).unwrap();
        let queue = test.output("queue").unwrap();
        let ids: Vec<&str> = queue.text("sample_id").unwrap().iter().flatten().collect();
        assert_eq!(ids, vec!["a", "d"]);
        let reasons: Vec<&str> = queue.text("reason").unwrap().iter().flatten().collect();
        assert_eq!(reasons[0], "the most uncertain (p = 0.50, entropy 0.693)");
        assert!(
            reasons[1].ends_with("from the nearest chosen sample, a"),
            "{}",
            reasons[1]
        );
    }

    #[test]
    fn a_sample_missing_a_feature_is_left_out_not_ranked() {
        // `b` has no radius (and `c` an infinite one): neither can be scored, so neither may be
        // queued, even though a missing score once looked like the most uncertain.
        let pool = pool(
            &["a", "b", "c", "d"],
            &[Some(12.0), None, Some(f64::INFINITY), Some(20.0)],
        );
        let mut test = TestRun::for_product(include_str!("../product.toml"))
            .unwrap()
            .parameter("batch_size", 4i64)
            .input("model", champion())
            .input("pool", pool);
        test.run(run).unwrap();
        let queue = test.output("queue").unwrap();
        let ids: Vec<&str> = queue.text("sample_id").unwrap().iter().flatten().collect();
        assert_eq!(ids, vec!["a", "d"]);
        assert_eq!(test.gauge("excluded_missing_features"), Some(2.0));
    }

    #[test]
    fn a_pool_pushed_twice_fails_the_check() {
        let model = champion();
        let pool = pool(
            &["a", "b", "a", "b"],
            &[Some(10.0), Some(12.0), Some(10.0), Some(12.0)],
        );
        let mut test = TestRun::for_product(include_str!("../product.toml"))
            .unwrap()
            .input("model", model)
            .input("pool", pool);
        // One sample per study reaches the queue, so the queue itself has no repeat; the check
        // still reports the pool.
        test.run(run).unwrap();
        assert_eq!(test.output("queue").unwrap().num_rows(), 2);
        let checks = test.check(checks).unwrap();
        assert_eq!(
            (checks[0].is_passed(), checks[0].failing_rows()),
            (false, &[2, 3][..])
        );
        assert_eq!(checks[0].severity(), tessera_sdk::Severity::Error);
    }

    #[test]
    fn a_labeled_study_is_never_queued_and_a_study_at_most_once() {
        // `a` is labeled already; `b` and `b2` are two samples of one study.
        let mut pool = pool(
            &["a", "b", "c", "b2"],
            &[Some(10.0), Some(10.1), Some(14.0), Some(10.05)],
        );
        let studies = ["study-a", "study-b", "study-c", "study-b"];
        pool = Batch::new(
            pool.into_columns()
                .into_iter()
                .map(|c| match c.name.as_str() {
                    "study_id" => tessera_sdk::Column {
                        values: tessera_sdk::Values::Text(tessera_sdk::VarData::from_strs(studies)),
                        ..c
                    },
                    _ => c,
                })
                .collect(),
        )
        .unwrap();
        let labeled = Batch::builder()
            .text("study_id", ["study-a"])
            .build()
            .unwrap();
        let mut test = TestRun::for_product(include_str!("../product.toml"))
            .unwrap()
            .parameter("batch_size", 4i64)
            .input("model", champion())
            .input("labeled", labeled)
            .input("pool", pool);
        test.run(run).unwrap();
        let queue = test.output("queue").unwrap();
        let ids: Vec<&str> = queue.text("sample_id").unwrap().iter().flatten().collect();
        // Radius 10 is the coin flip: `a` would lead, but it is labeled; of `b` (10.1) and
        // `b2` (10.05), only the more uncertain `b2` is queued.
        assert_eq!(ids, vec!["b2", "c"]);
        assert_eq!(test.gauge("excluded_labeled"), Some(1.0));
    }

    #[test]
    fn a_missing_champion_is_an_error_that_says_so() {
        let mut test = TestRun::for_product(include_str!("../product.toml"))
            .unwrap()
            .input(
                "model",
                Batch::builder()
                    .text("model_id", [""; 0])
                    .text("spec", [""; 0])
                    .build()
                    .unwrap(),
            )
            .input("pool", pool(&["a"], &[Some(10.0)]));
        let err = test.run(run).unwrap_err();
        assert!(
            err.to_string()
                .contains("shadow-models has no champion yet"),
            "{err}"
        );
    }
}
