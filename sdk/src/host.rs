//! The [`Backend`] that talks to the Tessera host through the WIT imports, and the conversions
//! between the SDK's types and the generated ones.

use crate::__private::bindings::tessera::product::{
    inputs, log as wit_log, metrics, outputs, parameters, types,
};
use crate::Check;
use crate::batch::{Batch, Column, DataType, Field, Values, VarData};
use crate::context::{Backend, InputStream, OutputStream};
use crate::dictionary::Dictionary;
use crate::error::{Error, Result};
use crate::log::Level;

pub(crate) struct HostBackend;

impl Backend for HostBackend {
    fn open_input(&mut self, port: &str, columns: Option<&[&str]>) -> Result<Box<dyn InputStream>> {
        let columns: Option<Vec<String>> =
            columns.map(|c| c.iter().map(|s| s.to_string()).collect());
        let reader = inputs::open(port, columns.as_deref()).map_err(from_wit)?;
        let schema = reader.schema().into_iter().map(field_from_wit).collect();
        let version = reader.version();
        Ok(Box::new(HostInput {
            reader,
            schema,
            version,
        }))
    }

    fn open_output(&mut self, port: &str) -> Result<Box<dyn OutputStream>> {
        let writer = outputs::open(port).map_err(from_wit)?;
        let schema = writer.schema().into_iter().map(field_from_wit).collect();
        Ok(Box::new(HostOutput { writer, schema }))
    }

    fn gauge(&mut self, name: &str, value: f64) {
        metrics::gauge(name, value);
    }

    fn parameter(&mut self, name: &str) -> Option<crate::Parameter> {
        parameters::get(name).map(|value| match value {
            parameters::Value::Boolean(b) => crate::Parameter::Boolean(b),
            parameters::Value::Integer(i) => crate::Parameter::Integer(i),
            parameters::Value::Number(n) => crate::Parameter::Number(n),
            parameters::Value::Text(t) => crate::Parameter::Text(t),
        })
    }
}

struct HostInput {
    reader: inputs::Reader,
    schema: Vec<Field>,
    version: u64,
}

impl InputStream for HostInput {
    fn schema(&self) -> &[Field] {
        &self.schema
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn next(&mut self, max_rows: u32) -> Result<Option<Batch>> {
        match self.reader.next_encoded(max_rows).map_err(from_wit)? {
            None => Ok(None),
            Some(batch) => {
                Batch::new(batch.columns.into_iter().map(column_from_wit).collect()).map(Some)
            }
        }
    }
}

struct HostOutput {
    writer: outputs::Writer,
    schema: Vec<Field>,
}

impl OutputStream for HostOutput {
    fn schema(&self) -> &[Field] {
        &self.schema
    }

    fn write(&mut self, batch: Batch) -> Result<()> {
        let columns = batch
            .into_columns()
            .into_iter()
            .map(column_to_wit)
            .collect();
        self.writer
            .write_encoded(&types::EncodedBatch { columns })
            .map_err(from_wit)
    }
}

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => wit_log::Level::Trace,
        Level::Debug => wit_log::Level::Debug,
        Level::Info => wit_log::Level::Info,
        Level::Warn => wit_log::Level::Warn,
        Level::Error => wit_log::Level::Error,
    };
    wit_log::write(level, message);
}

pub(crate) fn from_wit(e: types::Error) -> Error {
    match e {
        types::Error::NotFound(m) => Error::NotFound(m),
        types::Error::Invalid(m) => Error::Invalid(m),
        types::Error::Denied(m) => Error::Denied(m),
        types::Error::Limit(m) => Error::Limit(m),
        types::Error::Gpu(m) => Error::Gpu(m),
        types::Error::Internal(m) => Error::Internal(m),
    }
}

pub(crate) fn to_wit(e: Error) -> types::Error {
    match e {
        Error::NotFound(m) => types::Error::NotFound(m),
        Error::Invalid(m) => types::Error::Invalid(m),
        Error::Denied(m) => types::Error::Denied(m),
        Error::Limit(m) => types::Error::Limit(m),
        Error::Gpu(m) => types::Error::Gpu(m),
        Error::Internal(m) => types::Error::Internal(m),
    }
}

fn field_from_wit(f: types::Field) -> Field {
    let data_type = match f.data_type {
        types::DataType::Float64 => DataType::Float64,
        types::DataType::Float32 => DataType::Float32,
        types::DataType::Int64 => DataType::Int64,
        types::DataType::Boolean => DataType::Boolean,
        types::DataType::Text => DataType::Text,
        types::DataType::Timestamp => DataType::Timestamp,
        types::DataType::Binary => DataType::Binary,
    };
    Field {
        name: f.name,
        data_type,
        nullable: f.nullable,
    }
}

fn column_from_wit(c: types::EncodedColumn) -> Column {
    let var = |v: types::VarValues| VarData {
        data: v.data,
        offsets: v.offsets,
    };
    let dictionary = |d: types::Dictionary| Dictionary {
        keys: d.keys,
        values: var(d.values),
    };
    let values = match c.values {
        types::EncodedValues::Plain(values) => match values {
            types::Values::Float64(v) => Values::Float64(v),
            types::Values::Float32(v) => Values::Float32(v),
            types::Values::Int64(v) => Values::Int64(v),
            types::Values::Boolean(v) => Values::Boolean(v),
            types::Values::Text(v) => Values::Text(var(v)),
            types::Values::Timestamp(v) => Values::Timestamp(v),
            types::Values::Binary(v) => Values::Binary(var(v)),
        },
        types::EncodedValues::TextDictionary(d) => Values::TextDictionary(dictionary(d)),
        types::EncodedValues::BinaryDictionary(d) => Values::BinaryDictionary(dictionary(d)),
    };
    Column {
        name: c.name,
        values,
        valid: c.valid,
    }
}

fn column_to_wit(c: Column) -> types::EncodedColumn {
    let var = |v: VarData| types::VarValues {
        data: v.data,
        offsets: v.offsets,
    };
    let dictionary = |d: Dictionary| types::Dictionary {
        keys: d.keys,
        values: var(d.values),
    };
    let plain = types::EncodedValues::Plain;
    let values = match c.values {
        Values::Float64(v) => plain(types::Values::Float64(v)),
        Values::Float32(v) => plain(types::Values::Float32(v)),
        Values::Int64(v) => plain(types::Values::Int64(v)),
        Values::Boolean(v) => plain(types::Values::Boolean(v)),
        Values::Text(v) => plain(types::Values::Text(var(v))),
        Values::Timestamp(v) => plain(types::Values::Timestamp(v)),
        Values::Binary(v) => plain(types::Values::Binary(var(v))),
        Values::TextDictionary(d) => types::EncodedValues::TextDictionary(dictionary(d)),
        Values::BinaryDictionary(d) => types::EncodedValues::BinaryDictionary(dictionary(d)),
    };
    types::EncodedColumn {
        name: c.name,
        values,
        valid: c.valid,
    }
}

pub(crate) fn check_to_wit(check: &Check) -> types::CheckResult {
    types::CheckResult {
        port: check.port().to_string(),
        name: check.name().to_string(),
        severity: match check.severity() {
            crate::Severity::Error => types::Severity::Error,
            crate::Severity::Warn => types::Severity::Warn,
        },
        passed: check.is_passed(),
        evaluated: check.evaluated(),
        failed: check.failed(),
        failing_rows: check.failing_rows().to_vec(),
        message: check.message_text(),
    }
}
