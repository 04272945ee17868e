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
    /// Where the blob is, to open it again decoding fewer columns.
    blobs: Arc<dyn Blobs>,
    key: String,
    /// Whether a batch was asked for (a source is narrowed only before).
    started: bool,
    /// Columns to keep of each batch, where the blob could not be opened again narrowed.
    keep: Option<Vec<usize>>,
}

impl IpcSource {
    /// Opens the blob at `key` (reading its footer) as data of `version`.
    pub(crate) fn open(
        blobs: &Arc<dyn Blobs>,
        key: &str,
        version: u64,
    ) -> Result<IpcSource, StoreError> {
        let blob = blobs.open(key)?;
        let reader = FileReader::try_new(BlobCursor::new(blob), None)
            .map_err(|e| StoreError::Io(format!("{key}: {e}")))?;
        Ok(IpcSource {
            reader,
            version,
            blobs: blobs.clone(),
            key: key.to_string(),
            started: false,
            keep: None,
        })
    }

    /// Narrows the source to the columns named `names`, in that order: the blob is opened
    /// again so that only they are decoded, or, if that fails, each batch is cut down as it
    /// is read. False (and nothing changes) when a name is not a column or a batch was read.
    fn project_names(&mut self, names: &[String]) -> bool {
        if names.is_empty() {
            // No columns at all is left to the caller (it keeps the row count).
            return false;
        }
        let schema = self.reader.schema();
        let Some(indices) = names
            .iter()
            .map(|name| schema.index_of(name).ok())
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        if self.started {
            return false;
        }
        let reopened = self.blobs.open(&self.key).ok().and_then(|blob| {
            FileReader::try_new(BlobCursor::new(blob), Some(indices.clone())).ok()
        });
        match reopened {
            Some(reader) => self.reader = reader,
            None => self.keep = Some(indices),
        }
        true
    }
}

impl BatchSource for IpcSource {
    fn schema(&self) -> SchemaRef {
        let schema = self.reader.schema();
        match &self.keep {
            Some(keep) => schema.project(keep).map(Arc::new).unwrap_or(schema),
            None => schema,
        }
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        self.started = true;
        let batch = self.reader.next().transpose()?;
        match (batch, &self.keep) {
            (Some(batch), Some(keep)) => Ok(Some(batch.project(keep)?)),
            (batch, _) => Ok(batch),
        }
    }

    fn project(&mut self, columns: &[usize]) -> bool {
        let schema = self.schema();
        let Some(names) = column_names(&schema, columns) else {
            return false;
        };
        self.project_names(&names)
    }
}

/// The names of `schema`'s columns at `columns`; `None` if one is out of range.
fn column_names(schema: &Schema, columns: &[usize]) -> Option<Vec<String>> {
    columns
        .iter()
        .map(|&i| schema.fields().get(i).map(|f| f.name().clone()))
        .collect()
}

/// The segments of one input version, read one after the other.
pub(crate) struct SegmentSource {
    schema: Option<SchemaRef>,
    segments: VecDeque<IpcSource>,
    version: u64,
    started: bool,
}

impl SegmentSource {
    pub(crate) fn new(segments: Vec<IpcSource>, version: u64) -> SegmentSource {
        SegmentSource {
            schema: segments.first().map(|s| s.schema()),
            segments: segments.into(),
            version,
            started: false,
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
        self.started = true;
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

    /// Every segment is narrowed to the same columns, by name (segments written by different
    /// ingests may order their columns differently); all or none.
    fn project(&mut self, columns: &[usize]) -> bool {
        let schema = self.schema();
        let Some(names) = column_names(&schema, columns) else {
            return false;
        };
        let every_segment_has_them = self.segments.iter().all(|segment| {
            let schema = segment.schema();
            names.iter().all(|name| schema.index_of(name).is_ok())
        });
        if self.started || names.is_empty() || !every_segment_has_them {
            return false;
        }
        for segment in &mut self.segments {
            segment.project_names(&names);
        }
        self.schema = self.schema.as_ref().and_then(|s| {
            let indices: Option<Vec<usize>> = names.iter().map(|n| s.index_of(n).ok()).collect();
            indices.and_then(|i| s.project(&i).ok()).map(Arc::new)
        });
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use arrow::ipc::writer::FileWriter;

    use super::*;
    use crate::blobs::MemoryBlobs;

    /// An IPC file of one batch with `n` (0, 1, 2) and `s` ("a", "b", "c"), `s` first when
    /// `s_first`.
    fn file(s_first: bool) -> Vec<u8> {
        let n: (Field, arrow::array::ArrayRef) = (
            Field::new("n", DataType::Int64, false),
            Arc::new(Int64Array::from(vec![0, 1, 2])),
        );
        let s: (Field, arrow::array::ArrayRef) = (
            Field::new("s", DataType::Utf8, false),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
        );
        let columns = if s_first { [s, n] } else { [n, s] };
        let schema = Arc::new(Schema::new(
            columns.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(
            schema.clone(),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = FileWriter::try_new(&mut bytes, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        bytes
    }

    fn names(schema: &Schema) -> Vec<String> {
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    #[test]
    fn segments_in_different_column_orders_are_narrowed_by_name() {
        let memory = MemoryBlobs::default();
        memory.put("one", &file(false)).unwrap();
        memory.put("two", &file(true)).unwrap();
        let blobs: Arc<dyn Blobs> = Arc::new(memory);
        let segments = ["one", "two"]
            .iter()
            .map(|key| IpcSource::open(&blobs, key, 3).unwrap())
            .collect();
        let mut source = SegmentSource::new(segments, 3);
        // The first segment's order: n, s. Ask for s, then n.
        assert!(source.project(&[1, 0]));
        assert_eq!(names(&source.schema()), ["s", "n"]);
        for _ in 0..2 {
            let batch = source.next_batch().unwrap().unwrap();
            assert_eq!(names(&batch.schema()), ["s", "n"]);
            let s = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            assert_eq!(s.value(2), "c");
        }
        assert!(source.next_batch().unwrap().is_none());
        assert!(!source.project(&[0]), "read from already");
        let segments = vec![IpcSource::open(&blobs, "one", 3).unwrap()];
        assert!(!SegmentSource::new(segments, 3).project(&[]), "no columns");
    }

    #[test]
    fn a_blob_that_cannot_be_opened_again_is_cut_down_batch_by_batch() {
        let memory = Arc::new(MemoryBlobs::default());
        memory.put("f", &file(false)).unwrap();
        let blobs: Arc<dyn Blobs> = memory.clone();
        let mut source = IpcSource::open(&blobs, "f", 1).unwrap();
        assert!(!source.project(&[2]), "no third column");
        // Gone after the footer was read: it cannot be opened again, so batches are cut.
        memory.delete("f").unwrap();
        assert!(source.project(&[1]));
        assert_eq!(source.keep, Some(vec![1]));
        assert_eq!(names(&source.schema()), ["s"]);
        // Cutting batches: a readable blob with the same fallback.
        memory.put("g", &file(false)).unwrap();
        let mut cut = IpcSource::open(&blobs, "g", 1).unwrap();
        cut.keep = Some(vec![1]);
        let batch = cut.next_batch().unwrap().unwrap();
        assert_eq!(names(&batch.schema()), ["s"]);
        assert_eq!(batch.num_rows(), 3);
    }
}
