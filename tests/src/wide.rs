//! The `wide` product and its large output, for the benchmarks that read many rows: four
//! columns (a, b, c: float64, label: text of 5,000 distinct values) in batches of 65,536 rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Float64Array, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use tessera_store::Store;

/// The wide schema: a, b, c (float64) and label (text).
pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
    ]))
}

/// Rows `start..start + n` of the wide data, as one batch of [`schema`].
pub fn batch(schema: &Arc<Schema>, start: usize, n: usize) -> RecordBatch {
    let a: Float64Array = (start..start + n).map(|i| i as f64).collect();
    let b: Float64Array = (start..start + n).map(|i| (i as f64).sqrt()).collect();
    let c: Float64Array = (start..start + n).map(|i| (i % 97) as f64 * 0.5).collect();
    let mut label = StringBuilder::with_capacity(n, n * 10);
    for i in start..start + n {
        label.append_value(format!("label-{:04}", i % 5000));
    }
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(a),
            Arc::new(b),
            Arc::new(c),
            Arc::new(label.finish()),
        ],
    )
    .unwrap()
}

/// `rows` rows of the wide data in batches of 65,536.
pub fn batches(rows: usize) -> impl Iterator<Item = RecordBatch> {
    let schema = schema();
    (0..rows)
        .step_by(64 * 1024)
        .map(move |start| batch(&schema, start, (rows - start).min(64 * 1024)))
}

/// Publishes `rows` rows of (a, b, c: float64, label: text) as `product`'s port `rows`.
pub fn publish(store: &dyn Store, product: &str, rows: usize) {
    let mut sink = store.stage(product, "wide", "rows", schema()).unwrap();
    for batch in batches(rows) {
        sink.write(&batch).unwrap();
    }
    sink.finish().unwrap();
    store
        .publish(
            product,
            "wide",
            &tessera_store::Publication::outputs(BTreeMap::from([(
                "rows".to_string(),
                rows as u64,
            )])),
        )
        .unwrap();
}

/// The `wide` product: hello under another name, with a `rows` port of the wide schema.
pub fn product() -> Vec<u8> {
    let hello = std::fs::read(crate::built("examples/hello")).unwrap();
    crate::repackage(&hello, |manifest| {
        manifest
            .replace("name = \"hello\"", "name = \"wide\"")
            .replace(
                "name = \"greetings\"\ndescription = \"One greeting per person\"\nschema = { name = { type = \"text\", required = true }, greeting = { type = \"text\", required = true } }\nchecks = [{ kind = \"not_null\", column = \"greeting\" }]",
                "name = \"rows\"\nschema = { a = \"float64\", b = \"float64\", c = \"float64\", label = \"text\" }",
            )
    })
}
