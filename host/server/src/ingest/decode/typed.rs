//! Typed bodies: Arrow IPC (stream or file) and Parquet.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use tessera_core::conform::{Coercion, conform};
use tessera_core::formats::READ_BATCH_ROWS;
use tessera_core::io::BatchSink;
use tessera_core::schema::Schema;

use super::{Collector, Outcome, invalid, problem, spool_to};
use crate::error::DataProblem;

type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>>>;

pub(super) fn decode_arrow(
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

pub(super) fn decode_parquet(
    body: Box<dyn Read + Send>,
    schema: &Schema,
    sink: &mut dyn BatchSink,
    spool: &Path,
) -> Outcome<u64> {
    let file = spool_to(body, spool)?;
    let unreadable =
        |e: parquet::errors::ParquetError| invalid(format!("not a readable Parquet file: {e}"));
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(unreadable)?;
    let metadata = builder.metadata().clone();
    let claimed = metadata.file_metadata().num_rows();
    let in_groups: i64 = metadata.row_groups().iter().map(|g| g.num_rows()).sum();
    if claimed != in_groups {
        return Err(invalid(format!(
            "the Parquet footer claims {claimed} rows but its row groups hold {in_groups}; \
             the file is damaged: write it again"
        )));
    }
    let reader = builder
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(unreadable)?;
    let rows = decode_typed(Box::new(reader), schema, sink)?;
    if i64::try_from(rows).ok() != Some(claimed) {
        return Err(invalid(format!(
            "the Parquet footer claims {claimed} rows but the file holds {rows}; the file is \
             damaged: write it again"
        )));
    }
    Ok(rows)
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
