//! Dense group ids for the rows of key columns: each key column's distinct values get small
//! ids ([`KeyDomain`]), and tuples of those ids get one id per distinct tuple ([`Grouper`]).
//! Grouping and joining both work on these ids, so per row they hash one short key per key
//! column and never allocate.

use std::borrow::Borrow;
use std::hash::Hash;

use super::FastMap;
use crate::batch::{Batch, Column, DataType, Values, VarData};
use crate::error::{Error, Result};

/// The id of a null key; values get ids from 1.
const NULL_ID: u32 = 0;
/// What a lookup-only pass gives a value (or tuple) it has not seen.
pub(crate) const MISSING: u32 = u32::MAX;
/// Ids stay below this, so none can be taken for [`MISSING`].
const MAX_IDS: usize = (u32::MAX - 1) as usize;

fn too_many(what: &str) -> Error {
    Error::Limit(format!(
        "more than {MAX_IDS} distinct {what}; group by fewer or coarser keys"
    ))
}

/// Where the distinct values of a key column are kept, by kind.
enum Seen {
    /// Integers, timestamps and booleans (as 0 and 1).
    Ints {
        ids: FastMap<i64, u32>,
        distinct: Vec<i64>,
        dense: DenseInts,
    },
    /// Text and binary, by their bytes.
    Bytes {
        ids: FastMap<Box<[u8]>, u32>,
        distinct: VarData,
    },
}

/// The distinct values of one key column, each with a dense id (0 for null).
pub(crate) struct KeyDomain {
    name: String,
    data_type: DataType,
    seen: Seen,
}

impl KeyDomain {
    /// A domain for the key column `name` of this type. Floats are refused: equal-looking
    /// floats need not be equal, so a float key would split groups silently.
    pub(crate) fn new(name: &str, data_type: DataType) -> Result<Self> {
        let seen = match data_type {
            DataType::Int64 | DataType::Timestamp | DataType::Boolean => Seen::Ints {
                ids: FastMap::default(),
                distinct: Vec::new(),
                dense: DenseInts::default(),
            },
            DataType::Text | DataType::Binary => Seen::Bytes {
                ids: FastMap::default(),
                distinct: VarData::default(),
            },
            DataType::Float64 | DataType::Float32 => {
                return Err(Error::invalid(format!(
                    "key column `{name}` is {}: floats that print alike may differ, so they \
                     make poor keys; round them to integers or format them as text first",
                    data_type.name()
                )));
            }
        };
        Ok(KeyDomain {
            name: name.to_string(),
            data_type,
            seen,
        })
    }

