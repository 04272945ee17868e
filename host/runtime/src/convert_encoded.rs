//! Dictionary-encoded columns across the sandbox (contract 0.1.1): Arrow dictionary arrays
//! become WIT dictionaries for `next-encoded`, and a product's dictionaries are expanded and
//! checked like any other batch for `write-encoded`.
//!
//! A dictionary only crosses when its distinct values take no more room than its keys, so a
//! product that reads small batches of a column with many distinct values never receives the
//! whole dictionary again with each one (it gets plain values). Expanding a product's dictionary is bounded by the run's
//! memory limit: a few keys pointing at one large value cannot make the host allocate more
//! than the product itself could hold, however many columns it names.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, DictionaryArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, Int32Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use tessera_core::schema::Schema;

use crate::bindings::{
    Batch, Column, Dictionary, EncodedBatch, EncodedColumn, EncodedValues, Values, VarValues,
};
use crate::convert::{from_wit, to_wit};

/// `batch` with every dictionary column decoded to its plain type (for `next`, which predates
/// dictionaries).
pub(crate) fn plain(batch: RecordBatch) -> Result<RecordBatch, String> {
    if !batch
        .columns()
        .iter()
        .any(|a| matches!(a.data_type(), ArrowType::Dictionary(_, _)))
    {
        return Ok(batch);
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let array = match array.data_type() {
            ArrowType::Dictionary(_, value) => cast(array, value).map_err(|e| e.to_string())?,
            _ => array.clone(),
        };
        fields.push(
            field
                .as_ref()
                .clone()
                .with_data_type(array.data_type().clone()),
        );
        arrays.push(array);
    }
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    RecordBatch::try_new(schema, arrays).map_err(|e| e.to_string())
}

/// Arrow batch to WIT encoded batch: dictionary columns stay dictionaries where that is
/// smaller than the values they stand for.
pub(crate) fn to_wit_encoded(batch: &RecordBatch) -> Result<EncodedBatch, String> {
    let mut plain_columns = Vec::new();
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (index, array) in batch.columns().iter().enumerate() {
        match dictionary_to_wit(array) {
            Some(values) => columns.push(Some(EncodedColumn {
                name: batch.schema().field(index).name().clone(),
                values,
                valid: array
                    .nulls()
                    .filter(|n| n.null_count() > 0)
                    .map(|n| n.iter().collect()),
            })),
            None => {
                plain_columns.push(index);
                columns.push(None);
            }
        }
    }
    if !plain_columns.is_empty() {
        let plain_batch = plain(batch.project(&plain_columns).map_err(|e| e.to_string())?)?;
        let mut converted = to_wit(&plain_batch)?.columns.into_iter();
        for slot in columns.iter_mut().filter(|c| c.is_none()) {
            *slot = converted.next().map(|c| EncodedColumn {
                name: c.name,
                values: EncodedValues::Plain(c.values),
                valid: c.valid,
            });
        }
    }
    Ok(EncodedBatch {
        columns: columns.into_iter().flatten().collect(),
    })
}

/// A dictionary array of text or binary as a WIT dictionary, if it is one and crossing as one
/// is smaller than crossing its rows.
fn dictionary_to_wit(array: &ArrayRef) -> Option<EncodedValues> {
    let dictionary = array
        .as_any()
        .downcast_ref::<DictionaryArray<Int32Type>>()?;
    let values = dictionary.values();
    let (offsets, data, text) = if let Some(s) = values.as_any().downcast_ref::<StringArray>() {
        (s.offsets(), s.values(), true)
    } else {
        let b = values.as_any().downcast_ref::<BinaryArray>()?;
        (b.offsets(), b.values(), false)
    };
    let keys = dictionary.keys();
    let first = offsets.first();
    let last = offsets.last();
    // Crossing as a dictionary costs the keys plus the distinct values; plain costs at least
    // an offset per row. Only a dictionary no larger than its keys crosses, so it is never
    // more than twice the plain form, and no pass over the rows is needed to decide.
    let values_bytes = usize::try_from(last - first)
        .unwrap_or(usize::MAX)
        .saturating_add(4 * offsets.len());
    if values_bytes > 4 * keys.len() {
        return None;
    }
    let start = usize::try_from(first).unwrap_or(0);
    let end = usize::try_from(last).unwrap_or(start);
    let var = VarValues {
        data: data.get(start..end).unwrap_or_default().to_vec(),
        offsets: offsets.iter().map(|o| (o - first) as u32).collect(),
    };
    // Keys of null rows may hold anything in Arrow; they are 0 across the contract. The keys
    // of valid rows Arrow has checked to be within the values.
    let keys = match keys.nulls().filter(|n| n.null_count() > 0) {
        None => keys
            .values()
            .iter()
            .map(|&k| u32::try_from(k).unwrap_or(0))
            .collect(),
        Some(_) => keys
            .iter()
            .map(|k| k.and_then(|k| u32::try_from(k).ok()).unwrap_or(0))
            .collect(),
    };
    let wit = Dictionary { keys, values: var };
    Some(if text {
        EncodedValues::TextDictionary(wit)
    } else {
        EncodedValues::BinaryDictionary(wit)
    })
}

