//! [`Dictionary`]: text or binary kept as keys into distinct values, as files store
//! low-cardinality columns and as the host hands them over.

use crate::batch::VarData;

/// Text or binary as small keys into its distinct values: row `i` is `values.get(keys[i])`.
/// The host hands over columns its source stores this way (Parquet dictionary pages, Arrow
/// dictionary arrays) as [`crate::Values::TextDictionary`]; [`crate::Batch::text`] reads them
/// like any text column, and [`crate::relational::GroupBy`] groups them by key, hashing each
/// distinct value once per batch instead of once per row.
///
/// ```
/// use tessera_sdk::{Dictionary, VarData};
/// let d = Dictionary { keys: vec![1, 0, 1], values: VarData::from_strs(["benign", "malignant"]) };
/// assert_eq!(d.get(0), b"malignant");
/// assert_eq!(d.decode(), VarData::from_strs(["malignant", "benign", "malignant"]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    /// One key per row, indexing `values`.
    pub keys: Vec<u32>,
    /// The distinct values.
    pub values: VarData,
}

impl Dictionary {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Row `i`'s value; empty if `i` or its key is out of range.
    pub fn get(&self, i: usize) -> &[u8] {
        self.keys
            .get(i)
            .map_or(&[][..], |&k| self.values.get(k as usize))
    }

    /// The rows as plain values.
    pub fn decode(&self) -> VarData {
        let mut out = VarData::default();
        for i in 0..self.keys.len() {
            out.push(self.get(i));
        }
        out
    }
}

/// The rows of a text or binary column, plain or dictionary-encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VarRows<'a> {
    Plain(&'a VarData),
    Keyed(&'a Dictionary),
}

impl<'a> VarRows<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            VarRows::Plain(v) => v.len(),
            VarRows::Keyed(d) => d.len(),
        }
    }

    pub(crate) fn get(&self, i: usize) -> &'a [u8] {
        match self {
            VarRows::Plain(v) => v.get(i),
            VarRows::Keyed(d) => d.get(i),
        }
    }
}