    /// The id of each row of `column` into `out`. With `insert` new values get new ids;
    /// without, they get [`MISSING`].
    pub(crate) fn ids(&mut self, column: &Column, insert: bool, out: &mut Vec<u32>) -> Result<()> {
        let found = column.values.data_type();
        if found != self.data_type {
            return Err(Error::invalid(format!(
                "key column `{}` is {} here, but {} where it was first seen",
                self.name,
                found.name(),
                self.data_type.name()
            )));
        }
        out.clear();
        out.reserve(column.values.len());
        let valid = column.valid.as_deref();
        let is_null = |i: usize| valid.is_some_and(|v| !v.get(i).copied().unwrap_or(true));
        let narrow = match (&column.values, &mut self.seen) {
            (Values::Int64(v) | Values::Timestamp(v), Seen::Ints { dense, .. }) => {
                valid.is_none() && dense.cover(v)
            }
            _ => false,
        };
        match (&column.values, &mut self.seen) {
            (
                Values::Int64(v) | Values::Timestamp(v),
                Seen::Ints {
                    ids,
                    distinct,
                    dense,
                },
            ) if narrow => {
                // Integers in a narrow range: an array lookup per row, a hash per new value.
                // `cover` made the table span every value, so each offset is in it.
                let base = dense.base;
                for &x in v {
                    let at = x.wrapping_sub(base) as usize;
                    let id = match dense.ids.get(at).copied() {
                        Some(id) if id != NULL_ID => id,
                        _ => {
                            let id = intern_int(ids, distinct, x, insert)?;
                            if id != MISSING
                                && let Some(slot) = dense.ids.get_mut(at)
                            {
                                *slot = id;
                            }
                            id
                        }
                    };
                    out.push(id);
                }
            }
            (Values::Int64(v) | Values::Timestamp(v), Seen::Ints { ids, distinct, .. }) => {
                for (i, &x) in v.iter().enumerate() {
                    out.push(if is_null(i) {
                        NULL_ID
                    } else {
                        intern_int(ids, distinct, x, insert)?
                    });
                }
            }
            (Values::Boolean(v), Seen::Ints { ids, distinct, .. }) => {
                for (i, &x) in v.iter().enumerate() {
                    out.push(if is_null(i) {
                        NULL_ID
                    } else {
                        intern_int(ids, distinct, i64::from(x), insert)?
                    });
                }
            }
            (Values::Text(v) | Values::Binary(v), Seen::Bytes { ids, distinct }) => {
                for i in 0..v.len() {
                    out.push(if is_null(i) {
                        NULL_ID
                    } else {
                        intern_bytes(ids, distinct, v.get(i), insert)?
                    });
                }
            }
            (
                Values::TextDictionary(d) | Values::BinaryDictionary(d),
                Seen::Bytes { ids, distinct },
            ) => {
                // Each distinct value is hashed once; rows then index the translation.
                let translated = (0..d.values.len())
                    .map(|k| intern_bytes(ids, distinct, d.values.get(k), insert))
                    .collect::<Result<Vec<u32>>>()?;
                let bad_key = |i: usize, key: u32| {
                    Error::invalid(format!(
                        "row {i} of key column `{}` has key {key}, but its dictionary has {} \
                         values",
                        self.name,
                        translated.len()
                    ))
                };
                if valid.is_none() {
                    for (i, &key) in d.keys.iter().enumerate() {
                        match translated.get(key as usize) {
                            Some(&id) => out.push(id),
                            None => return Err(bad_key(i, key)),
                        }
                    }
                } else {
                    for (i, &key) in d.keys.iter().enumerate() {
                        out.push(if is_null(i) {
                            NULL_ID
                        } else {
                            *translated
                                .get(key as usize)
                                .ok_or_else(|| bad_key(i, key))?
                        });
                    }
                }
            }
            _ => {
                return Err(Error::internal(format!(
                    "key column `{}`: its values and its domain disagree",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// The column of the values with these ids, named as the key column.
    pub(crate) fn column(&self, ids: &[u32]) -> Column {
        let valid: Vec<bool> = ids.iter().map(|&id| id != NULL_ID).collect();
        let valid = if valid.iter().all(|v| *v) {
            None
        } else {
            Some(valid)
        };
        let index = |id: u32| (id as usize).checked_sub(1);
        let values = match &self.seen {
            Seen::Ints { distinct, .. } => {
                let at = |id: u32| index(id).and_then(|i| distinct.get(i)).copied();
                let ints = ids.iter().map(|&id| at(id).unwrap_or_default());
                match self.data_type {
                    DataType::Boolean => Values::Boolean(ints.map(|x| x != 0).collect()),
                    DataType::Timestamp => Values::Timestamp(ints.collect()),
                    _ => Values::Int64(ints.collect()),
                }
            }
            Seen::Bytes { distinct, .. } => {
                let mut out = VarData::default();
                for &id in ids {
                    out.push(index(id).map_or(&[][..], |i| distinct.get(i)));
                }
                if self.data_type == DataType::Text {
                    Values::Text(out)
                } else {
                    Values::Binary(out)
                }
            }
        };
        Column {
            name: self.name.clone(),
            values,
            valid,
        }
    }
}

/// The id of `key` in `ids`; a new key gets the next id (`seen` keys have one) when `insert`,
/// `store` keeping its value, and [`MISSING`] otherwise.
fn intern<K, Q>(
    ids: &mut FastMap<K, u32>,
    seen: usize,
    key: &Q,
    insert: bool,
    store: impl FnOnce() -> K,
) -> Result<u32>
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    if let Some(&id) = ids.get(key) {
        return Ok(id);
    }
    if !insert {
        return Ok(MISSING);
    }
    if seen >= MAX_IDS {
        return Err(too_many("key values"));
    }
    let id = seen as u32 + 1;
    ids.insert(store(), id);
    Ok(id)
}

fn intern_int(
    ids: &mut FastMap<i64, u32>,
    distinct: &mut Vec<i64>,
    x: i64,
    insert: bool,
) -> Result<u32> {
    intern(ids, distinct.len(), &x, insert, || {
        distinct.push(x);
        x
    })
}

fn intern_bytes(
    ids: &mut FastMap<Box<[u8]>, u32>,
    distinct: &mut VarData,
    x: &[u8],
    insert: bool,
) -> Result<u32> {
    intern(ids, distinct.len(), x, insert, || {
        distinct.push(x);
        x.into()
    })
}

/// The ids of integers in one narrow range, by offset from `base` (0: not seen yet): a cache
/// in front of the hash map that spares a hash per row for small integer keys.
#[derive(Default)]
struct DenseInts {
    base: i64,
    ids: Vec<u32>,
}

/// The widest range of integers [`DenseInts`] covers (4 MiB of ids).
const DENSE_SPAN: i64 = 1 << 20;

impl DenseInts {
    /// Widens the range to cover `values` if it stays narrow; whether it does.
    fn cover(&mut self, values: &[i64]) -> bool {
        let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) else {
            return false;
        };
        let (lo, hi) = if self.ids.is_empty() {
            (lo, hi)
        } else {
            let end = self.base.saturating_add(self.ids.len() as i64 - 1);
            (lo.min(self.base), hi.max(end))
        };
        let Some(span) = hi.checked_sub(lo).and_then(|s| s.checked_add(1)) else {
            return false;
        };
        if span > DENSE_SPAN {
            return false;
        }
        if self.ids.is_empty() || lo != self.base || span as usize != self.ids.len() {
            let mut ids = vec![NULL_ID; span as usize];
            let shift = (self.base - lo) as usize;
            if let Some(target) = ids.get_mut(shift..shift + self.ids.len()) {
                target.copy_from_slice(&self.ids);
            }
            self.ids = ids;
            self.base = lo;
        }
        true
    }
}

/// (prefix, id) → the next prefix: a hash map, with a dense table in front while the pairs
/// seen stay few enough to keep as one (so small keys cost array lookups per row).
#[derive(Default)]
struct Pairs {
    map: FastMap<u64, u32>,
    /// By prefix, then by id: the next prefix plus one (0: not seen).
    dense: Vec<Vec<u32>>,
    cells: usize,
}

/// The most cells [`Pairs`] keeps dense (16 MiB).
const DENSE_PAIRS: usize = 1 << 22;

impl Pairs {
    #[inline]
    fn get(&mut self, prefix: u32, id: u32) -> Option<u32> {
        if let Some(&p) = self
            .dense
            .get(prefix as usize)
            .and_then(|row| row.get(id as usize))
            && p != 0
        {
            return Some(p - 1);
        }
        let p = *self.map.get(&pair(prefix, id))?;
        self.remember(prefix, id, p);
        Some(p)
    }

    fn insert(&mut self, prefix: u32, id: u32, p: u32) {
        self.map.insert(pair(prefix, id), p);
        self.remember(prefix, id, p);
    }

    fn remember(&mut self, prefix: u32, id: u32, p: u32) {
        let (prefix, id) = (prefix as usize, id as usize);
        if self.dense.len() <= prefix {
            self.dense.resize(prefix + 1, Vec::new());
        }
        let Some(row) = self.dense.get_mut(prefix) else {
            return;
        };
        if row.len() <= id {
            let growth = id + 1 - row.len();
            if self.cells + growth > DENSE_PAIRS {
                return;
            }
            self.cells += growth;
            row.resize(id + 1, 0);
        }
        if let Some(cell) = row.get_mut(id) {
            *cell = p + 1;
        }
    }
}

fn pair(prefix: u32, id: u32) -> u64 {
    (u64::from(prefix) << 32) | u64::from(id)
}

/// Dense group ids for tuples of key columns, in order of first appearance.
pub(crate) struct Grouper {
    domains: Vec<KeyDomain>,
    /// The group (prefix) of each id of the first key column; [`MISSING`] where none yet.
    first: Vec<u32>,
    /// Per further key column: (prefix so far, id of this column) → prefix including it.
    pairs: Vec<Pairs>,
    /// Prefixes made so far at each stage (the last stage's are the groups).
    prefixes: Vec<u32>,
    /// Per key column, its id in each group.
    members: Vec<Vec<u32>>,
    /// Per key column, the ids of the rows of the batch at hand.
    row_ids: Vec<Vec<u32>>,
}

impl Grouper {
    /// A grouper for these key columns, with their types.
    pub(crate) fn new(keys: &[(&str, DataType)]) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::invalid("name at least one key column"));
        }
        let domains = keys
            .iter()
            .map(|(name, data_type)| KeyDomain::new(name, *data_type))
            .collect::<Result<Vec<_>>>()?;
        Ok(Grouper {
            first: Vec::new(),
            pairs: (1..keys.len()).map(|_| Pairs::default()).collect(),
            prefixes: vec![0; keys.len()],
            members: vec![Vec::new(); keys.len()],
            row_ids: vec![Vec::new(); keys.len()],
            domains,
        })
    }

    /// A grouper for the key columns `keys` of `batch`, typed as they are there.
    pub(crate) fn for_batch(batch: &Batch, keys: &[&str]) -> Result<Self> {
        let typed = keys
            .iter()
            .map(|k| Ok((*k, batch.column(k)?.values.data_type())))
            .collect::<Result<Vec<_>>>()?;
        Grouper::new(&typed)
    }

    /// Number of groups so far.
    pub(crate) fn len(&self) -> usize {
        self.members.first().map_or(0, Vec::len)
    }

    /// The group of each row of `batch` into `out`: new tuples make new groups when `insert`,
    /// and are [`MISSING`] when not.
    pub(crate) fn assign(&mut self, batch: &Batch, insert: bool, out: &mut Vec<u32>) -> Result<()> {
        for (domain, ids) in self.domains.iter_mut().zip(self.row_ids.iter_mut()) {
            let column = batch.column(&domain.name)?;
            domain.ids(column, insert, ids)?;
        }
        let rows = batch.num_rows();
        out.clear();
        out.reserve(rows);
        let Some((first_ids, rest)) = self.row_ids.split_first() else {
            return Ok(());
        };
        let last_stage = self.pairs.len();
        for (row, &id) in first_ids.iter().enumerate() {
            let mut prefix = match self.first.get(id as usize).copied() {
                Some(p) if p != MISSING => p,
                _ if id == MISSING || !insert => MISSING,
                _ => {
                    let p = next_id(&mut self.prefixes[0])?;
                    if self.first.len() <= id as usize {
                        self.first.resize(id as usize + 1, MISSING);
                    }
                    self.first[id as usize] = p;
                    if last_stage == 0 {
                        self.members[0].push(id);
                    }
                    p
                }
            };
            for (stage, ids) in rest.iter().enumerate() {
                if prefix == MISSING {
                    break;
                }
                let id = ids.get(row).copied().unwrap_or(MISSING);
                if id == MISSING {
                    prefix = MISSING;
                    break;
                }
                let pairs = &mut self.pairs[stage];
                prefix = match pairs.get(prefix, id) {
                    Some(p) => p,
                    None if !insert => MISSING,
                    None => {
                        let p = next_id(&mut self.prefixes[stage + 1])?;
                        pairs.insert(prefix, id, p);
                        if stage + 1 == last_stage {
                            for (members, ids) in self.members.iter_mut().zip(&self.row_ids) {
                                members.push(ids.get(row).copied().unwrap_or(NULL_ID));
                            }
                        }
                        p
                    }
                };
            }
            out.push(prefix);
        }
        Ok(())
    }

    /// One column per key column, one row per group, in group order.
    pub(crate) fn key_columns(&self) -> Vec<Column> {
        self.domains
            .iter()
            .zip(&self.members)
            .map(|(domain, ids)| domain.column(ids))
            .collect()
    }
}

fn next_id(counter: &mut u32) -> Result<u32> {
    let id = *counter;
    if id as usize >= MAX_IDS {
        return Err(too_many("groups"));
    }
    *counter += 1;
    Ok(id)
}
