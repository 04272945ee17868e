//! Batches of rows as typed columns: reading values by column name, and building output.

use crate::dictionary::{Dictionary, VarRows};
use crate::error::{Error, Result};

/// The value kind of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// 64-bit float.
    Float64,
    /// 32-bit float.
    Float32,
    /// 64-bit signed integer.
    Int64,
    /// `true` / `false`.
    Boolean,
    /// UTF-8 text.
    Text,
    /// Microseconds since the Unix epoch, UTC.
    Timestamp,
    /// Raw bytes.
    Binary,
}

impl DataType {
    /// The name used in manifests.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::DataType::Float64.name(), "float64");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DataType::Float64 => "float64",
            DataType::Float32 => "float32",
            DataType::Int64 => "int64",
            DataType::Boolean => "boolean",
            DataType::Text => "text",
            DataType::Timestamp => "timestamp",
            DataType::Binary => "binary",
        }
    }
}

/// One column of a schema.
///
/// ```
/// use tessera_sdk::{DataType, Field};
/// let f = Field { name: "label".into(), data_type: DataType::Text, nullable: false };
/// assert_eq!(f.data_type.name(), "text");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// Value kind.
    pub data_type: DataType,
    /// Whether rows may be null.
    pub nullable: bool,
}

/// Variable-length values back to back, with `offsets.len() == rows + 1` (Arrow's layout).
///
/// ```
/// let v = tessera_sdk::VarData::from_strs(["ab", "", "c"]);
/// assert_eq!(v.get(0), b"ab");
/// assert_eq!(v.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarData {
    /// All values, concatenated.
    pub data: Vec<u8>,
    /// Start of each value, then the end of the last one.
    pub offsets: Vec<u32>,
}

impl Default for VarData {
    fn default() -> Self {
        VarData {
            data: Vec::new(),
            offsets: vec![0],
        }
    }
}

impl VarData {
    /// Packs strings.
    ///
    /// ```
    /// let v = tessera_sdk::VarData::from_strs(vec!["x".to_string()]);
    /// assert_eq!(v.offsets, vec![0, 1]);
    /// ```
    pub fn from_strs<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        Self::from_bytes(values.into_iter().map(|s| s.as_ref().as_bytes().to_vec()))
    }

    /// Packs byte strings.
    ///
    /// ```
    /// let v = tessera_sdk::VarData::from_bytes([vec![1u8, 2], vec![]]);
    /// assert_eq!(v.get(1), b"");
    /// ```
    pub fn from_bytes<B: AsRef<[u8]>>(values: impl IntoIterator<Item = B>) -> Self {
        let mut out = VarData::default();
        for v in values {
            out.push(v.as_ref());
        }
        out
    }

    /// Appends one value.
    ///
    /// ```
    /// let mut v = tessera_sdk::VarData::default();
    /// v.push(b"abc");
    /// assert_eq!(v.get(0), b"abc");
    /// ```
    pub fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.offsets.push(self.data.len() as u32);
    }

    /// Number of values.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::VarData::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no values.
    ///
    /// ```
    /// assert!(tessera_sdk::VarData::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`; empty if out of range.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::VarData::from_strs(["q"]).get(9), b"");
    /// ```
    pub fn get(&self, i: usize) -> &[u8] {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&start), Some(&end)) => self
                .data
                .get(start as usize..end as usize)
                .unwrap_or_default(),
            _ => &[],
        }
    }
}

/// The values of one column, one entry per row.
///
/// ```
/// let v = tessera_sdk::Values::Float64(vec![1.0, 2.0]);
/// assert_eq!(v.len(), 2);
/// assert_eq!(v.data_type(), tessera_sdk::DataType::Float64);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// 64-bit floats.
    Float64(Vec<f64>),
    /// 32-bit floats.
    Float32(Vec<f32>),
    /// 64-bit integers.
    Int64(Vec<i64>),
    /// Booleans.
    Boolean(Vec<bool>),
    /// UTF-8 text.
    Text(VarData),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(Vec<i64>),
    /// Byte strings.
    Binary(VarData),
    /// UTF-8 text as keys into its distinct values (see [`Dictionary`]).
    TextDictionary(Dictionary),
    /// Byte strings as keys into their distinct values.
    BinaryDictionary(Dictionary),
}

