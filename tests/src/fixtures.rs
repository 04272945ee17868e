//! Deterministic fixtures from real data: simulated annotators with known error rates label the
//! real samples of the Breast Cancer Wisconsin data set.

use std::path::Path;

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

/// A small, seeded pseudo-random generator (SplitMix64), so fixtures never change.
pub struct Rng(u64);

impl Rng {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// One sample's id and diagnosis.
pub fn diagnoses(csv: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(csv).expect("the data set is readable");
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let id = line.split(',').next().unwrap_or_default();
            let diagnosis = line.rsplit(',').next().unwrap_or_default();
            (
                format!("study-{}", id.trim_start_matches("wdbc-")),
                diagnosis.to_string(),
            )
        })
        .collect()
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

/// Three annotators per sample, each wrong with its error rate; about 3% of annotations are
/// later revised by the same annotator.
pub fn annotations(csv: &Path) -> Vec<Annotation> {
    let mut rng = Rng::new(20_260_105);
    let mut out = Vec::new();
    for (index, (study, truth)) in diagnoses(csv).into_iter().enumerate() {
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
        let at = chrono::DateTime::from_timestamp_micros(a.annotated_at)
            .expect("a valid time")
            .format("%Y-%m-%dT%H:%M:%SZ");
        let confidence = a.confidence.map(|c| c.to_string()).unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{confidence},{at}\n",
            a.study_id, a.annotator_id, a.label
        ));
    }
    csv
}

/// Publishes `rows` greetings (`name` = `person-0000`…, `greeting` = `Hello, person-0000!`…)
/// as the next data version of `product`'s port `greetings`, straight through the store.
pub fn publish_greetings(store: &dyn tessera_store::Store, product: &str, run: &str, rows: usize) {
    use std::sync::Arc;

    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("greeting", DataType::Utf8, false),
    ]));
    let names: Vec<String> = (0..rows).map(|i| format!("person-{i:04}")).collect();
    let greetings: Vec<String> = names.iter().map(|n| format!("Hello, {n}!")).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(greetings)),
        ],
    )
    .expect("the columns match the schema");
    let mut sink = store
        .stage(product, run, "greetings", schema)
        .expect("staging works");
    sink.write(&batch).expect("the batch is written");
    sink.finish().expect("the sink finishes");
    store
        .publish(
            product,
            run,
            &tessera_store::Publication {
                ports: std::collections::BTreeMap::from([("greetings".to_string(), rows as u64)]),
                product_version: "0.1.0".into(),
                ..Default::default()
            },
        )
        .expect("the version publishes");
}
