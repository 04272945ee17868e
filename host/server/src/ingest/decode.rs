//! Turning an ingest body into batches of the port's declared schema, collecting every problem
//! (up to [`MAX_PROBLEMS`]) with its row, line, column and value instead of stopping at the
//! first.
//!
//! - CSV streams: the header is checked against the declared columns (any order; optional
//!   columns may be left out and read as null), every field is read as text and converted column by column with Arrow's casts (ISO-8601 text to
//!   timestamps); an empty field is null.
//! - NDJSON streams: each line is parsed with serde_json and checked value by value (numbers
//!   for numeric columns, whole numbers for `int64`, ISO-8601 text or integer microseconds for
//!   timestamps).
//! - Arrow IPC streams decode as they arrive; an Arrow IPC *file* and Parquet need their footer,
//!   so they are first spooled to disk. Their typed columns go through the documented lenient
//!   coercions of [`tessera_core::conform`].
//!
//! Conformed batches go to the staging sink; nothing is committed here.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int64Builder,
    StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema};
use arrow::record_batch::RecordBatch;
use tessera_core::conform::{Coercion, conform};
use tessera_core::formats::{Format, READ_BATCH_ROWS};
use tessera_core::io::BatchSink;
use tessera_core::schema::{Column, DataType, Schema};

use crate::error::DataProblem;

/// The most problems one rejection lists.
pub const MAX_PROBLEMS: usize = 20;

/// Why an ingest body was refused.
#[derive(Debug)]
pub enum Rejection {
    /// Rows or columns that do not match the schema.
    Invalid(Vec<DataProblem>),
    /// Host trouble (staging failed).
    Host(String),
}

type Outcome<T> = Result<T, Rejection>;

fn problem(reason: impl Into<String>) -> DataProblem {
    DataProblem {
        row: None,
        line: None,
        column: None,
        value: None,
        reason: reason.into(),
    }
}

fn shorten(value: &str) -> String {
    if value.chars().count() <= 64 {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(64).collect::<String>())
    }
}

fn invalid(reason: impl Into<String>) -> Rejection {
    Rejection::Invalid(vec![problem(reason)])
}

/// Reads `body` in `format` as `schema`, writing conformed batches to `sink`. Returns the rows
/// read. `spool` is a file path the formats that need seeking may use.
pub fn decode(
    body: Box<dyn Read + Send>,
    format: Format,
    schema: &Schema,
    sink: &mut dyn BatchSink,
    spool: &Path,
) -> Outcome<u64> {
    match format {
        Format::Csv => decode_csv(body, schema, sink),
        Format::Ndjson => decode_ndjson(body, schema, sink),
        Format::Arrow => decode_arrow(body, schema, sink, spool),
        Format::Parquet => decode_parquet(body, schema, sink, spool),
    }
}

/// Collects problems and writes batches until the first problem (after which the request is
/// lost anyway, so nothing more is written).
struct Collector<'a> {
    sink: &'a mut dyn BatchSink,
    problems: Vec<DataProblem>,
    rows: u64,
}

impl Collector<'_> {
    fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS
    }

    fn add(&mut self, p: DataProblem) {
        if !self.full() {
            self.problems.push(p);
        }
    }

    fn write(&mut self, batch: RecordBatch) -> Outcome<()> {
        self.rows += batch.num_rows() as u64;
        if self.problems.is_empty() {
            self.sink
                .write(&batch)
                .map_err(|e| Rejection::Host(format!("cannot stage the rows: {e}")))?;
        }
        Ok(())
    }

    fn finish(self) -> Outcome<u64> {
        if self.problems.is_empty() {
            Ok(self.rows)
        } else {
            Err(Rejection::Invalid(self.problems))
        }
    }
}

