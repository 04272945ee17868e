//! Dictionary-encoded columns (contract 0.1.1) end to end: a Parquet file whose text is stored
//! with dictionary pages, read by `tessera run`'s code path into the `groupby` product (which
//! receives the dictionaries and groups by key) and into a product built against contract
//! 0.1.0 (which receives plain text). Expected answers are computed here from the rows.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use tessera_core::formats::{FileSink, FileSource, Format};
use tessera_core::io::{BatchSink, BatchSource};

/// One row of the generated data.
struct Row {
    id1: Option<String>,
    id4: i64,
    v1: i64,
    v3: f64,
}

fn rows(n: usize) -> Vec<Row> {
    let mut state = 41u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..n)
        .map(|_| {
            let k = next() % 38;
            Row {
                id1: (k != 0).then(|| format!("id{k:03}")),
                id4: (next() % 7) as i64,
                v1: (next() % 5 + 1) as i64,
                v3: (next() % 1_000_000) as f64 / 1000.0,
            }
        })
        .collect()
}

fn write_parquet(path: &Path, rows: &[Row]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id1", DataType::Utf8, true),
        Field::new("id4", DataType::Int64, true),
        Field::new("v1", DataType::Int64, true),
        Field::new("v3", DataType::Float64, true),
    ]));
    let mut sink = Box::new(FileSink::create(path, Format::Parquet, &schema).unwrap());
    for chunk in rows.chunks(50_000) {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter(chunk.iter().map(|r| r.id1.clone()))),
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.id4))),
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.v1))),
                Arc::new(Float64Array::from_iter_values(chunk.iter().map(|r| r.v3))),
            ],
        )
        .unwrap();
        sink.write(&batch).unwrap();
    }
    sink.finish().unwrap();
}

fn declared() -> tessera_core::schema::Schema {
    use tessera_core::schema::{Column, DataType as T};
    tessera_core::schema::Schema::new(vec![
        Column::new("id1", T::Text),
        Column::new("id4", T::Int64),
        Column::new("v1", T::Int64),
        Column::new("v3", T::Float64),
    ])
}

fn read_all(
    path: &Path,
    format: Format,
    schema: &tessera_core::schema::Schema,
) -> Vec<RecordBatch> {
    let mut source = FileSource::open(path, format, schema).unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = source.next_batch().unwrap() {
        batches.push(batch);
    }
    batches
}

fn texts(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..a.len())
                .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn ints(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect()
}

#[test]
fn the_parquet_reader_keeps_dictionary_pages_as_dictionaries_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let data = rows(10_000);
    write_parquet(&path, &data);
    let mut source = FileSource::open(&path, Format::Parquet, &declared()).unwrap();
    assert!(source.project(&[0, 2]));
    assert!(source.keep_dictionaries());
    let batch = source.next_batch().unwrap().unwrap();
    assert!(matches!(
        batch.column(0).data_type(),
        DataType::Dictionary(_, value) if **value == DataType::Utf8
    ));
    assert_eq!(batch.column(1).data_type(), &DataType::Int64);
    // Asked after the first batch, a source keeps what it does.
    assert!(!source.keep_dictionaries());
}

