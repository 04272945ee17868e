//! Choosing how Tessera writes Parquet: each compression codec, with dictionary encoding on
//! every column or only on the columns likely to repeat (text, integers, booleans; not
//! floats), on two tables: the wide data (3 × float64 + text of 5,000 labels) and the
//! analytics data (100 labels, small integers, floats). Prints write time, size and read time,
//! best of 3, and marks the properties `tessera_core::formats::parquet_properties` uses.
//! Run with `cargo bench -p tessera-tests --bench parquet_write` (`TESSERA_BENCH_ROWS` sets the
//! rows, 5,000,000 by default).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

fn write(schema: &SchemaRef, batches: &[RecordBatch], props: WriterProperties) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut out, schema.clone(), Some(props)).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    out
}

fn read(bytes: &[u8]) -> usize {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}

fn best_of_three(mut run: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let began = Instant::now();
            run();
            began.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = tessera_tests::bench_rows(5_000_000);
    let wide_schema = tessera_tests::wide::schema();
    let wide: Vec<RecordBatch> = tessera_tests::wide::batches(rows).collect();
    let tables = [("wide", wide_schema, wide), {
        let batches = tessera_tests::groupby::batches(rows, 64 * 1024).collect();
        ("analytics", tessera_tests::groupby::schema(), batches)
    }];
    let codecs = [
        ("none", Compression::UNCOMPRESSED),
        ("snappy", Compression::SNAPPY),
        ("zstd(1)", Compression::ZSTD(ZstdLevel::try_new(1).unwrap())),
        ("zstd(3)", Compression::ZSTD(ZstdLevel::try_new(3).unwrap())),
    ];
    println!("# Writing Parquet: codecs and dictionary encoding\n");
    println!("{rows} rows per table; best of 3; in memory (no disk)\n");
    println!("| table | codec | dictionary | write | size | read | used |");
    println!("|---|---|---|---:|---:|---:|---|");
    for (name, schema, batches) in &tables {
        let chosen = tessera_core::formats::parquet_properties(schema);
        for (codec_name, codec) in codecs {
            for floats in [true, false] {
                let mut builder = WriterProperties::builder().set_compression(codec);
                if !floats {
                    for field in schema.fields() {
                        if matches!(field.data_type(), DataType::Float64 | DataType::Float32) {
                            builder = builder
                                .set_column_dictionary_enabled(field.name().as_str().into(), false);
                        }
                    }
                }
                let props = builder.build();
                let used = props.compression(&"a".into()) == chosen.compression(&"a".into())
                    && schema.fields().iter().all(|f| {
                        let column = f.name().as_str().into();
                        props.dictionary_enabled(&column) == chosen.dictionary_enabled(&column)
                    });
                let mut bytes = Vec::new();
                let took = best_of_three(|| bytes = write(schema, batches, props.clone()));
                let mut read_rows = 0;
                let read_took = best_of_three(|| read_rows = read(&bytes));
                assert_eq!(read_rows, rows);
                println!(
                    "| {name} | {codec_name} | {} | {:.2} s | {:.0} MB | {:.2} s | {} |",
                    if floats { "every column" } else { "not floats" },
                    took.as_secs_f64(),
                    bytes.len() as f64 / 1e6,
                    read_took.as_secs_f64(),
                    if used { "**yes**" } else { "" }
                );
            }
        }
    }
}
