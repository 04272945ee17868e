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

use std::collections::HashSet;

use imaging_ml::ModelSpec;
use imaging_ml::device::scores_on;
use tessera_sdk::{Batch, Check, Context, Error, Gpu, Result};

tessera_sdk::ports!(
    upstream = [
        "../../shadow-models/product.toml",
        "../../labeled-studies/product.toml"
    ]
);

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

/// The champion's id and model; an error when shadow-models has published none yet.
fn read_model(ctx: &mut Context) -> Result<(String, ModelSpec)> {
    let champion = ports::model::read_all(ctx)?;
    let Some(row) = ports::model::Columns::of(&champion)?.rows().next() else {
        return Err(Error::invalid(
            "`model` has no row: shadow-models has no champion yet",
        ));
    };
    let row = row?;
    let spec = ModelSpec::from_json(row.spec)
        .map_err(|e| Error::invalid(format!("model {}: {e}", row.model_id)))?;
    Ok((row.model_id.to_string(), spec))
}

/// The studies `labeled-studies` has a consensus for; none before its first publication.
fn labeled_studies(ctx: &mut Context) -> Result<HashSet<String>> {
    let consensus = match ctx.input_columns(ports::labeled::NAME, &["study_id"]) {
        Ok(input) => input.read_all()?,
        Err(Error::NotFound(_)) => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let studies = consensus.text("study_id")?;
    Ok(studies.iter().flatten().map(str::to_string).collect())
}

/// The first `k` of `ranked` (most uncertain first), keeping only the first sample of each
/// study (samples without a study are each their own).
pub fn one_per_study(ranked: &[usize], studies: &[Option<&str>], k: usize) -> Vec<usize> {
    let mut seen = HashSet::new();
    let mut first_of_study = |&i: &usize| match studies.get(i).copied().flatten() {
        Some(study) => seen.insert(study),
        None => true,
    };
    ranked
        .iter()
        .copied()
        .filter(|i| first_of_study(i))
        .take(k)
        .collect()
}

/// A pool sample the model can score: its id, study and features in the model's order.
struct Scorable<'a> {
    id: &'a str,
    study: Option<&'a str>,
    features: Vec<f64>,
}

/// The pool samples to rank: those of unlabeled studies with every feature the model needs
/// (a finite number). The others are counted in gauges, the unscorable named in the log.
fn scorable<'a>(
    ctx: &mut Context,
    pool: &'a Batch,
    spec: &ModelSpec,
    labeled: &HashSet<String>,
) -> Result<Vec<Scorable<'a>>> {
    let columns = ports::pool::Columns::of(pool)?;
    let features = spec.inputs.iter().map(|name| pool.f64(name));
    let features = features.collect::<Result<Vec<_>>>()?;
    let (mut kept, mut already_labeled, mut excluded) = (Vec::new(), 0, Vec::new());
    for (i, row) in columns.rows().enumerate() {
        let row = row?;
        if row.study_id.is_some_and(|s| labeled.contains(s)) {
            already_labeled += 1;
            continue;
        }
        let values: Option<Vec<f64>> = features
            .iter()
            .map(|c| c.get(i).filter(|v| v.is_finite()))
            .collect();
        match values {
            Some(features) => kept.push(Scorable {
                id: row.sample_id,
                study: row.study_id,
                features,
            }),
            None => {
                let missing = features
                    .iter()
                    .position(|c| !c.get(i).is_some_and(f64::is_finite));
                let name = missing.and_then(|m| spec.inputs.get(m));
                excluded.push(format!(
                    "{} (no value for `{}`)",
                    row.sample_id,
                    name.map_or("?", String::as_str)
                ));
            }
        }
    }
    ctx.gauge("excluded_labeled", f64::from(already_labeled));
    ctx.gauge("excluded_missing_features", excluded.len() as f64);
    if !excluded.is_empty() {
        let more = if excluded.len() > 10 { ", ..." } else { "" };
        tessera_sdk::warn!(
            "{} pool samples lack a feature the model needs and are not ranked: {}{more}",
            excluded.len(),
            excluded[..excluded.len().min(10)].join(", "),
        );
    }
    Ok(kept)
}

/// Why a pick was queued.
fn reason(pick: &Pick, score: f64, shortlisted: usize, pool: &[Scorable]) -> String {
    let uncertainty = format!("p = {score:.2}, entropy {:.3}", entropy(score));
    match (pick.distance, pick.nearest.and_then(|n| pool.get(n))) {
        (Some(d), Some(nearest)) => format!(
            "among the {shortlisted} most uncertain ({uncertainty}), {d:.2} from the nearest chosen sample, {}",
            nearest.id
        ),
        _ => format!("the most uncertain ({uncertainty})"),
    }
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let batch_size = usize::try_from(ctx.parameter_i64("batch_size")?).unwrap_or(0);
    let factor = usize::try_from(ctx.parameter_i64("shortlist_factor")?).unwrap_or(1);
    let (model_id, spec) = read_model(ctx)?;
    let labeled = labeled_studies(ctx)?;
    let pool_batch = ports::pool::read_all(ctx)?;
    let pool = scorable(ctx, &pool_batch, &spec, &labeled)?;
    let rows: Vec<Vec<f64>> = pool.iter().map(|s| s.features.clone()).collect();
    let studies: Vec<Option<&str>> = pool.iter().map(|s| s.study).collect();
    let gpu = ctx.gpu()?;
    let scores = scores_on(&gpu, &spec, &rows)?;
    let ranked = shortlist(&scores, scores.len());
    let short = one_per_study(&ranked, &studies, batch_size.saturating_mul(factor));
    let squared = distances_on(&gpu, &spec, &rows, &short)?;
    let picks = k_center(&short, &squared, batch_size);
    tessera_sdk::info!(
        "{model_id} scored {} pool samples; {} queued from a shortlist of {}",
        rows.len(),
        picks.len(),
        short.len()
    );
    let entropies = picks.iter().map(|p| entropy(scores[p.index]));
    if !picks.is_empty() {
        ctx.gauge(
            "queued_mean_entropy",
            entropies.sum::<f64>() / picks.len() as f64,
        );
    }
    let queue = picks.iter().zip(1..).map(|(p, rank)| {
        let score = scores[p.index];
        ports::queue::Row {
            rank,
            sample_id: pool[p.index].id.to_string(),
            study_id: pool[p.index].study.map(str::to_string),
            score,
            entropy: entropy(score),
            margin: margin(score),
            distance: p.distance,
            reason: reason(p, score, short.len(), &pool),
        }
    });
    ports::queue::write(ctx, queue)
}

/// The check that needs code: each pool sample appears once (a pool pushed twice would spend
/// two labels on one sample and skew the shortlist).
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let pool = ctx
        .input_columns(ports::pool::NAME, &["sample_id"])?
        .read_all()?;
    let ids = pool.text("sample_id")?;
    let mut seen = HashSet::new();
    let repeated = (0..pool.num_rows()).filter(|&i| !seen.insert(ids.get(i)));
    Ok(vec![
        Check::new("queue", "pool-samples-are-unique").rows(pool.num_rows(), repeated),
    ])
}

#[cfg(test)]
mod tests;
