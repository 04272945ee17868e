//! `image-quality` on the real DICOM files of `../shared/data/dicom` (pydicom's test set): every
//! file is measured or has its reason, the header facts and the measures of every decoded file
//! equal pydicom's and numpy's (`tests/dicom_reference.py`), the five encodings of `MR_small`
//! give one image, and the GPU's figures agree with the CPU's on every file within the
//! product's stated tolerance.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use serde_json::Value;
use tessera_core::io::{MemorySink, MemorySource};
use tessera_runtime::{RunRequest, Runtime};

/// Relative difference allowed between the GPU's f32 figures and the CPU's f64 ones (the
/// product's `measures::GPU_TOLERANCE`).
const GPU_TOLERANCE: f64 = 1e-4;

fn dicom_files() -> Vec<std::path::PathBuf> {
    let dir = tessera_tests::workspace().join("../shared/data/dicom");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    files
}

/// One row per file of `dicom_quality`, by file name: (measured, reason, figures by column).
type Rows = BTreeMap<String, (bool, String, BTreeMap<&'static str, Option<f64>>)>;

const FIGURES: [&str; 6] = ["mean", "std", "min", "max", "sharpness", "noise"];

fn run_on(runtime: &Runtime) -> (Rows, RecordBatch) {
    let wasm = std::fs::read(tessera_tests::built("products/image-quality")).unwrap();
    let product = runtime.load(&wasm).unwrap();
    let manifest = product.manifest().clone();
    let schema = |port: &str| {
        manifest
            .input(port)
            .unwrap()
            .ingest_schema()
            .unwrap()
            .to_arrow()
    };
    let files = dicom_files();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let bytes: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let batch = RecordBatch::try_new(
        schema("dicom_files"),
        vec![
            Arc::new(StringArray::from(names.clone())),
            Arc::new(BinaryArray::from_iter_values(bytes.iter())),
        ],
    )
    .unwrap();
    let images = schema("images");
    let (quality, counts, dicom) = (MemorySink::new(), MemorySink::new(), MemorySink::new());
    let outcome = product.run_blocking(
        RunRequest::new("dicom-1", 0)
            .input("images", Box::new(MemorySource::new(images, Vec::new())))
            .input(
                "dicom_files",
                Box::new(MemorySource::new(batch.schema(), vec![batch])),
            )
            .output("image_quality", Box::new(quality))
            .output("flag_counts", Box::new(counts))
            .output("dicom_quality", Box::new(dicom.clone())),
    );
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    let batches = dicom.batches();
    let out = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let text = |c: &str| {
        out.column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone()
    };
    let (ids, reasons) = (text("file_id"), text("reason"));
    let measured = out
        .column_by_name("measured")
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap()
        .clone();
    let mut rows = Rows::new();
    for i in 0..out.num_rows() {
        let figures = FIGURES
            .iter()
            .map(|c| {
                let column = out
                    .column_by_name(c)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap();
                (*c, column.is_valid(i).then(|| column.value(i)))
            })
            .collect();
        rows.insert(
            ids.value(i).to_string(),
            (measured.value(i), reasons.value(i).to_string(), figures),
        );
    }
    (rows, out)
}

fn reference() -> Value {
    let paths: Vec<String> = dicom_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let output = tessera_tests::python_script(
        "python3".as_ref(),
        "dicom_reference.py",
        &serde_json::to_string(&paths).unwrap(),
        "pydicom and numpy",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn relative(a: f64, b: f64, scale: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(scale).max(f64::MIN_POSITIVE)
}

#[test]
fn every_real_dicom_file_is_measured_or_flagged_and_its_figures_are_pydicoms() {
    let (rows, out) = run_on(&tessera_tests::runtime_without_gpu());
    let expected = reference();
    assert_eq!(rows.len(), dicom_files().len());
    for (name, (measured, reason, figures)) in &rows {
        // Measured, or the reason is given.
        assert!(
            *measured == reason.is_empty(),
            "{name}: {measured} {reason:?}"
        );
        let want = &expected[name];
        if *measured {
            // Whatever this product decodes, pydicom decodes to the same values.
            assert_eq!(want["decoded"], true, "{name}: pydicom could not: {want}");
            for column in FIGURES {
                let (got, want) = (figures[column].unwrap(), want[column].as_f64().unwrap());
                assert!(
                    relative(got, want, 1e-9) < 1e-9,
                    "{name} {column}: {got} vs {want}"
                );
            }
        }
    }
    // Measured here exactly when pydicom decodes it: the pure-Rust decoders plus the
    // product's own reader of 1- and 32-bit data cover every file pydicom reads.
    for (name, want) in expected.as_object().unwrap() {
        assert_eq!(
            rows[name].0,
            want["decoded"] == true,
            "{name}: {:?} vs {want}",
            rows[name]
        );
    }
    assert!(rows["rtdose.dcm"].0 && rows["liver_1frame.dcm"].0);
    // The truncated file and the one without file meta carry their reasons.
    assert!(
        rows["MR_truncated.dcm"]
            .1
            .contains("not a readable DICOM file"),
        "{:?}",
        rows["MR_truncated.dcm"]
    );
    assert!(
        rows["no_meta.dcm"].1.contains("not a readable DICOM file"),
        "{:?}",
        rows["no_meta.dcm"]
    );
    // One image in five encodings: one set of figures.
    let mr = &rows["MR_small.dcm"].2;
    for variant in [
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_implicit.dcm",
    ] {
        assert_eq!(&rows[variant].2, mr, "{variant}");
    }
    // The header facts of CT_small, as pydicom reads them.
    let ct = (0..out.num_rows())
        .find(|&i| {
            out.column_by_name("file_id")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(i)
                == "CT_small.dcm"
        })
        .unwrap();
    let int = |c: &str| {
        out.column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(ct)
    };
    let text = |c: &str| {
        out.column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(ct)
            .to_string()
    };
    let want = &expected["CT_small.dcm"];
    assert_eq!(int("rows"), want["rows"].as_i64().unwrap());
    assert_eq!(int("columns"), want["columns"].as_i64().unwrap());
    assert_eq!(int("bits_stored"), want["bits_stored"].as_i64().unwrap());
    assert_eq!(text("modality"), want["modality"].as_str().unwrap());
    assert_eq!(
        text("transfer_syntax"),
        want["transfer_syntax"].as_str().unwrap()
    );
    let float = |c: &str| {
        out.column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(ct)
    };
    assert_eq!(float("rescale_slope"), want["rescale"][0].as_f64().unwrap());
    assert_eq!(
        float("rescale_intercept"),
        want["rescale"][1].as_f64().unwrap()
    );
}

#[test]
fn the_gpu_and_the_cpu_agree_on_every_real_dicom_file() {
    let gpu = tessera_tests::runtime();
    if !tessera_tests::gpu_available(&gpu) {
        return;
    }
    let (on_gpu, _) = run_on(&gpu);
    let (on_cpu, _) = run_on(&tessera_tests::runtime_without_gpu());
    let mut compared = 0;
    for (name, (measured, _, cpu)) in &on_cpu {
        assert_eq!(on_gpu[name].0, *measured, "{name}");
        if !measured {
            continue;
        }
        // Figures near zero are compared relative to the image's value range.
        let range = cpu["max"].unwrap() - cpu["min"].unwrap();
        for column in FIGURES {
            let (c, g) = (cpu[column].unwrap(), on_gpu[name].2[column].unwrap());
            let scale = match column {
                "sharpness" => range * range * 1e-6,
                _ => range * 1e-6,
            };
            assert!(
                relative(g, c, scale) < GPU_TOLERANCE,
                "{name} {column}: GPU {g} vs CPU {c}"
            );
        }
        compared += 1;
    }
    assert!(compared >= 8, "{compared} files compared");
}
