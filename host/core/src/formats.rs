//! Reading and writing the file formats Tessera speaks: CSV, NDJSON, Parquet and Arrow IPC.
//!
//! Readers stream: they yield batches checked against a declared schema (see
//! [`crate::conform`]), with errors that name the file, row and column. Writers implement
//! [`BatchSink`], so a run's output port can stream straight into any format.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use arrow::datatypes::{Field, Schema as ArrowSchema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::conform::{Coercion, conform, conform_keeping_dictionaries};
use crate::io::{BatchSink, BatchSource, DataError, SinkSummary};
use crate::schema::Schema;

/// Rows per batch when reading files.
pub const READ_BATCH_ROWS: usize = 64 * 1024;

/// How Tessera writes Parquet (files from `tessera run`, renditions the server serves): ZSTD
/// at level 1, with dictionary encoding for text, binary, integer, boolean and timestamp
/// columns but not for floats, whose values rarely repeat: on both benchmark tables that
/// writes 10–20% faster and 2–4% smaller than a dictionary on every column, and reads as fast
/// (`cargo bench -p tessera-tests --bench parquet_write`, results in `docs/BENCHMARKS.md`).
pub fn parquet_properties(schema: &SchemaRef) -> parquet::file::properties::WriterProperties {
    let mut builder = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()));
    for field in schema.fields() {
        if matches!(
            field.data_type(),
            arrow::datatypes::DataType::Float64 | arrow::datatypes::DataType::Float32
        ) {
            builder = builder.set_column_dictionary_enabled(field.name().as_str().into(), false);
        }
    }
    builder.build()
}

/// A data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC (file or stream).
    Arrow,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [Format::Csv, Format::Ndjson, Format::Parquet, Format::Arrow];

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
        }
    }

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Ndjson => "application/x-ndjson",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }

    /// The format a path's extension names.
    pub fn from_path(path: &Path) -> Result<Format, DataError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "ndjson" | "jsonl" | "json" => Ok(Format::Ndjson),
            "parquet" | "pq" => Ok(Format::Parquet),
            "arrow" | "arrows" | "ipc" | "feather" => Ok(Format::Arrow),
            _ => Err(DataError::new(format!(
                "cannot tell the format of {} from its extension",
                path.display()
            ))
            .hint("name the file .csv, .ndjson, .parquet or .arrow")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "parquet" => Ok(Format::Parquet),
            "arrow" | "ipc" => Ok(Format::Arrow),
            other => Err(format!(
                "unknown format `{other}`; use csv, ndjson, parquet or arrow"
            )),
        }
    }
}

use crate::parquet_reader::BatchIter;

/// A file read as a stream of batches that match a declared schema.
pub struct FileSource {
    batches: BatchIter,
    format: Format,
    /// Whether a batch was asked for (a source is narrowed only before).
    started: bool,
    schema: Schema,
    target: SchemaRef,
    rows: u64,
    coercion: Coercion,
    path: PathBuf,
    header: Vec<String>,
    /// The columns a projection narrowed the source to, by name.
    narrowed: Option<Vec<String>>,
    /// Whether dictionary-encoded text and binary stay so ([`BatchSource::keep_dictionaries`]).
    dictionaries: bool,
}

impl FileSource {
    /// Opens `path` in `format`, to be read as `schema`.
    pub fn open(path: &Path, format: Format, schema: &Schema) -> Result<FileSource, DataError> {
        let context = path.display().to_string();
        let file = File::open(path)
            .map_err(|e| DataError::new(format!("cannot open: {e}")).context(&context))?;
        let mut header = Vec::new();
        let (batches, coercion): (BatchIter, Coercion) = match format {
            Format::Csv => {
                let (reader, names) = csv_reader(file, schema).map_err(|e| e.context(&context))?;
                header = names;
                (reader, Coercion::Exact)
            }
            Format::Ndjson => {
                let fields: Vec<Field> = schema
                    .columns
                    .iter()
                    .map(|c| Field::new(&c.name, c.data_type.to_arrow(), true))
                    .collect();
                let reader =
                    arrow::json::ReaderBuilder::new(std::sync::Arc::new(ArrowSchema::new(fields)))
                        .with_batch_size(READ_BATCH_ROWS)
                        .with_strict_mode(true)
                        .build(BufReader::new(file))
                        .map_err(|e| DataError::from(e).context(&context))?;
                (Box::new(reader), Coercion::Exact)
            }
            Format::Parquet => {
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
                        .map_err(|e| {
                            DataError::new(format!("not a readable Parquet file: {e}"))
                                .context(&context)
                        })?;
                (Box::new(reader), Coercion::Lenient)
            }
            Format::Arrow => (
                arrow_reader(file).map_err(|e| e.context(&context))?,
                Coercion::Lenient,
            ),
        };
        Ok(FileSource {
            batches,
            format,
            started: false,
            schema: schema.clone(),
            target: schema.to_arrow(),
            rows: 0,
            coercion,
            path: path.to_path_buf(),
            header,
            narrowed: None,
            dictionaries: false,
        })
    }

