//! `tessera:product/inputs`: streaming the declared input ports to the product, with column
//! projection and a per-call row bound.

use arrow::record_batch::RecordBatch;
use tessera_core::io::BatchSource;
use tessera_core::schema::DataType as CoreType;
use wasmtime::component::Resource;

use crate::bindings::tessera::product::inputs::{Host, HostReader};
use crate::bindings::{DataType, Error, Field};
use crate::host::denied;
use crate::read_ahead::{ReadAhead, ReadAheadCpu};
use crate::state::RunState;
use crate::{convert, convert_encoded};

/// An open input port: the source, the projection, and rows read but not yet handed over.
pub struct ReaderHandle {
    port: String,
    feed: Feed,
    version: u64,
    projection: Option<Vec<usize>>,
    fields: Vec<Field>,
    pending: Option<RecordBatch>,
}

/// Where a reader's batches come from: the source itself for the first batch (an input of one
/// batch, the common small case, never starts a thread), then a read-ahead thread decoding
/// the next batch while the product works.
enum Feed {
    Direct {
        source: Option<Box<dyn BatchSource>>,
        served: bool,
    },
    Ahead(ReadAhead),
}

impl ReaderHandle {
    /// The next batch of at most `max_rows` rows, projected; dictionary columns stay
    /// dictionaries where the source kept them.
    fn next_batch(
        &mut self,
        max_rows: u32,
        cpu: &ReadAheadCpu,
    ) -> Result<Option<RecordBatch>, String> {
        if let Feed::Direct {
            source,
            served: true,
        } = &mut self.feed
            && let Some(source) = source.take()
        {
            let ahead = ReadAhead::start(source, cpu.clone()).map_err(|e| {
                format!(
                    "input `{}`: the host could not start its reader: {e}",
                    self.port
                )
            })?;
            self.feed = Feed::Ahead(ahead);
        }
        let batch = loop {
            let next = match self.pending.take() {
                Some(batch) => batch,
                None => match self.feed.next_batch() {
                    Ok(Some(batch)) => batch,
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(format!("input `{}`: {e}", self.port)),
                },
            };
            if next.num_rows() > 0 {
                break next;
            }
        };
        let max = max_rows as usize;
        let batch = if batch.num_rows() > max {
            self.pending = Some(batch.slice(max, batch.num_rows() - max));
            batch.slice(0, max)
        } else {
            batch
        };
        match &self.projection {
            Some(p) => batch.project(p).map(Some).map_err(|e| e.to_string()),
            None => Ok(Some(batch)),
        }
    }
}

fn wit_type(t: &arrow::datatypes::DataType) -> DataType {
    let core = CoreType::ALL.into_iter().find(|c| &c.to_arrow() == t);
    match core {
        Some(CoreType::Float64) => DataType::Float64,
        Some(CoreType::Float32) => DataType::Float32,
        Some(CoreType::Int64) => DataType::Int64,
        Some(CoreType::Boolean) => DataType::Boolean,
        Some(CoreType::Timestamp) => DataType::Timestamp,
        Some(CoreType::Binary) => DataType::Binary,
        Some(CoreType::Text) | None => DataType::Text,
    }
}

impl Host for RunState {
    fn open(
        &mut self,
        port: String,
        columns: Option<Vec<String>>,
    ) -> wasmtime::Result<Result<Resource<ReaderHandle>, Error>> {
        // While checking, an output port's name opens the rows `run` staged on it.
        if let Err(message) = tessera_core::ports::may_read(&self.manifest, &port, self.checking) {
            return Ok(Err(denied(message)));
        }
        if let Some(names) = &columns {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            if let Err(message) = tessera_core::ports::distinct_columns(&port, &names) {
                return Ok(Err(Error::Invalid(message)));
            }
        }
        let Some(slot) = self.inputs.get_mut(&port) else {
            return Ok(Err(Error::NotFound(format!(
                "no data was provided for input `{port}`"
            ))));
        };
        let Some(mut source) = slot.take() else {
            return Ok(Err(Error::Invalid(format!(
                "input `{port}` is already open; open each input once per run"
            ))));
        };
        let schema = source.schema();
        let projection = match &columns {
            None => None,
            Some(names) => {
                let mut indices = Vec::with_capacity(names.len());
                for name in names {
                    match schema.index_of(name) {
                        Ok(i) => indices.push(i),
                        Err(_) => {
                            let available: Vec<&str> =
                                schema.fields().iter().map(|f| f.name().as_str()).collect();
                            *slot = Some(source);
                            return Ok(Err(Error::NotFound(format!(
                                "input `{port}` has no column `{name}` (columns: {})",
                                available.join(", ")
                            ))));
                        }
                    }
                }
                Some(indices)
            }
        };
        // Pushed down where the source can decode only these columns; else cut here.
        let projection = projection.filter(|columns| !source.project(columns));
        // Dictionaries cross to products that ask with `next-encoded`; `next` decodes them.
        source.keep_dictionaries();
        let schema = source.schema();
        let fields: Vec<Field> = match &projection {
            None => schema.fields().iter().map(|f| field(f)).collect(),
            Some(p) => p.iter().map(|&i| field(schema.field(i))).collect(),
        };
        let handle = ReaderHandle {
            port: port.clone(),
            version: source.version(),
            feed: Feed::Direct {
                source: Some(source),
                served: false,
            },
            projection,
            fields,
            pending: None,
        };
        Ok(Ok(self.table.push(handle)?))
    }
}

fn field(f: &arrow::datatypes::Field) -> Field {
    Field {
        name: f.name().clone(),
        data_type: wit_type(f.data_type()),
        nullable: f.is_nullable(),
    }
}

impl Feed {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, tessera_core::io::DataError> {
        match self {
            Feed::Ahead(ahead) => ahead.next_batch(),
            Feed::Direct {
                source: Some(source),
                served,
            } => {
                *served = true;
                source.next_batch()
            }
            Feed::Direct { source: None, .. } => Ok(None),
        }
    }
}

impl RunState {
    /// The next batch of `reader`, converted for the product by `convert`; a source that fails
    /// fails the run.
    fn read<T>(
        &mut self,
        reader: &Resource<ReaderHandle>,
        max_rows: u32,
        convert: impl FnOnce(RecordBatch) -> Result<T, String>,
    ) -> wasmtime::Result<Result<Option<T>, Error>> {
        if max_rows == 0 {
            return Ok(Err(Error::Invalid("max-rows must be at least 1".into())));
        }
        let handle = self.table.get_mut(reader)?;
        match handle.next_batch(max_rows, &self.read_ahead_cpu) {
            Ok(None) => Ok(Ok(None)),
            Ok(Some(batch)) => Ok(convert(batch).map(Some).map_err(Error::Internal)),
            Err(message) => {
                self.input_fault.get_or_insert(message.clone());
                Ok(Err(Error::Invalid(message)))
            }
        }
    }
}

impl HostReader for RunState {
    fn schema(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<Vec<Field>> {
        Ok(self.table.get(&reader)?.fields.clone())
    }

    fn version(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&reader)?.version)
    }

    fn next(
        &mut self,
        reader: Resource<ReaderHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Option<crate::bindings::Batch>, Error>> {
        self.read(&reader, max_rows, |batch| {
            convert::to_wit(&convert_encoded::plain(batch)?)
        })
    }

    fn next_encoded(
        &mut self,
        reader: Resource<ReaderHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Option<crate::bindings::EncodedBatch>, Error>> {
        self.read(&reader, max_rows, |batch| {
            convert_encoded::to_wit_encoded(&batch)
        })
    }

    fn drop(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table.delete(reader)?;
        Ok(())
    }
}