#[test]
fn a_product_groups_dictionary_encoded_text_by_key_and_gets_the_right_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let data = rows(300_000);
    write_parquet(&path, &data);
    let out = dir.path().join("out");
    let result = tessera_cli::local_run::run(&tessera_cli::local_run::LocalRun {
        wasm: tessera_tests::built("examples/groupby"),
        inputs: vec![("x".into(), path)],
        out: out.clone(),
        format: Format::Arrow,
        params: vec![("query".into(), "both".into())],
    })
    .unwrap();
    assert!(result.outcome.succeeded(), "{:?}", result.outcome.status);

    let mut by_id1: BTreeMap<Option<String>, (i64, f64, i64)> = BTreeMap::new();
    let mut by_id1_id4: BTreeMap<(Option<String>, i64), i64> = BTreeMap::new();
    for r in &data {
        let e = by_id1.entry(r.id1.clone()).or_default();
        e.0 += r.v1;
        e.1 += r.v3;
        e.2 += 1;
        *by_id1_id4.entry((r.id1.clone(), r.id4)).or_default() += r.v1;
    }

    let schema = tessera_core::schema::Schema::new(vec![
        tessera_core::schema::Column::new("id1", tessera_core::schema::DataType::Text),
        tessera_core::schema::Column::new("v1", tessera_core::schema::DataType::Int64),
        tessera_core::schema::Column::new("v3", tessera_core::schema::DataType::Float64),
    ]);
    let got = read_all(&out.join("by_id1.arrow"), Format::Arrow, &schema);
    let ids = texts(&got, "id1");
    let sums = ints(&got, "v1");
    let means: Vec<f64> = got
        .iter()
        .flat_map(|b| {
            b.column_by_name("v3")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(ids.len(), by_id1.len());
    assert!(ids.contains(&None), "the null key is a group of its own");
    for ((id, sum), mean) in ids.iter().zip(&sums).zip(&means) {
        let (v1, v3, n) = by_id1[id];
        assert_eq!(*sum, v1, "{id:?}");
        let expected = v3 / n as f64;
        assert!((mean - expected).abs() <= 1e-9 * expected.abs(), "{id:?}");
    }

    let schema = tessera_core::schema::Schema::new(vec![
        tessera_core::schema::Column::new("id1", tessera_core::schema::DataType::Text),
        tessera_core::schema::Column::new("id4", tessera_core::schema::DataType::Int64),
        tessera_core::schema::Column::new("v1", tessera_core::schema::DataType::Int64),
    ]);
    let got = read_all(&out.join("by_id1_id4.arrow"), Format::Arrow, &schema);
    let pairs: BTreeMap<(Option<String>, i64), i64> = texts(&got, "id1")
        .into_iter()
        .zip(ints(&got, "id4"))
        .zip(ints(&got, "v1"))
        .collect();
    assert_eq!(pairs, by_id1_id4);
}

#[test]
fn a_component_built_against_contract_0_1_0_still_runs_and_reads_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.parquet");
    let data = rows(20_000);
    let schema = Arc::new(Schema::new(vec![
        Field::new("label", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter(data.iter().map(|r| r.id1.clone()))),
            Arc::new(Int64Array::from_iter_values(data.iter().map(|r| r.v1))),
        ],
    )
    .unwrap();
    let mut sink = Box::new(FileSink::create(&path, Format::Parquet, &schema).unwrap());
    sink.write(&batch).unwrap();
    sink.finish().unwrap();

    let wasm = tessera_tests::built("tests/fixtures/contract-0-1-0");
    let imports = tessera_core::package::interface(&std::fs::read(&wasm).unwrap())
        .unwrap()
        .imports;
    assert!(
        imports.contains(&"tessera:product/inputs@0.1.0".to_string()),
        "built against 0.1.0: {imports:?}"
    );
    let out = dir.path().join("out");
    let result = tessera_cli::local_run::run(&tessera_cli::local_run::LocalRun {
        wasm,
        inputs: vec![("rows".into(), path)],
        out: out.clone(),
        format: Format::Arrow,
        params: Vec::new(),
    })
    .unwrap();
    assert!(result.outcome.succeeded(), "{:?}", result.outcome.status);
    let schema = tessera_core::schema::Schema::new(vec![
        tessera_core::schema::Column::new("label", tessera_core::schema::DataType::Text),
        tessera_core::schema::Column::new("n", tessera_core::schema::DataType::Int64),
    ]);
    let copied = read_all(&out.join("copy.arrow"), Format::Arrow, &schema);
    let expected: Vec<Option<String>> = data.iter().map(|r| r.id1.clone()).collect();
    assert_eq!(texts(&copied, "label"), expected);
    assert_eq!(
        ints(&copied, "n"),
        data.iter().map(|r| r.v1).collect::<Vec<_>>()
    );
}
