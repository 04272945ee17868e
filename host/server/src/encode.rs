//! Output formats for consumers: JSON (an array of records), NDJSON, CSV, Arrow IPC stream and
//! Parquet, chosen by `?format=` or the `Accept` header, all written batch by batch so memory
//! stays flat however large the output.

use std::io::Write;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use tessera_core::io::{BatchSource, DataError};
use tokio::sync::mpsc;

use crate::error::ServiceError;

/// A format outputs can be served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// A JSON array of records.
    Json,
    /// One JSON record per line.
    Ndjson,
    /// CSV with a header row.
    Csv,
    /// The Arrow IPC stream format.
    Arrow,
    /// Parquet (zstd).
    Parquet,
}

impl OutputFormat {
    /// Every format, in the order they are listed to clients.
    pub const ALL: [OutputFormat; 5] = [
        OutputFormat::Json,
        OutputFormat::Ndjson,
        OutputFormat::Csv,
        OutputFormat::Arrow,
        OutputFormat::Parquet,
    ];

    /// The `?format=` name.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Csv => "csv",
            OutputFormat::Arrow => "arrow",
            OutputFormat::Parquet => "parquet",
        }
    }

    /// The media type sent as `Content-Type`.
    pub fn media_type(self) -> &'static str {
        match self {
            OutputFormat::Json => "application/json",
            OutputFormat::Ndjson => "application/x-ndjson",
            OutputFormat::Csv => "text/csv; charset=utf-8",
            OutputFormat::Arrow => "application/vnd.apache.arrow.stream",
            OutputFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    fn accepts(self, media: &str) -> bool {
        match self {
            OutputFormat::Json => media == "application/json",
            OutputFormat::Ndjson => media == "application/x-ndjson" || media == "application/jsonl",
            OutputFormat::Csv => media == "text/csv",
            OutputFormat::Arrow => media == "application/vnd.apache.arrow.stream",
            OutputFormat::Parquet => {
                media == "application/vnd.apache.parquet" || media == "application/parquet"
            }
        }
    }

    /// The file extension for downloads.
    pub fn extension(self) -> &'static str {
        self.name()
    }

    /// Picks the format: `?format=` wins; otherwise the first acceptable type of the `Accept`
    /// header in order of preference; JSON when neither says anything.
    pub fn negotiate(
        query: Option<&str>,
        accept: Option<&str>,
    ) -> Result<OutputFormat, ServiceError> {
        if let Some(name) = query {
            return OutputFormat::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| {
                    ServiceError::bad_parameter(
                        "format",
                        format!("`{name}` is not a format; use one of {}", Self::names()),
                    )
                });
        }
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Ok(OutputFormat::Json);
        };
        let mut ranges: Vec<(f32, usize, &str)> = accept
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut pieces = part.split(';');
                let media = pieces.next()?.trim();
                let quality = pieces
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (quality > 0.0).then_some((quality, i, media))
            })
            .collect();
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, _, media) in ranges {
            let media = media.to_ascii_lowercase();
            if media == "*/*" || media == "application/*" {
                return Ok(OutputFormat::Json);
            }
            if media == "text/*" {
                return Ok(OutputFormat::Csv);
            }
            if let Some(format) = OutputFormat::ALL.into_iter().find(|f| f.accepts(&media)) {
                return Ok(format);
            }
        }
        Err(ServiceError::not_acceptable(format!(
            "none of the types in `Accept: {accept}` can be produced"
        ))
        .hint(format!(
            "outputs are served as {}; or use ?format= with one of {}",
            OutputFormat::ALL.map(|f| f.media_type()).join(", "),
            Self::names()
        )))
    }

    fn names() -> String {
        OutputFormat::ALL.map(|f| f.name()).join(", ")
    }
}

/// Which rows and columns of a port to serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Indices of the columns to keep, in the order asked for; `None` keeps all.
    pub columns: Option<Vec<usize>>,
    /// Rows to skip.
    pub offset: u64,
    /// Most rows to send.
    pub limit: Option<u64>,
}

