//! A bounded fuzz of every ingest decoder: valid bodies of each format, mutated (bit flips,
//! byte runs, truncation, splices, random bytes), must each get an answer, within a wall-clock
//! bound, that is either rows matching the schema or a refusal: never a hang, a panic that
//! escapes, or a host failure. `TESSERA_FUZZ_CASES` sets the cases per format (default 300,
//! seconds in all); `TESSERA_FUZZ_SEED` replays a run.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use tessera_core::formats::Format;
use tessera_core::io::MemorySink;
use tessera_core::schema::{Column, DataType, Schema};

use super::{Rejection, decode};

/// The longest one input may take before it counts as a hang.
const BOUND: Duration = Duration::from_secs(20);

fn schema() -> Schema {
    Schema::new(vec![
        Column::new("id", DataType::Text).required(),
        Column::new("n", DataType::Int64),
        Column::new("x", DataType::Float64),
        Column::new("y", DataType::Float32),
        Column::new("ok", DataType::Boolean),
        Column::new("at", DataType::Timestamp),
        Column::new("blob", DataType::Binary),
    ])
}

fn batch(rows: usize) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("id-{i}")),
        )),
        Arc::new(Int64Array::from_iter(
            (0..rows).map(|i| (i % 5 != 0).then_some(i as i64 * 7 - 3)),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| i as f64 / 3.0),
        )),
        Arc::new(Float32Array::from_iter_values((0..rows).map(|i| i as f32))),
        Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 2 == 0)))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                (0..rows).map(|i| 1_700_000_000_000_000 + i as i64),
            )
            .with_timezone(tessera_core::schema::UTC),
        ),
        Arc::new(BinaryArray::from_iter_values(
            (0..rows).map(|i| format!("b{i}").into_bytes()),
        )),
    ];
    RecordBatch::try_new(schema().to_arrow(), columns).expect("the seed batch is valid")
}

fn seed(format: Format) -> Vec<u8> {
    let rows = 40;
    match format {
        Format::Csv => {
            let mut out = String::from("id,n,x,y,ok,at,blob\n");
            for i in 0..rows {
                out.push_str(&format!(
                    "id-{i},{},{},{i}.5,{},2024-05-01T12:00:{:02}Z,\"b{i}\"\n",
                    i * 7,
                    i as f64 / 3.0,
                    i % 2 == 0,
                    i % 60
                ));
            }
            out.into_bytes()
        }
        Format::Ndjson => {
            let mut out = String::new();
            for i in 0..rows {
                out.push_str(&format!(
                    "{{\"id\":\"id-{i}\",\"n\":{},\"x\":{},\"ok\":true,\"at\":\"2024-05-01T12:00:00Z\",\"blob\":\"b\"}}\n",
                    i * 7,
                    i as f64 / 3.0
                ));
            }
            out.into_bytes()
        }
        Format::Arrow => {
            let mut out = Vec::new();
            let b = batch(rows);
            let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &b.schema())
                .expect("an IPC stream writer");
            writer.write(&b).expect("the seed is written");
            writer.finish().expect("the seed is finished");
            drop(writer);
            out
        }
        Format::Parquet => {
            let mut out = Vec::new();
            let b = batch(rows);
            let props = parquet::file::properties::WriterProperties::builder()
                .set_max_row_group_row_count(Some(16))
                .build();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut out, b.schema(), Some(props))
                    .expect("a Parquet writer");
            writer.write(&b).expect("the seed is written");
            writer.close().expect("the seed is finished");
            out
        }
    }
}

/// An Arrow IPC *file* seed (the `Arrow` format reads both stream and file).
fn arrow_file_seed() -> Vec<u8> {
    let mut out = Vec::new();
    let b = batch(40);
    let mut writer =
        arrow::ipc::writer::FileWriter::try_new(&mut out, &b.schema()).expect("an IPC file writer");
    writer.write(&b).expect("the seed is written");
    writer.finish().expect("the seed is finished");
    drop(writer);
    out
}

/// splitmix64: a small deterministic generator, so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\x00",
    b"\"",
    b"\n",
    b"\r",
    b",",
    b"{",
    b"}",
    b"\xff\xff\xff\x7f",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x80",
    b"99999999999999999999999",
    b"-9223372036854775808",
    b"NaN",
    b"1e999",
    b"\"id\":1,\"id\":2,",
    b"PAR1",
    b"ARROW1",
];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(len + 1);
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, piece.iter().copied());
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                let end = (at + piece.len()).min(len);
                data.splice(at..end, piece.iter().copied());
            }
            4 if len > 0 => data.truncate(rng.below(len)),
            5 if len > 1 => {
                let from = rng.below(len);
                let to = from + rng.below(len - from).min(64);
                data.drain(from..to);
            }
            6 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(256)).min(len);
                let copy = data[from..to].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            _ => {
                let n = rng.below(64);
                let at = rng.below(len + 1);
                let noise: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, noise);
            }
        }
    }
    data
}

/// What one decode gave: rows, a refusal, or a host failure (a defect).
enum Answer {
    Rows(Vec<RecordBatch>),
    Refused(String),
    Host(String),
}

fn answer(format: Format, body: Vec<u8>, spool: std::path::PathBuf) -> Option<Answer> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let schema = schema();
        let sink = MemorySink::new();
        let mut staged = sink.clone();
        let result = decode(
            Box::new(Cursor::new(body)),
            format,
            &schema,
            &mut staged,
            &spool,
        );
        let _ = tx.send(match result {
            Ok(_) => Answer::Rows(sink.batches()),
            Err(Rejection::Invalid(problems)) => Answer::Refused(
                problems
                    .first()
                    .map(|p| p.reason.clone())
                    .unwrap_or_default(),
            ),
            Err(Rejection::Host(message)) => Answer::Host(message),
        });
    });
    rx.recv_timeout(BOUND).ok()
}

