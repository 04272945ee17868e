//! Checking batches against a declared schema, and coercing file data into it.
//!
//! Output batches from a product must match their port's schema exactly ([`Coercion::Exact`]).
//! Input files may need documented coercions ([`Coercion::Lenient`]): integers to floats,
//! 32-bit to 64-bit numbers, ISO-8601 text to timestamps, large or view strings to text, and
//! timestamps of any unit or zone to microseconds UTC.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType as ArrowType, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::io::DataError;
use crate::schema::{DataType, Schema};

/// Which type differences [`conform`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coercion {
    /// Types must be exactly the declared ones.
    Exact,
    /// Documented, lossless-in-practice conversions are applied.
    Lenient,
}

/// Returns `batch` with exactly the declared columns, in declared order, with declared types.
///
/// `first_row` is the position of the batch's first row in the whole stream, so errors name
/// the row in the data. Missing columns, undeclared columns, wrong types and nulls in required
/// columns are errors.
pub fn conform(
    batch: &RecordBatch,
    schema: &Schema,
    target: &SchemaRef,
    first_row: u64,
    coercion: Coercion,
) -> Result<RecordBatch, DataError> {
    conform_batch(batch, schema, target, first_row, coercion, false)
}

/// As [`conform`], but a declared text or binary column that arrives dictionary-encoded stays
/// so, its keys as `Int32` (see [`crate::io::BatchSource::keep_dictionaries`]); the batch's
/// schema then says so for those columns.
pub fn conform_keeping_dictionaries(
    batch: &RecordBatch,
    schema: &Schema,
    target: &SchemaRef,
    first_row: u64,
    coercion: Coercion,
) -> Result<RecordBatch, DataError> {
    conform_batch(batch, schema, target, first_row, coercion, true)
}

/// The dictionary type a declared text or binary column keeps, if it is that and `array` is a
/// dictionary of its values with integer keys and no null among the values (a null reached
/// through a valid key would hide from the row's validity; such a column is decoded instead).
fn kept_dictionary(to: DataType, array: &ArrayRef) -> Option<ArrowType> {
    let ArrowType::Dictionary(key, value) = array.data_type() else {
        return None;
    };
    let wanted = to.to_arrow();
    let values_have_nulls = array
        .as_any_dictionary_opt()
        .is_none_or(|d| d.values().null_count() > 0);
    (matches!(to, DataType::Text | DataType::Binary)
        && key.is_integer()
        && **value == wanted
        && !values_have_nulls)
        .then(|| ArrowType::Dictionary(Box::new(ArrowType::Int32), Box::new(wanted)))
}

fn conform_batch(
    batch: &RecordBatch,
    schema: &Schema,
    target: &SchemaRef,
    first_row: u64,
    coercion: Coercion,
    keep_dictionaries: bool,
) -> Result<RecordBatch, DataError> {
    let batch_schema = batch.schema();
    let columns = batch_schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .zip(batch.columns().iter().cloned())
        .collect();
    conform_named(
        columns,
        schema,
        target,
        first_row,
        coercion,
        keep_dictionaries,
    )
}

/// Assembles a batch of exactly the declared columns from named arrays, as a product wrote
/// them: the one rule every output batch is held to, in the host and in `tessera_sdk`'s
/// `TestRun`. Types must be exactly the declared ones ([`Coercion::Exact`]); a column named
/// twice, an undeclared or missing column, a null in a required column and columns of
/// different lengths are errors that name the column (and the row, counted from `first_row`).
pub fn conform_output(
    columns: Vec<(&str, ArrayRef)>,
    schema: &Schema,
    target: &SchemaRef,
    first_row: u64,
) -> Result<RecordBatch, DataError> {
    conform_named(columns, schema, target, first_row, Coercion::Exact, false)
}

/// As [`conform`], for named arrays rather than a batch (columns of a batch being built).
pub fn conform_columns(
    columns: Vec<(&str, ArrayRef)>,
    schema: &Schema,
    target: &SchemaRef,
    first_row: u64,
    coercion: Coercion,
) -> Result<RecordBatch, DataError> {
    conform_named(columns, schema, target, first_row, coercion, false)
}