impl Values {
    /// No values of `data_type`.
    ///
    /// ```
    /// use tessera_sdk::{DataType, Values};
    /// assert_eq!(Values::empty(DataType::Text).len(), 0);
    /// ```
    pub fn empty(data_type: DataType) -> Values {
        match data_type {
            DataType::Float64 => Values::Float64(Vec::new()),
            DataType::Float32 => Values::Float32(Vec::new()),
            DataType::Int64 => Values::Int64(Vec::new()),
            DataType::Boolean => Values::Boolean(Vec::new()),
            DataType::Text => Values::Text(VarData::default()),
            DataType::Timestamp => Values::Timestamp(Vec::new()),
            DataType::Binary => Values::Binary(VarData::default()),
        }
    }

    /// Number of rows.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Values::Int64(vec![]).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        match self {
            Values::Float64(v) => v.len(),
            Values::Float32(v) => v.len(),
            Values::Int64(v) | Values::Timestamp(v) => v.len(),
            Values::Boolean(v) => v.len(),
            Values::Text(v) | Values::Binary(v) => v.len(),
            Values::TextDictionary(d) | Values::BinaryDictionary(d) => d.len(),
        }
    }

    /// Whether there are no rows.
    ///
    /// ```
    /// assert!(tessera_sdk::Values::Boolean(vec![]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value kind.
    ///
    /// ```
    /// use tessera_sdk::{DataType, Values};
    /// assert_eq!(Values::Timestamp(vec![0]).data_type(), DataType::Timestamp);
    /// ```
    pub fn data_type(&self) -> DataType {
        match self {
            Values::Float64(_) => DataType::Float64,
            Values::Float32(_) => DataType::Float32,
            Values::Int64(_) => DataType::Int64,
            Values::Boolean(_) => DataType::Boolean,
            Values::Text(_) | Values::TextDictionary(_) => DataType::Text,
            Values::Timestamp(_) => DataType::Timestamp,
            Values::Binary(_) | Values::BinaryDictionary(_) => DataType::Binary,
        }
    }

    /// The same values with any dictionary decoded to plain values.
    ///
    /// ```
    /// use tessera_sdk::{Dictionary, Values, VarData};
    /// let d = Values::TextDictionary(Dictionary { keys: vec![0, 0], values: VarData::from_strs(["a"]) });
    /// assert_eq!(d.decoded(), Values::Text(VarData::from_strs(["a", "a"])));
    /// ```
    pub fn decoded(self) -> Values {
        match self {
            Values::TextDictionary(d) => Values::Text(d.decode()),
            Values::BinaryDictionary(d) => Values::Binary(d.decode()),
            plain => plain,
        }
    }

    fn append(&mut self, other: Values) -> Result<()> {
        if matches!(
            self,
            Values::TextDictionary(_) | Values::BinaryDictionary(_)
        ) {
            *self = std::mem::replace(self, Values::Boolean(Vec::new())).decoded();
        }
        match (self, other.decoded()) {
            (Values::Float64(a), Values::Float64(b)) => a.extend(b),
            (Values::Float32(a), Values::Float32(b)) => a.extend(b),
            (Values::Int64(a), Values::Int64(b)) | (Values::Timestamp(a), Values::Timestamp(b)) => {
                a.extend(b)
            }
            (Values::Boolean(a), Values::Boolean(b)) => a.extend(b),
            (Values::Text(a), Values::Text(b)) | (Values::Binary(a), Values::Binary(b)) => {
                let base = a.data.len() as u32;
                a.data.extend(b.data);
                a.offsets.extend(b.offsets.iter().skip(1).map(|o| o + base));
            }
            (a, b) => {
                return Err(Error::invalid(format!(
                    "cannot append {} values to {} values",
                    b.data_type().name(),
                    a.data_type().name()
                )));
            }
        }
        Ok(())
    }
}

/// One named column: values and, when it has nulls, a validity mask (`false` = null).
///
/// ```
/// use tessera_sdk::{Column, Values};
/// let c = Column { name: "x".into(), values: Values::Int64(vec![1, 0]), valid: Some(vec![true, false]) };
/// assert!(c.is_null(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Values, one per row.
    pub values: Values,
    /// `None` when no row is null.
    pub valid: Option<Vec<bool>>,
}

