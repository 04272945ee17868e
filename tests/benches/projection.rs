//! Reading one column of four from Parquet and Arrow IPC files, as a product that opens only
//! that column makes the host do; prints a table. Run with
//! `cargo bench -p tessera-tests --bench projection`.
//!
//! The file holds the wide data (a, b, c: float64; label: text), `TESSERA_BENCH_ROWS` rows
//! (default 5 million). "Whole" decodes and conforms every column and then keeps `b` (what the
//! host did before projections reached the readers); "pushed down" narrows the source to `b`
//! first ([`BatchSource::project`]). Best of three, in one process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use tessera_core::formats::{FileSink, FileSource, Format};
use tessera_core::io::{BatchSink, BatchSource};
use tessera_core::schema::{Column, DataType, Schema};

fn declared() -> Schema {
    Schema::new(vec![
        Column::new("a", DataType::Float64),
        Column::new("b", DataType::Float64),
        Column::new("c", DataType::Float64),
        Column::new("label", DataType::Text),
    ])
}

/// Rows read and the time taken, best of three.
fn best_of_three(read: impl Fn() -> u64) -> (u64, Duration) {
    let mut best = Duration::MAX;
    let mut rows = 0;
    for _ in 0..3 {
        let began = Instant::now();
        rows = read();
        best = best.min(began.elapsed());
    }
    (rows, best)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = tessera_tests::bench_rows(5_000_000);
    let dir = tempfile::tempdir().unwrap();
    println!("# Projection pushed down to the file readers\n");
    println!("{rows} rows of a, b, c (float64) and label (text); reading `b` only; best of 3\n");
    println!("| file | bytes | whole, then `b` | `b` pushed down | speed-up |");
    println!("|---|---:|---:|---:|---:|");
    for format in [Format::Parquet, Format::Arrow] {
        let path = dir.path().join(format!("wide.{}", format.extension()));
        let mut sink =
            Box::new(FileSink::create(&path, format, &tessera_tests::wide::schema()).unwrap());
        for batch in tessera_tests::wide::batches(rows) {
            sink.write(&batch).unwrap();
        }
        sink.finish().unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        let read = |push: bool| {
            let mut source = FileSource::open(&path, format, &declared()).unwrap();
            let pushed = push && source.project(&[1]);
            assert_eq!(pushed, push, "{format:?} was not narrowed");
            let mut total = 0u64;
            while let Some(batch) = source.next_batch().unwrap() {
                let b = if pushed {
                    batch
                } else {
                    batch.project(&[1]).unwrap()
                };
                assert_eq!(b.num_columns(), 1);
                total += b.num_rows() as u64;
            }
            total
        };
        let (whole_rows, whole) = best_of_three(|| read(false));
        let (pushed_rows, pushed) = best_of_three(|| read(true));
        assert_eq!(whole_rows, rows as u64);
        assert_eq!(pushed_rows, rows as u64);
        println!(
            "| {format:?} | {:.0} MB | {:.3} s | {:.3} s | {:.1}× |",
            bytes as f64 / 1e6,
            whole.as_secs_f64(),
            pushed.as_secs_f64(),
            whole.as_secs_f64() / pushed.as_secs_f64()
        );
    }
}
