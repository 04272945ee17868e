//! NDJSON bodies: one JSON object per line, checked value by value.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use tessera_core::formats::READ_BATCH_ROWS;
use tessera_core::io::BatchSink;
use tessera_core::schema::{DataType, Schema};

use super::{Collector, Outcome, Rejection, invalid, shorten};
use crate::error::DataProblem;

/// One column being built from JSON values.
enum JsonColumn {
    Float64(Float64Builder),
    Float32(Float32Builder),
    Int64(Int64Builder),
    Boolean(BooleanBuilder),
    Text(StringBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Binary(BinaryBuilder),
}

impl JsonColumn {
    fn new(data_type: DataType) -> Self {
        match data_type {
            DataType::Float64 => JsonColumn::Float64(Float64Builder::new()),
            DataType::Float32 => JsonColumn::Float32(Float32Builder::new()),
            DataType::Int64 => JsonColumn::Int64(Int64Builder::new()),
            DataType::Boolean => JsonColumn::Boolean(BooleanBuilder::new()),
            DataType::Text => JsonColumn::Text(StringBuilder::new()),
            DataType::Timestamp => JsonColumn::Timestamp(
                TimestampMicrosecondBuilder::new().with_timezone(tessera_core::schema::UTC),
            ),
            DataType::Binary => JsonColumn::Binary(BinaryBuilder::new()),
        }
    }

    /// Appends a value; `Err` says why it does not fit (a null is appended instead).
    fn push(&mut self, value: Option<&serde_json::Value>) -> Result<(), String> {
        use serde_json::Value;
        let value = value.filter(|v| !v.is_null());
        let result = match (&mut *self, value) {
            (JsonColumn::Float64(b), Some(Value::Number(n))) => {
                n.as_f64().map(|v| b.append_value(v)).ok_or("not a number")
            }
            (JsonColumn::Float32(b), Some(Value::Number(n))) => n
                .as_f64()
                .map(|v| b.append_value(v as f32))
                .ok_or("not a number"),
            (JsonColumn::Int64(b), Some(Value::Number(n))) => n
                .as_i64()
                .map(|v| b.append_value(v))
                .ok_or("not a whole number (int64)"),
            (JsonColumn::Boolean(b), Some(Value::Bool(v))) => {
                b.append_value(*v);
                Ok(())
            }
            (JsonColumn::Text(b), Some(Value::String(s))) => {
                b.append_value(s);
                Ok(())
            }
            (JsonColumn::Binary(b), Some(Value::String(s))) => {
                b.append_value(s.as_bytes());
                Ok(())
            }
            (JsonColumn::Timestamp(b), Some(Value::Number(n))) => n
                .as_i64()
                .map(|v| b.append_value(v))
                .ok_or("not a timestamp; give microseconds since the epoch or ISO-8601 text"),
            (JsonColumn::Timestamp(b), Some(Value::String(s))) => {
                arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(s)
                    .map(|ns| b.append_value(ns.div_euclid(1000)))
                    .map_err(|_| "not a timestamp; write ISO-8601, e.g. 2024-05-01T12:00:00Z")
            }
            (column, None) => {
                column.append_null();
                Ok(())
            }
            (JsonColumn::Float64(_) | JsonColumn::Float32(_), Some(_)) => Err("not a number"),
            (JsonColumn::Int64(_), Some(_)) => Err("not a whole number (int64)"),
            (JsonColumn::Boolean(_), Some(_)) => Err("not a boolean; write true or false"),
            (JsonColumn::Text(_) | JsonColumn::Binary(_), Some(_)) => Err("not a string"),
            (JsonColumn::Timestamp(_), Some(_)) => {
                Err("not a timestamp; write ISO-8601, e.g. 2024-05-01T12:00:00Z")
            }
        };
        result.map_err(|reason| {
            self.append_null();
            reason.to_string()
        })
    }

