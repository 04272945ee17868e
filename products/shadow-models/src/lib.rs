//! `shadow-models`: the production model and its candidates, side by side.
//!
//! Every model in the `models` port (a [`ModelSpec`] as JSON) scores every sample of
//! `features` on the GPU: the standardised features go up once per model, and each layer is a
//! matmul, a bias add and an activation on the device (`imaging_ml::device::scores_on`); with no GPU on the host
//! the same operations run on its CPU. On the samples with a diagnosis each model gets AUC,
//! accuracy and F1, and the calibration of its scores (Brier score, expected calibration error
//! over `calibration_bins` bins). A candidate *beats production* only when it is better with
//! confidence: its AUC is higher by at least `min_auc_gain`, DeLong's test on the same samples
//! puts the whole `confidence` interval of the AUC difference above zero, and its F1 is no
//! lower. The champion is the candidate that beats production with the highest AUC, or
//! production.
//!
//! A model that does not parse or reads a feature the samples lack is reported `valid = false`
//! with the reason, and the check `models-are-valid` quarantines the run, as does anything but
//! exactly one production model.

use imaging_ml::ModelSpec;
use imaging_ml::comparison::{AucDifference, brier, delong, expected_calibration_error};
use imaging_ml::device::scores_on;
use imaging_ml::metrics::{Confusion, auc};
use tessera_sdk::{Batch, Check, Context, Error, Result};

tessera_sdk::ports!();

/// One row of the `models` port, parsed.
#[derive(Debug, Clone)]
pub struct Model {
    /// Its id.
    pub id: String,
    /// `production` or `candidate`.
    pub role: String,
    /// The JSON it came as.
    pub json: String,
    /// The model, or why it is not usable.
    pub spec: std::result::Result<ModelSpec, String>,
}

/// A model's figures on the labeled samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Labeled samples scored.
    pub samples: usize,
    /// Area under the ROC curve.
    pub auc: Option<f64>,
    /// At the threshold.
    pub accuracy: Option<f64>,
    /// At the threshold.
    pub f1: Option<f64>,
    /// Mean squared gap between score and outcome.
    pub brier: Option<f64>,
    /// Expected calibration error.
    pub ece: Option<f64>,
}

/// AUC, accuracy, F1 and calibration (over `bins` score bins) of `scores` against the labels
/// that are known.
pub fn evaluate(
    scores: &[f64],
    labels: &[Option<bool>],
    threshold: f64,
    bins: usize,
) -> Evaluation {
    let (known_scores, known): (Vec<f64>, Vec<bool>) = scores
        .iter()
        .zip(labels)
        .filter_map(|(s, l)| l.map(|l| (*s, l)))
        .unzip();
    let predicted: Vec<bool> = known_scores.iter().map(|s| *s >= threshold).collect();
    let confusion = Confusion::of(&predicted, &known);
    Evaluation {
        samples: known.len(),
        auc: auc(&known_scores, &known),
        accuracy: confusion.accuracy(),
        f1: confusion.f1(),
        brier: brier(&known_scores, &known),
        ece: expected_calibration_error(&known_scores, &known, bins),
    }
}

/// DeLong's comparison of `candidate`'s scores against `production`'s on the labeled samples.
pub fn compare(
    candidate: &[f64],
    production: &[f64],
    labels: &[Option<bool>],
    confidence: f64,
) -> Option<AucDifference> {
    let known: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    let pick = |scores: &[f64]| -> Vec<f64> { known.iter().map(|&i| scores[i]).collect() };
    let outcomes: Vec<bool> = known.iter().map(|&i| labels[i] == Some(true)).collect();
    delong(&pick(candidate), &pick(production), &outcomes, confidence)
}

/// Whether a candidate beats production with confidence: AUC higher by at least `min_gain`,
/// the lower limit of DeLong's interval for the difference above zero, F1 no lower.
pub fn beats(
    candidate: &Evaluation,
    production: &Evaluation,
    comparison: Option<&AucDifference>,
    min_gain: f64,
) -> bool {
    match (candidate.auc, production.auc, comparison) {
        (Some(c), Some(p), Some(d)) => {
            c - p >= min_gain
                && d.difference.low > 0.0
                && candidate.f1.unwrap_or(0.0) >= production.f1.unwrap_or(0.0)
        }
        _ => false,
    }
}

