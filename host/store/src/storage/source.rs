//! Reading stored Arrow IPC blobs back as batch sources: one blob, or the segments of an
//! input version one after the other.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::record_batch::RecordBatch;
use tessera_core::io::{BatchSource, DataError};

use crate::StoreError;
use crate::blobs::{BlobCursor, Blobs};

/// One Arrow IPC blob as a batch source, read by ranges.
pub(crate) struct IpcSource {
    reader: FileReader<BlobCursor>,
    version: u64,
}

impl IpcSource {
    /// Opens the blob at `key` (reading its footer) as data of `version`.
    pub(crate) fn open(
        blobs: &dyn Blobs,
        key: &str,
        version: u64,
    ) -> Result<IpcSource, StoreError> {
        let blob = blobs.open(key)?;
        let reader = FileReader::try_new(BlobCursor::new(blob), None)
            .map_err(|e| StoreError::Io(format!("{key}: {e}")))?;
        Ok(IpcSource { reader, version })
    }
}

impl BatchSource for IpcSource {
    fn schema(&self) -> SchemaRef {
        self.reader.schema()
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        self.reader.next().transpose().map_err(Into::into)
    }
}

/// The segments of one input version, read one after the other.
pub(crate) struct SegmentSource {
    schema: Option<SchemaRef>,
    segments: VecDeque<IpcSource>,
    version: u64,
}

impl SegmentSource {
    pub(crate) fn new(segments: Vec<IpcSource>, version: u64) -> SegmentSource {
        SegmentSource {
            schema: segments.first().map(|s| s.schema()),
            segments: segments.into(),
            version,
        }
    }
}

impl BatchSource for SegmentSource {
    fn schema(&self) -> SchemaRef {
        self.schema
            .clone()
            .unwrap_or_else(|| Arc::new(Schema::empty()))
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        while let Some(segment) = self.segments.front_mut() {
            match segment.next_batch()? {
                Some(batch) => return Ok(Some(batch)),
                None => {
                    self.segments.pop_front();
                }
            }
        }
        Ok(None)
    }
}
