//! A stored Arrow schema as Delta's `schemaString`: Spark's JSON form of a struct type, which
//! Delta Sharing clients turn into their own types (pandas converters, Spark schemas).

use arrow::datatypes::{DataType, Schema, TimeUnit};
use serde_json::{Value, json};

/// The Spark type name of an Arrow type, or `None` for a type Tessera never stores.
fn spark_type(data_type: &DataType) -> Option<&'static str> {
    Some(match data_type {
        DataType::Float64 => "double",
        DataType::Float32 => "float",
        DataType::Int64 => "long",
        DataType::Int32 => "integer",
        DataType::Int16 => "short",
        DataType::Int8 => "byte",
        DataType::Boolean => "boolean",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary",
        DataType::Date32 => "date",
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => "timestamp",
        DataType::Timestamp(TimeUnit::Microsecond, None) => "timestamp_ntz",
        DataType::Dictionary(_, value) => return spark_type(value),
        _ => return None,
    })
}

/// `schema` as a `schemaString`; an error names a column whose type has no Spark form.
pub fn schema_string(schema: &Schema) -> Result<String, String> {
    let fields = schema
        .fields()
        .iter()
        .map(|field| {
            let name = spark_type(field.data_type()).ok_or_else(|| {
                format!(
                    "column `{}` is of type {}, which Delta Sharing cannot describe",
                    field.name(),
                    field.data_type()
                )
            })?;
            Ok(json!({
                "name": field.name(),
                "type": name,
                "nullable": field.is_nullable(),
                "metadata": {},
            }))
        })
        .collect::<Result<Vec<Value>, String>>()?;
    Ok(json!({"type": "struct", "fields": fields}).to_string())
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn every_stored_type_has_a_spark_name() {
        let schema = tessera_core::schema::Schema::new(
            tessera_core::schema::DataType::ALL
                .iter()
                .map(|t| tessera_core::schema::Column::new(t.name(), *t))
                .collect(),
        )
        .to_arrow();
        let text = schema_string(&schema).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let types: Vec<&str> = parsed["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "double",
                "float",
                "long",
                "boolean",
                "string",
                "timestamp",
                "binary"
            ]
        );
        let odd = Schema::new(vec![Field::new("d", DataType::Decimal128(10, 2), true)]);
        assert!(schema_string(&odd).unwrap_err().contains("`d`"));
    }
}