impl Column {
    /// Whether row `i` is null.
    ///
    /// ```
    /// use tessera_sdk::{Column, Values};
    /// let c = Column { name: "x".into(), values: Values::Int64(vec![1]), valid: None };
    /// assert!(!c.is_null(0));
    /// ```
    pub fn is_null(&self, i: usize) -> bool {
        self.valid
            .as_ref()
            .is_some_and(|v| !v.get(i).copied().unwrap_or(true))
    }

    /// Number of null rows.
    ///
    /// ```
    /// use tessera_sdk::{Column, Values};
    /// let c = Column { name: "x".into(), values: Values::Int64(vec![1, 2]), valid: Some(vec![false, true]) };
    /// assert_eq!(c.null_count(), 1);
    /// ```
    pub fn null_count(&self) -> usize {
        self.valid
            .as_ref()
            .map_or(0, |v| v.iter().filter(|ok| !**ok).count())
    }
}

/// A typed, read-only view of a fixed-width column (floats, integers, booleans, timestamps).
///
/// ```
/// # use tessera_sdk::Batch;
/// let batch = Batch::builder().f64_opt("score", [Some(0.5), None]).build()?;
/// let score = batch.f64("score")?;
/// assert_eq!(score.get(0), Some(0.5));
/// assert_eq!(score.get(1), None);
/// assert_eq!(score.iter().flatten().sum::<f64>(), 0.5);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Primitive<'a, T> {
    values: &'a [T],
    valid: Option<&'a [bool]>,
}

impl<'a, T: Copy> Primitive<'a, T> {
    /// Number of rows.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().i64("n", [1, 2]).build()?;
    /// assert_eq!(b.i64("n")?.len(), 2);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no rows.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().i64("n", []).build()?;
    /// assert!(b.i64("n")?.is_empty());
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `i`, or `None` if it is null or out of range.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().i64("n", [7]).build()?;
    /// assert_eq!(b.i64("n")?.get(0), Some(7));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        if self
            .valid
            .is_some_and(|v| !v.get(i).copied().unwrap_or(false))
        {
            return None;
        }
        self.values.get(i).copied()
    }

    /// The raw values; a null row holds an arbitrary value.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().f64("x", [1.0, 2.0]).build()?;
    /// assert_eq!(b.f64("x")?.values(), &[1.0, 2.0]);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    /// Whether row `i` is null.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().f64_opt("x", [None]).build()?;
    /// assert!(b.f64("x")?.is_null(0));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn is_null(&self, i: usize) -> bool {
        self.valid
            .is_some_and(|v| !v.get(i).copied().unwrap_or(true))
    }

    /// Rows in order, `None` for nulls.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().boolean("ok", [true, false]).build()?;
    /// assert_eq!(b.boolean("ok")?.iter().collect::<Vec<_>>(), vec![Some(true), Some(false)]);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Option<T>> + 'a {
        let valid = self.valid;
        self.values
            .iter()
            .enumerate()
            .map(move |(i, v)| match valid {
                Some(mask) if !mask.get(i).copied().unwrap_or(false) => None,
                _ => Some(*v),
            })
    }
}

/// A read-only view of a text or binary column.
///
/// ```
/// # use tessera_sdk::Batch;
/// let batch = Batch::builder().text_opt("label", [Some("benign"), None]).build()?;
/// let label = batch.text("label")?;
/// assert_eq!(label.get(0), Some("benign"));
/// assert_eq!(label.get(1), None);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
#[derive(Debug)]
pub struct Var<'a, T: ?Sized> {
    data: VarRows<'a>,
    valid: Option<&'a [bool]>,
    kind: std::marker::PhantomData<&'a T>,
}

impl<T: ?Sized> Clone for Var<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Var<'_, T> {}

