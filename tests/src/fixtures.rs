//! Deterministic fixtures from real data: simulated annotators with known error rates label the
//! real samples of the Breast Cancer Wisconsin data set.

use std::path::Path;

pub use tessera_demo_data::annotations::{ANNOTATORS, Annotation, annotations_csv};
pub use tessera_demo_data::rng::Rng;

/// The data set at `csv`.
pub fn dataset(csv: &Path) -> tessera_demo_data::cancer::Dataset {
    tessera_demo_data::cancer::Dataset::read(csv).expect("the data set is readable")
}

/// One sample's study id and diagnosis.
pub fn diagnoses(csv: &Path) -> Vec<(String, String)> {
    tessera_demo_data::annotations::diagnoses(&dataset(csv))
}

/// Three annotators per sample, each wrong with its error rate; about 3% of annotations are
/// later revised by the same annotator.
pub fn annotations(csv: &Path) -> Vec<Annotation> {
    tessera_demo_data::annotations::annotations(&dataset(csv))
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
