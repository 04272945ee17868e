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
    let (ids, roles, specs) = (
        batch.text("model_id")?,
        batch.text("role")?,
        batch.text("spec")?,
    );
    Ok((0..batch.num_rows())
        .map(|i| {
            let json = specs.get(i).unwrap_or_default().to_string();
            Model {
                id: ids.get(i).unwrap_or_default().to_string(),
                role: roles.get(i).unwrap_or_default().to_string(),
                spec: ModelSpec::from_json(&json),
                json,
            }
        })
        .collect())
}

/// The model's input columns for every sample, or why they cannot be read.
fn model_rows(features: &Batch, spec: &ModelSpec) -> std::result::Result<Vec<Vec<f64>>, String> {
    let columns = spec
        .inputs
        .iter()
        .map(|name| {
            features
                .f64(name)
                .map_err(|_| format!("the samples have no float64 feature `{name}`"))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    (0..features.num_rows())
        .map(|row| {
            columns
                .iter()
                .zip(&spec.inputs)
                .map(|(c, name)| {
                    c.get(row)
                        .ok_or_else(|| format!("feature `{name}` is missing on row {row}"))
                })
                .collect()
        })
        .collect()
}

/// What scoring one model gave.
struct Scored {
    model: Model,
    scores: std::result::Result<Vec<f64>, String>,
    evaluation: Option<Evaluation>,
    /// DeLong's comparison with production (candidates only).
    comparison: Option<AucDifference>,
}

#[tessera_sdk::product(checks = checks)]
fn run(ctx: &mut Context) -> Result<()> {
    let threshold = ctx.parameter_f64("threshold")?;
    let min_gain = ctx.parameter_f64("min_auc_gain")?;
    let confidence = ctx.parameter_f64("confidence")?;
    let bins = usize::try_from(ctx.parameter_i64("calibration_bins")?.clamp(1, 1000)).unwrap_or(10);
    let features = ctx.input("features")?.read_all()?;
    let models = read_models(&ctx.input("models")?.read_all()?)?;
    let sample_ids: Vec<String> = features
        .text("sample_id")?
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect();
    let diagnoses = features.text("diagnosis")?;
    let diagnosis: Vec<Option<&str>> = (0..features.num_rows()).map(|i| diagnoses.get(i)).collect();
    let labels: Vec<Option<bool>> = diagnosis
        .iter()
        .map(|d| d.map(|d| d == "malignant"))
        .collect();

    let gpu = ctx.gpu()?;
    tessera_sdk::info!(
        "scoring {} samples with {} models on {}",
        sample_ids.len(),
        models.len(),
        gpu.info()?.name
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
        let evaluation = scores
            .as_ref()
            .ok()
            .map(|s| evaluate(s, &labels, threshold, bins));
        scored.push(Scored {
            model,
            scores,
            evaluation,
            comparison: None,
        });
    }
    let production_scores = scored
        .iter()
        .find(|s| s.model.role == "production")
        .and_then(|s| s.scores.as_ref().ok())
        .cloned();
    if let Some(production_scores) = &production_scores {
        for s in scored.iter_mut().filter(|s| s.model.role == "candidate") {
            if let Ok(scores) = &s.scores {
                s.comparison = compare(scores, production_scores, &labels, confidence);
            }
        }
    }
    write_predictions(ctx, &scored, &sample_ids, &diagnosis, threshold)?;
    let production = scored
        .iter()
        .find(|s| s.model.role == "production" && s.evaluation.is_some());
    write_evaluation(ctx, &scored, production, min_gain)?;
    write_agreement(ctx, &scored, threshold)?;
    write_disagreements(ctx, &scored, production, &sample_ids, &diagnosis, threshold)?;
    write_champion(ctx, &scored, production, min_gain)
}

fn write_predictions(
    ctx: &mut Context,
    scored: &[Scored],
    samples: &[String],
    diagnosis: &[Option<&str>],
    threshold: f64,
) -> Result<()> {
    let mut b = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for s in scored {
        let Ok(scores) = &s.scores else { continue };
        for (i, score) in scores.iter().enumerate() {
            b.0.push(samples[i].as_str());
            b.1.push(s.model.id.as_str());
            b.2.push(s.model.role.as_str());
            b.3.push(*score);
            b.4.push(if *score >= threshold {
                "malignant"
            } else {
                "benign"
            });
            b.5.push(diagnosis[i]);
        }
    }
    ctx.output("predictions")?.write(
        Batch::builder()
            .text("sample_id", b.0)
            .text("model_id", b.1)
            .text("role", b.2)
            .f64("score", b.3)
            .text("predicted", b.4)
            .text_opt("diagnosis", b.5)
            .build()?,
    )
}

fn verdict(s: &Scored, production: Option<&Scored>, min_gain: f64) -> (Option<bool>, String) {
    let (Some(e), Ok(_)) = (&s.evaluation, &s.scores) else {
        let why = s.scores.as_ref().err().cloned().unwrap_or_default();
        return (None, format!("not usable: {why}"));
    };
    if s.model.role == "production" {
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
    (
        Some(won),
        format!("{words}: AUC {gain:+.3}{interval}, F1 {f1_change:+.3}"),
    )
}

fn write_evaluation(
    ctx: &mut Context,
    scored: &[Scored],
    production: Option<&Scored>,
    min_gain: f64,
) -> Result<()> {
    let verdicts: Vec<(Option<bool>, String)> = scored
        .iter()
        .map(|s| verdict(s, production, min_gain))
        .collect();
    let e = |f: fn(&Evaluation) -> Option<f64>| -> Vec<Option<f64>> {
        scored
            .iter()
            .map(|s| s.evaluation.as_ref().and_then(f))
            .collect()
    };
    let comparison = |f: fn(&AucDifference) -> f64| -> Vec<Option<f64>> {
        scored
            .iter()
            .map(|s| s.comparison.as_ref().map(f))
            .collect()
    };
    if let Some(auc) = production
        .and_then(|p| p.evaluation.as_ref())
        .and_then(|e| e.auc)
    {
        ctx.gauge("production_auc", auc);
    }
    ctx.output("evaluation")?.write(
        Batch::builder()
            .text("model_id", scored.iter().map(|s| s.model.id.as_str()))
            .text("role", scored.iter().map(|s| s.model.role.as_str()))
            .boolean("valid", scored.iter().map(|s| s.scores.is_ok()))
            .i64(
                "samples",
                scored
                    .iter()
                    .map(|s| s.evaluation.as_ref().map_or(0, |e| e.samples as i64)),
            )
            .f64_opt("auc", e(|e| e.auc))
            .f64_opt("accuracy", e(|e| e.accuracy))
            .f64_opt("f1", e(|e| e.f1))
            .f64_opt("brier", e(|e| e.brier))
            .f64_opt("ece", e(|e| e.ece))
            .f64_opt("auc_difference", comparison(|d| d.difference.value))
            .f64_opt("auc_difference_low", comparison(|d| d.difference.low))
            .f64_opt("auc_difference_high", comparison(|d| d.difference.high))
            .f64_opt("p_value", comparison(|d| d.p_value))
            .boolean_opt("beats_production", verdicts.iter().map(|v| v.0))
            .text("verdict", verdicts.iter().map(|v| v.1.as_str()))
            .build()?,
    )
}

fn write_agreement(ctx: &mut Context, scored: &[Scored], threshold: f64) -> Result<()> {
    let valid: Vec<(&str, &Vec<f64>)> = scored
        .iter()
        .filter_map(|s| s.scores.as_ref().ok().map(|v| (s.model.id.as_str(), v)))
        .collect();
    let mut rows = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (a, sa) in &valid {
        for (b, sb) in &valid {
            let (share, differ) = agreement(sa, sb, threshold);
            rows.0.push(*a);
            rows.1.push(*b);
            rows.2.push(share);
            rows.3.push(differ as i64);
        }
    }
    ctx.output("agreement")?.write(
        Batch::builder()
            .text("model_a", rows.0)
            .text("model_b", rows.1)
            .f64("agreement", rows.2)
            .i64("disagreements", rows.3)
            .build()?,
    )
}

fn write_disagreements(
    ctx: &mut Context,
    scored: &[Scored],
    production: Option<&Scored>,
    samples: &[String],
    diagnosis: &[Option<&str>],
    threshold: f64,
) -> Result<()> {
    let mut rows = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    if let Some(Ok(prod)) = production.map(|p| &p.scores) {
        for s in scored.iter().filter(|s| s.model.role == "candidate") {
            let Ok(cand) = &s.scores else { continue };
            for i in 0..samples.len() {
                let (p, c) = (prod[i] >= threshold, cand[i] >= threshold);
                if p == c {
                    continue;
                }
                let truth = diagnosis[i].map(|d| d == "malignant");
                rows.0.push(samples[i].as_str());
                rows.1.push(s.model.id.as_str());
                rows.2.push(prod[i]);
                rows.3.push(cand[i]);
                rows.4.push(diagnosis[i]);
                rows.5.push(match truth {
                    Some(t) if t == c => "candidate",
                    Some(_) => "production",
                    None => "unknown",
                });
            }
        }
    }
    ctx.output("disagreements")?.write(
        Batch::builder()
            .text("sample_id", rows.0)
            .text("candidate", rows.1)
            .f64("production_score", rows.2)
            .f64("candidate_score", rows.3)
            .text_opt("diagnosis", rows.4)
            .text("right", rows.5)
            .build()?,
    )
}

fn write_champion(
    ctx: &mut Context,
    scored: &[Scored],
    production: Option<&Scored>,
    min_gain: f64,
) -> Result<()> {
    let Some(prod) = production else {
        return Err(Error::invalid(
            "no usable production model in `models`: add one row with role = \"production\"",
        ));
    };
    let prod_eval = prod.evaluation.as_ref();
    let best = scored
        .iter()
        .filter(|s| s.model.role == "candidate")
        .filter(|s| match (&s.evaluation, prod_eval) {
            (Some(e), Some(p)) => beats(e, p, s.comparison.as_ref(), min_gain),
            _ => false,
        })
        .max_by(|a, b| {
            let auc = |s: &Scored| s.evaluation.as_ref().and_then(|e| e.auc).unwrap_or(0.0);
            auc(a).total_cmp(&auc(b))
        });
    let (champion, reason) = match best {
        Some(c) => (
            c,
            format!("{} beats production {}", c.model.id, prod.model.id),
        ),
        None => (prod, "no candidate beats production".to_string()),
    };
    let auc = champion.evaluation.as_ref().and_then(|e| e.auc);
    if let Some(auc) = auc {
        ctx.gauge("champion_auc", auc);
    }
    ctx.output("champion")?.write(
        Batch::builder()
            .text("model_id", [champion.model.id.as_str()])
            .text("role", [champion.model.role.as_str()])
            .f64_opt("auc", [auc])
            .text("spec", [champion.model.json.as_str()])
            .text("reason", [reason])
            .build()?,
    )
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
