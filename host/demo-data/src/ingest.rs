//! The demo data as Arrow IPC streams, one per ingest port.

use std::sync::Arc;

use anyhow::Result;
use arrow::array::{
    ArrayRef, BinaryArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{Field, Schema};
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::DemoData;
use crate::cancer::Split;

/// One push into an ingest port.
#[derive(Debug, Clone)]
pub struct Ingest {
    /// The product.
    pub product: &'static str,
    /// Its ingest port.
    pub port: &'static str,
    /// Rows in `data`.
    pub rows: usize,
    /// An Arrow IPC stream.
    pub data: Vec<u8>,
}

fn stream(columns: Vec<(&str, ArrayRef)>) -> Result<(usize, Vec<u8>)> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), array.null_count() > 0))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?;
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok((batch.num_rows(), out))
}

fn text<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn features(data: &DemoData, split: Split, with_diagnosis: bool) -> Result<(usize, Vec<u8>)> {
    let samples: Vec<_> = data.dataset.split(split).map(|(_, s)| s).collect();
    let mut columns: Vec<(&str, ArrayRef)> =
        vec![("sample_id", text(samples.iter().map(|s| s.id.as_str())))];
    if !with_diagnosis {
        // The pool names each sample's study, so active-learning can leave labeled ones out.
        let studies: Vec<String> = samples
            .iter()
            .map(|s| crate::annotations::study_of(&s.id))
            .collect();
        columns.push(("study_id", text(studies.iter().map(String::as_str))));
    }
    for (j, name) in data.dataset.features.iter().enumerate() {
        columns.push((
            name.as_str(),
            Arc::new(Float64Array::from_iter_values(
                samples.iter().map(|s| s.features[j]),
            )),
        ));
    }
    if with_diagnosis {
        columns.push((
            "diagnosis",
            text(
                samples
                    .iter()
                    .map(|s| if s.malignant { "malignant" } else { "benign" }),
            ),
        ));
    }
    stream(columns)
}

impl DemoData {
    /// Every push the demo makes, in an order that lets the DAG run each product once its
    /// inputs are there.
    pub fn ingests(&self) -> Result<Vec<Ingest>> {
        let a = &self.annotations;
        let annotations = stream(vec![
            ("study_id", text(a.iter().map(|x| x.study_id.as_str()))),
            (
                "annotator_id",
                text(a.iter().map(|x| x.annotator_id.as_str())),
            ),
            ("label", text(a.iter().map(|x| x.label.as_str()))),
            (
                "confidence",
                Arc::new(Float64Array::from_iter(a.iter().map(|x| x.confidence))),
            ),
            (
                "annotated_at",
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(a.iter().map(|x| x.annotated_at))
                        .with_timezone("UTC"),
                ),
            ),
        ])?;
        let truth = stream(vec![
            (
                "study_id",
                text(self.ground_truth.iter().map(|(s, _)| s.as_str())),
            ),
            (
                "diagnosis",
                text(self.ground_truth.iter().map(|(_, d)| d.as_str())),
            ),
        ])?;
        let im = &self.images;
        let images = stream(vec![
            ("image_id", text(im.iter().map(|i| i.id.as_str()))),
            ("source", text(im.iter().map(|i| i.source))),
            (
                "width",
                Arc::new(Int64Array::from_iter_values(
                    im.iter().map(|i| i.width as i64),
                )),
            ),
            (
                "height",
                Arc::new(Int64Array::from_iter_values(
                    im.iter().map(|i| i.height as i64),
                )),
            ),
            (
                "pixels",
                Arc::new(BinaryArray::from_iter_values(
                    im.iter().map(|i| i.pixels.as_slice()),
                )),
            ),
        ])?;
        let m = &self.models;
        let specs: Vec<String> = m.iter().map(|x| x.spec.to_json()).collect();
        let models = stream(vec![
            ("model_id", text(m.iter().map(|x| x.id.as_str()))),
            ("role", text(m.iter().map(|x| x.role))),
            ("spec", text(specs.iter().map(String::as_str))),
        ])?;
        let eval = features(self, Split::Eval, true)?;
        let pool = features(self, Split::Pool, false)?;
        let push = |product, port, (rows, data): (usize, Vec<u8>)| Ingest {
            product,
            port,
            rows,
            data,
        };
        let mut pushes = vec![
            push("labeled-studies", "annotations", annotations),
            push("annotator-quality", "ground_truth", truth),
            push("image-quality", "images", images),
            push("shadow-models", "features", eval),
            push("shadow-models", "models", models),
            push("active-learning", "pool", pool),
        ];
        if !self.dicom.is_empty() {
            let dicom = stream(vec![
                ("file_id", text(self.dicom.iter().map(|(n, _)| n.as_str()))),
                (
                    "dicom",
                    Arc::new(BinaryArray::from_iter_values(
                        self.dicom.iter().map(|(_, b)| b.as_slice()),
                    )),
                ),
            ])?;
            pushes.insert(3, push("image-quality", "dicom_files", dicom));
        }
        Ok(pushes)
    }
}
