//! Where a run's data comes from and goes to.
//!
//! The runtime reads input ports through [`BatchSource`]s and writes output ports through
//! [`BatchSink`]s. Files (local runs), the store (server runs) and memory (tests) all provide
//! them, so the sandbox does not care where data lives.

use std::fmt;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

/// A problem with data: what, and where (row, column) when known, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// What is wrong.
    pub message: String,
    /// The data row (0-based) where it was found.
    pub row: Option<u64>,
    /// The column where it was found.
    pub column: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl DataError {
    /// An error with just a message.
    pub fn new(message: impl Into<String>) -> Self {
        DataError {
            message: message.into(),
            row: None,
            column: None,
            hint: None,
        }
    }

    /// Attaches the column.
    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// Attaches the row (0-based).
    pub fn row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    /// Moves the row, if one is attached, by `first_row`: a row counted within one batch
    /// becomes the row in the whole stream.
    pub fn offset_row(mut self, first_row: u64) -> Self {
        self.row = self.row.map(|row| row.saturating_add(first_row));
        self
    }

    /// Attaches a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with context, such as the file being read.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (&self.row, &self.column) {
            (Some(row), Some(column)) => write!(f, " (row {}, column `{column}`)", row + 1)?,
            (Some(row), None) => write!(f, " (row {})", row + 1)?,
            (None, Some(column)) => write!(f, " (column `{column}`)")?,
            (None, None) => {}
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DataError {}

impl From<arrow::error::ArrowError> for DataError {
    fn from(e: arrow::error::ArrowError) -> Self {
        DataError::new(e.to_string())
    }
}

impl From<std::io::Error> for DataError {
    fn from(e: std::io::Error) -> Self {
        DataError::new(e.to_string())
    }
}

/// A stream of batches of one schema, read once from the start.
pub trait BatchSource: Send {
    /// The schema of every batch this source yields.
    fn schema(&self) -> SchemaRef;

    /// The version of the data (0 when it has none, as for a local file).
    fn version(&self) -> u64 {
        0
    }

    /// The next batch, or `None` at the end.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError>;

    /// Narrows the source, before its first batch, to `columns` (indices into
    /// [`BatchSource::schema`], in that order), so a reader that can skip columns decodes only
    /// these; [`BatchSource::schema`] then describes the narrowed batches. Returns whether it
    /// did: a source that cannot (the default, CSV, a source already read from) is left as it
    /// was, and the caller projects its batches itself.
    fn project(&mut self, columns: &[usize]) -> bool {
        let _ = columns;
        false
    }

    /// Asks the source, before its first batch, to hand over text and binary columns that it
    /// stores dictionary-encoded as Arrow dictionary arrays (`Dictionary(Int32, Utf8)` or
    /// `(Int32, Binary)`) instead of one value per row; every other column, and
    /// [`BatchSource::schema`], stay as declared. Returns whether it will: the default, and a
    /// source already read from, do not.
    fn keep_dictionaries(&mut self) -> bool {
        false
    }
}

/// Rows and bytes written to a sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Rows written.
    pub rows: u64,
    /// Bytes of the finished file (0 for memory).
    pub bytes: u64,
}

/// Receives the batches of one output port.
pub trait BatchSink: Send {
    /// Appends a batch that already matches the port's schema.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError>;

    /// Completes the output.
    fn finish(self: Box<Self>) -> Result<SinkSummary, DataError>;
}

/// A [`BatchSource`] over batches in memory.
pub struct MemorySource {
    schema: SchemaRef,
    batches: std::vec::IntoIter<RecordBatch>,
    version: u64,
}

impl MemorySource {
    /// A source yielding `batches` (all of schema `schema`).
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        MemorySource {
            schema,
            batches: batches.into_iter(),
            version: 0,
        }
    }

    /// The same source reporting `version`.
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }
}

impl BatchSource for MemorySource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        Ok(self.batches.next())
    }
}

/// A [`BatchSink`] that keeps batches in memory, shared with whoever holds a clone.
#[derive(Clone, Default)]
pub struct MemorySink {
    batches: std::sync::Arc<std::sync::Mutex<Vec<RecordBatch>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The batches written so far.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.batches.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl BatchSink for MemorySink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.batches
            .lock()
            .map_err(|_| DataError::new("memory sink poisoned"))?
            .push(batch.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, DataError> {
        let rows = self.batches().iter().map(|b| b.num_rows() as u64).sum();
        Ok(SinkSummary { rows, bytes: 0 })
    }
}