/// WIT encoded batch to an Arrow batch of exactly the declared `schema` (for `write-encoded`):
/// dictionaries are expanded, at most `max_bytes` of values for the whole batch, then checked
/// as [`from_wit`] checks any batch.
pub(crate) fn from_wit_encoded(
    batch: EncodedBatch,
    schema: &Schema,
    target: &SchemaRef,
    max_bytes: usize,
    first_row: u64,
) -> Result<RecordBatch, String> {
    let mut budget = max_bytes;
    let mut columns = Vec::with_capacity(batch.columns.len());
    for column in batch.columns {
        let name = &column.name;
        let values = match column.values {
            EncodedValues::Plain(values) => values,
            EncodedValues::TextDictionary(d) => Values::Text(
                expand(&d, &mut budget, max_bytes).map_err(|e| format!("column `{name}`: {e}"))?,
            ),
            EncodedValues::BinaryDictionary(d) => Values::Binary(
                expand(&d, &mut budget, max_bytes).map_err(|e| format!("column `{name}`: {e}"))?,
            ),
        };
        columns.push(Column {
            name: column.name,
            values,
            valid: column.valid,
        });
    }
    from_wit(Batch { columns }, schema, target, first_row)
}

/// The rows a dictionary stands for, as plain values; its own offsets and keys are checked
/// first, and the result takes its bytes from `budget` (what is left of `max_bytes` for the
/// batch), refusing the batch when it would take more.
fn expand(
    dictionary: &Dictionary,
    budget: &mut usize,
    max_bytes: usize,
) -> Result<VarValues, String> {
    let values = &dictionary.values;
    let Some(&last) = values.offsets.last() else {
        return Err("the dictionary's offsets must have at least one entry ([0])".into());
    };
    if usize::try_from(last).ok() != Some(values.data.len()) {
        return Err(format!(
            "the dictionary's last offset ({last}) must equal its data length {}",
            values.data.len()
        ));
    }
    if let Some(at) = values
        .offsets
        .windows(2)
        .position(|w| matches!(w, [a, b] if a > b))
    {
        return Err(format!(
            "the dictionary's offsets must not decrease (value {at})"
        ));
    }
    let count = values.offsets.len() - 1;
    let mut total = 0usize;
    for (row, &key) in dictionary.keys.iter().enumerate() {
        let k = key as usize;
        let (Some(&a), Some(&b)) = (values.offsets.get(k), values.offsets.get(k + 1)) else {
            if count == 0 && key == 0 {
                continue;
            }
            return Err(format!(
                "row {row} has key {key}, but the dictionary has {count} values"
            ));
        };
        total = total.saturating_add((b - a) as usize);
        if total > *budget {
            return Err(format!(
                "the batch's dictionaries stand for more than {max_bytes} bytes of values (the \
                 run's memory limit); write smaller batches"
            ));
        }
    }
    *budget -= total;
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(dictionary.keys.len() + 1);
    offsets.push(0u32);
    for &key in &dictionary.keys {
        let k = key as usize;
        if let (Some(&a), Some(&b)) = (values.offsets.get(k), values.offsets.get(k + 1)) {
            data.extend_from_slice(values.data.get(a as usize..b as usize).unwrap_or_default());
        }
        offsets.push(u32::try_from(data.len()).map_err(|_| {
            "a batch may hold at most 4 GiB of text or binary per column; write smaller batches"
                .to_string()
        })?);
    }
    Ok(VarValues { data, offsets })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use arrow::array::Array;
    use tessera_core::schema::{Column as Declared, DataType};

    use super::*;

    /// Arbitrary dictionaries, as a product could send them: every one is a batch of the
    /// declared schema or an error, never a panic, and never more than the bound expanded.
    #[test]
    fn arbitrary_dictionaries_are_refused_or_stored_never_a_panic() {
        let schema = Schema::new(vec![Declared::new("t", DataType::Text)]);
        let target = schema.to_arrow();
        let mut state = 7u64;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n.max(1)
        };
        let (mut stored, mut refused) = (0, 0);
        for _ in 0..5_000 {
            let values = next(5) as usize;
            let data: Vec<u8> = (0..next(12))
                .map(|_| b"ab\xffc"[next(4) as usize])
                .collect();
            let mut offsets: Vec<u32> = (0..=values)
                .map(|_| next(data.len() as u64 + 2) as u32)
                .collect();
            if next(3) > 0 {
                offsets.sort_unstable();
                if let Some(last) = offsets.last_mut() {
                    *last = data.len() as u32;
                }
            }
            let rows = next(6) as usize;
            let keys: Vec<u32> = (0..rows)
                .map(|_| match next(8) {
                    0 => u32::MAX,
                    _ => next(values as u64 + 1) as u32,
                })
                .collect();
            let valid = (next(3) == 0)
                .then(|| (0..rows + next(2) as usize).map(|_| next(2) == 0).collect());
            let batch = EncodedBatch {
                columns: vec![EncodedColumn {
                    name: "t".into(),
                    values: EncodedValues::TextDictionary(Dictionary {
                        keys,
                        values: VarValues { data, offsets },
                    }),
                    valid,
                }],
            };
            match from_wit_encoded(batch, &schema, &target, 16, 0) {
                Ok(out) => {
                    assert_eq!(out.schema(), target);
                    let text = out.column(0);
                    assert_eq!(text.len(), rows);
                    stored += 1;
                }
                Err(e) => {
                    assert!(!e.is_empty());
                    refused += 1;
                }
            }
        }
        assert!(
            stored > 100 && refused > 100,
            "{stored} stored, {refused} refused"
        );
    }
}