    /// Improves arrow's CSV messages: column numbers become names, and the data row and the
    /// file line are both given (arrow counts data rows from 1 after the header).
    fn explain(&self, e: ArrowError) -> DataError {
        let message = e.to_string();
        let number_after = |marker: &str| {
            message
                .split(marker)
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<usize>().ok())
        };
        let mut text = message
            .split(". Row data")
            .next()
            .unwrap_or(&message)
            .to_string();
        let mut err = DataError::new(String::new());
        if let Some(index) = number_after("for column ")
            && let Some(name) = self.header.get(index)
        {
            err = err.column(name);
        }
        if let Some(line) = number_after(" at line ") {
            err = err.row(line.saturating_sub(1) as u64);
            text = format!("line {}: {text}", line + 1);
        }
        err.message = text;
        err.context(self.path.display())
    }
}

impl BatchSource for FileSource {
    fn schema(&self) -> SchemaRef {
        self.target.clone()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        self.started = true;
        match self.batches.next() {
            None => Ok(None),
            Some(Err(e)) => Err(self.explain(e)),
            Some(Ok(batch)) => {
                let conformed = if self.dictionaries {
                    conform_keeping_dictionaries
                } else {
                    conform
                };
                let out = conformed(&batch, &self.schema, &self.target, self.rows, self.coercion)
                    .map_err(|e| e.context(self.path.display()))?;
                self.rows += batch.num_rows() as u64;
                Ok(Some(out))
            }
        }
    }

    /// Parquet and Arrow IPC files are opened again decoding only `columns` (Parquet by a
    /// projection mask, Arrow by the IPC reader's projection); CSV and NDJSON are parsed whole.
    fn project(&mut self, columns: &[usize]) -> bool {
        if self.started
            || columns.is_empty()
            || !matches!(self.format, Format::Parquet | Format::Arrow)
        {
            return false;
        }
        let Some(narrowed) = columns
            .iter()
            .map(|&i| self.schema.columns.get(i).cloned())
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let names: Vec<&str> = narrowed.iter().map(|c| c.name.as_str()).collect();
        let reopened = match self.format {
            Format::Parquet => {
                crate::parquet_reader::open(&self.path, Some(&names), self.dictionaries)
            }
            _ => projected_arrow(&self.path, &names),
        };
        let Some(batches) = reopened else {
            return false;
        };
        self.batches = batches;
        self.narrowed = Some(names.iter().map(|n| n.to_string()).collect());
        self.schema = Schema::new(narrowed);
        self.target = self.schema.to_arrow();
        true
    }

    /// Parquet files are opened again reading the text and binary columns that every row group
    /// stores with a dictionary page as dictionaries; Arrow IPC files hand over the
    /// dictionaries they store. CSV and NDJSON have none.
    fn keep_dictionaries(&mut self) -> bool {
        if self.started {
            return false;
        }
        match self.format {
            Format::Arrow => {}
            Format::Parquet => {
                let names: Option<Vec<&str>> = self
                    .narrowed
                    .as_ref()
                    .map(|n| n.iter().map(String::as_str).collect());
                let Some(batches) = crate::parquet_reader::open(&self.path, names.as_deref(), true)
                else {
                    return false;
                };
                self.batches = batches;
            }
            Format::Csv | Format::Ndjson => return false,
        }
        self.dictionaries = true;
        true
    }
}

