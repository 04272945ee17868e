//! Arbitrary batches from a product, as the canonical ABI could deliver them, through
//! [`from_wit`]: every one is either a batch of exactly the declared schema or an error that
//! says why, never a panic. `TESSERA_FUZZ_CASES` sets the number of batches (default 20,000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow::array::Array;
use tessera_core::schema::{Column as Declared, DataType, Schema};

use super::from_wit;
use crate::bindings::{Batch, Column, Values, VarValues};

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

    fn offset(&mut self, data_len: usize) -> u32 {
        match self.below(6) {
            0 => u32::MAX - self.below(4) as u32,
            1 => i32::MAX as u32 + self.below(4) as u32,
            _ => self.below(data_len + 2) as u32,
        }
    }
}

fn schema() -> Schema {
    Schema::new(vec![
        Declared::new("a", DataType::Text).required(),
        Declared::new("b", DataType::Binary),
        Declared::new("c", DataType::Int64),
        Declared::new("d", DataType::Float64),
    ])
}

fn var_values(rng: &mut Rng, rows: usize) -> VarValues {
    let data: Vec<u8> = (0..rng.below(40))
        .map(|_| match rng.below(4) {
            0 => 0xff,
            1 => 0xc3,
            _ => b'a' + rng.below(26) as u8,
        })
        .collect();
    let offsets = match rng.below(4) {
        // Well formed: rows + 1 offsets, non-decreasing, ending at the data length.
        0 | 1 => {
            let mut cuts: Vec<u32> = (0..rows.saturating_sub(1))
                .map(|_| rng.below(data.len() + 1) as u32)
                .collect();
            cuts.sort_unstable();
            std::iter::once(0)
                .chain(cuts)
                .chain(std::iter::once(data.len() as u32))
                .collect()
        }
        _ => (0..rng.below(rows + 2))
            .map(|_| rng.offset(data.len()))
            .collect(),
    };
    VarValues { data, offsets }
}

fn values(rng: &mut Rng, rows: usize) -> Values {
    match rng.below(7) {
        0 => Values::Float64((0..rows).map(|i| i as f64).collect()),
        1 => Values::Float32((0..rows).map(|i| i as f32).collect()),
        2 => Values::Int64((0..rows).map(|i| i as i64).collect()),
        3 => Values::Boolean((0..rows).map(|i| i % 2 == 0).collect()),
        4 => Values::Timestamp((0..rows).map(|i| i as i64).collect()),
        5 => Values::Text(var_values(rng, rows)),
        _ => Values::Binary(var_values(rng, rows)),
    }
}

/// Offsets that cut `data` into `rows` values, well formed.
fn cuts(rng: &mut Rng, data: &[u8], rows: usize) -> Vec<u32> {
    let mut cuts: Vec<u32> = (0..rows.saturating_sub(1))
        .map(|_| rng.below(data.len() + 1) as u32)
        .collect();
    cuts.sort_unstable();
    let mut offsets = vec![0];
    if rows > 0 {
        offsets.extend(cuts);
        offsets.push(data.len() as u32);
    }
    offsets
}

/// A batch of the declared schema, then up to two things wrong with it.
fn nearly_valid(rng: &mut Rng) -> Batch {
    let rows = rng.below(6);
    let text: Vec<u8> = (0..rng.below(30))
        .map(|_| b'a' + rng.below(26) as u8)
        .collect();
    let bytes: Vec<u8> = (0..rng.below(30)).map(|_| rng.next() as u8).collect();
    let mask = |rng: &mut Rng| -> Option<Vec<bool>> {
        (rng.below(2) == 0).then(|| (0..rows).map(|_| rng.below(3) > 0).collect())
    };
    let mut columns = vec![
        Column {
            name: "a".into(),
            values: Values::Text(VarValues {
                offsets: cuts(rng, &text, rows),
                data: text,
            }),
            valid: None,
        },
        Column {
            name: "b".into(),
            values: Values::Binary(VarValues {
                offsets: cuts(rng, &bytes, rows),
                data: bytes,
            }),
            valid: mask(rng),
        },
        Column {
            name: "c".into(),
            values: Values::Int64((0..rows as i64).collect()),
            valid: mask(rng),
        },
        Column {
            name: "d".into(),
            values: Values::Float64((0..rows).map(|i| i as f64).collect()),
            valid: mask(rng),
        },
    ];
    // Any order.
    for i in (1..columns.len()).rev() {
        columns.swap(i, rng.below(i + 1));
    }
    for _ in 0..rng.below(3) {
        let at = rng.below(columns.len());
        match rng.below(7) {
            0 => columns[at].values = values(rng, rows),
            1 => columns[at].values = values(rng, rows + 1),
            2 => {
                let copy = columns[at].clone();
                columns.push(copy);
            }
            3 => columns[at].name = "undeclared".into(),
            4 => columns[at].valid = Some(vec![true; rows + 1]),
            5 => {
                if let Values::Text(v) | Values::Binary(v) = &mut columns[at].values
                    && let Some(first) = v.offsets.first_mut()
                {
                    *first = rng.offset(v.data.len());
                }
            }
            _ => {
                if let Values::Text(v) = &mut columns[at].values
                    && let Some(byte) = v.data.first_mut()
                {
                    *byte = 0xff;
                }
            }
        }
    }
    Batch { columns }
}