impl<'a, T: ?Sized + FromVar> Var<'a, T> {
    /// Number of rows.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().text("t", ["a", "b"]).build()?;
    /// assert_eq!(b.text("t")?.len(), 2);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no rows.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().text("t", Vec::<&str>::new()).build()?;
    /// assert!(b.text("t")?.is_empty());
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// Row `i`, or `None` if it is null or out of range.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().binary("b", [vec![1u8]]).build()?;
    /// assert_eq!(b.binary("b")?.get(0), Some(&[1u8][..]));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<&'a T> {
        if i >= self.data.len()
            || self
                .valid
                .is_some_and(|v| !v.get(i).copied().unwrap_or(false))
        {
            return None;
        }
        Some(T::from_var(self.data.get(i)))
    }

    /// Row `i` as its stored bytes, without checking UTF-8 again (the host checked it once):
    /// the fastest way to hash or compare text.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().text_opt("t", [Some("é"), None]).build()?;
    /// assert_eq!(b.text("t")?.bytes(0), Some("é".as_bytes()));
    /// assert_eq!(b.text("t")?.bytes(1), None);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn bytes(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.data.len()
            || self
                .valid
                .is_some_and(|v| !v.get(i).copied().unwrap_or(false))
        {
            return None;
        }
        Some(self.data.get(i))
    }

    /// The values as stored when they are plain: all bytes back to back, with offsets (nulls
    /// hold empty values); `None` for a dictionary-encoded column.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().text("t", ["ab", "c"]).build()?;
    /// assert_eq!(b.text("t")?.raw().map(|v| v.offsets.clone()), Some(vec![0, 2, 3]));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn raw(&self) -> Option<&'a VarData> {
        match self.data {
            VarRows::Plain(v) => Some(v),
            VarRows::Keyed(_) => None,
        }
    }

    /// The keys and distinct values, when the column is dictionary-encoded (see
    /// [`Dictionary`]).
    ///
    /// ```
    /// use tessera_sdk::{Batch, Column, Dictionary, Values, VarData};
    /// let d = Dictionary { keys: vec![1, 0], values: VarData::from_strs(["a", "b"]) };
    /// let b = Batch::new(vec![Column { name: "t".into(), values: Values::TextDictionary(d), valid: None }])?;
    /// assert_eq!(b.text("t")?.get(0), Some("b"));
    /// assert_eq!(b.text("t")?.dictionary().map(|d| d.keys.clone()), Some(vec![1, 0]));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn dictionary(&self) -> Option<&'a Dictionary> {
        match self.data {
            VarRows::Plain(_) => None,
            VarRows::Keyed(d) => Some(d),
        }
    }

    /// Rows in order, `None` for nulls.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().text("t", ["a", "b"]).build()?;
    /// assert_eq!(b.text("t")?.iter().flatten().collect::<String>(), "ab");
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a T>> + 'a {
        let this = *self;
        (0..self.data.len()).map(move |i| this.get(i))
    }
}

/// Conversion of stored bytes to the item type of a [`Var`] column: `str` for text, `[u8]` for
/// binary.
///
/// ```
/// use tessera_sdk::FromVar;
/// assert_eq!(<str as FromVar>::from_var(b"abc"), "abc");
/// assert_eq!(<[u8] as FromVar>::from_var(b"abc"), b"abc");
/// ```
pub trait FromVar {
    /// Views stored bytes as this type.
    ///
    /// ```
    /// assert_eq!(<str as tessera_sdk::FromVar>::from_var(b"x"), "x");
    /// ```
    fn from_var(bytes: &[u8]) -> &Self;
}

impl FromVar for str {
    fn from_var(bytes: &[u8]) -> &str {
        // The host validates UTF-8 before handing text to a product, and builders only take `&str`.
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl FromVar for [u8] {
    fn from_var(bytes: &[u8]) -> &[u8] {
        bytes
    }
}

/// Rows as named columns of equal length.
///
/// ```
/// use tessera_sdk::Batch;
/// let batch = Batch::builder()
///     .text("study_id", ["s1", "s2"])
///     .f64("agreement", [1.0, 0.5])
///     .build()?;
/// assert_eq!(batch.num_rows(), 2);
/// assert_eq!(batch.f64("agreement")?.get(1), Some(0.5));
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    columns: Vec<Column>,
}

macro_rules! primitive_getter {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(&self, name: &str) -> Result<Primitive<'_, $ty>> {
            let column = self.column(name)?;
            match &column.values {
                Values::$variant(values) => Ok(Primitive { values, valid: column.valid.as_deref() }),
                other => Err(wrong_type(name, other.data_type(), DataType::$variant)),
            }
        }
    };
}