/// `path`'s Arrow IPC file or stream reader yielding only the columns named `names`, in that
/// order; `None` when a name is not in the file or it cannot be opened again.
fn projected_arrow(path: &Path, names: &[&str]) -> Option<BatchIter> {
    let indices_in = |schema: &ArrowSchema| {
        names
            .iter()
            .map(|name| schema.index_of(name).ok())
            .collect::<Option<Vec<_>>>()
    };
    if let Ok(whole) = arrow::ipc::reader::FileReader::try_new(File::open(path).ok()?, None) {
        let indices = indices_in(&whole.schema())?;
        let reader =
            arrow::ipc::reader::FileReader::try_new(File::open(path).ok()?, Some(indices)).ok()?;
        return Some(Box::new(reader));
    }
    let whole =
        arrow::ipc::reader::StreamReader::try_new(BufReader::new(File::open(path).ok()?), None)
            .ok()?;
    let indices = indices_in(&whole.schema())?;
    let reader = arrow::ipc::reader::StreamReader::try_new(
        BufReader::new(File::open(path).ok()?),
        Some(indices),
    )
    .ok()?;
    Some(Box::new(reader))
}

fn csv_reader(mut file: File, schema: &Schema) -> Result<(BatchIter, Vec<String>), DataError> {
    let format = arrow::csv::reader::Format::default().with_header(true);
    let (found, _) = format.infer_schema(&mut file, Some(0))?;
    file.seek(SeekFrom::Start(0))?;
    let names: Vec<String> = found.fields().iter().map(|f| f.name().clone()).collect();
    let mut fields = Vec::with_capacity(names.len());
    for name in &names {
        let Some(column) = schema.column(name) else {
            return Err(
                DataError::new(format!("the header names an undeclared column `{name}`"))
                    .column(name)
                    .hint(format!(
                        "the declared columns are: {}",
                        schema.names().join(", ")
                    )),
            );
        };
        fields.push(Field::new(name, column.data_type.to_arrow(), true));
    }
    for column in &schema.columns {
        if !names.contains(&column.name) {
            return Err(
                DataError::new(format!("the header lacks the column `{}`", column.name))
                    .column(&column.name)
                    .hint(format!(
                        "add a `{}` column ({})",
                        column.name, column.data_type
                    )),
            );
        }
    }
    let reader = arrow::csv::ReaderBuilder::new(std::sync::Arc::new(ArrowSchema::new(fields)))
        .with_header(true)
        .with_batch_size(READ_BATCH_ROWS)
        .build(BufReader::new(file))?;
    Ok((Box::new(reader), names))
}

fn arrow_reader(mut file: File) -> Result<BatchIter, DataError> {
    if let Ok(reader) = arrow::ipc::reader::FileReader::try_new(file.try_clone()?, None) {
        return Ok(Box::new(reader));
    }
    file.seek(SeekFrom::Start(0))?;
    let reader = arrow::ipc::reader::StreamReader::try_new(BufReader::new(file), None)
        .map_err(|e| DataError::new(format!("not an Arrow IPC file or stream: {e}")))?;
    Ok(Box::new(reader))
}

enum Encoder {
    Csv(arrow::csv::Writer<BufWriter<File>>),
    Ndjson(arrow::json::LineDelimitedWriter<BufWriter<File>>),
    Parquet(parquet::arrow::ArrowWriter<BufWriter<File>>),
    Arrow(arrow::ipc::writer::FileWriter<BufWriter<File>>),
}

/// Streams batches into a file of one format. The file is complete once [`BatchSink::finish`]
/// returns; callers that need atomic files write to a temporary name and rename.
pub struct FileSink {
    encoder: Encoder,
    path: PathBuf,
    schema: SchemaRef,
    rows: u64,
    batches: u64,
}

