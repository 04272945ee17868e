//! SDK batches to Arrow and back, so a test run holds a product's batches to the same rules
//! as the host (which works in Arrow).

use std::sync::Arc;

use tessera_core::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Float32Array, Float64Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use tessera_core::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use tessera_core::arrow::datatypes::{DataType as ArrowType, Float32Type, Float64Type, Int64Type};
use tessera_core::arrow::record_batch::RecordBatch;

use crate::batch::{Batch, Column, Values, VarData};
use crate::error::{Error, Result};

/// A batch's columns as named Arrow arrays (dictionaries decoded), as the host receives them.
/// Text that is not UTF-8 and a validity mask of the wrong length are errors naming the column.
pub(crate) fn to_arrow(batch: &Batch) -> Result<Vec<(String, ArrayRef)>> {
    batch
        .columns()
        .iter()
        .map(|c| {
            let array = column_to_arrow(c)
                .map_err(|e| Error::Invalid(format!("column `{}`: {e}", c.name)))?;
            Ok((c.name.clone(), array))
        })
        .collect()
}

fn column_to_arrow(column: &Column) -> std::result::Result<ArrayRef, String> {
    let values = column.values.clone().decoded();
    let nulls = match &column.valid {
        None => None,
        Some(mask) if mask.len() != values.len() => {
            return Err(format!(
                "the validity mask has {} entries for {} values",
                mask.len(),
                values.len()
            ));
        }
        Some(mask) => Some(NullBuffer::from(mask.clone())),
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
        Values::Text(v) => Arc::new(
            StringArray::try_new(offsets(&v)?, Buffer::from_vec(v.data), nulls)
                .map_err(|e| format!("invalid text: {e}"))?,
        ),
        Values::Binary(v) => Arc::new(
            BinaryArray::try_new(offsets(&v)?, Buffer::from_vec(v.data), nulls)
                .map_err(|e| e.to_string())?,
        ),
        Values::TextDictionary(_) | Values::BinaryDictionary(_) => {
            return Err("a dictionary was left undecoded".into());
        }
    })
}

fn offsets(v: &VarData) -> std::result::Result<OffsetBuffer<i32>, String> {
    let offsets = v
        .offsets
        .iter()
        .map(|&o| i32::try_from(o))
        .collect::<std::result::Result<Vec<i32>, _>>()
        .map_err(|_| "a column may hold at most 2 GiB of text or binary per batch".to_string())?;
    if offsets.is_empty() || offsets.windows(2).any(|w| matches!(w, [a, b] if a > b)) {
        return Err("offsets must start the values and never decrease".into());
    }
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

/// An Arrow batch of declared types back to an SDK batch, as a product reads it.
pub(crate) fn from_arrow(batch: &RecordBatch) -> Result<Batch> {
    let schema = batch.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let values = values_from_arrow(array).ok_or_else(|| {
                Error::Invalid(format!(
                    "column `{}` has the type {}, which no declared type maps to",
                    field.name(),
                    array.data_type()
                ))
            })?;
            let valid = array
                .logical_nulls()
                .map(|n| n.iter().collect::<Vec<bool>>());
            Ok(Column {
                name: field.name().clone(),
                values,
                valid,
            })
        })
        .collect::<Result<Vec<Column>>>()?;
    Batch::new(columns)
}

fn values_from_arrow(array: &ArrayRef) -> Option<Values> {
    Some(match array.data_type() {
        ArrowType::Float64 => {
            Values::Float64(array.as_primitive::<Float64Type>().values().to_vec())
        }
        ArrowType::Float32 => {
            Values::Float32(array.as_primitive::<Float32Type>().values().to_vec())
        }
        ArrowType::Int64 => Values::Int64(array.as_primitive::<Int64Type>().values().to_vec()),
        ArrowType::Boolean => Values::Boolean(array.as_boolean().values().iter().collect()),
        ArrowType::Timestamp(_, _) => Values::Timestamp(
            array
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()?
                .values()
                .to_vec(),
        ),
        ArrowType::Utf8 => {
            let strings = array.as_string::<i32>();
            Values::Text(VarData::from_bytes(
                (0..strings.len()).map(|i| strings.value(i).as_bytes()),
            ))
        }
        ArrowType::Binary => {
            let bytes = array.as_binary::<i32>();
            Values::Binary(VarData::from_bytes(
                (0..bytes.len()).map(|i| bytes.value(i)),
            ))
        }
        _ => return None,
    })
}
