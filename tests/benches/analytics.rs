//! Analytics beside the engines users would otherwise reach for: db-benchmark's group-by task
//! on one Parquet file, run by DuckDB, Polars and the `groupby` product (`tessera run`'s code
//! path: the file read by the host, the product in the sandbox, the outputs written as Parquet).
//! It checks that the three answers agree and prints a table. Run with
//! `cargo bench -p tessera-tests --bench analytics` (needs `python3` with duckdb and polars;
//! `TESSERA_BENCH_ROWS` sets the rows, 10,000,000 by default).
//!
//! The data has db-benchmark's shape with a fixed seed: `id1` (100 distinct strings `id001` to
//! `id100`), `id4` (ints 1 to 100), `v1` (ints 1 to 5), `v3` (floats in [0, 100) with six
//! decimals). "Native" is the same SDK `GroupBy` compiled natively, fed by the host's own
//! Parquet reader (dictionaries kept, no read-ahead): what the sandbox costs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use serde_json::Value;
use tessera_core::formats::{FileSink, FileSource, Format};
use tessera_core::io::{BatchSink, BatchSource};
use tessera_sdk::relational::{Agg, GroupBy};

fn generate(path: &Path, rows: usize) {
    let schema = tessera_tests::groupby::schema();
    let mut sink = Box::new(FileSink::create(path, Format::Parquet, &schema).unwrap());
    for batch in tessera_tests::groupby::batches(rows, 1 << 20) {
        sink.write(&batch).unwrap();
    }
    sink.finish().unwrap();
}

/// An Arrow batch as the SDK's batch (the copy the host makes for a product, natively).
fn to_sdk(batch: &RecordBatch) -> tessera_sdk::Batch {
    use tessera_sdk::{Column, Values, VarData};
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let any = array.as_any();
            let values = if let Some(d) =
                any.downcast_ref::<arrow::array::DictionaryArray<arrow::datatypes::Int32Type>>()
            {
                let a = d.values().as_any().downcast_ref::<StringArray>().unwrap();
                let first = a.offsets()[0];
                Values::TextDictionary(tessera_sdk::Dictionary {
                    keys: d.keys().values().iter().map(|&k| k as u32).collect(),
                    values: VarData {
                        data: a.values()[first as usize..a.offsets().last() as usize].to_vec(),
                        offsets: a.offsets().iter().map(|o| (o - first) as u32).collect(),
                    },
                })
            } else if let Some(a) = any.downcast_ref::<StringArray>() {
                let first = a.offsets()[0];
                Values::Text(VarData {
                    data: a.values()[first as usize..a.offsets().last() as usize].to_vec(),
                    offsets: a.offsets().iter().map(|o| (o - first) as u32).collect(),
                })
            } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                Values::Int64(a.values().to_vec())
            } else {
                Values::Float64(
                    any.downcast_ref::<Float64Array>()
                        .unwrap()
                        .values()
                        .to_vec(),
                )
            };
            Column {
                name: field.name().clone(),
                values,
                valid: None,
            }
        })
        .collect();
    tessera_sdk::Batch::new(columns).unwrap()
}

fn group_by(query: &str) -> GroupBy {
    match query {
        "id1" => GroupBy::new(&["id1"], [Agg::sum("v1"), Agg::mean("v3")]),
        _ => GroupBy::new(&["id1", "id4"], [Agg::sum("v1")]),
    }
}

fn native(path: &Path, query: &str) -> Vec<Vec<Value>> {
    let mut by = group_by(query);
    let names = tessera_tests::groupby::declared();
    let indices: Vec<usize> = by
        .columns()
        .iter()
        .map(|c| names.columns.iter().position(|d| d.name == *c).unwrap())
        .collect();
    let mut source =
        FileSource::open(path, Format::Parquet, &tessera_tests::groupby::declared()).unwrap();
    assert!(source.project(&indices));
    assert!(source.keep_dictionaries());
    while let Some(batch) = source.next_batch().unwrap() {
        by.add(&to_sdk(&batch)).unwrap();
    }
    let table = by.finish().unwrap();
    sdk_rows(&table)
}

fn sdk_rows(table: &tessera_sdk::Batch) -> Vec<Vec<Value>> {
    let mut rows: Vec<Vec<Value>> = (0..table.num_rows())
        .map(|i| {
            table
                .columns()
                .iter()
                .map(|c| match &c.values {
                    tessera_sdk::Values::Text(v) => {
                        Value::from(std::str::from_utf8(v.get(i)).unwrap())
                    }
                    tessera_sdk::Values::Int64(v) => Value::from(v[i]),
                    tessera_sdk::Values::Float64(v) => Value::from(v[i]),
                    other => panic!("unexpected {:?}", other.data_type()),
                })
                .collect()
        })
        .collect();
    rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    rows
}

/// The rows of a Parquet output file, sorted.
fn file_rows(path: &Path) -> Vec<Vec<Value>> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for i in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|a| {
                        let any = a.as_any();
                        if let Some(s) = any.downcast_ref::<StringArray>() {
                            Value::from(s.value(i))
                        } else if let Some(n) = any.downcast_ref::<Int64Array>() {
                            Value::from(n.value(i))
                        } else {
                            Value::from(any.downcast_ref::<Float64Array>().unwrap().value(i))
                        }
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }
    rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    rows
}

