//! The demo mesh's data, generated deterministically from the two real data sets in
//! `examples/data/` plus seeded simulations: annotations by simulated annotators with known
//! error rates (and a few planted bad rows), biopsy ground truth, synthetic X-ray-like images
//! with planted defects next to the real 8×8 digits, the breast-cancer features split into
//! train / eval / pool, and the models trained on the train split.
//!
//! [`DemoData::ingests`] turns it into the Arrow IPC streams `tessera demo` pushes into the
//! products' ingest ports; tests use the same structures to compute the figures they expect
//! independently of the products.

pub mod annotations;
pub mod cancer;
pub mod images;
mod ingest;
pub mod rng;

use std::path::Path;

use anyhow::Result;

pub use ingest::Ingest;

/// How many synthetic images the demo makes.
pub const SYNTHETIC_IMAGES: usize = 160;

/// Everything the demo ingests.
#[derive(Debug, Clone)]
pub struct DemoData {
    /// The breast-cancer data set.
    pub dataset: cancer::Dataset,
    /// Good annotations, then the planted bad ones.
    pub annotations: Vec<annotations::Annotation>,
    /// The planted bad annotations and why each is bad (also at the end of `annotations`).
    pub planted: Vec<(annotations::Annotation, annotations::Planted)>,
    /// (study, diagnosis) for the labeled studies whose biopsy result is known: 3 in 4.
    pub ground_truth: Vec<(String, String)>,
    /// Synthetic images, then the digits.
    pub images: Vec<images::Image>,
    /// The models for shadow-models.
    pub models: Vec<cancer::DemoModel>,
    /// Real DICOM files (name, bytes) from `shared/data/dicom` beside the checkout; none
    /// when that folder is not there.
    pub dicom: Vec<(String, Vec<u8>)>,
}

impl DemoData {
    /// Generates the data from the CSV files in `data_dir` (the project's `examples/data`).
    pub fn generate(data_dir: &Path) -> Result<DemoData> {
        let dataset = cancer::Dataset::read(&data_dir.join("breast_cancer_wisconsin.csv"))?;
        let good = annotations::annotations(&dataset);
        let planted = annotations::planted(&good);
        let mut all = good;
        all.extend(planted.iter().map(|(a, _)| a.clone()));
        let ground_truth = annotations::labeled_diagnoses(&dataset)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 4 != 3)
            .map(|(_, d)| d)
            .collect();
        let mut images = images::synthetic(SYNTHETIC_IMAGES, 20_260_301);
        images.extend(images::digits(&data_dir.join("optical_digits_8x8.csv"))?);
        let models = cancer::models(&dataset);
        let dicom = dicom_files(&data_dir.join("../../../shared/data/dicom"))?;
        Ok(DemoData {
            dataset,
            annotations: all,
            planted,
            ground_truth,
            images,
            models,
            dicom,
        })
    }
}

/// The `.dcm` files of `dir` in name order; none when `dir` does not exist.
fn dicom_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "dcm") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, std::fs::read(&path)?));
        }
    }
    files.sort();
    Ok(files)
}
