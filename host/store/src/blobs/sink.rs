//! Batches into a blob: an Arrow IPC file written straight to a [`BlobWriter`], hashed as it
//! goes, so publishing never reads a file back to learn its content hash.

use std::io::{BufWriter, Write};

use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use tessera_core::io::{BatchSink, DataError, SinkSummary};

use super::BlobWriter;
use crate::StoreError;

/// A finished blob: where it is, its length and its content hash (`xxh3-128:` and 32 hex
/// digits: XXH3, 128 bits, a fast non-cryptographic hash; it tells equal contents apart, it
/// does not guard against tampering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StagedBlob {
    pub key: String,
    pub bytes: u64,
    pub hash: String,
}

/// What a sink does with its blob once finished (the store records it as staged).
pub(crate) type OnFinish = Box<dyn FnOnce(StagedBlob) + Send>;

/// Hashes everything written through it.
struct HashingWriter {
    inner: Box<dyn BlobWriter>,
    hasher: twox_hash::XxHash3_128,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(written) = buf.get(..n) {
            self.hasher.write(written);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The `xxh3-128:…` form of a finished hash.
pub(crate) fn hash_name(hash: u128) -> String {
    format!("xxh3-128:{hash:032x}")
}

/// The content hash of bytes in memory, in the same form.
pub(crate) fn hash_bytes(bytes: &[u8]) -> String {
    let mut hasher = twox_hash::XxHash3_128::new();
    hasher.write(bytes);
    hash_name(hasher.finish_128())
}

/// Bytes gathered before they go to the blob: the IPC writer writes each column buffer on its
/// own, and larger ones pass straight through.
const SINK_BUFFER: usize = 256 << 10;

/// Streams batches into one blob as an Arrow IPC file.
pub(crate) struct BlobSink {
    writer: FileWriter<BufWriter<HashingWriter>>,
    key: String,
    rows: u64,
    on_finish: OnFinish,
}

impl BlobSink {
    /// A sink writing batches of `schema` through `writer` (the blob at `key`).
    pub(crate) fn new(
        key: String,
        writer: Box<dyn BlobWriter>,
        schema: &SchemaRef,
        on_finish: OnFinish,
    ) -> Result<BlobSink, StoreError> {
        let out = BufWriter::with_capacity(
            SINK_BUFFER,
            HashingWriter {
                inner: writer,
                hasher: twox_hash::XxHash3_128::new(),
            },
        );
        let writer =
            FileWriter::try_new(out, schema).map_err(|e| StoreError::Io(format!("{key}: {e}")))?;
        Ok(BlobSink {
            writer,
            key,
            rows: 0,
            on_finish,
        })
    }
}

impl BatchSink for BlobSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.writer
            .write(batch)
            .map_err(|e| DataError::from(e).context(&self.key))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, DataError> {
        let BlobSink {
            mut writer,
            key,
            rows,
            on_finish,
        } = *self;
        writer
            .finish()
            .map_err(|e| DataError::from(e).context(&key))?;
        let hashing = writer
            .into_inner()
            .map_err(|e| DataError::from(e).context(&key))?
            .into_inner()
            .map_err(|e| DataError::new(e.to_string()).context(&key))?;
        let hash = hash_name(hashing.hasher.finish_128());
        let bytes = hashing
            .inner
            .finish()
            .map_err(|e| DataError::new(e.to_string()).context(&key))?;
        on_finish(StagedBlob { key, bytes, hash });
        Ok(SinkSummary { rows, bytes })
    }
}
