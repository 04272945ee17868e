//! A product's manifest as a test run holds it: the ports it may open, the schema every batch
//! it writes must match, and the declared checks its outputs must pass before the host would
//! publish them. Every rule is the host's own code from `tessera-core` and `tessera-quality`.

use std::collections::BTreeMap;

use tessera_core::arrow::datatypes::SchemaRef;
use tessera_core::conform::{Coercion, conform_columns, conform_output};
use tessera_core::manifest::Manifest;
use tessera_quality::{CheckEnv, CheckResult, PortChecks};

use super::arrow::{from_arrow, to_arrow};
use crate::batch::{Batch, DataType, Field};
use crate::error::{Error, Result};

/// The manifest, and the state of one run held to it.
pub(crate) struct Contract {
    pub(crate) manifest: Manifest,
    outputs: BTreeMap<String, OutputState>,
    env: CheckEnv,
}

struct OutputState {
    target: SchemaRef,
    rows: u64,
    checks: Option<PortChecks>,
}

impl Contract {
    /// Parses `product.toml` with the host's parser; errors say where, as `tessera build` does.
    pub(crate) fn parse(text: &str) -> Result<Contract> {
        let manifest = Manifest::parse(text, "product.toml")
            .map_err(|e| Error::Invalid(format!("product.toml: {e}")))?;
        let mut contract = Contract {
            manifest,
            outputs: BTreeMap::new(),
            env: CheckEnv::default(),
        };
        contract.begin(0);
        Ok(contract)
    }

    /// Starts a run at `now_us`: no rows written, every declared check fresh.
    pub(crate) fn begin(&mut self, now_us: i64) {
        self.env = CheckEnv {
            now_us,
            ..CheckEnv::default()
        };
        self.outputs = self
            .manifest
            .outputs
            .iter()
            .map(|port| {
                let state = OutputState {
                    target: port.schema.to_arrow(),
                    rows: 0,
                    checks: Some(PortChecks::new(&port.name, &port.checks)),
                };
                (port.name.clone(), state)
            })
            .collect();
    }

    /// Given batches for `port`, as the host would hand them to the product: an undeclared
    /// port is refused; an ingested port's batches are conformed to its declared schema as
    /// ingestion does (documented coercions, required columns); an upstream port's batches are
    /// the upstream's and pass as given.
    pub(crate) fn admit_input(&self, port: &str, batches: Vec<Batch>) -> Result<Vec<Batch>> {
        tessera_core::ports::may_read(&self.manifest, port, false).map_err(Error::Denied)?;
        let Some(schema) = self.manifest.input(port).and_then(|p| p.ingest_schema()) else {
            return Ok(batches);
        };
        let target = schema.to_arrow();
        let mut first_row = 0;
        let mut admitted = Vec::with_capacity(batches.len());
        for batch in batches {
            let columns = to_arrow(&batch)?;
            let named = columns
                .iter()
                .map(|(n, a)| (n.as_str(), a.clone()))
                .collect();
            let conformed = conform_columns(named, schema, &target, first_row, Coercion::Lenient)
                .map_err(|e| {
                Error::Invalid(format!(
                    "input `{port}`: {e} (the host refuses such data when it is ingested)"
                ))
            })?;
            first_row += conformed.num_rows() as u64;
            admitted.push(from_arrow(&conformed)?);
        }
        Ok(admitted)
    }

    /// The declared fields of an ingested input (for a port given no batch).
    pub(crate) fn input_fields(&self, port: &str) -> Vec<Field> {
        self.manifest
            .input(port)
            .and_then(|p| p.ingest_schema())
            .map(fields)
            .unwrap_or_default()
    }

    /// The declared fields of an output port.
    pub(crate) fn output_fields(&self, port: &str) -> Vec<Field> {
        self.manifest
            .output(port)
            .map(|p| fields(&p.schema))
            .unwrap_or_default()
    }

    /// A batch the product wrote to `port`: held to the declared schema as the host holds it,
    /// observed by the port's checks, and returned as the host would store it (declared
    /// column order). The error is the host's, prefixed with the port.
    pub(crate) fn accept_output(&mut self, port: &str, batch: &Batch) -> Result<Batch> {
        let schema = &self
            .manifest
            .output(port)
            .ok_or_else(|| Error::NotFound(format!("output `{port}` is gone")))?
            .schema;
        let state = self
            .outputs
            .get_mut(port)
            .ok_or_else(|| Error::NotFound(format!("output `{port}` is gone")))?;
        let columns = to_arrow(batch)?;
        let named = columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect();
        let conformed = conform_output(named, schema, &state.target, state.rows)
            .map_err(|e| Error::Invalid(format!("output `{port}`: {e}")))?;
        if let Some(checks) = state.checks.as_mut() {
            checks.observe(&conformed, &self.env);
        }
        state.rows += conformed.num_rows() as u64;
        from_arrow(&conformed)
    }

    /// The declared checks' results over everything written, port by port in manifest order.
    pub(crate) fn finish(&mut self) -> Vec<CheckResult> {
        let mut results = Vec::new();
        for port in &self.manifest.outputs {
            if let Some(checks) = self
                .outputs
                .get_mut(&port.name)
                .and_then(|s| s.checks.take())
            {
                results.extend(checks.finish(&self.env));
            }
        }
        results
    }

    /// Refuses custom check results the host would refuse.
    pub(crate) fn admit_custom_checks(&self, checks: &[crate::Check]) -> Result<()> {
        tessera_core::custom_checks::validate(
            checks.iter().map(|c| (c.port(), c.name())),
            &self.manifest,
        )
        .map_err(Error::Invalid)
    }
}

fn fields(schema: &tessera_core::schema::Schema) -> Vec<Field> {
    schema
        .columns
        .iter()
        .map(|c| Field {
            name: c.name.clone(),
            data_type: data_type(c.data_type),
            nullable: !c.required,
        })
        .collect()
}

fn data_type(t: tessera_core::schema::DataType) -> DataType {
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
