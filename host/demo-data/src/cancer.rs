//! The Breast Cancer Wisconsin (Diagnostic) data set: its samples, a deterministic split into
//! training, evaluation and unlabeled-pool sets, and the models the demo deploys.

use std::path::Path;

use anyhow::{Context, Result, bail};
use imaging_ml::ModelSpec;
use imaging_ml::train::{Training, train};

/// One sample: its id, 30 features and diagnosis.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `wdbc-0000`…
    pub id: String,
    /// The 30 features, in [`Dataset::features`] order.
    pub features: Vec<f64>,
    /// Whether the diagnosis is malignant.
    pub malignant: bool,
}

/// Which set a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Labeled; models are trained on it.
    Train,
    /// Labeled; shadow-models evaluates on it.
    Eval,
    /// Treated as unlabeled; active-learning ranks it.
    Pool,
}

impl Split {
    /// The split of the sample at `index` in file order: 3 in 10 train, 3 in 10 eval, the rest
    /// pool.
    pub fn of(index: usize) -> Split {
        match index % 10 {
            0..=2 => Split::Train,
            3..=5 => Split::Eval,
            _ => Split::Pool,
        }
    }

    /// Its name in the data.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Eval => "eval",
            Split::Pool => "pool",
        }
    }
}

/// The whole data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Feature names (`mean_radius`…), in column order.
    pub features: Vec<String>,
    /// Every sample, in file order.
    pub samples: Vec<Sample>,
}

impl Dataset {
    /// Reads `breast_cancer_wisconsin.csv`.
    pub fn read(csv: &Path) -> Result<Dataset> {
        let text = std::fs::read_to_string(csv)
            .with_context(|| format!("cannot read {}", csv.display()))?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        if header.len() < 3 || header[0] != "sample_id" || header.last() != Some(&"diagnosis") {
            bail!(
                "{}: expected a header `sample_id,<features>,diagnosis`",
                csv.display()
            );
        }
        let features: Vec<String> = header[1..header.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut samples = Vec::new();
        for (i, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != header.len() {
                bail!("{} line {}: {} cells", csv.display(), i + 2, cells.len());
            }
            let values = cells[1..cells.len() - 1]
                .iter()
                .map(|c| c.parse::<f64>())
                .collect::<Result<Vec<f64>, _>>()
                .with_context(|| {
                    format!(
                        "{} line {}: a feature is not a number",
                        csv.display(),
                        i + 2
                    )
                })?;
            samples.push(Sample {
                id: cells[0].to_string(),
                features: values,
                malignant: cells[cells.len() - 1] == "malignant",
            });
        }
        Ok(Dataset { features, samples })
    }

    /// The samples of one split with their index in the file.
    pub fn split(&self, split: Split) -> impl Iterator<Item = (usize, &Sample)> {
        self.samples
            .iter()
            .enumerate()
            .filter(move |(i, _)| Split::of(*i) == split)
    }

    /// The columns of `names`, for every sample of `split`.
    pub fn rows(&self, split: Split, names: &[String]) -> (Vec<Vec<f64>>, Vec<bool>) {
        let columns: Vec<usize> = names
            .iter()
            .filter_map(|n| self.features.iter().position(|f| f == n))
            .collect();
        self.split(split)
            .map(|(_, s)| {
                (
                    columns.iter().map(|&c| s.features[c]).collect(),
                    s.malignant,
                )
            })
            .unzip()
    }
}

/// A model the demo deploys to shadow-models.
#[derive(Debug, Clone)]
pub struct DemoModel {
    /// `prod-lr-5`…
    pub id: String,
    /// `production` or `candidate`.
    pub role: &'static str,
    /// The trained model.
    pub spec: ModelSpec,
}

/// The production model (a logistic regression on five `mean_*` features) and two candidates
/// (a logistic regression and an MLP with 8 hidden units on all 30), trained on the train split.
pub fn models(data: &Dataset) -> Vec<DemoModel> {
    let five: Vec<String> = [
        "mean_radius",
        "mean_texture",
        "mean_perimeter",
        "mean_area",
        "mean_smoothness",
    ]
    .map(String::from)
    .to_vec();
    let all = data.features.clone();
    let fit = |names: &[String], t: Training| {
        let (rows, labels) = data.rows(Split::Train, names);
        train(names, &rows, &labels, &t)
    };
    vec![
        DemoModel {
            id: "prod-lr-5".into(),
            role: "production",
            spec: fit(&five, Training::default()),
        },
        DemoModel {
            id: "cand-lr-30".into(),
            role: "candidate",
            spec: fit(&all, Training::default()),
        },
        DemoModel {
            id: "cand-mlp-30".into(),
            role: "candidate",
            spec: fit(
                &all,
                Training {
                    hidden: 8,
                    epochs: 400,
                    learning_rate: 0.1,
                    ..Training::default()
                },
            ),
        },
    ]
}
