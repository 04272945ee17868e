//! A stored Arrow IPC file as its encoded messages, for protocols that send Arrow IPC messages
//! as they are (Arrow Flight): the schema from the footer, then each record batch's message
//! header and body read straight from the blob, with no decoding and no re-encoding.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::StoreError;
use crate::blobs::{BlobReader, Blobs};

/// The trailer of an Arrow IPC file: the footer's length (4 bytes) and `ARROW1`.
const TRAILER: u64 = 10;

/// One record batch message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage {
    /// The flatbuffer `Message` (without the continuation marker and length prefix).
    pub header: Vec<u8>,
    /// The message body: the batch's buffers, as laid out in the file.
    pub body: Vec<u8>,
}

/// Where one record batch lies in the file.
#[derive(Debug, Clone, Copy)]
struct Block {
    offset: u64,
    metadata: u64,
    body: u64,
}

/// A stored port's record batches as encoded messages, read one at a time.
pub struct EncodedMessages {
    reader: Box<dyn BlobReader>,
    schema: SchemaRef,
    blocks: VecDeque<Block>,
    dictionaries: bool,
}

fn corrupt(key: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{key}: not a whole Arrow IPC file: {what}"))
}

impl EncodedMessages {
    /// Opens the blob at `key` and reads its footer.
    pub(crate) fn open(blobs: &dyn Blobs, key: &str) -> Result<EncodedMessages, StoreError> {
        let reader = blobs.open(key)?;
        let length = reader.len();
        if length < TRAILER + 8 {
            return Err(corrupt(key, "too short"));
        }
        let mut trailer = [0u8; TRAILER as usize];
        read_exact(reader.as_ref(), length - TRAILER, &mut trailer)?;
        let footer_length =
            arrow::ipc::reader::read_footer_length(trailer).map_err(|e| corrupt(key, e))? as u64;
        let footer_start = length
            .checked_sub(TRAILER + footer_length)
            .ok_or_else(|| corrupt(key, "the footer is longer than the file"))?;
        let mut footer_bytes = vec![0u8; footer_length as usize];
        read_exact(reader.as_ref(), footer_start, &mut footer_bytes)?;
        let footer = arrow::ipc::root_as_footer(&footer_bytes).map_err(|e| corrupt(key, e))?;
        let schema = footer
            .schema()
            .ok_or_else(|| corrupt(key, "the footer has no schema"))
            .and_then(|s| arrow::ipc::convert::try_fb_to_schema(s).map_err(|e| corrupt(key, e)))?;
        let dictionaries = footer.dictionaries().is_some_and(|d| !d.is_empty());
        let mut blocks = VecDeque::new();
        for block in footer.recordBatches().into_iter().flatten() {
            let (Ok(offset), Ok(metadata), Ok(body)) = (
                u64::try_from(block.offset()),
                u64::try_from(block.metaDataLength()),
                u64::try_from(block.bodyLength()),
            ) else {
                return Err(corrupt(key, "a block with a negative offset or length"));
            };
            let within = offset
                .checked_add(metadata)
                .and_then(|e| e.checked_add(body))
                .is_some_and(|e| e <= footer_start);
            if !within {
                return Err(corrupt(key, "a block past the end of the data"));
            }
            blocks.push_back(Block {
                offset,
                metadata,
                body,
            });
        }
        Ok(EncodedMessages {
            reader,
            schema: Arc::new(schema),
            blocks,
            dictionaries,
        })
    }

    /// The file's schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Whether the file holds dictionary batches (which must be sent before the batches that
    /// use them, so these messages alone do not carry the data).
    pub fn has_dictionaries(&self) -> bool {
        self.dictionaries
    }

    /// The largest record batch message left, header and body, in bytes.
    pub fn largest_message(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| b.metadata.saturating_add(b.body))
            .max()
            .unwrap_or(0)
    }

    /// The next record batch message, or `None` after the last.
    pub fn next_message(&mut self) -> Result<Option<EncodedMessage>, StoreError> {
        let Some(block) = self.blocks.pop_front() else {
            return Ok(None);
        };
        let too_large = || StoreError::Io("a record batch larger than memory allows".into());
        let mut metadata = vec![0u8; usize::try_from(block.metadata).map_err(|_| too_large())?];
        read_exact(self.reader.as_ref(), block.offset, &mut metadata)?;
        // `FFFFFFFF`, then the flatbuffer's length; files of the legacy format start with the
        // length.
        let (prefix, rest) = match metadata.get(..4) {
            Some([0xff, 0xff, 0xff, 0xff]) => (8, metadata.get(4..8)),
            _ => (4, metadata.get(..4)),
        };
        let length = rest
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_le_bytes)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| StoreError::Io("a record batch message without a length".into()))?;
        let header = metadata
            .get(prefix..prefix + length)
            .ok_or_else(|| StoreError::Io("a record batch message longer than its block".into()))?
            .to_vec();
        let mut body = vec![0u8; usize::try_from(block.body).map_err(|_| too_large())?];
        read_exact(
            self.reader.as_ref(),
            block.offset + block.metadata,
            &mut body,
        )?;
        Ok(Some(EncodedMessage { header, body }))
    }
}

fn read_exact(
    reader: &dyn BlobReader,
    mut offset: u64,
    mut out: &mut [u8],
) -> Result<(), StoreError> {
    while !out.is_empty() {
        let n = reader.read_at(offset, out)?;
        if n == 0 {
            return Err(StoreError::Io("the blob ended early".into()));
        }
        offset += n as u64;
        out = out.get_mut(n..).unwrap_or_default();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::ipc::reader::FileReader;
    use arrow::ipc::writer::FileWriter;
    use arrow::record_batch::RecordBatch;

    use super::*;
    use crate::blobs::MemoryBlobs;

    #[test]
    fn the_messages_are_the_file_s_batches_as_stored() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batches: Vec<RecordBatch> = (0..3)
            .map(|i| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from_iter_values(i * 10..i * 10 + 10)),
                        Arc::new(StringArray::from_iter(
                            (0..10).map(|j| (j % 3 != 0).then(|| format!("row {}", i * 10 + j))),
                        )),
                    ],
                )
                .unwrap()
            })
            .collect();
        let mut file = Vec::new();
        {
            let mut writer = FileWriter::try_new(&mut file, &schema).unwrap();
            for batch in &batches {
                writer.write(batch).unwrap();
            }
            writer.finish().unwrap();
        }
        let blobs = MemoryBlobs::default();
        blobs.put("f", &file).unwrap();
        let mut messages = EncodedMessages::open(&blobs, "f").unwrap();
        assert_eq!(messages.schema(), schema);
        assert!(!messages.has_dictionaries());
        let mut decoded = Vec::new();
        while let Some(message) = messages.next_message().unwrap() {
            // Each message decodes, with the schema, to the batch written.
            let buffer = arrow::buffer::Buffer::from(message.body);
            let ipc = arrow::ipc::root_as_message(&message.header).unwrap();
            let batch = arrow::ipc::reader::read_record_batch(
                &buffer,
                ipc.header_as_record_batch().unwrap(),
                schema.clone(),
                &Default::default(),
                None,
                &ipc.version(),
            )
            .unwrap();
            decoded.push(batch);
        }
        assert_eq!(decoded, batches);
        let reread: Vec<RecordBatch> = FileReader::try_new(std::io::Cursor::new(file), None)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(reread, decoded);

        blobs.put("short", b"ARROW1").unwrap();
        assert!(EncodedMessages::open(&blobs, "short").is_err());
    }
}
