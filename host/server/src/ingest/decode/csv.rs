//! CSV bodies: a header naming the columns, then rows parsed straight into the declared types.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema};
use arrow::record_batch::RecordBatch;
use tessera_core::formats::READ_BATCH_ROWS;
use tessera_core::io::BatchSink;
use tessera_core::schema::{Column, DataType, Schema};

use super::{Collector, Outcome, Rejection, invalid, problem, shorten};
use crate::error::DataProblem;

pub(super) fn decode(
    body: Box<dyn Read + Send>,
    schema: &Schema,
    sink: &mut dyn BatchSink,
) -> Outcome<u64> {
    let mut reader = BufReader::with_capacity(1 << 20, body);
    let mut header = Vec::new();
    reader
        .read_until(b'\n', &mut header)
        .map_err(|e| invalid(format!("cannot read the CSV header: {e}")))?;
    if header.is_empty() {
        return Err(invalid(
            "the body is empty; a CSV body starts with a header naming the columns",
        ));
    }
    let header_text = String::from_utf8_lossy(&header);
    let header_text = header_text.trim_start_matches('\u{feff}');
    let names: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header_text.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(|f| f.trim().to_string()).collect())
        .unwrap_or_default();
    let mut collector = Collector {
        sink,
        problems: Vec::new(),
        rows: 0,
    };
    for (i, name) in names.iter().enumerate() {
        if schema.column(name).is_none() {
            collector.add(DataProblem {
                line: Some(1),
                column: Some(name.clone()),
                ..problem(format!(
                    "the header names an undeclared column; the declared columns are: {}",
                    schema.names().join(", ")
                ))
            });
        } else if names.iter().take(i).any(|n| n == name) {
            collector.add(DataProblem {
                line: Some(1),
                column: Some(name.clone()),
                ..problem("the header names this column twice")
            });
        }
    }
    for column in schema.columns.iter().filter(|c| c.required) {
        if !names.contains(&column.name) {
            collector.add(DataProblem {
                line: Some(1),
                column: Some(column.name.clone()),
                ..problem(format!(
                    "the header lacks this required column ({})",
                    column.data_type
                ))
            });
        }
    }
    if !collector.problems.is_empty() {
        return collector.finish();
    }
    // Fast path: arrow's CSV decoder parses each column straight into its declared type. When
    // a batch does not parse, its bytes (kept since the last batch) are decoded again as text
    // and converted column by column, which names every bad value.
    let field = |name: &String, text: bool| {
        let data_type = match schema.column(name) {
            Some(c) if !text => c.data_type.to_arrow(),
            _ => ArrowType::Utf8,
        };
        Field::new(name, data_type, true)
    };
    let typed_schema = Arc::new(ArrowSchema::new(
        names.iter().map(|n| field(n, false)).collect::<Vec<_>>(),
    ));
    let text_schema = Arc::new(ArrowSchema::new(
        names.iter().map(|n| field(n, true)).collect::<Vec<_>>(),
    ));
    let mut decoder = arrow::csv::ReaderBuilder::new(typed_schema)
        .with_header(false)
        .with_batch_size(READ_BATCH_ROWS)
        .build_decoder();
    let target = schema.to_arrow();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let unreadable = |e: &dyn std::fmt::Display, row: u64| DataProblem {
            row: Some(row),
            ..problem(format!("unreadable CSV near data row {row}: {e}"))
        };
        loop {
            let buf = reader
                .fill_buf()
                .map_err(|e| invalid(format!("cannot read the body: {e}")))?;
            let consumed = match decoder.decode(buf) {
                Ok(n) => n,
                Err(e) => {
                    collector.add(unreadable(&e, collector.rows + 1));
                    return collector.finish();
                }
            };
            pending.extend_from_slice(buf.get(..consumed).unwrap_or_default());
            reader.consume(consumed);
            if consumed == 0 || decoder.capacity() == 0 {
                break;
            }
        }
        let first_row = collector.rows;
        // arrow's decoder keeps records whose bytes are not UTF-8 and fails on them at every
        // flush; find the field first, so such a body is refused instead of read forever.
        if let Some(bad) = invalid_utf8(&pending, &names, first_row) {
            collector.add(bad);
            return collector.finish();
        }
        let progressed = !pending.is_empty();
        let batch = match decoder.flush() {
            Ok(None) => break,
            Ok(Some(batch)) if required_present(&batch, schema) => {
                Some(arrange(&batch, &names, schema, None, &mut collector))
            }
            // A flush that fails with nothing new read would fail the same way again.
            Err(e) if !progressed => {
                collector.add(unreadable(&e, first_row + 1));
                return collector.finish();
            }
            // A value that does not parse, or a null where one is required: say where.
            Ok(Some(_)) | Err(_) => {
                let mut text = arrow::csv::ReaderBuilder::new(text_schema.clone())
                    .with_header(false)
                    .with_batch_size(READ_BATCH_ROWS)
                    .build_buffered(pending.as_slice())
                    .map_err(|e| invalid(format!("cannot read the CSV: {e}")))?;
                match text.next() {
                    Some(Ok(batch)) => Some(arrange(
                        &batch,
                        &names,
                        schema,
                        Some(first_row),
                        &mut collector,
                    )),
                    Some(Err(e)) => {
                        collector.add(unreadable(&e, first_row + 1));
                        None
                    }
                    None => None,
                }
            }
        };
        pending.clear();
        if let Some((rows, arrays)) = batch {
            if collector.problems.is_empty() {
                let typed = RecordBatch::try_new(target.clone(), arrays)
                    .map_err(|e| Rejection::Host(format!("cannot assemble rows: {e}")))?;
                collector.write(typed)?;
            } else {
                collector.rows += rows as u64;
            }
        }
        if collector.full() {
            break;
        }
    }
    collector.finish()
}