    fn append_null(&mut self) {
        match self {
            JsonColumn::Float64(b) => b.append_null(),
            JsonColumn::Float32(b) => b.append_null(),
            JsonColumn::Int64(b) => b.append_null(),
            JsonColumn::Boolean(b) => b.append_null(),
            JsonColumn::Text(b) => b.append_null(),
            JsonColumn::Timestamp(b) => b.append_null(),
            JsonColumn::Binary(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            JsonColumn::Float64(b) => Arc::new(b.finish()),
            JsonColumn::Float32(b) => Arc::new(b.finish()),
            JsonColumn::Int64(b) => Arc::new(b.finish()),
            JsonColumn::Boolean(b) => Arc::new(b.finish()),
            JsonColumn::Text(b) => Arc::new(b.finish()),
            JsonColumn::Timestamp(b) => Arc::new(b.finish()),
            JsonColumn::Binary(b) => Arc::new(b.finish()),
        }
    }
}

pub(super) fn decode(
    body: Box<dyn Read + Send>,
    schema: &Schema,
    sink: &mut dyn BatchSink,
) -> Outcome<u64> {
    let reader = BufReader::with_capacity(1 << 20, body);
    let target = schema.to_arrow();
    let mut columns: Vec<JsonColumn> = schema
        .columns
        .iter()
        .map(|c| JsonColumn::new(c.data_type))
        .collect();
    let mut collector = Collector {
        sink,
        problems: Vec::new(),
        rows: 0,
    };
    let mut pending = 0usize;
    for (index, line) in reader.split(b'\n').enumerate() {
        let line_number = index as u64 + 1;
        let line = line.map_err(|e| invalid(format!("cannot read line {line_number}: {e}")))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row = collector.rows + pending as u64 + 1;
        let at = |column: Option<&str>, value: Option<String>, reason: String| DataProblem {
            row: Some(row),
            line: Some(line_number),
            column: column.map(str::to_string),
            value,
            reason,
        };
        let object = match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Object(object)) => object,
            unreadable => {
                // One problem for the line; its values are not looked at.
                collector.add(at(
                    None,
                    None,
                    match unreadable {
                        Err(e) => format!("not valid JSON: {e}"),
                        Ok(_) => "not a JSON object".into(),
                    },
                ));
                for builder in columns.iter_mut() {
                    builder.append_null();
                }
                pending += 1;
                if collector.full() {
                    break;
                }
                continue;
            }
        };
        for key in object.keys() {
            if schema.column(key).is_none() {
                collector.add(at(
                    Some(key),
                    None,
                    format!(
                        "undeclared column; the declared columns are: {}",
                        schema.names().join(", ")
                    ),
                ));
            }
        }
        for (column, builder) in schema.columns.iter().zip(columns.iter_mut()) {
            let value = object.get(&column.name);
            if let Err(reason) = builder.push(value) {
                let shown = value.map(|v| shorten(&v.to_string()));
                collector.add(at(Some(&column.name), shown, reason));
            } else if column.required && value.is_none_or(serde_json::Value::is_null) {
                collector.add(at(
                    Some(&column.name),
                    None,
                    "missing value in a required column".into(),
                ));
            }
        }
        pending += 1;
        if collector.full() {
            break;
        }
        if pending >= READ_BATCH_ROWS {
            flush_json(&mut columns, &target, &mut collector, &mut pending)?;
        }
    }
    flush_json(&mut columns, &target, &mut collector, &mut pending)?;
    collector.finish()
}

fn flush_json(
    columns: &mut [JsonColumn],
    target: &arrow::datatypes::SchemaRef,
    collector: &mut Collector<'_>,
    pending: &mut usize,
) -> Outcome<()> {
    if *pending == 0 {
        return Ok(());
    }
    let arrays: Vec<ArrayRef> = columns.iter_mut().map(JsonColumn::finish).collect();
    if !collector.problems.is_empty() {
        // Refused anyway; the rows only count.
        collector.rows += *pending as u64;
        *pending = 0;
        return Ok(());
    }
    *pending = 0;
    let batch = RecordBatch::try_new(target.clone(), arrays)
        .map_err(|e| Rejection::Host(format!("cannot assemble rows: {e}")))?;
    collector.write(batch)
}

/// One NDJSON line: an object whose keys each appear once (a repeated key is an error, not a
/// silent choice of one of its values), or some other JSON value.
enum Line {
    Object(serde_json::Map<String, serde_json::Value>),
    NotAnObject,
}

impl<'de> serde::Deserialize<'de> for Line {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LineVisitor)
    }
}

struct LineVisitor;

impl<'de> serde::de::Visitor<'de> for LineVisitor {
    type Value = Line;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key \"{}\" appears twice in one object",
                    shorten(&key)
                )));
            }
            let value = map.next_value::<serde_json::Value>()?;
            object.insert(key, value);
        }
        Ok(Line::Object(object))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Line, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Line::NotAnObject)
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Line, E> {
        Ok(Line::NotAnObject)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Line, E> {
        Ok(Line::NotAnObject)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Line, E> {
        Ok(Line::NotAnObject)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Line, E> {
        Ok(Line::NotAnObject)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Line, E> {
        Ok(Line::NotAnObject)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Line, E> {
        Ok(Line::NotAnObject)
    }
}
