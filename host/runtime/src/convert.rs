//! Converting between Arrow arrays (inside the host) and WIT columns (crossing the sandbox).
//!
//! Fixed-width columns move as one contiguous copy each way. Text and binary use Arrow's own
//! layout (bytes plus offsets), so they also cross as two copies instead of one allocation per
//! value. Everything coming from a product is validated: types against the declared schema,
//! offsets, UTF-8, lengths and nulls in required columns.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tessera_core::conform::{check_column_names, conform_output};
use tessera_core::schema::Schema;

use crate::bindings::{Batch, Column, Values, VarValues};

/// Arrow batch to WIT batch (for a product's input).
pub(crate) fn to_wit(batch: &RecordBatch) -> Result<Batch, String> {
    let schema = batch.schema();
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        columns.push(Column {
            name: field.name().clone(),
            values: values_to_wit(array)?,
            valid: validity_to_wit(array),
        });
    }
    Ok(Batch { columns })
}

fn validity_to_wit(array: &ArrayRef) -> Option<Vec<bool>> {
    array
        .nulls()
        .filter(|n| n.null_count() > 0)
        .map(|n| n.iter().collect())
}

fn values_to_wit(array: &ArrayRef) -> Result<Values, String> {
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<Float64Array>() {
        return Ok(Values::Float64(a.values().to_vec()));
    }
    if let Some(a) = any.downcast_ref::<Float32Array>() {
        return Ok(Values::Float32(a.values().to_vec()));
    }
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Ok(Values::Int64(a.values().to_vec()));
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return Ok(Values::Boolean(a.values().iter().collect()));
    }
    if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        return Ok(Values::Timestamp(a.values().to_vec()));
    }
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Ok(Values::Text(var_to_wit(a.offsets(), a.values())));
    }
    if let Some(a) = any.downcast_ref::<BinaryArray>() {
        return Ok(Values::Binary(var_to_wit(a.offsets(), a.values())));
    }
    Err(format!(
        "the host cannot pass a column of Arrow type {} to a product",
        array.data_type()
    ))
}

fn var_to_wit(offsets: &OffsetBuffer<i32>, data: &Buffer) -> VarValues {
    let first = offsets.first();
    let last = offsets.last();
    // Arrow's own offsets: non-negative and within the data, which Arrow checked.
    let start = usize::try_from(first).unwrap_or(0);
    let end = usize::try_from(last).unwrap_or(start);
    VarValues {
        data: data.get(start..end).unwrap_or_default().to_vec(),
        offsets: offsets.iter().map(|o| (o - first) as u32).collect(),
    }
}

/// WIT batch to an Arrow batch of exactly the declared `schema` (for a product's output), by
/// the one rule every output batch is held to ([`tessera_core::conform::conform_output`]);
/// `first_row` is where the batch starts in the port's output, so errors name the row there.
/// Names are checked before any value is converted. The error names the column and says what
/// is wrong.
pub(crate) fn from_wit(
    batch: Batch,
    schema: &Schema,
    target: &SchemaRef,
    first_row: u64,
) -> Result<RecordBatch, String> {
    check_column_names(batch.columns.iter().map(|c| c.name.as_str()), schema)
        .map_err(|e| e.to_string())?;
    let mut names = Vec::with_capacity(batch.columns.len());
    let mut arrays = Vec::with_capacity(batch.columns.len());
    for column in batch.columns {
        let array = array_from_wit(column.values, column.valid)
            .map_err(|e| format!("column `{}`: {e}", column.name))?;
        names.push(column.name);
        arrays.push(array);
    }
    let columns = names.iter().map(String::as_str).zip(arrays).collect();
    conform_output(columns, schema, target, first_row).map_err(|e| e.to_string())
}

fn array_from_wit(values: Values, valid: Option<Vec<bool>>) -> Result<ArrayRef, String> {
    let len = match &values {
        Values::Float64(v) => v.len(),
        Values::Float32(v) => v.len(),
        Values::Int64(v) | Values::Timestamp(v) => v.len(),
        Values::Boolean(v) => v.len(),
        Values::Text(v) | Values::Binary(v) => v.offsets.len().saturating_sub(1),
    };
    let nulls = match valid {
        None => None,
        Some(mask) if mask.len() != len => {
            return Err(format!(
                "the validity mask has {} entries for {len} values",
                mask.len()
            ));
        }
        Some(mask) => Some(NullBuffer::from(mask)),
    };
    Ok(match values {
        Values::Float64(v) => Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls)),
        Values::Float32(v) => Arc::new(Float32Array::new(ScalarBuffer::from(v), nulls)),
        Values::Int64(v) => Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls)),
        Values::Boolean(v) => Arc::new(BooleanArray::new(v.into_iter().collect(), nulls)),
        Values::Timestamp(v) => Arc::new(
            TimestampMicrosecondArray::new(ScalarBuffer::from(v), nulls)
                .with_timezone(tessera_core::schema::UTC),
        ),
        Values::Text(v) => {
            let offsets = offsets_from_wit(&v)?;
            Arc::new(
                StringArray::try_new(offsets, Buffer::from_vec(v.data), nulls)
                    .map_err(|e| format!("invalid text: {e}"))?,
            )
        }
        Values::Binary(v) => {
            let offsets = offsets_from_wit(&v)?;
            Arc::new(
                BinaryArray::try_new(offsets, Buffer::from_vec(v.data), nulls)
                    .map_err(|e| e.to_string())?,
            )
        }
    })
}

fn offsets_from_wit(v: &VarValues) -> Result<OffsetBuffer<i32>, String> {
    // Checked in the guest's own u32 domain first: a cast to Arrow's i32 offsets before this
    // would turn an offset above i32::MAX into a negative one.
    let Some(&last) = v.offsets.last() else {
        return Err("offsets must have one more entry than there are rows (at least [0])".into());
    };
    if v.data.len() > i32::MAX as usize {
        return Err(
            "a batch may hold at most 2 GiB of text or binary per column; write smaller batches"
                .into(),
        );
    }
    if usize::try_from(last).ok() != Some(v.data.len()) {
        return Err(format!(
            "the last offset ({last}) must equal the data length {}",
            v.data.len()
        ));
    }
    if let Some(row) = v
        .offsets
        .windows(2)
        .position(|w| matches!(w, [a, b] if a > b))
    {
        return Err(format!("offsets must not decrease (row {row})"));
    }
    // Non-decreasing and ending at the data length (at most i32::MAX): each offset fits.
    let offsets = v
        .offsets
        .iter()
        .map(|&o| i32::try_from(o))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|_| "an offset is beyond the data".to_string())?;
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

#[cfg(test)]
#[path = "convert_fuzz.rs"]
mod fuzz;
