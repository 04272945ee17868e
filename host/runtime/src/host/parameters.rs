//! `tessera:product/parameters`: the `[parameters]` of the product's manifest, read-only.

use tessera_core::manifest::Parameter;

use crate::bindings::tessera::product::parameters::{Host, Value};
use crate::state::RunState;

impl Host for RunState {
    fn get(&mut self, name: String) -> wasmtime::Result<Option<Value>> {
        Ok(self.manifest.parameters.get(&name).map(|p| match p {
            Parameter::Boolean(b) => Value::Boolean(*b),
            Parameter::Integer(i) => Value::Integer(*i),
            Parameter::Number(n) => Value::Number(*n),
            Parameter::Text(t) => Value::Text(t.clone()),
        }))
    }

    fn names(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.manifest.parameters.keys().cloned().collect())
    }
}