/// Refuses a column named twice or not declared, before any value is looked at (names are
/// cheap to check; values may be large).
pub fn check_column_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
    schema: &Schema,
) -> Result<(), DataError> {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(DataError::new(format!("column `{name}` appears twice"))
                .column(name)
                .hint("write each column once"));
        }
        if schema.column(name).is_none() {
            return Err(DataError::new(format!("undeclared column `{name}`"))
                .column(name)
                .hint(format!(
                    "the declared columns are: {}",
                    schema.names().join(", ")
                )));
        }
    }
    Ok(())
}

fn conform_named(
    columns: Vec<(&str, ArrayRef)>,
    schema: &Schema,
    target: &SchemaRef,
    first_row: u64,
    coercion: Coercion,
    keep_dictionaries: bool,
) -> Result<RecordBatch, DataError> {
    check_column_names(columns.iter().map(|(name, _)| *name), schema)?;
    let mut rows: Option<(usize, &str)> = None;
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.columns.len());
    for column in &schema.columns {
        let Some((_, array)) = columns.iter().find(|(name, _)| *name == column.name) else {
            return Err(DataError::new(format!("missing column `{}`", column.name))
                .column(&column.name)
                .hint(format!(
                    "add the column `{}` ({})",
                    column.name, column.data_type
                )));
        };
        match rows {
            None => rows = Some((array.len(), &column.name)),
            Some((n, first)) if n != array.len() => {
                return Err(DataError::new(format!(
                    "column `{}` has {} rows, but `{first}` has {n}",
                    column.name,
                    array.len()
                ))
                .column(&column.name)
                .hint("give every column of a batch the same number of rows"));
            }
            Some(_) => {}
        }
        let kept = keep_dictionaries
            .then(|| kept_dictionary(column.data_type, array))
            .flatten();
        let array = match kept {
            Some(dictionary) => cast_with_options(array, &dictionary, &CastOptions::default())
                .map_err(|e| DataError::from(e).column(&column.name))?,
            None => coerce(array, column.data_type, coercion)
                .map_err(|e| e.column(&column.name).offset_row(first_row))?,
        };
        if column.required && array.null_count() > 0 {
            let row = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0) as u64;
            return Err(DataError::new("null in a required column")
                .column(&column.name)
                .row(first_row + row)
                .hint("give every row a value, or declare the column without `required = true`"));
        }
        arrays.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(rows.map(|(n, _)| n));
    let same_types = arrays
        .iter()
        .zip(target.fields())
        .all(|(a, f)| a.data_type() == f.data_type());
    if same_types {
        return RecordBatch::try_new_with_options(target.clone(), arrays, &options)
            .map_err(DataError::from);
    }
    let fields: Vec<arrow::datatypes::Field> = target
        .fields()
        .iter()
        .zip(&arrays)
        .map(|(f, a)| f.as_ref().clone().with_data_type(a.data_type().clone()))
        .collect();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        target.metadata().clone(),
    ));
    RecordBatch::try_new_with_options(schema, arrays, &options).map_err(DataError::from)
}