fn batch(rng: &mut Rng) -> Batch {
    if rng.below(2) == 0 {
        return nearly_valid(rng);
    }
    const NAMES: [&str; 6] = ["a", "b", "c", "d", "a", "e"];
    let columns = (0..rng.below(6))
        .map(|_| {
            let rows = rng.below(6);
            let valid = match rng.below(3) {
                0 => Some((0..rows + rng.below(2)).map(|_| rng.below(3) > 0).collect()),
                _ => None,
            };
            Column {
                name: NAMES[rng.below(NAMES.len())].to_string(),
                values: values(rng, rows),
                valid,
            }
        })
        .collect();
    Batch { columns }
}

#[test]
fn arbitrary_batches_convert_or_are_refused_without_a_panic() {
    let cases: usize = std::env::var("TESSERA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let schema = schema();
    let target = schema.to_arrow();
    let mut rng = Rng(0x5eed);
    let (mut converted, mut refused) = (0, 0);
    for case in 0..cases {
        let input = batch(&mut rng);
        let shown = format!("{input:?}");
        let result = std::panic::catch_unwind(|| from_wit(input, &schema, &target, 0));
        match result {
            Err(_) => panic!("case {case} panicked: {shown}"),
            Ok(Ok(batch)) => {
                assert_eq!(batch.schema(), target, "case {case}");
                assert_eq!(batch.column(0).null_count(), 0, "case {case}: {shown}");
                converted += 1;
            }
            Ok(Err(message)) => {
                assert!(!message.is_empty(), "case {case}");
                refused += 1;
            }
        }
    }
    eprintln!("convert fuzz: {cases} batches: {converted} converted, {refused} refused");
    assert!(converted > 0 && refused > 0, "{converted} / {refused}");
}

fn text(name: &str, data: &[u8], offsets: Vec<u32>) -> Column {
    Column {
        name: name.into(),
        values: Values::Text(VarValues {
            data: data.to_vec(),
            offsets,
        }),
        valid: None,
    }
}

fn only_text() -> Schema {
    Schema::new(vec![Declared::new("a", DataType::Text)])
}

#[test]
fn offsets_above_i32_max_are_refused() {
    let schema = only_text();
    for offsets in [
        vec![u32::MAX, 3],
        vec![0, i32::MAX as u32 + 1, 3],
        vec![i32::MAX as u32 + 7, 3],
    ] {
        let batch = Batch {
            columns: vec![text("a", b"abc", offsets.clone())],
        };
        let error = from_wit(batch, &schema, &schema.to_arrow(), 0).expect_err("refused");
        assert!(error.contains("offset"), "{offsets:?}: {error}");
    }
}

#[test]
fn a_column_written_twice_is_refused_even_with_another_length() {
    let schema = only_text();
    for second in [vec![0, 1, 3], vec![0, 3]] {
        let batch = Batch {
            columns: vec![text("a", b"abc", vec![0, 3]), text("a", b"abc", second)],
        };
        let error = from_wit(batch, &schema, &schema.to_arrow(), 0).expect_err("refused");
        assert!(error.contains("appears twice"), "{error}");
    }
}
