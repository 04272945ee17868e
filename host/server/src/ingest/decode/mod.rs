//! Turning an ingest body into batches of the port's declared schema, collecting every problem
//! (up to [`MAX_PROBLEMS`]) with its row, line, column and value instead of stopping at the
//! first. One file per kind of format:
//!
//! - [`csv`] streams: the header is checked against the declared columns (any order; optional
//!   columns may be left out and read as null); arrow's CSV decoder parses each column into its
//!   declared type, and a batch that does not parse is decoded again as text to say where;
//!   an empty field is null.
//! - [`ndjson`] streams: each line is parsed with serde_json and checked value by value (numbers
//!   for numeric columns, whole numbers for `int64`, ISO-8601 text or integer microseconds for
//!   timestamps).
//! - [`typed`]: Arrow IPC streams decode as they arrive; an Arrow IPC *file* and Parquet need
//!   their footer, so they are first spooled to disk. Their typed columns go through the
//!   documented lenient coercions of [`tessera_core::conform`].
//!
//! Conformed batches go to the staging sink; nothing is committed here.

mod csv;
#[cfg(test)]
mod fuzz_tests;
mod ndjson;
mod typed;

use std::io::Read;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use tessera_core::formats::Format;
use tessera_core::io::BatchSink;
use tessera_core::schema::Schema;

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

pub(super) type Outcome<T> = Result<T, Rejection>;

pub(super) fn problem(reason: impl Into<String>) -> DataProblem {
    DataProblem {
        row: None,
        line: None,
        column: None,
        value: None,
        reason: reason.into(),
    }
}

pub(super) fn shorten(value: &str) -> String {
    if value.chars().count() <= 64 {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(64).collect::<String>())
    }
}

pub(super) fn invalid(reason: impl Into<String>) -> Rejection {
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
    // The format libraries are not all proof against every malformed input (the bounded fuzz
    // in `fuzz_tests` finds panics in the Arrow IPC and Parquet readers): a panic inside one is
    // this body's fault, so it is refused like any other unreadable body, and logged as one
    // line rather than a backtrace a client could repeat into the server's log.
    contain_panics();
    UNTRUSTED.with(|u| u.set(true));
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match format {
        Format::Csv => csv::decode(body, schema, sink),
        Format::Ndjson => ndjson::decode(body, schema, sink),
        Format::Arrow => typed::decode_arrow(body, schema, sink, spool),
        Format::Parquet => typed::decode_parquet(body, schema, sink, spool),
    }));
    UNTRUSTED.with(|u| u.set(false));
    decoded.unwrap_or_else(|_| {
        Err(invalid(format!(
            "the body is not a readable {format} document (its decoder gave up on it)"
        )))
    })
}

thread_local! {
    /// Set while this thread decodes a client's body.
    static UNTRUSTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that reports a panic while decoding a client's body as one
/// warning, and leaves every other panic to the hook that was there before.
fn contain_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if UNTRUSTED.with(std::cell::Cell::get) {
                tracing::warn!(
                    panic = %info,
                    "a format decoder gave up on a malformed ingest body; the body is refused"
                );
            } else {
                previous(info);
            }
        }));
    });
}

/// Collects problems and writes batches until the first problem (after which the request is
/// lost anyway, so nothing more is written).
pub(super) struct Collector<'a> {
    pub(super) sink: &'a mut dyn BatchSink,
    pub(super) problems: Vec<DataProblem>,
    pub(super) rows: u64,
}

impl Collector<'_> {
    pub(super) fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS
    }

    pub(super) fn add(&mut self, p: DataProblem) {
        if !self.full() {
            self.problems.push(p);
        }
    }

    pub(super) fn write(&mut self, batch: RecordBatch) -> Outcome<()> {
        self.rows += batch.num_rows() as u64;
        if self.problems.is_empty() {
            self.sink
                .write(&batch)
                .map_err(|e| Rejection::Host(format!("cannot stage the rows: {e}")))?;
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Outcome<u64> {
        if self.problems.is_empty() {
            Ok(self.rows)
        } else {
            Err(Rejection::Invalid(self.problems))
        }
    }
}

/// Copies the body to a file (for formats read from the end) and reopens it for reading.
pub(super) fn spool_to(mut body: impl Read, path: &Path) -> Outcome<std::fs::File> {
    let host = |e: std::io::Error| Rejection::Host(format!("cannot spool the body: {e}"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(host)?;
    }
    let mut file = std::fs::File::create(path).map_err(host)?;
    std::io::copy(&mut body, &mut file)
        .map_err(|e| invalid(format!("cannot read the body: {e}")))?;
    std::fs::File::open(path).map_err(host)
}