/// The share of samples two models classify alike, and how many they do not.
pub fn agreement(a: &[f64], b: &[f64], threshold: f64) -> (f64, usize) {
    let differ = a
        .iter()
        .zip(b)
        .filter(|(x, y)| (**x >= threshold) != (**y >= threshold))
        .count();
    let n = a.len().min(b.len());
    let share = if n == 0 {
        1.0
    } else {
        (n - differ) as f64 / n as f64
    };
    (share, differ)
}

fn read_models(batch: &Batch) -> Result<Vec<Model>> {
    let rows = ports::models::rows(batch)?.into_iter();
    let model = |row: ports::models::Row| Model {
        id: row.model_id.to_string(),
        role: row.role.to_string(),
        spec: ModelSpec::from_json(row.spec),
        json: row.spec.to_string(),
    };
    Ok(rows.map(model).collect())
}

/// The model's input columns for every sample, or why they cannot be read.
fn model_rows(features: &Batch, spec: &ModelSpec) -> std::result::Result<Vec<Vec<f64>>, String> {
    let column = |name: &String| {
        let found = features.f64(name);
        found.map_err(|_| format!("the samples have no float64 feature `{name}`"))
    };
    let columns = spec.inputs.iter().map(column);
    let columns = columns.collect::<std::result::Result<Vec<_>, String>>()?;
    let value = |row: usize| {
        move |(c, name): (&tessera_sdk::Primitive<f64>, &String)| {
            c.get(row)
                .ok_or_else(|| format!("feature `{name}` is missing on row {row}"))
        }
    };
    let row = |row| columns.iter().zip(&spec.inputs).map(value(row)).collect();
    (0..features.num_rows()).map(row).collect()
}

/// What scoring one model gave.
struct Scored {
    model: Model,
    scores: std::result::Result<Vec<f64>, String>,
    evaluation: Option<Evaluation>,
    /// DeLong's comparison with production (candidates only).
    comparison: Option<AucDifference>,
}

impl Scored {
    fn is(&self, role: &str) -> bool {
        self.model.role == role
    }
}

/// The samples: ids and diagnoses, in the order of `features`.
struct Samples<'a> {
    ids: Vec<&'a str>,
    diagnosis: Vec<Option<&'a str>>,
    /// Malignant or not, where the diagnosis is known.
    labels: Vec<Option<bool>>,
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let threshold = ctx.parameter_f64("threshold")?;
    let min_gain = ctx.parameter_f64("min_auc_gain")?;
    let confidence = ctx.parameter_f64("confidence")?;
    let bins = usize::try_from(ctx.parameter_i64("calibration_bins")?.clamp(1, 1000)).unwrap_or(10);
    let features = ports::features::read_all(ctx)?;
    let models = read_models(&ports::models::read_all(ctx)?)?;
    let rows = ports::features::rows(&features)?;
    let diagnosis: Vec<Option<&str>> = rows.iter().map(|r| r.diagnosis).collect();
    let samples = Samples {
        ids: rows.iter().map(|r| r.sample_id).collect(),
        labels: diagnosis
            .iter()
            .map(|d| d.map(|d| d == "malignant"))
            .collect(),
        diagnosis,
    };
    let gpu = ctx.gpu()?;
    let (count, device) = (models.len(), gpu.info()?.name);
    tessera_sdk::info!(
        "scoring {} samples with {count} models on {device}",
        samples.ids.len()
    );
    let mut scored = Vec::new();
    for model in models {
        let scores = match &model.spec {
            Err(e) => Err(e.clone()),
            Ok(spec) => match model_rows(&features, spec) {
                Err(e) => Err(e),
                Ok(rows) => Ok(scores_on(&gpu, spec, &rows)?),
            },
        };
        let evaluation = scores.as_ref().ok();
        let evaluation = evaluation.map(|s| evaluate(s, &samples.labels, threshold, bins));
        let comparison = None;
        scored.push(Scored {
            model,
            scores,
            evaluation,
            comparison,
        });
    }
    let production = scored.iter().find(|s| s.is("production"));
    if let Some(Ok(production)) = production.map(|p| p.scores.clone()) {
        for s in scored.iter_mut().filter(|s| s.is("candidate")) {
            if let Ok(scores) = &s.scores {
                s.comparison = compare(scores, &production, &samples.labels, confidence);
            }
        }
    }
    ports::predictions::write(ctx, predictions(&scored, &samples, threshold))?;
    let production = scored
        .iter()
        .find(|s| s.is("production") && s.evaluation.is_some());
    let production_auc = production.and_then(|p| p.evaluation.as_ref()?.auc);
    if let Some(auc) = production_auc {
        ctx.gauge("production_auc", auc);
    }
    let evaluation = scored.iter().map(|s| evaluation(s, production, min_gain));
    ports::evaluation::write(ctx, evaluation)?;
    ports::agreement::write(ctx, agreements(&scored, threshold))?;
    let disagreements = disagreements(&scored, production, &samples, threshold);
    ports::disagreements::write(ctx, disagreements)?;
    let champion = champion(&scored, production, min_gain)?;
    if let Some(auc) = champion.auc {
        ctx.gauge("champion_auc", auc);
    }
    ports::champion::write(ctx, [champion])
}