fn wrong_type(name: &str, found: DataType, wanted: DataType) -> Error {
    Error::invalid(format!(
        "column `{name}` is {}, not {}",
        found.name(),
        wanted.name()
    ))
}

impl Batch {
    /// Starts building a batch column by column.
    ///
    /// ```
    /// let b = tessera_sdk::Batch::builder().i64("n", [1, 2, 3]).build()?;
    /// assert_eq!(b.num_rows(), 3);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn builder() -> BatchBuilder {
        BatchBuilder::default()
    }

    /// A batch of these columns; they must have equal lengths and distinct names.
    ///
    /// ```
    /// use tessera_sdk::{Batch, Column, Values};
    /// let b = Batch::new(vec![Column { name: "n".into(), values: Values::Int64(vec![1]), valid: None }])?;
    /// assert_eq!(b.num_columns(), 1);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn new(columns: Vec<Column>) -> Result<Batch> {
        let rows = columns.first().map_or(0, |c| c.values.len());
        for (i, column) in columns.iter().enumerate() {
            if column.values.len() != rows {
                return Err(Error::invalid(format!(
                    "column `{}` has {} rows, but `{}` has {rows}",
                    column.name,
                    column.values.len(),
                    columns[0].name
                )));
            }
            if column.valid.as_ref().is_some_and(|v| v.len() != rows) {
                return Err(Error::invalid(format!(
                    "the validity mask of `{}` does not have {rows} entries",
                    column.name
                )));
            }
            if columns[..i].iter().any(|c| c.name == column.name) {
                return Err(Error::invalid(format!(
                    "column `{}` appears twice",
                    column.name
                )));
            }
        }
        Ok(Batch { columns })
    }

    /// Number of rows.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Batch::default().num_rows(), 0);
    /// ```
    pub fn num_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// Number of columns.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Batch::default().num_columns(), 0);
    /// ```
    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    /// All columns.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().i64("n", [1]).build()?;
    /// assert_eq!(b.columns()[0].name, "n");
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Takes the columns out.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().i64("n", [1]).build()?;
    /// assert_eq!(b.into_columns().len(), 1);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// The column with this name.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().i64("n", [1]).build()?;
    /// assert!(b.column("n").is_ok());
    /// assert!(b.column("m").is_err());
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn column(&self, name: &str) -> Result<&Column> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
            Error::not_found(format!(
                "no column `{name}` in this batch; it has: {}",
                names.join(", ")
            ))
        })
    }

    primitive_getter!(
        /// The float64 column `name`.
        ///
        /// ```
        /// # let b = tessera_sdk::Batch::builder().f64("x", [0.5]).build()?;
        /// assert_eq!(b.f64("x")?.get(0), Some(0.5));
        /// assert!(b.i64("x").is_err());
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        f64, Float64, f64
    );
    primitive_getter!(
        /// The float32 column `name`.
        ///
        /// ```
        /// # let b = tessera_sdk::Batch::builder().f32("x", [0.5]).build()?;
        /// assert_eq!(b.f32("x")?.get(0), Some(0.5));
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        f32, Float32, f32
    );
    primitive_getter!(
        /// The int64 column `name`.
        ///
        /// ```
        /// # let b = tessera_sdk::Batch::builder().i64("n", [3]).build()?;
        /// assert_eq!(b.i64("n")?.get(0), Some(3));
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        i64, Int64, i64
    );
    primitive_getter!(
        /// The boolean column `name`.
        ///
        /// ```
        /// # let b = tessera_sdk::Batch::builder().boolean("ok", [true]).build()?;
        /// assert_eq!(b.boolean("ok")?.get(0), Some(true));
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        boolean, Boolean, bool
    );
    primitive_getter!(
        /// The timestamp column `name`, in microseconds since the Unix epoch (UTC).
        ///
        /// ```
        /// # let b = tessera_sdk::Batch::builder().timestamp("at", [1_700_000_000_000_000]).build()?;
        /// assert_eq!(b.timestamp("at")?.get(0), Some(1_700_000_000_000_000));
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        timestamp, Timestamp, i64
    );

    /// The text column `name`.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().text("t", ["hi"]).build()?;
    /// assert_eq!(b.text("t")?.get(0), Some("hi"));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn text(&self, name: &str) -> Result<Var<'_, str>> {
        let column = self.column(name)?;
        match &column.values {
            Values::Text(data) => Ok(Var {
                data: VarRows::Plain(data),
                valid: column.valid.as_deref(),
                kind: std::marker::PhantomData,
            }),
            Values::TextDictionary(data) => Ok(Var {
                data: VarRows::Keyed(data),
                valid: column.valid.as_deref(),
                kind: std::marker::PhantomData,
            }),
            other => Err(wrong_type(name, other.data_type(), DataType::Text)),
        }
    }

    /// The binary column `name`.
    ///
    /// ```
    /// # let b = tessera_sdk::Batch::builder().binary("b", [b"\x01".to_vec()]).build()?;
    /// assert_eq!(b.binary("b")?.get(0), Some(&b"\x01"[..]));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn binary(&self, name: &str) -> Result<Var<'_, [u8]>> {
        let column = self.column(name)?;
        match &column.values {
            Values::Binary(data) => Ok(Var {
                data: VarRows::Plain(data),
                valid: column.valid.as_deref(),
                kind: std::marker::PhantomData,
            }),
            Values::BinaryDictionary(data) => Ok(Var {
                data: VarRows::Keyed(data),
                valid: column.valid.as_deref(),
                kind: std::marker::PhantomData,
            }),
            other => Err(wrong_type(name, other.data_type(), DataType::Binary)),
        }
    }

    /// Appends the rows of `other`, which must have the same columns (by name) and types.
    ///
    /// ```
    /// # use tessera_sdk::Batch;
    /// let mut a = Batch::builder().text("t", ["a"]).build()?;
    /// a.append(Batch::builder().text_opt("t", [None::<&str>]).build()?)?;
    /// assert_eq!(a.num_rows(), 2);
    /// assert_eq!(a.text("t")?.get(1), None);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn append(&mut self, other: Batch) -> Result<()> {
        if self.columns.is_empty() {
            *self = other;
            return Ok(());
        }
        let rows = self.num_rows();
        let other_rows = other.num_rows();
        if other.columns.len() != self.columns.len() {
            return Err(Error::invalid(
                "cannot append a batch with different columns",
            ));
        }
        let mut other_columns = other.columns;
        for column in &mut self.columns {
            let index = other_columns
                .iter()
                .position(|c| c.name == column.name)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "cannot append: the other batch lacks `{}`",
                        column.name
                    ))
                })?;
            let theirs = other_columns.swap_remove(index);
            column.values.append(theirs.values)?;
            column.valid = match (column.valid.take(), theirs.valid) {
                (None, None) => None,
                (mine, theirs) => {
                    let mut mask = mine.unwrap_or_else(|| vec![true; rows]);
                    mask.extend(theirs.unwrap_or_else(|| vec![true; other_rows]));
                    Some(mask)
                }
            };
        }
        Ok(())
    }
}