fn coerce(array: &ArrayRef, to: DataType, coercion: Coercion) -> Result<ArrayRef, DataError> {
    let target = to.to_arrow();
    let from = array.data_type();
    if from == &target {
        return Ok(array.clone());
    }
    let allowed = coercion == Coercion::Lenient
        && match to {
            DataType::Float64 => from.is_numeric(),
            DataType::Float32 => matches!(
                from,
                ArrowType::Float16
                    | ArrowType::Int8
                    | ArrowType::Int16
                    | ArrowType::UInt8
                    | ArrowType::UInt16
            ),
            DataType::Int64 => from.is_integer(),
            DataType::Boolean => false,
            DataType::Text => matches!(
                from,
                ArrowType::LargeUtf8 | ArrowType::Utf8View | ArrowType::Dictionary(_, _)
            ),
            DataType::Timestamp => matches!(
                from,
                ArrowType::Timestamp(_, _)
                    | ArrowType::Utf8
                    | ArrowType::LargeUtf8
                    | ArrowType::Utf8View
                    | ArrowType::Date32
                    | ArrowType::Date64
            ),
            DataType::Binary => matches!(
                from,
                ArrowType::LargeBinary | ArrowType::BinaryView | ArrowType::FixedSizeBinary(_)
            ),
        };
    if !allowed {
        return Err(
            DataError::new(format!("expected {to}, found {}", describe(from))).hint(format!(
                "declare the column as {} or convert the data to {to}",
                nearest(from)
            )),
        );
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    match cast_with_options(array, &target, &options) {
        Ok(cast) => Ok(cast),
        Err(e) => {
            // Find the first row that fails, so the error names it.
            let row = (0..array.len())
                .find(|&i| cast_with_options(&array.slice(i, 1), &target, &options).is_err());
            let mut err = DataError::new(format!("cannot convert to {to}: {e}")).hint(
                if to == DataType::Timestamp {
                    "write timestamps as ISO-8601, e.g. 2024-05-01T12:00:00Z"
                } else {
                    "fix the value"
                },
            );
            if let Some(row) = row {
                err = err.row(row as u64);
            }
            Err(err)
        }
    }
}

/// The declared type an Arrow type maps to, if any.
pub fn declared_type(t: &ArrowType) -> Option<DataType> {
    match nearest(t) {
        "float64" => Some(DataType::Float64),
        "float32" => Some(DataType::Float32),
        "int64" => Some(DataType::Int64),
        "boolean" => Some(DataType::Boolean),
        "text" => Some(DataType::Text),
        "timestamp" => Some(DataType::Timestamp),
        "binary" => Some(DataType::Binary),
        _ => None,
    }
}

fn describe(t: &ArrowType) -> String {
    match nearest(t) {
        "" => format!("{t}"),
        name => name.to_string(),
    }
}

/// The declared type closest to an Arrow type, for hints.
fn nearest(t: &ArrowType) -> &'static str {
    match t {
        ArrowType::Float64 | ArrowType::Float16 => "float64",
        ArrowType::Float32 => "float32",
        t if t.is_integer() => "int64",
        ArrowType::Boolean => "boolean",
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => "text",
        ArrowType::Timestamp(_, _) | ArrowType::Date32 | ArrowType::Date64 => "timestamp",
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => "binary",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema as ArrowSchema};
    use std::sync::Arc;

    fn declared() -> Schema {
        Schema::new(vec![
            Column::new("id", DataType::Text).required(),
            Column::new("score", DataType::Float64),
        ])
    }

    #[test]
    fn reorders_columns_and_widens_integers_when_lenient() {
        let batch = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![
                Field::new("score", ArrowType::Int64, true),
                Field::new("id", ArrowType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .unwrap();
        let schema = declared();
        let out = conform(&batch, &schema, &schema.to_arrow(), 0, Coercion::Lenient).unwrap();
        assert_eq!(out.schema().field(0).name(), "id");
        let scores = out
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(scores.values(), &[1.0, 2.0]);
        let exact = conform(&batch, &schema, &schema.to_arrow(), 0, Coercion::Exact).unwrap_err();
        assert_eq!(exact.column.as_deref(), Some("score"));
        assert!(
            exact.message.contains("expected float64, found int64"),
            "{exact}"
        );
    }

    #[test]
    fn names_the_row_of_a_null_in_a_required_column() {
        let batch = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![
                Field::new("id", ArrowType::Utf8, true),
                Field::new("score", ArrowType::Float64, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Float64Array::from(vec![1.0, 2.0])),
            ],
        )
        .unwrap();
        let schema = declared();
        let err = conform(&batch, &schema, &schema.to_arrow(), 10, Coercion::Lenient).unwrap_err();
        assert_eq!((err.row, err.column.as_deref()), (Some(11), Some("id")));
    }

    #[test]
    fn dictionaries_are_kept_only_when_asked_and_never_hide_a_null() {
        use arrow::array::DictionaryArray;
        use arrow::datatypes::Int32Type;
        let batch = |values: StringArray, keys: Vec<i32>| {
            let dictionary =
                DictionaryArray::<Int32Type>::try_new(keys.into(), Arc::new(values)).unwrap();
            let dictionary_type = dictionary.data_type().clone();
            RecordBatch::try_new(
                Arc::new(ArrowSchema::new(vec![
                    Field::new("id", dictionary_type, true),
                    Field::new("score", ArrowType::Float64, true),
                ])),
                vec![
                    Arc::new(dictionary),
                    Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])),
                ],
            )
            .unwrap()
        };
        let schema = declared();
        let target = schema.to_arrow();
        let plain = batch(StringArray::from(vec!["a", "b"]), vec![1, 0, 1]);
        let kept =
            conform_keeping_dictionaries(&plain, &schema, &target, 0, Coercion::Lenient).unwrap();
        assert!(matches!(
            kept.column(0).data_type(),
            ArrowType::Dictionary(_, _)
        ));
        let decoded = conform(&plain, &schema, &target, 0, Coercion::Lenient).unwrap();
        assert_eq!(decoded.column(0).data_type(), &ArrowType::Utf8);
        // Row 1's key is valid but points at a null value: the required column refuses it.
        let hidden = batch(StringArray::from(vec![Some("a"), None]), vec![0, 1, 0]);
        let err = conform_keeping_dictionaries(&hidden, &schema, &target, 0, Coercion::Lenient)
            .unwrap_err();
        assert_eq!((err.row, err.column.as_deref()), (Some(1), Some("id")));
    }

    #[test]
    fn rejects_missing_and_undeclared_columns() {
        let batch = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![
                Field::new("id", ArrowType::Utf8, true),
                Field::new("extra", ArrowType::Utf8, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["a"])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let schema = declared();
        let err = conform(&batch, &schema, &schema.to_arrow(), 0, Coercion::Lenient).unwrap_err();
        assert!(err.message.contains("undeclared column `extra`"), "{err}");
        let batch = batch.project(&[0]).unwrap();
        let err = conform(&batch, &schema, &schema.to_arrow(), 0, Coercion::Lenient).unwrap_err();
        assert!(err.message.contains("missing column `score`"), "{err}");
    }

    #[test]
    fn output_columns_are_held_to_the_declared_schema_exactly() {
        let schema = declared();
        let target = schema.to_arrow();
        let id: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
        let score: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let short: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let err = |columns: Vec<(&str, ArrayRef)>| {
            conform_output(columns, &schema, &target, 100)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(vec![("id", id.clone()), ("id", id.clone())]),
            "column `id` appears twice (column `id`); write each column once"
        );
        assert_eq!(
            err(vec![("id", id.clone()), ("score", score.clone())]),
            "null in a required column (row 102, column `id`); give every row a value, or declare the column without `required = true`"
        );
        assert_eq!(
            err(vec![("id", id.slice(0, 1)), ("score", ints)]),
            "expected float64, found int64 (column `score`); declare the column as int64 or convert the data to float64"
        );
        assert!(
            err(vec![("id", id.slice(0, 1)), ("score", score.clone())])
                .starts_with("column `score` has 2 rows, but `id` has 1")
        );
        let ok = conform_output(
            vec![("score", short), ("id", id.slice(0, 1))],
            &schema,
            &target,
            0,
        )
        .unwrap();
        assert_eq!((ok.num_rows(), ok.schema()), (1, target));
    }

    #[test]
    fn parses_iso_text_into_timestamps_and_names_a_bad_row() {
        let schema = Schema::new(vec![Column::new("at", DataType::Timestamp)]);
        let batch = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![Field::new(
                "at",
                ArrowType::Utf8,
                true,
            )])),
            vec![Arc::new(StringArray::from(vec![
                "2024-05-01T12:00:00Z",
                "yesterday",
            ]))],
        )
        .unwrap();
        let err = conform(&batch, &schema, &schema.to_arrow(), 0, Coercion::Lenient).unwrap_err();
        assert_eq!((err.row, err.column.as_deref()), (Some(1), Some("at")));
        let ok = conform(
            &batch.slice(0, 1),
            &schema,
            &schema.to_arrow(),
            0,
            Coercion::Lenient,
        )
        .unwrap();
        let ts = ok
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(ts.value(0), 1_714_564_800_000_000);
    }
}