impl Selection {
    /// Whether this selects the whole port.
    pub fn is_everything(&self) -> bool {
        self.columns.is_none() && self.offset == 0 && self.limit.is_none()
    }

    /// The schema after projection.
    pub fn schema(&self, schema: &SchemaRef) -> Result<SchemaRef, DataError> {
        match &self.columns {
            Some(indices) => Ok(std::sync::Arc::new(schema.project(indices)?)),
            None => Ok(schema.clone()),
        }
    }
}

/// Applies offset, limit and projection to batches as they stream by.
struct Selector {
    selection: Selection,
    skipped: u64,
    sent: u64,
}

impl Selector {
    fn apply(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>, DataError> {
        let mut batch = batch;
        let rows = batch.num_rows() as u64;
        if self.skipped < self.selection.offset {
            let skip = (self.selection.offset - self.skipped).min(rows);
            self.skipped += skip;
            batch = batch.slice(skip as usize, (rows - skip) as usize);
        }
        if let Some(limit) = self.selection.limit {
            let left = limit.saturating_sub(self.sent);
            if (batch.num_rows() as u64) > left {
                batch = batch.slice(0, left as usize);
            }
        }
        self.sent += batch.num_rows() as u64;
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        match &self.selection.columns {
            Some(indices) => Ok(Some(batch.project(indices)?)),
            None => Ok(Some(batch)),
        }
    }

    fn done(&self) -> bool {
        self.selection.limit.is_some_and(|l| self.sent >= l)
    }
}

/// A `Write` that hands chunks of about 64 KiB to an HTTP body stream. When the client goes
/// away the channel closes and writes fail, which stops the encoder.
pub struct ChunkWriter {
    buffer: Vec<u8>,
    sent: u64,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

const CHUNK: usize = 64 * 1024;

impl ChunkWriter {
    /// A writer feeding `sender`.
    pub fn new(sender: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        ChunkWriter {
            buffer: Vec::with_capacity(CHUNK),
            sent: 0,
            sender,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sent += chunk.len() as u64;
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }

    /// Bytes handed to the client so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Ends the stream with an error the client sees as a broken transfer.
    pub fn fail(self, message: String) {
        let _ = self
            .sender
            .blocking_send(Err(std::io::Error::other(message)));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Encodes the selected rows of `source` in `format` into `out`, batch by batch.
pub fn encode<W: Write + Send>(
    mut source: Box<dyn BatchSource>,
    selection: Selection,
    format: OutputFormat,
    out: W,
) -> Result<W, DataError> {
    let schema = selection.schema(&source.schema())?;
    let mut selector = Selector {
        selection,
        skipped: 0,
        sent: 0,
    };
    let mut writer = BatchWriter::new(format, out, &schema)?;
    while !selector.done() {
        let Some(batch) = source.next_batch()? else {
            break;
        };
        if let Some(batch) = selector.apply(batch)? {
            writer.write(&batch)?;
        }
    }
    writer.finish()
}

enum BatchWriter<W: Write + Send> {
    Json(arrow::json::Writer<W, arrow::json::writer::JsonArray>),
    Ndjson(arrow::json::Writer<W, arrow::json::writer::LineDelimited>),
    Csv(Box<arrow::csv::Writer<W>>),
    Arrow(arrow::ipc::writer::StreamWriter<W>),
    Parquet(Box<parquet::arrow::ArrowWriter<W>>),
}

fn parquet_error(e: parquet::errors::ParquetError) -> DataError {
    DataError::new(format!("Parquet encoding failed: {e}"))
}

impl<W: Write + Send> BatchWriter<W> {
    fn new(format: OutputFormat, out: W, schema: &SchemaRef) -> Result<Self, DataError> {
        Ok(match format {
            OutputFormat::Json => BatchWriter::Json(
                arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build(out),
            ),
            OutputFormat::Ndjson => BatchWriter::Ndjson(
                arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build(out),
            ),
            OutputFormat::Csv => {
                // The header goes out even when there are no rows.
                let mut writer = arrow::csv::WriterBuilder::new().build(out);
                writer.write(&RecordBatch::new_empty(schema.clone()))?;
                BatchWriter::Csv(Box::new(writer))
            }
            OutputFormat::Arrow => {
                BatchWriter::Arrow(arrow::ipc::writer::StreamWriter::try_new(out, schema)?)
            }
            OutputFormat::Parquet => {
                let properties = tessera_core::formats::parquet_properties(schema);
                BatchWriter::Parquet(Box::new(
                    parquet::arrow::ArrowWriter::try_new(out, schema.clone(), Some(properties))
                        .map_err(parquet_error)?,
                ))
            }
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        match self {
            BatchWriter::Json(w) => w.write(batch)?,
            BatchWriter::Ndjson(w) => w.write(batch)?,
            BatchWriter::Csv(w) => w.write(batch)?,
            BatchWriter::Arrow(w) => w.write(batch)?,
            BatchWriter::Parquet(w) => w.write(batch).map_err(parquet_error)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<W, DataError> {
        let mut out = match self {
            BatchWriter::Json(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            BatchWriter::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            BatchWriter::Csv(w) => (*w).into_inner(),
            BatchWriter::Arrow(mut w) => {
                w.finish()?;
                w.into_inner()?
            }
            BatchWriter::Parquet(w) => w.into_inner().map_err(parquet_error)?,
        };
        out.flush()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use tessera_core::io::MemorySource;

    fn source() -> Box<dyn BatchSource> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]));
        let batch = |names: Vec<Option<&str>>, scores: Vec<Option<f64>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(names)),
                    Arc::new(Float64Array::from(scores)),
                ],
            )
            .unwrap()
        };
        Box::new(MemorySource::new(
            schema.clone(),
            vec![
                batch(vec![Some("a"), Some("b")], vec![Some(1.0), None]),
                batch(vec![Some("c"), None], vec![Some(3.5), Some(4.0)]),
            ],
        ))
    }

    fn text(format: OutputFormat, selection: Selection) -> String {
        String::from_utf8(encode(source(), selection, format, Vec::new()).unwrap()).unwrap()
    }

    #[test]
    fn json_keeps_nulls_and_spans_batches() {
        assert_eq!(
            text(OutputFormat::Json, Selection::default()),
            r#"[{"name":"a","score":1.0},{"name":"b","score":null},{"name":"c","score":3.5},{"name":null,"score":4.0}]"#
        );
    }

    #[test]
    fn empty_outputs_are_still_well_formed() {
        let empty = Selection {
            offset: 10,
            ..Selection::default()
        };
        assert_eq!(text(OutputFormat::Json, empty.clone()), "[]");
        assert_eq!(text(OutputFormat::Csv, empty.clone()), "name,score\n");
        assert_eq!(text(OutputFormat::Ndjson, empty), "");
    }

    #[test]
    fn offset_limit_and_columns_cross_batch_boundaries() {
        let selection = Selection {
            columns: Some(vec![1]),
            offset: 1,
            limit: Some(2),
        };
        // A null in a one-column CSV is written as "" so that the line is not blank.
        assert_eq!(text(OutputFormat::Csv, selection), "score\n\"\"\n3.5\n");
        let selection = Selection {
            columns: None,
            offset: 3,
            limit: None,
        };
        assert_eq!(
            text(OutputFormat::Ndjson, selection),
            "{\"name\":null,\"score\":4.0}\n"
        );
    }

    #[test]
    fn negotiation_follows_query_then_accept_quality() {
        assert_eq!(
            OutputFormat::negotiate(Some("parquet"), Some("text/csv")).unwrap(),
            OutputFormat::Parquet
        );
        assert_eq!(
            OutputFormat::negotiate(None, Some("text/csv;q=0.5, application/x-ndjson")).unwrap(),
            OutputFormat::Ndjson
        );
        assert_eq!(
            OutputFormat::negotiate(None, None).unwrap(),
            OutputFormat::Json
        );
        let err = OutputFormat::negotiate(None, Some("image/png")).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::NotAcceptable);
        assert!(err.hint.unwrap().contains("application/vnd.apache.parquet"));
        let err = OutputFormat::negotiate(Some("xlsx"), None).unwrap_err();
        assert!(err.message.contains("`format`"), "{}", err.message);
    }
}