/// Whether two answers agree: the same keys and integers, floats within a relative 1e-9.
fn agree(who: &str, query: &str, ours: &[Vec<Value>], theirs: &[Vec<Value>]) {
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{who}, {query}: group counts differ"
    );
    for (a, b) in ours.iter().zip(theirs) {
        for (x, y) in a.iter().zip(b) {
            match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) if x.is_f64() || y.is_f64() => assert!(
                    (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0),
                    "{who}, {query}: {a:?} against {b:?}"
                ),
                _ => assert_eq!(x, y, "{who}, {query}: {a:?} against {b:?}"),
            }
        }
    }
}

/// The fastest of three runs, and what that run returned.
fn best_of_three<T>(mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..3 {
        let began = Instant::now();
        let out = run();
        let took = began.elapsed();
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, out));
        }
    }
    best.unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = tessera_tests::bench_rows(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("x.parquet");
    generate(&data, rows);
    let bytes = std::fs::metadata(&data).unwrap().len();

    let peers = std::process::Command::new("python3")
        .arg(tessera_tests::workspace().join("tests/benches/analytics_peers.py"))
        .arg(&data)
        .output()
        .expect("python3 runs (with duckdb and polars)");
    assert!(
        peers.status.success(),
        "{}",
        String::from_utf8_lossy(&peers.stderr)
    );
    let peers: Value = serde_json::from_slice(&peers.stdout).unwrap();

    let wasm = std::fs::read(tessera_tests::built("examples/groupby")).unwrap();
    let runtime = tessera_tests::runtime();
    let product = runtime.load(&wasm).unwrap();

    println!("# Analytics: db-benchmark's group-by task\n");
    println!(
        "{rows} rows, {:.0} MB of Parquet; best of 3 each; DuckDB {}, Polars {}\n",
        bytes as f64 / 1e6,
        peers["versions"]["duckdb"].as_str().unwrap_or("?"),
        peers["versions"]["polars"].as_str().unwrap_or("?")
    );
    println!(
        "| query | DuckDB | Polars | Tessera product | host read (read-ahead thread) / write | native GroupBy | product / DuckDB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (query, label) in [
        ("id1", "`sum(v1), mean(v3) by id1`"),
        ("id1_id4", "`sum(v1) by id1, id4`"),
    ] {
        let out = dir.path().join(format!("out-{query}"));
        let request = tessera_cli::local_run::LocalRun {
            wasm: Default::default(),
            inputs: vec![("x".to_string(), data.clone())],
            out: out.clone(),
            format: Format::Parquet,
            params: vec![("query".to_string(), query.to_string())],
        };
        let (took, result) = best_of_three(|| {
            let result = tessera_cli::local_run::run_product(&product, &request).unwrap();
            assert!(result.outcome.succeeded(), "{:?}", result.outcome.status);
            result
        });
        let port = if query == "id1" {
            "by_id1"
        } else {
            "by_id1_id4"
        };
        let ours = file_rows(&out.join(format!("{port}.parquet")));
        let (native_took, native_rows) = best_of_three(|| native(&data, query));
        let duck = &peers["duckdb"][query];
        let polars = &peers["polars"][query];
        let theirs = |v: &Value| -> Vec<Vec<Value>> {
            let mut rows: Vec<Vec<Value>> = v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().clone())
                .collect();
            rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            rows
        };
        agree("DuckDB", query, &ours, &theirs(duck));
        agree("Polars", query, &ours, &theirs(polars));
        agree("native", query, &ours, &native_rows);
        let duck_s = duck["seconds"].as_f64().unwrap();
        println!(
            "| {label} | {:.2} s | {:.2} s | {:.2} s | {:.2} s / {:.3} s | {:.2} s | {:.1}× |",
            duck_s,
            polars["seconds"].as_f64().unwrap(),
            took.as_secs_f64(),
            result.reading.as_secs_f64(),
            result.writing.as_secs_f64(),
            native_took.as_secs_f64(),
            took.as_secs_f64() / duck_s
        );
    }
    // The data path alone: the product reads what the first query reads and aggregates nothing.
    let request = tessera_cli::local_run::LocalRun {
        wasm: Default::default(),
        inputs: vec![("x".to_string(), data.clone())],
        out: dir.path().join("out-scan"),
        format: Format::Parquet,
        params: vec![("query".to_string(), "scan".to_string())],
    };
    let (took, result) = best_of_three(|| {
        let result = tessera_cli::local_run::run_product(&product, &request).unwrap();
        assert_eq!(result.outcome.gauges.get("rows"), Some(&(rows as f64)));
        result
    });
    println!(
        "| read `id1, v1, v3` only | | | {:.2} s | {:.2} s / {:.3} s | | |",
        took.as_secs_f64(),
        result.reading.as_secs_f64(),
        result.writing.as_secs_f64()
    );
    println!("\nThe three answers agree (keys and sums exactly, means within 1e-9).");
}