fn predicted(score: f64, threshold: f64) -> &'static str {
    if score >= threshold {
        "malignant"
    } else {
        "benign"
    }
}

fn predictions(
    scored: &[Scored],
    samples: &Samples,
    threshold: f64,
) -> Vec<ports::predictions::Row> {
    let mut rows = Vec::new();
    for s in scored {
        let Ok(scores) = &s.scores else { continue };
        for ((score, id), diagnosis) in scores.iter().zip(&samples.ids).zip(&samples.diagnosis) {
            rows.push(ports::predictions::Row {
                sample_id: id.to_string(),
                model_id: s.model.id.clone(),
                role: s.model.role.clone(),
                score: *score,
                predicted: predicted(*score, threshold).to_string(),
                diagnosis: diagnosis.map(str::to_string),
            });
        }
    }
    rows
}

fn verdict(s: &Scored, production: Option<&Scored>, min_gain: f64) -> (Option<bool>, String) {
    let (Some(e), Ok(_)) = (&s.evaluation, &s.scores) else {
        let why = s.scores.as_ref().err().cloned().unwrap_or_default();
        return (None, format!("not usable: {why}"));
    };
    if s.is("production") {
        return (None, "production".into());
    }
    let Some(p) = production.and_then(|p| p.evaluation.as_ref()) else {
        return (None, "no production model to compare with".into());
    };
    let gain = e.auc.unwrap_or(0.0) - p.auc.unwrap_or(0.0);
    let f1_change = e.f1.unwrap_or(0.0) - p.f1.unwrap_or(0.0);
    let won = beats(e, p, s.comparison.as_ref(), min_gain);
    let words = if won {
        "beats production"
    } else {
        "does not beat production"
    };
    let interval = match &s.comparison {
        Some(d) => format!(
            " (CI {:+.3} to {:+.3}, p = {:.3})",
            d.difference.low, d.difference.high, d.p_value
        ),
        None => " (too few labeled samples of a class to test)".to_string(),
    };
    let verdict = format!("{words}: AUC {gain:+.3}{interval}, F1 {f1_change:+.3}");
    (Some(won), verdict)
}

fn evaluation(s: &Scored, production: Option<&Scored>, min_gain: f64) -> ports::evaluation::Row {
    let (beats_production, verdict) = verdict(s, production, min_gain);
    let e = s.evaluation.as_ref();
    let d = s.comparison.as_ref();
    ports::evaluation::Row {
        model_id: s.model.id.clone(),
        role: s.model.role.clone(),
        valid: s.scores.is_ok(),
        samples: e.map_or(0, |e| e.samples as i64),
        auc: e.and_then(|e| e.auc),
        accuracy: e.and_then(|e| e.accuracy),
        f1: e.and_then(|e| e.f1),
        brier: e.and_then(|e| e.brier),
        ece: e.and_then(|e| e.ece),
        auc_difference: d.map(|d| d.difference.value),
        auc_difference_low: d.map(|d| d.difference.low),
        auc_difference_high: d.map(|d| d.difference.high),
        p_value: d.map(|d| d.p_value),
        beats_production,
        verdict,
    }
}

