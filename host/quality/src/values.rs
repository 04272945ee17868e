//! Column values as the checks compare them: numbers as `f64`, everything as text.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;

/// A numeric (or timestamp, as µs) column as `f64` values; `None` per null.
pub fn numbers(array: &ArrayRef) -> Vec<Option<f64>> {
    let as_float = match array.data_type() {
        DataType::Timestamp(_, _) => {
            cast(array, &DataType::Int64).and_then(|a| cast(&a, &DataType::Float64))
        }
        _ => cast(array, &DataType::Float64),
    };
    match as_float {
        Ok(floats) => floats.as_primitive::<Float64Type>().iter().collect(),
        Err(_) => vec![None; array.len()],
    }
}

/// Any column as text (`true`/`false`, decimal numbers, RFC 3339 timestamps); `None` per null.
pub fn texts(array: &ArrayRef) -> Vec<Option<String>> {
    match cast(array, &DataType::Utf8) {
        Ok(text) => text
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        Err(_) => vec![None; array.len()],
    }
}

/// One row of a batch as a JSON object.
pub fn row_json(batch: &RecordBatch, row: usize) -> serde_json::Map<String, serde_json::Value> {
    let slice = batch.slice(row, 1);
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    let written = writer.write(&slice).and_then(|()| writer.finish());
    if written.is_err() {
        return serde_json::Map::new();
    }
    match serde_json::from_slice::<serde_json::Value>(&writer.into_inner()) {
        Ok(serde_json::Value::Array(mut rows)) if !rows.is_empty() => match rows.swap_remove(0) {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
        _ => serde_json::Map::new(),
    }
}
