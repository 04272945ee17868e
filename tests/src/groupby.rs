//! The data of db-benchmark's group-by task, for the benchmarks that read it: `id1` (100
//! distinct strings `id001` to `id100`), `id4` (ints 1 to 100), `v1` (ints 1 to 5) and `v3`
//! (floats in [0, 100) with six decimals), from a fixed seed, so every machine gets the same
//! rows.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

/// The Arrow schema: id1 (text), id4, v1 (int64), v3 (float64).
pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id1", DataType::Utf8, true),
        Field::new("id4", DataType::Int64, true),
        Field::new("v1", DataType::Int64, true),
        Field::new("v3", DataType::Float64, true),
    ]))
}

/// The same columns as a declared schema.
pub fn declared() -> tessera_core::schema::Schema {
    use tessera_core::schema::{Column, DataType as T};
    tessera_core::schema::Schema::new(vec![
        Column::new("id1", T::Text),
        Column::new("id4", T::Int64),
        Column::new("v1", T::Int64),
        Column::new("v3", T::Float64),
    ])
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `rows` rows in batches of `batch_rows`.
pub fn batches(rows: usize, batch_rows: usize) -> impl Iterator<Item = RecordBatch> {
    let schema = schema();
    let mut rng = Rng(2026);
    (0..rows).step_by(batch_rows.max(1)).map(move |start| {
        let n = (rows - start).min(batch_rows);
        let mut id1 = StringBuilder::with_capacity(n, n * 5);
        let mut id4 = Vec::with_capacity(n);
        let mut v1 = Vec::with_capacity(n);
        let mut v3 = Vec::with_capacity(n);
        for _ in 0..n {
            let r = rng.next();
            id1.append_value(format!("id{:03}", r % 100 + 1));
            id4.push(((r >> 8) % 100 + 1) as i64);
            v1.push(((r >> 16) % 5 + 1) as i64);
            v3.push((rng.next() % 100_000_000) as f64 / 1e6);
        }
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(id1.finish()),
                Arc::new(Int64Array::from(id4)),
                Arc::new(Int64Array::from(v1)),
                Arc::new(Float64Array::from(v3)),
            ],
        )
        .expect("the columns match the schema")
    })
}