fn agreements(scored: &[Scored], threshold: f64) -> Vec<ports::agreement::Row> {
    let valid: Vec<(&str, &Vec<f64>)> = scored
        .iter()
        .filter_map(|s| s.scores.as_ref().ok().map(|v| (s.model.id.as_str(), v)))
        .collect();
    let pair = |(a, sa): &(&str, &Vec<f64>), (b, sb): &(&str, &Vec<f64>)| {
        let (agreement, differ) = agreement(sa, sb, threshold);
        ports::agreement::Row {
            model_a: a.to_string(),
            model_b: b.to_string(),
            agreement,
            disagreements: differ as i64,
        }
    };
    let pairs = valid.iter().flat_map(|a| valid.iter().map(move |b| (a, b)));
    pairs.map(|(a, b)| pair(a, b)).collect()
}

fn disagreements(
    scored: &[Scored],
    production: Option<&Scored>,
    samples: &Samples,
    threshold: f64,
) -> Vec<ports::disagreements::Row> {
    let mut rows = Vec::new();
    let Some(Ok(prod)) = production.map(|p| &p.scores) else {
        return rows;
    };
    for s in scored.iter().filter(|s| s.is("candidate")) {
        let Ok(cand) = &s.scores else { continue };
        for (i, (p, c)) in prod.iter().zip(cand).enumerate() {
            let candidate_says = *c >= threshold;
            if (*p >= threshold) == candidate_says {
                continue;
            }
            let right = match samples.labels.get(i).copied().flatten() {
                Some(truth) if truth == candidate_says => "candidate",
                Some(_) => "production",
                None => "unknown",
            };
            rows.push(ports::disagreements::Row {
                sample_id: samples.ids.get(i).copied().unwrap_or_default().to_string(),
                candidate: s.model.id.clone(),
                production_score: *p,
                candidate_score: *c,
                diagnosis: samples
                    .diagnosis
                    .get(i)
                    .copied()
                    .flatten()
                    .map(str::to_string),
                right: right.to_string(),
            });
        }
    }
    rows
}

fn champion(
    scored: &[Scored],
    production: Option<&Scored>,
    min_gain: f64,
) -> Result<ports::champion::Row> {
    let Some(prod) = production else {
        return Err(Error::invalid(
            "no usable production model in `models`: add one row with role = \"production\"",
        ));
    };
    let prod_eval = prod.evaluation.as_ref();
    let auc = |s: &Scored| s.evaluation.as_ref().and_then(|e| e.auc);
    let best = scored
        .iter()
        .filter(|s| s.is("candidate"))
        .filter(|s| match (&s.evaluation, prod_eval) {
            (Some(e), Some(p)) => beats(e, p, s.comparison.as_ref(), min_gain),
            _ => false,
        })
        .max_by(|a, b| auc(a).unwrap_or(0.0).total_cmp(&auc(b).unwrap_or(0.0)));
    let (champion, reason) = match best {
        Some(c) => (
            c,
            format!("{} beats production {}", c.model.id, prod.model.id),
        ),
        None => (prod, "no candidate beats production".to_string()),
    };
    Ok(ports::champion::Row {
        model_id: champion.model.id.clone(),
        role: champion.model.role.clone(),
        auc: auc(champion),
        spec: champion.model.json.clone(),
        reason,
    })
}

/// The checks that need code: every model usable, exactly one production model.
pub fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    let evaluation = ctx.input("evaluation")?.read_all()?;
    let (valid, roles) = (evaluation.boolean("valid")?, evaluation.text("role")?);
    let invalid = (0..evaluation.num_rows()).filter(|&i| valid.get(i) == Some(false));
    let productions = (0..evaluation.num_rows())
        .filter(|&i| roles.get(i) == Some("production"))
        .count();
    Ok(vec![
        Check::new("evaluation", "models-are-valid").rows(evaluation.num_rows(), invalid),
        Check::new("evaluation", "one-production-model")
            .passed(productions == 1)
            .message(format!(
                "{productions} production models; exactly 1 expected"
            )),
    ])
}

#[cfg(test)]
mod tests;
