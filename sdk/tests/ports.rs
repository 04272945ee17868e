//! `tessera_sdk::ports!`: typed rows and columns from product.toml, for ingested inputs,
//! upstream inputs (with the upstream's manifest) and outputs, through a whole `TestRun`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use tessera_sdk::testing::TestRun;
use tessera_sdk::{Batch, Context, Result};

tessera_sdk::ports!(
    manifest = "ports/product.toml",
    upstream = ["ports/upstream.toml"]
);

const MANIFEST: &str = include_str!("ports/product.toml");

fn images() -> Batch {
    Batch::builder()
        .text("study_id", ["s1", "s1", "s2"])
        .binary_opt("pixels", [Some(vec![1u8, 2]), None, Some(vec![3])])
        .i64("width", [512, 256, 1024])
        .f32_opt("score", [Some(0.5), None, Some(1.5)])
        .boolean_opt("reviewed", [Some(true), None, Some(false)])
        .timestamp("taken_at", [1, 2, 3])
        .build()
        .unwrap()
}

fn consensus() -> Batch {
    Batch::builder()
        .text("study_id", ["s1", "s2"])
        .text("label", ["benign", "malignant"])
        .f64_opt("agreement", [Some(1.0), None])
        .build()
        .unwrap()
}

/// One summary row per study: its consensus label, image count and mean width.
fn run(ctx: &mut Context) -> Result<()> {
    let images = ports::images::read_all(ctx)?;
    let consensus = ports::consensus::read_all(ctx)?;
    let labels: std::collections::BTreeMap<&str, &str> = ports::consensus::rows(&consensus)?
        .into_iter()
        .map(|row| (row.study_id, row.label))
        .collect();
    let mut studies: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for row in ports::images::rows(&images)? {
        let entry = studies.entry(row.study_id).or_default();
        entry.0 += 1;
        entry.1 += row.width;
    }
    ports::summary::write(
        ctx,
        studies
            .into_iter()
            .map(|(study, (n, width))| ports::summary::Row {
                study_id: study.to_string(),
                label: labels.get(study).map(|l| l.to_string()),
                images: n,
                mean_width: Some(width as f64 / n as f64),
                thumbnail: None,
                r#match: Some(true),
            }),
    )
}

#[test]
fn rows_carry_declared_types_and_required_columns_are_not_options() {
    let batch = images();
    let rows = ports::images::rows(&batch).unwrap();
    // Each field's type is fixed by the manifest: these bindings only compile if it is.
    let first: &ports::images::Row = &rows[0];
    let (study, width, taken): (&str, i64, i64) = (first.study_id, first.width, first.taken_at);
    let (pixels, score, reviewed): (Option<&[u8]>, Option<f32>, Option<bool>) =
        (first.pixels, first.score, first.reviewed);
    assert_eq!((study, width, taken), ("s1", 512, 1));
    assert_eq!(
        (pixels, score, reviewed),
        (Some(&[1u8, 2][..]), Some(0.5), Some(true))
    );
    assert_eq!(
        (rows[1].pixels, rows[1].score, rows[1].reviewed),
        (None, None, None)
    );
    assert_eq!(ports::images::NAME, "images");
    // An upstream input whose manifest was not given still has its name and readers.
    assert_eq!(ports::unknown_upstream::NAME, "unknown_upstream");
    let columns = ports::images::Columns::of(&batch).unwrap();
    assert_eq!(columns.len(), 3);
    assert_eq!(columns.width.values(), &[512, 256, 1024]);
}

#[test]
fn numeric_ports_borrow_nothing_and_any_column_name_is_a_field() {
    // Columns named like the generated methods, or like a keyword, are plain fields; a port
    // without text or binary has a `Row` without a lifetime.
    let batch = Batch::builder()
        .i64("rows", [3, 4])
        .f64_opt("len", [Some(0.5), None])
        .boolean("type", [true, false])
        .build()
        .unwrap();
    let rows: Vec<ports::counts::Row> = ports::counts::rows(&batch).unwrap();
    assert_eq!(
        rows[0],
        ports::counts::Row {
            rows: 3,
            len: Some(0.5),
            r#type: Some(true)
        }
    );
    let columns = ports::counts::Columns::of(&batch).unwrap();
    assert_eq!((columns.len(), columns.rows.values()), (2, &[3i64, 4][..]));
}

#[test]
fn a_null_in_a_required_column_is_an_error_naming_it() {
    let batch = Batch::builder()
        .text_opt("study_id", [Some("s1"), None])
        .binary("pixels", [vec![], vec![]])
        .i64("width", [1, 2])
        .f32("score", [0.0, 0.0])
        .boolean("reviewed", [true, true])
        .timestamp("taken_at", [1, 2])
        .build()
        .unwrap();
    let error = ports::images::rows(&batch).unwrap_err();
    assert_eq!(
        error.message(),
        "input `images`: column `study_id` is declared required, but row 1 is null"
    );
}

#[test]
fn a_batch_missing_a_declared_column_is_an_error_naming_it() {
    let batch = Batch::builder().text("study_id", ["s1"]).build().unwrap();
    let error = ports::images::Columns::of(&batch).err().unwrap();
    assert!(error.message().contains("pixels"), "{error}");
}

#[test]
fn an_output_row_builds_the_declared_columns_in_declared_order() {
    let batch = ports::summary::batch([ports::summary::Row {
        study_id: "s1".into(),
        images: 2,
        ..Default::default()
    }])
    .unwrap();
    let names: Vec<&str> = batch.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "study_id",
            "label",
            "images",
            "mean_width",
            "thumbnail",
            "match"
        ]
    );
    assert_eq!(batch.text("label").unwrap().get(0), None);
    assert_eq!(batch.i64("images").unwrap().get(0), Some(2));
}

#[test]
fn a_product_on_typed_ports_passes_a_run_held_to_its_manifest() {
    let mut test = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("images", images())
        .input("consensus", consensus());
    test.run(run).unwrap();
    let summary = test.output("summary").unwrap();
    let rows: Vec<(Option<&str>, Option<i64>, Option<f64>)> = (0..summary.num_rows())
        .map(|i| {
            (
                summary.text("label").unwrap().get(i),
                summary.i64("images").unwrap().get(i),
                summary.f64("mean_width").unwrap().get(i),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (Some("benign"), Some(2), Some(384.0)),
            (Some("malignant"), Some(1), Some(1024.0))
        ]
    );
}