fn fuzz(format: Format, seeds: &[Vec<u8>]) {
    let cases: usize = std::env::var("TESSERA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("TESSERA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x7e55_e4a0);
    let dir = tempfile::tempdir().expect("a spool directory");
    let mut rng = Rng(seed ^ format as u64);
    let (mut accepted, mut refused, mut gave_up) = (0, 0, 0);
    let started = Instant::now();
    for case in 0..cases {
        let body = match case {
            0 => seeds[0].clone(),
            _ if case % 17 == 0 => (0..rng.below(512)).map(|_| rng.next() as u8).collect(),
            _ => mutate(&seeds[rng.below(seeds.len())], &mut rng),
        };
        let spool = dir.path().join(format!("case-{case}"));
        let Some(answer) = answer(format, body.clone(), spool) else {
            let kept = std::env::temp_dir().join(format!("tessera-fuzz-hang-{format}-{case}"));
            let _ = std::fs::write(&kept, &body);
            panic!(
                "{format} case {case} (seed {seed}) got no answer within {BOUND:?}; the input is \
                 in {}",
                kept.display()
            );
        };
        match answer {
            Answer::Rows(batches) => {
                let expected = schema().to_arrow();
                for b in &batches {
                    assert_eq!(
                        b.schema(),
                        expected,
                        "{format} case {case}: rows off-schema"
                    );
                    assert_eq!(
                        b.column(0).null_count(),
                        0,
                        "{format} case {case}: a null in the required column was accepted"
                    );
                }
                accepted += 1;
            }
            Answer::Refused(reason) => {
                if reason.contains("decoder gave up") {
                    gave_up += 1;
                }
                refused += 1;
            }
            Answer::Host(message) => {
                panic!("{format} case {case} (seed {seed}) is a host failure: {message}")
            }
        }
    }
    assert!(
        accepted >= 1,
        "{format}: the unmutated seed must be accepted"
    );
    eprintln!(
        "fuzz {format}: {cases} cases in {:.1?}: {accepted} accepted, {refused} refused \
         ({gave_up} by a decoder that panicked)",
        started.elapsed()
    );
}

#[test]
fn csv_bodies_always_get_an_answer() {
    fuzz(Format::Csv, &[seed(Format::Csv)]);
}

#[test]
fn ndjson_bodies_always_get_an_answer() {
    fuzz(Format::Ndjson, &[seed(Format::Ndjson)]);
}

#[test]
fn arrow_bodies_always_get_an_answer() {
    fuzz(Format::Arrow, &[seed(Format::Arrow), arrow_file_seed()]);
}

#[test]
fn parquet_bodies_always_get_an_answer() {
    fuzz(Format::Parquet, &[seed(Format::Parquet)]);
}

fn refusal(format: Format, body: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("a spool directory");
    match answer(format, body.to_vec(), dir.path().join("spool")) {
        Some(Answer::Refused(reason)) => reason,
        Some(Answer::Rows(_)) => panic!("{format}: the body was accepted"),
        Some(Answer::Host(m)) => panic!("{format}: a host failure: {m}"),
        None => panic!("{format}: no answer within {BOUND:?}"),
    }
}

#[test]
fn csv_with_invalid_utf8_in_a_field_names_row_and_column() {
    let schema = Schema::new(vec![
        Column::new("id", DataType::Text),
        Column::new("note", DataType::Text),
    ]);
    let dir = tempfile::tempdir().expect("a spool directory");
    let body = b"id,note\na,fine\nb,bad \xff byte\n".to_vec();
    let mut sink = MemorySink::new();
    let result = decode(
        Box::new(Cursor::new(body)),
        Format::Csv,
        &schema,
        &mut sink,
        &dir.path().join("spool"),
    );
    let Err(Rejection::Invalid(problems)) = result else {
        panic!("invalid UTF-8 must be refused");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].row, Some(2));
    assert_eq!(problems[0].column.as_deref(), Some("note"));
    assert!(problems[0].reason.contains("UTF-8"), "{problems:?}");
}

#[test]
fn ndjson_with_a_repeated_key_is_refused() {
    let reason = refusal(
        Format::Ndjson,
        b"{\"id\":\"a\",\"n\":1}\n{\"id\":\"b\",\"n\":1,\"n\":2}\n",
    );
    assert!(reason.contains("\"n\" appears twice"), "{reason}");
}

#[test]
fn parquet_whose_footer_claims_more_rows_is_refused() {
    // The footer (Thrift metadata before its length and the magic) is written again with the
    // last row group claiming 1000 rows more than its pages hold.
    use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter};
    let good = seed(Format::Parquet);
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::from(good.clone()))
        .expect("the seed's footer reads");
    let footer_len = u32::from_le_bytes(
        good[good.len() - 8..good.len() - 4]
            .try_into()
            .expect("four bytes"),
    ) as usize;
    let data_end = good.len() - 8 - footer_len;
    let mut groups = metadata.row_groups().to_vec();
    let last = groups.pop().expect("the seed has row groups");
    let rows = last.num_rows() + 1000;
    groups.push(
        last.into_builder()
            .set_num_rows(rows)
            .build()
            .expect("the row group builds"),
    );
    let claimed: i64 = groups.iter().map(|g| g.num_rows()).sum();
    let lying = ParquetMetaData::new(metadata.file_metadata().clone(), groups);
    let mut bad = good[..data_end].to_vec();
    ParquetMetaDataWriter::new(&mut bad, &lying)
        .finish()
        .expect("the lying footer is written");
    let reason = refusal(Format::Parquet, &bad);
    assert!(
        reason.contains(&format!("claims {claimed} rows")) || reason.contains("Parquet"),
        "{reason}"
    );
}
