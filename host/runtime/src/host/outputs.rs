//! `tessera:product/outputs`: accepting batches for the declared output ports. Every batch is
//! checked against the port's schema; a violation is an error the product sees and fails the run.

use wasmtime::component::Resource;

use crate::bindings::tessera::product::outputs::{Host, HostWriter};
use crate::bindings::{Batch, DataType, EncodedBatch, Error, Field};
use crate::host::denied;
use crate::state::RunState;
use crate::{convert, convert_encoded};

/// An open output port (several handles may write to the same port).
pub struct WriterHandle {
    port: String,
}

fn wit_type(t: tessera_core::schema::DataType) -> DataType {
    use tessera_core::schema::DataType as T;
    match t {
        T::Float64 => DataType::Float64,
        T::Float32 => DataType::Float32,
        T::Int64 => DataType::Int64,
        T::Boolean => DataType::Boolean,
        T::Text => DataType::Text,
        T::Timestamp => DataType::Timestamp,
        T::Binary => DataType::Binary,
    }
}

impl Host for RunState {
    fn open(&mut self, port: String) -> wasmtime::Result<Result<Resource<WriterHandle>, Error>> {
        if let Err(message) = tessera_core::ports::may_write(&self.manifest, &port, self.checking) {
            return Ok(Err(denied(message)));
        }
        Ok(Ok(self.table.push(WriterHandle { port })?))
    }
}

impl HostWriter for RunState {
    fn schema(&mut self, writer: Resource<WriterHandle>) -> wasmtime::Result<Vec<Field>> {
        let port = &self.table.get(&writer)?.port;
        let Some(output) = self.outputs.get(port) else {
            return Ok(Vec::new());
        };
        Ok(output
            .schema
            .columns
            .iter()
            .map(|c| Field {
                name: c.name.clone(),
                data_type: wit_type(c.data_type),
                nullable: !c.required,
            })
            .collect())
    }

    fn write(
        &mut self,
        writer: Resource<WriterHandle>,
        batch: Batch,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.store_batch(writer, |schema, target, _, first_row| {
            convert::from_wit(batch, schema, target, first_row)
        })
    }

    fn write_encoded(
        &mut self,
        writer: Resource<WriterHandle>,
        batch: EncodedBatch,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.store_batch(writer, |schema, target, max_bytes, first_row| {
            convert_encoded::from_wit_encoded(batch, schema, target, max_bytes, first_row)
        })
    }

    fn drop(&mut self, writer: Resource<WriterHandle>) -> wasmtime::Result<()> {
        self.table.delete(writer)?;
        Ok(())
    }
}

impl RunState {
    /// Converts a batch the product wrote with `convert` (given the port's schema, its Arrow
    /// schema, the most bytes of values the batch may expand to and the port's rows so far)
    /// and stores it.
    fn store_batch(
        &mut self,
        writer: Resource<WriterHandle>,
        convert: impl FnOnce(
            &tessera_core::schema::Schema,
            &arrow::datatypes::SchemaRef,
            usize,
            u64,
        ) -> Result<arrow::record_batch::RecordBatch, String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let port = self.table.get(&writer)?.port.clone();
        let max_bytes = self.limiter.limit;
        let Some(output) = self.outputs.get_mut(&port) else {
            return Ok(Err(Error::NotFound(format!("output `{port}` is gone"))));
        };
        let batch = match convert(&output.schema, &output.arrow, max_bytes, output.rows) {
            Ok(batch) => batch,
            Err(e) => {
                let message = format!("output `{port}`: {e}");
                if self.violation.is_none() {
                    self.violation = Some(message.clone());
                }
                return Ok(Err(Error::Invalid(message)));
            }
        };
        if batch.num_rows() == 0 {
            return Ok(Ok(()));
        }
        let Some(sink) = output.sink.as_mut() else {
            return Ok(Err(Error::Internal(format!("output `{port}` is closed"))));
        };
        // A sink that cannot store data is a host fault, not the product's: trap.
        if let Err(e) = sink.write(&batch) {
            let message = format!("storing output `{port}` failed: {e}");
            self.host_fault = Some(message.clone());
            return Err(wasmtime::format_err!("{message}"));
        }
        output.rows += batch.num_rows() as u64;
        Ok(Ok(()))
    }
}
