//! Opening Parquet files for reading: the root columns to decode, and whether text and binary
//! columns stored dictionary-encoded come out as Arrow dictionary arrays (their keys and
//! distinct values, without one value per row).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType as ArrowType, Schema as ArrowSchema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

use crate::formats::READ_BATCH_ROWS;

/// Batches read from a file.
pub(crate) type BatchIter = Box<
    dyn Iterator<Item = Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>> + Send,
>;

/// `path`'s reader decoding only the root columns `names` (all when `None`; in the file's
/// order), with `dictionaries` as described in the module docs; `None` when a name is not in
/// the file or it cannot be opened (the caller reads it whole and reports what is wrong).
pub(crate) fn open(path: &Path, names: Option<&[&str]>, dictionaries: bool) -> Option<BatchIter> {
    let metadata =
        ArrowReaderMetadata::load(&File::open(path).ok()?, ArrowReaderOptions::new()).ok()?;
    let options = if dictionaries {
        ArrowReaderOptions::new().with_schema(Arc::new(dictionary_hint(&metadata)))
    } else {
        ArrowReaderOptions::new()
    };
    let metadata = ArrowReaderMetadata::try_new(metadata.metadata().clone(), options).ok()?;
    let builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(File::open(path).ok()?, metadata);
    let builder = match names {
        None => builder,
        Some(names) => {
            let indices = names
                .iter()
                .map(|name| builder.schema().index_of(name).ok())
                .collect::<Option<Vec<_>>>()?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
            builder.with_projection(mask)
        }
    };
    let reader = builder.with_batch_size(READ_BATCH_ROWS).build().ok()?;
    Some(Box::new(reader))
}

/// The file's Arrow schema with each flat text or binary column that every row group stores
/// with a dictionary page read as `Dictionary(Int32, _)`. A column whose writer fell back to
/// plain pages is still read correctly (the reader builds the dictionary), only slower.
fn dictionary_hint(metadata: &ArrowReaderMetadata) -> ArrowSchema {
    let parquet = metadata.metadata();
    let leaves = parquet.file_metadata().schema_descr();
    let schema = metadata.schema();
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let plain = field.as_ref().clone();
            if !matches!(field.data_type(), ArrowType::Utf8 | ArrowType::Binary) {
                return plain;
            }
            let mut leaf = (0..leaves.num_columns())
                .filter(|&i| leaves.column(i).path().parts().first() == Some(field.name()));
            let (Some(leaf), None) = (leaf.next(), leaf.next()) else {
                return plain;
            };
            let every_group_has_a_dictionary = parquet.num_row_groups() > 0
                && parquet
                    .row_groups()
                    .iter()
                    .all(|g| g.column(leaf).dictionary_page_offset().is_some());
            if every_group_has_a_dictionary {
                let data_type = ArrowType::Dictionary(
                    Box::new(ArrowType::Int32),
                    Box::new(field.data_type().clone()),
                );
                plain.with_data_type(data_type)
            } else {
                plain
            }
        })
        .collect();
    ArrowSchema::new_with_metadata(fields, schema.metadata().clone())
}