impl FileSink {
    /// Creates (or truncates) `path` to hold batches of `schema` in `format`.
    pub fn create(path: &Path, format: Format, schema: &SchemaRef) -> Result<FileSink, DataError> {
        let context = path.display().to_string();
        let file = File::create(path)
            .map_err(|e| DataError::new(format!("cannot create: {e}")).context(&context))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let encoder = match format {
            Format::Csv => Encoder::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
            Format::Ndjson => Encoder::Ndjson(arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => {
                let props = parquet_properties(schema);
                Encoder::Parquet(
                    parquet::arrow::ArrowWriter::try_new(out, schema.clone(), Some(props))
                        .map_err(|e| DataError::new(e.to_string()).context(&context))?,
                )
            }
            Format::Arrow => Encoder::Arrow(
                arrow::ipc::writer::FileWriter::try_new(out, schema)
                    .map_err(|e| DataError::from(e).context(&context))?,
            ),
        };
        Ok(FileSink {
            encoder,
            path: path.to_path_buf(),
            schema: schema.clone(),
            rows: 0,
            batches: 0,
        })
    }
}

impl BatchSink for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        let result = match &mut self.encoder {
            Encoder::Csv(w) => w.write(batch),
            Encoder::Ndjson(w) => w.write(batch),
            Encoder::Parquet(w) => w
                .write(batch)
                .map_err(|e| ArrowError::ExternalError(Box::new(e))),
            Encoder::Arrow(w) => w.write(batch),
        };
        result.map_err(|e| DataError::from(e).context(self.path.display()))?;
        self.rows += batch.num_rows() as u64;
        self.batches += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<SinkSummary, DataError> {
        let context = self.path.display().to_string();
        // A CSV file names its columns even when it has no rows: its header comes with the
        // first batch, so an empty port writes an empty one.
        if self.batches == 0
            && let Encoder::Csv(w) = &mut self.encoder
        {
            w.write(&RecordBatch::new_empty(self.schema.clone()))
                .map_err(|e| DataError::from(e).context(&context))?;
        }
        let out = match self.encoder {
            Encoder::Csv(w) => w.into_inner(),
            Encoder::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            Encoder::Parquet(w) => w
                .into_inner()
                .map_err(|e| DataError::new(e.to_string()).context(&context))?,
            Encoder::Arrow(mut w) => {
                w.finish()?;
                w.into_inner()?
            }
        };
        let file = out
            .into_inner()
            .map_err(|e| DataError::new(e.to_string()).context(&context))?;
        let mut file = file;
        file.flush()?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        Ok(SinkSummary {
            rows: self.rows,
            bytes,
        })
    }
}

/// The schema a file carries (Parquet, Arrow) or suggests (CSV and NDJSON, inferred from the
/// first 1000 rows), as declared columns. For data whose port declares no schema of its own,
/// such as an upstream port in a local run.
pub fn infer_schema(path: &Path, format: Format) -> Result<Schema, DataError> {
    let context = path.display().to_string();
    let mut file = File::open(path)
        .map_err(|e| DataError::new(format!("cannot open: {e}")).context(&context))?;
    let arrow_schema: ArrowSchema = match format {
        Format::Csv => {
            arrow::csv::reader::Format::default()
                .with_header(true)
                .infer_schema(&mut file, Some(1000))?
                .0
        }
        Format::Ndjson => {
            arrow::json::reader::infer_json_schema_from_seekable(
                &mut BufReader::new(file),
                Some(1000),
            )?
            .0
        }
        Format::Parquet => {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| DataError::new(e.to_string()).context(&context))?
                .schema()
                .as_ref()
                .clone()
        }
        Format::Arrow => {
            let mut reader = arrow_reader(file)?;
            match reader.next() {
                Some(Ok(batch)) => batch.schema().as_ref().clone(),
                Some(Err(e)) => return Err(DataError::from(e).context(&context)),
                None => {
                    return Err(DataError::new(
                        "the file holds no batches, so its schema is unknown",
                    )
                    .context(&context));
                }
            }
        }
    };
    let mut columns = Vec::new();
    for field in arrow_schema.fields() {
        let data_type = crate::conform::declared_type(field.data_type()).ok_or_else(|| {
            DataError::new(format!(
                "column `{}` has Arrow type {}, which Tessera has no column type for",
                field.name(),
                field.data_type()
            ))
            .context(&context)
        })?;
        columns.push(crate::schema::Column::new(field.name(), data_type));
    }
    Ok(Schema::new(columns))
}

