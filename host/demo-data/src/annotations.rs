//! Simulated annotators with known error rates label the real samples of the Breast Cancer
//! Wisconsin data set, except the pool `active-learning` chooses from (those are the unlabeled
//! samples); a few planted bad rows show what `labeled-studies` rejects.

use crate::cancer::{Dataset, Split};
use crate::rng::Rng;

/// The simulated annotators and their error rates (probability of giving the wrong label).
pub const ANNOTATORS: [(&str, f64); 5] = [
    ("ann-01", 0.03),
    ("ann-02", 0.08),
    ("ann-03", 0.12),
    ("ann-04", 0.20),
    ("ann-05", 0.35),
];

/// 2026-01-05T08:00:00Z in µs.
const FIRST_ANNOTATION_US: i64 = 1_767_600_000_000_000;

/// Each sample's study id (`study-0000`…) and diagnosis (`malignant` or `benign`).
pub fn diagnoses(data: &Dataset) -> Vec<(String, String)> {
    data.samples
        .iter()
        .map(|s| {
            let diagnosis = if s.malignant { "malignant" } else { "benign" };
            (study_of(&s.id), diagnosis.to_string())
        })
        .collect()
}

/// The study id of a sample id: `wdbc-0007` → `study-0007`.
pub fn study_of(sample_id: &str) -> String {
    format!("study-{}", sample_id.trim_start_matches("wdbc-"))
}

/// A generated annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// The study (one per sample).
    pub study_id: String,
    /// The annotator.
    pub annotator_id: String,
    /// The label given.
    pub label: String,
    /// Confidence 0..1, missing for about 5% of rows.
    pub confidence: Option<f64>,
    /// µs since the epoch.
    pub annotated_at: i64,
}

/// The study id and diagnosis of every sample outside the active-learning pool: the studies
/// that have been labeled.
pub fn labeled_diagnoses(data: &Dataset) -> Vec<(String, String)> {
    diagnoses(data)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| Split::of(*i) != Split::Pool)
        .map(|(_, d)| d)
        .collect()
}

/// Three annotators per labeled sample (not the pool), each wrong with its error rate; about
/// 3% of annotations are later revised by the same annotator.
pub fn annotations(data: &Dataset) -> Vec<Annotation> {
    let mut rng = Rng::new(20_260_105);
    let mut out = Vec::new();
    for (index, (study, truth)) in labeled_diagnoses(data).into_iter().enumerate() {
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < 3 {
            let pick = rng.below(ANNOTATORS.len());
            if !chosen.contains(&pick) {
                chosen.push(pick);
            }
        }
        for (k, &who) in chosen.iter().enumerate() {
            let (annotator, error_rate) = ANNOTATORS[who];
            let mut at = FIRST_ANNOTATION_US + index as i64 * 600_000_000 + k as i64 * 60_000_000;
            let revisions = if rng.unit() < 0.03 { 2 } else { 1 };
            for _ in 0..revisions {
                let wrong = rng.unit() < error_rate;
                let label = match (truth.as_str(), wrong) {
                    ("malignant", false) | ("benign", true) => "malignant",
                    _ => "benign",
                };
                let confidence = if rng.unit() < 0.05 {
                    None
                } else if wrong {
                    Some((0.4 + 0.4 * rng.unit()).min(1.0))
                } else {
                    Some((0.6 + 0.4 * rng.unit()).min(1.0))
                };
                let confidence = confidence.map(|c| (c * 1000.0).round() / 1000.0);
                out.push(Annotation {
                    study_id: study.clone(),
                    annotator_id: annotator.to_string(),
                    label: label.to_string(),
                    confidence,
                    annotated_at: at,
                });
                at += 3_600_000_000;
            }
        }
    }
    out
}

/// The annotations as CSV with ISO-8601 timestamps, as `tessera run` and ingest read them.
pub fn annotations_csv(annotations: &[Annotation]) -> String {
    let mut csv = String::from("study_id,annotator_id,label,confidence,annotated_at\n");
    for a in annotations {
        let at = iso(a.annotated_at);
        let confidence = a.confidence.map(|c| c.to_string()).unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{confidence},{at}\n",
            a.study_id, a.annotator_id, a.label
        ));
    }
    csv
}

/// µs since the epoch as `2026-01-05T08:00:00Z`.
pub fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Why `labeled-studies` should reject a planted bad annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planted {
    /// A label that is not `benign` or `malignant`.
    UnknownLabel,
    /// The same study, annotator and time as an earlier row.
    Duplicate,
    /// Confidence below 0 or above 1.
    ConfidenceOutOfRange,
    /// Annotated after the run that reads it.
    FutureTimestamp,
}

impl Planted {
    /// The reason `labeled-studies` gives in `rejected`.
    pub fn reason(self) -> &'static str {
        match self {
            Planted::UnknownLabel => "unknown-label",
            Planted::Duplicate => "duplicate",
            Planted::ConfidenceOutOfRange => "confidence-out-of-range",
            Planted::FutureTimestamp => "future-timestamp",
        }
    }
}

/// 2031-01-01T00:00:00Z in µs: after any run of the demo.
pub const FUTURE_US: i64 = 1_924_992_000_000_000;

/// Twelve bad annotations, three of each kind, built from good ones so only the planted
/// problem is wrong; appended after `good` in the demo's ingest.
pub fn planted(good: &[Annotation]) -> Vec<(Annotation, Planted)> {
    let mut out = Vec::new();
    let pick = |i: usize| good[(i * 397) % good.len().max(1)].clone();
    if good.is_empty() {
        return out;
    }
    for (i, label) in ["malignnt", "normal", "Benign"].into_iter().enumerate() {
        let mut a = pick(i);
        a.label = label.to_string();
        a.annotated_at += 60_000_000;
        out.push((a, Planted::UnknownLabel));
    }
    for i in 3..6 {
        out.push((pick(i), Planted::Duplicate));
    }
    for (i, confidence) in [(6, 1.7), (7, -0.1), (8, 12.0)] {
        let mut a = pick(i);
        a.confidence = Some(confidence);
        a.annotated_at += 60_000_000;
        out.push((a, Planted::ConfidenceOutOfRange));
    }
    for i in 9..12 {
        let mut a = pick(i);
        a.annotated_at = FUTURE_US + i as i64 * 1_000_000;
        out.push((a, Planted::FutureTimestamp));
    }
    out
}