/// Builds a [`Batch`] column by column; [`BatchBuilder::build`] checks the lengths.
///
/// ```
/// let batch = tessera_sdk::Batch::builder()
///     .text("label", ["benign", "malignant"])
///     .i64("studies", [357, 212])
///     .build()?;
/// assert_eq!(batch.i64("studies")?.values(), &[357, 212]);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct BatchBuilder {
    columns: Vec<Column>,
}

fn mask<T: Default>(values: impl IntoIterator<Item = Option<T>>) -> (Vec<T>, Option<Vec<bool>>) {
    let mut out = Vec::new();
    let mut valid = Vec::new();
    for v in values {
        valid.push(v.is_some());
        out.push(v.unwrap_or_default());
    }
    let valid = if valid.iter().all(|v| *v) {
        None
    } else {
        Some(valid)
    };
    (out, valid)
}

macro_rules! primitive_builder {
    ($(#[$doc:meta])* $name:ident, $(#[$doc_opt:meta])* $name_opt:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(self, name: &str, values: impl IntoIterator<Item = $ty>) -> Self {
            self.push(name, Values::$variant(values.into_iter().collect()), None)
        }

        $(#[$doc_opt])*
        pub fn $name_opt(self, name: &str, values: impl IntoIterator<Item = Option<$ty>>) -> Self {
            let (values, valid) = mask(values);
            self.push(name, Values::$variant(values), valid)
        }
    };
}

impl BatchBuilder {
    fn push(mut self, name: &str, values: Values, valid: Option<Vec<bool>>) -> Self {
        self.columns.push(Column {
            name: name.to_string(),
            values,
            valid,
        });
        self
    }

    /// Adds a column built elsewhere.
    ///
    /// ```
    /// use tessera_sdk::{Batch, Column, Values};
    /// let b = Batch::builder().column(Column { name: "n".into(), values: Values::Int64(vec![1]), valid: None }).build()?;
    /// assert_eq!(b.num_rows(), 1);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn column(mut self, column: Column) -> Self {
        self.columns.push(column);
        self
    }

    primitive_builder!(
        /// Adds a float64 column without nulls.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().f64("x", [1.0]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        f64,
        /// Adds a float64 column; `None` is null.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().f64_opt("x", [Some(1.0), None]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        f64_opt, Float64, f64
    );
    primitive_builder!(
        /// Adds a float32 column without nulls.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().f32("x", [1.0]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        f32,
        /// Adds a float32 column; `None` is null.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().f32_opt("x", [None]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        f32_opt, Float32, f32
    );
    primitive_builder!(
        /// Adds an int64 column without nulls.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().i64("n", [1]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        i64,
        /// Adds an int64 column; `None` is null.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().i64_opt("n", [Some(1), None]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        i64_opt, Int64, i64
    );
    primitive_builder!(
        /// Adds a boolean column without nulls.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().boolean("ok", [true]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        boolean,
        /// Adds a boolean column; `None` is null.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().boolean_opt("ok", [None]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        boolean_opt, Boolean, bool
    );
    primitive_builder!(
        /// Adds a timestamp column (µs since the Unix epoch, UTC) without nulls.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().timestamp("at", [0]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        timestamp,
        /// Adds a timestamp column; `None` is null.
        ///
        /// ```
        /// let b = tessera_sdk::Batch::builder().timestamp_opt("at", [None]).build()?;
        /// # Ok::<(), tessera_sdk::Error>(())
        /// ```
        timestamp_opt, Timestamp, i64
    );

    /// Adds a text column without nulls.
    ///
    /// ```
    /// let b = tessera_sdk::Batch::builder().text("t", ["a", "b"]).build()?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn text<S: AsRef<str>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        self.push(name, Values::Text(VarData::from_strs(values)), None)
    }

    /// Adds a text column; `None` is null.
    ///
    /// ```
    /// let b = tessera_sdk::Batch::builder().text_opt("t", [Some("a"), None]).build()?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn text_opt<S: AsRef<str>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let mut data = VarData::default();
        let mut valid = Vec::new();
        for v in values {
            valid.push(v.is_some());
            data.push(v.as_ref().map_or(&b""[..], |s| s.as_ref().as_bytes()));
        }
        let valid = if valid.iter().all(|v| *v) {
            None
        } else {
            Some(valid)
        };
        self.push(name, Values::Text(data), valid)
    }

    /// Adds a binary column without nulls.
    ///
    /// ```
    /// let b = tessera_sdk::Batch::builder().binary("img", [vec![0u8; 4]]).build()?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn binary<B: AsRef<[u8]>>(self, name: &str, values: impl IntoIterator<Item = B>) -> Self {
        self.push(name, Values::Binary(VarData::from_bytes(values)), None)
    }

    /// Adds a binary column with nulls.
    ///
    /// ```
    /// let b = tessera_sdk::Batch::builder().binary_opt("png", [Some(vec![1u8]), None]).build()?;
    /// assert_eq!(b.binary("png")?.get(1), None);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn binary_opt<B: AsRef<[u8]>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = Option<B>>,
    ) -> Self {
        let mut data = VarData::default();
        let mut valid = Vec::new();
        for value in values {
            valid.push(value.is_some());
            data.push(value.as_ref().map_or(&[][..], AsRef::as_ref));
        }
        let valid = valid.iter().any(|v| !v).then_some(valid);
        self.push(name, Values::Binary(data), valid)
    }

    /// Checks the columns and returns the batch.
    ///
    /// ```
    /// let err = tessera_sdk::Batch::builder().i64("a", [1]).i64("b", [1, 2]).build();
    /// assert!(err.is_err());
    /// ```
    pub fn build(self) -> Result<Batch> {
        Batch::new(self.columns)
    }
}