/// Reads a whole file into memory (for small files and tests).
pub fn read_all(path: &Path, schema: &Schema) -> Result<Vec<RecordBatch>, DataError> {
    let mut source = FileSource::open(path, Format::from_path(path)?, schema)?;
    let mut batches = Vec::new();
    while let Some(batch) = source.next_batch()? {
        batches.push(batch);
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, DataType};

    fn schema() -> Schema {
        Schema::new(vec![
            Column::new("id", DataType::Text).required(),
            Column::new("score", DataType::Float64),
            Column::new("at", DataType::Timestamp),
        ])
    }

    /// Two rows of [`schema`] as CSV (columns in another order), written in `dir`.
    fn sample_csv(dir: &Path) -> PathBuf {
        let csv = dir.join("in.csv");
        std::fs::write(
            &csv,
            "at,id,score\n2024-05-01T12:00:00Z,a,0.5\n2024-05-02T00:00:00Z,b,\n",
        )
        .unwrap();
        csv
    }

    #[test]
    fn every_format_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let batches = read_all(&sample_csv(dir.path()), &schema()).unwrap();
        assert_eq!(batches[0].num_rows(), 2);
        assert_eq!(batches[0].schema().field(0).name(), "id");
        for format in Format::ALL {
            let path = dir.path().join(format!("out.{}", format.extension()));
            let mut sink = Box::new(FileSink::create(&path, format, &schema().to_arrow()).unwrap());
            sink.write(&batches[0]).unwrap();
            let summary = sink.finish().unwrap();
            assert_eq!(summary.rows, 2);
            let back = read_all(&path, &schema()).unwrap();
            assert_eq!(back[0], batches[0], "{format}");
        }
    }

    #[test]
    fn parquet_and_arrow_decode_only_the_projected_columns_in_the_asked_order() {
        let dir = tempfile::tempdir().unwrap();
        let whole = read_all(&sample_csv(dir.path()), &schema()).unwrap();
        for format in Format::ALL {
            let path = dir.path().join(format!("p.{}", format.extension()));
            let mut sink = Box::new(FileSink::create(&path, format, &schema().to_arrow()).unwrap());
            sink.write(&whole[0]).unwrap();
            sink.finish().unwrap();
            let mut source = FileSource::open(&path, format, &schema()).unwrap();
            // `score` then `id`: declared order is id, score, at.
            let pushed = source.project(&[1, 0]);
            assert_eq!(
                pushed,
                matches!(format, Format::Parquet | Format::Arrow),
                "{format:?}"
            );
            if !pushed {
                continue;
            }
            let names: Vec<String> = source
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(names, ["score", "id"], "{format:?}");
            let batch = source.next_batch().unwrap().unwrap();
            assert_eq!(batch.num_columns(), 2, "{format:?}");
            assert_eq!(batch.column(0), whole[0].column(1), "{format:?}");
            assert_eq!(batch.column(1), whole[0].column(0), "{format:?}");
            // Once read from, a source is not narrowed again.
            assert!(!source.project(&[0]));
            // No columns at all is left to the caller (it keeps the row count).
            let mut fresh = FileSource::open(&path, format, &schema()).unwrap();
            assert!(!fresh.project(&[]));
        }
        // A column the file lacks: not pushed down, and reading whole reports it as before.
        let path = dir.path().join("narrow.parquet");
        let narrow = Schema::new(vec![Column::new("id", DataType::Text).required()]);
        let mut sink =
            Box::new(FileSink::create(&path, Format::Parquet, &narrow.to_arrow()).unwrap());
        sink.write(&whole[0].project(&[0]).unwrap()).unwrap();
        sink.finish().unwrap();
        let mut source = FileSource::open(&path, Format::Parquet, &schema()).unwrap();
        assert!(!source.project(&[1]));
        assert!(source.next_batch().is_err());
    }

    #[test]
    fn csv_errors_name_the_column_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("bad.csv");
        std::fs::write(
            &csv,
            "id,score,at\na,0.5,2024-05-01T12:00:00Z\nb,lots,2024-05-01T12:00:00Z\n",
        )
        .unwrap();
        let err = read_all(&csv, &schema()).unwrap_err();
        assert_eq!(err.column.as_deref(), Some("score"), "{err}");
        assert!(
            err.message.contains("line 3") && err.message.contains("lots"),
            "{err}"
        );
        assert_eq!(err.row, Some(1), "the second data row");
        std::fs::write(&csv, "id,score\na,0.5\n").unwrap();
        let err = read_all(&csv, &schema()).unwrap_err();
        assert!(err.message.contains("lacks the column `at`"), "{err}");
        std::fs::write(&csv, "id,score,at,x\n").unwrap();
        let err = read_all(&csv, &schema()).unwrap_err();
        assert!(err.message.contains("undeclared column `x`"), "{err}");
    }

    #[test]
    fn ndjson_rejects_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.ndjson");
        std::fs::write(&path, "{\"id\":\"a\",\"score\":1.5,\"at\":\"2024-05-01T12:00:00Z\"}\n{\"id\":\"b\",\"oops\":1}\n").unwrap();
        assert!(read_all(&path, &schema()).is_err());
    }
}