fn decode_csv(
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
        } else if names[..i].contains(name) {
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
            pending.extend_from_slice(&buf[..consumed]);
            reader.consume(consumed);
            if consumed == 0 || decoder.capacity() == 0 {
                break;
            }
        }
        let first_row = collector.rows;
        let batch = match decoder.flush() {
            Ok(None) => break,
            Ok(Some(batch)) if required_present(&batch, schema) => {
                Some(arrange(&batch, &names, schema, None, &mut collector))
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

/// One column being built from JSON values.
enum JsonColumn {
    Float64(Float64Builder),
    Float32(Float32Builder),
    Int64(Int64Builder),
    Boolean(BooleanBuilder),
    Text(StringBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Binary(BinaryBuilder),
}

impl JsonColumn {
    fn new(data_type: DataType) -> Self {
        match data_type {
            DataType::Float64 => JsonColumn::Float64(Float64Builder::new()),
            DataType::Float32 => JsonColumn::Float32(Float32Builder::new()),
            DataType::Int64 => JsonColumn::Int64(Int64Builder::new()),
            DataType::Boolean => JsonColumn::Boolean(BooleanBuilder::new()),
            DataType::Text => JsonColumn::Text(StringBuilder::new()),
            DataType::Timestamp => JsonColumn::Timestamp(
                TimestampMicrosecondBuilder::new().with_timezone(tessera_core::schema::UTC),
            ),
            DataType::Binary => JsonColumn::Binary(BinaryBuilder::new()),
        }
    }

    /// Appends a value; `Err` says why it does not fit (a null is appended instead).
    fn push(&mut self, value: Option<&serde_json::Value>) -> Result<(), String> {
        use serde_json::Value;
        let value = value.filter(|v| !v.is_null());
        let result = match (&mut *self, value) {
            (JsonColumn::Float64(b), Some(Value::Number(n))) => {
                n.as_f64().map(|v| b.append_value(v)).ok_or("not a number")
            }
            (JsonColumn::Float32(b), Some(Value::Number(n))) => n
                .as_f64()
                .map(|v| b.append_value(v as f32))
                .ok_or("not a number"),
            (JsonColumn::Int64(b), Some(Value::Number(n))) => n
                .as_i64()
                .map(|v| b.append_value(v))
                .ok_or("not a whole number (int64)"),
            (JsonColumn::Boolean(b), Some(Value::Bool(v))) => {
                b.append_value(*v);
                Ok(())
            }
            (JsonColumn::Text(b), Some(Value::String(s))) => {
                b.append_value(s);
                Ok(())
            }
            (JsonColumn::Binary(b), Some(Value::String(s))) => {
                b.append_value(s.as_bytes());
                Ok(())
            }
            (JsonColumn::Timestamp(b), Some(Value::Number(n))) => n
                .as_i64()
                .map(|v| b.append_value(v))
                .ok_or("not a timestamp; give microseconds since the epoch or ISO-8601 text"),
            (JsonColumn::Timestamp(b), Some(Value::String(s))) => {
                arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(s)
                    .map(|ns| b.append_value(ns.div_euclid(1000)))
                    .map_err(|_| "not a timestamp; write ISO-8601, e.g. 2024-05-01T12:00:00Z")
            }
            (column, None) => {
                column.append_null();
                Ok(())
            }
            (JsonColumn::Float64(_) | JsonColumn::Float32(_), Some(_)) => Err("not a number"),
            (JsonColumn::Int64(_), Some(_)) => Err("not a whole number (int64)"),
            (JsonColumn::Boolean(_), Some(_)) => Err("not a boolean; write true or false"),
            (JsonColumn::Text(_) | JsonColumn::Binary(_), Some(_)) => Err("not a string"),
            (JsonColumn::Timestamp(_), Some(_)) => {
                Err("not a timestamp; write ISO-8601, e.g. 2024-05-01T12:00:00Z")
            }
        };
        result.map_err(|reason| {
            self.append_null();
            reason.to_string()
        })
    }

    fn append_null(&mut self) {
        match self {
            JsonColumn::Float64(b) => b.append_null(),
            JsonColumn::Float32(b) => b.append_null(),
            JsonColumn::Int64(b) => b.append_null(),
            JsonColumn::Boolean(b) => b.append_null(),
            JsonColumn::Text(b) => b.append_null(),
            JsonColumn::Timestamp(b) => b.append_null(),
            JsonColumn::Binary(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            JsonColumn::Float64(b) => Arc::new(b.finish()),
            JsonColumn::Float32(b) => Arc::new(b.finish()),
            JsonColumn::Int64(b) => Arc::new(b.finish()),
            JsonColumn::Boolean(b) => Arc::new(b.finish()),
            JsonColumn::Text(b) => Arc::new(b.finish()),
            JsonColumn::Timestamp(b) => Arc::new(b.finish()),
            JsonColumn::Binary(b) => Arc::new(b.finish()),
        }
    }
}

fn decode_ndjson(
    body: Box<dyn Read + Send>,
    schema: &Schema,
    sink: &mut dyn BatchSink,
) -> Outcome<u64> {
    let reader = BufReader::with_capacity(1 << 20, body);
    let target = schema.to_arrow();
    let mut columns: Vec<JsonColumn> = schema
        .columns
        .iter()
        .map(|c| JsonColumn::new(c.data_type))
        .collect();
    let mut collector = Collector {
        sink,
        problems: Vec::new(),
        rows: 0,
    };
    let mut pending = 0usize;
    for (index, line) in reader.split(b'\n').enumerate() {
        let line_number = index as u64 + 1;
        let line = line.map_err(|e| invalid(format!("cannot read line {line_number}: {e}")))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row = collector.rows + pending as u64 + 1;
        let at = |column: Option<&str>, value: Option<String>, reason: String| DataProblem {
            row: Some(row),
            line: Some(line_number),
            column: column.map(str::to_string),
            value,
            reason,
        };
        let object = match serde_json::from_slice::<serde_json::Value>(&line) {
            Ok(serde_json::Value::Object(object)) => object,
            unreadable => {
                // One problem for the line; its values are not looked at.
                collector.add(at(
                    None,
                    None,
                    match unreadable {
                        Err(e) => format!("not valid JSON: {e}"),
                        Ok(_) => "not a JSON object".into(),
                    },
                ));
                for builder in columns.iter_mut() {
                    builder.append_null();
                }
                pending += 1;
                if collector.full() {
                    break;
                }
                continue;
            }
        };
        for key in object.keys() {
            if schema.column(key).is_none() {
                collector.add(at(
                    Some(key),
                    None,
                    format!(
                        "undeclared column; the declared columns are: {}",
                        schema.names().join(", ")
                    ),
                ));
            }
        }
        for (column, builder) in schema.columns.iter().zip(columns.iter_mut()) {
            let value = object.get(&column.name);
            if let Err(reason) = builder.push(value) {
                let shown = value.map(|v| shorten(&v.to_string()));
                collector.add(at(Some(&column.name), shown, reason));
            } else if column.required && value.is_none_or(serde_json::Value::is_null) {
                collector.add(at(
                    Some(&column.name),
                    None,
                    "missing value in a required column".into(),
                ));
            }
        }
        pending += 1;
        if collector.full() {
            break;
        }
        if pending >= READ_BATCH_ROWS {
            flush_json(&mut columns, &target, &mut collector, &mut pending)?;
        }
    }
    flush_json(&mut columns, &target, &mut collector, &mut pending)?;
    collector.finish()
}

fn flush_json(
    columns: &mut [JsonColumn],
    target: &arrow::datatypes::SchemaRef,
    collector: &mut Collector<'_>,
    pending: &mut usize,
) -> Outcome<()> {
    if *pending == 0 {
        return Ok(());
    }
    let arrays: Vec<ArrayRef> = columns.iter_mut().map(JsonColumn::finish).collect();
    if !collector.problems.is_empty() {
        // Refused anyway; the rows only count.
        collector.rows += *pending as u64;
        *pending = 0;
        return Ok(());
    }
    *pending = 0;
    let batch = RecordBatch::try_new(target.clone(), arrays)
        .map_err(|e| Rejection::Host(format!("cannot assemble rows: {e}")))?;
    collector.write(batch)
}

type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>>>;

fn decode_arrow(
    body: Box<dyn Read + Send>,
    schema: &Schema,
    sink: &mut dyn BatchSink,
    spool: &Path,
) -> Outcome<u64> {
    let mut reader = BufReader::with_capacity(1 << 20, body);
    let is_file = reader
        .fill_buf()
        .map(|head| head.starts_with(b"ARROW1"))
        .unwrap_or(false);
    let batches: BatchIter = if is_file {
        let file = spool_to(reader, spool)?;
        Box::new(
            arrow::ipc::reader::FileReader::try_new(file, None)
                .map_err(|e| invalid(format!("not a readable Arrow IPC file: {e}")))?,
        )
    } else {
        Box::new(
            arrow::ipc::reader::StreamReader::try_new(reader, None)
                .map_err(|e| invalid(format!("not an Arrow IPC stream or file: {e}")))?,
        )
    };
    decode_typed(batches, schema, sink)
}

fn decode_parquet(
    body: Box<dyn Read + Send>,
    schema: &Schema,
    sink: &mut dyn BatchSink,
    spool: &Path,
) -> Outcome<u64> {
    let file = spool_to(body, spool)?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
        .map_err(|e| invalid(format!("not a readable Parquet file: {e}")))?;
    decode_typed(Box::new(reader), schema, sink)
}

/// Copies the body to a file (for formats read from the end) and reopens it for reading.
fn spool_to(mut body: impl Read, path: &Path) -> Outcome<std::fs::File> {
    let host = |e: std::io::Error| Rejection::Host(format!("cannot spool the body: {e}"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(host)?;
    }
    let mut file = std::fs::File::create(path).map_err(host)?;
    std::io::copy(&mut body, &mut file)
        .map_err(|e| invalid(format!("cannot read the body: {e}")))?;
    std::fs::File::open(path).map_err(host)
}

/// Batches of a typed format: nulls in required columns are listed row by row, then the
/// documented coercions apply.
fn decode_typed(batches: BatchIter, schema: &Schema, sink: &mut dyn BatchSink) -> Outcome<u64> {
    let target = schema.to_arrow();
    let mut collector = Collector {
        sink,
        problems: Vec::new(),
        rows: 0,
    };
    for batch in batches {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                collector.add(problem(format!(
                    "unreadable data after row {}: {e}",
                    collector.rows
                )));
                break;
            }
        };
        let first_row = collector.rows;
        for column in schema.columns.iter().filter(|c| c.required) {
            if let Ok(index) = batch.schema().index_of(&column.name) {
                let array = batch.column(index);
                for i in (0..array.len()).filter(|&i| array.is_null(i)) {
                    if collector.full() {
                        break;
                    }
                    collector.add(DataProblem {
                        row: Some(first_row + i as u64 + 1),
                        column: Some(column.name.clone()),
                        ..problem("null in a required column")
                    });
                }
            }
        }
        if !collector.problems.is_empty() {
            collector.rows += batch.num_rows() as u64;
            if collector.full() {
                break;
            }
            continue;
        }
        match conform(&batch, schema, &target, first_row, Coercion::Lenient) {
            Ok(typed) => collector.write(typed)?,
            Err(e) => {
                collector.add(DataProblem {
                    row: e.row.map(|r| r + 1),
                    line: None,
                    column: e.column.clone(),
                    value: None,
                    reason: match &e.hint {
                        Some(hint) => format!("{}; {hint}", e.message),
                        None => e.message.clone(),
                    },
                });
                break;
            }
        }
    }
    collector.finish()
}