/// The first field of `records` (whole CSV records, the rows after `first_row`) whose bytes
/// are not UTF-8, as a problem naming its row, line and column.
fn invalid_utf8(records: &[u8], names: &[String], first_row: u64) -> Option<DataProblem> {
    if std::str::from_utf8(records).is_ok() {
        return None;
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(records);
    let mut record = ::csv::ByteRecord::new();
    let mut index = 0u64;
    // A record that does not read ends the search: the damage is in the CSV syntax.
    while let Ok(true) = reader.read_byte_record(&mut record) {
        if let Some((field, bytes)) = record
            .iter()
            .enumerate()
            .find(|(_, bytes)| std::str::from_utf8(bytes).is_err())
        {
            let row = first_row + index + 1;
            return Some(DataProblem {
                row: Some(row),
                line: Some(row + 1),
                column: names.get(field).cloned(),
                value: Some(shorten(&String::from_utf8_lossy(bytes))),
                reason: "not valid UTF-8; CSV bodies are UTF-8 text (send binary columns as \
                         Arrow IPC or Parquet)"
                    .into(),
            });
        }
        index += 1;
    }
    Some(DataProblem {
        row: Some(first_row + index + 1),
        ..problem("not valid UTF-8; CSV bodies are UTF-8 text")
    })
}

/// Whether no required column of a typed batch has a null.
fn required_present(batch: &RecordBatch, schema: &Schema) -> bool {
    schema.columns.iter().filter(|c| c.required).all(|c| {
        batch
            .schema()
            .index_of(&c.name)
            .is_ok_and(|i| batch.column(i).null_count() == 0)
    })
}

/// The batch's columns in declared order, optional columns the file leaves out as nulls. With
/// `text_from_row`, the columns are text to convert (noting problems, rows numbered after it).
fn arrange(
    batch: &RecordBatch,
    names: &[String],
    schema: &Schema,
    text_from_row: Option<u64>,
    collector: &mut Collector<'_>,
) -> (usize, Vec<ArrayRef>) {
    let arrays = schema
        .columns
        .iter()
        .map(
            |column| match names.iter().position(|n| n == &column.name) {
                Some(index) => match text_from_row {
                    Some(first_row) => {
                        convert_text(batch.column(index), column, first_row, collector)
                    }
                    None => batch.column(index).clone(),
                },
                None => {
                    arrow::array::new_null_array(&column.data_type.to_arrow(), batch.num_rows())
                }
            },
        )
        .collect();
    (batch.num_rows(), arrays)
}

/// Converts a text column to its declared type, noting every value that does not convert and
/// every null in a required column. Rows are numbered from 1 after `first_row`; the CSV line
/// is one more (the header), assuming no quoted line breaks.
fn convert_text(
    text: &ArrayRef,
    column: &Column,
    first_row: u64,
    collector: &mut Collector<'_>,
) -> ArrayRef {
    let target = column.data_type.to_arrow();
    let converted = if column.data_type == DataType::Text {
        text.clone()
    } else {
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        match cast_with_options(text, &target, &options) {
            Ok(array) => array,
            Err(e) => {
                collector.add(DataProblem {
                    column: Some(column.name.clone()),
                    ..problem(format!("cannot convert to {}: {e}", column.data_type))
                });
                return arrow::array::new_null_array(&target, text.len());
            }
        }
    };
    let strings = text.as_any().downcast_ref::<StringArray>();
    if converted.null_count() > text.null_count() || (column.required && text.null_count() > 0) {
        for i in 0..text.len() {
            if collector.full() {
                break;
            }
            let row = first_row + i as u64 + 1;
            if text.is_valid(i) && converted.is_null(i) {
                let value = strings.map(|s| s.value(i)).unwrap_or_default();
                collector.add(DataProblem {
                    row: Some(row),
                    line: Some(row + 1),
                    column: Some(column.name.clone()),
                    value: Some(shorten(value)),
                    reason: not_a(column.data_type),
                });
            } else if column.required && text.is_null(i) {
                collector.add(DataProblem {
                    row: Some(row),
                    line: Some(row + 1),
                    column: Some(column.name.clone()),
                    value: None,
                    reason: "empty value in a required column".into(),
                });
            }
        }
    }
    converted
}

fn not_a(data_type: DataType) -> String {
    match data_type {
        DataType::Timestamp => "not a timestamp; write ISO-8601, e.g. 2024-05-01T12:00:00Z".into(),
        DataType::Int64 => "not a whole number (int64)".into(),
        DataType::Boolean => "not a boolean; write true or false".into(),
        other => format!("not a number ({other})"),
    }
}
