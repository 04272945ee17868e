//! The in-memory backend a [`super::TestRun`] gives a product: inputs served in the batches
//! the test gave (split only where the product asks for fewer rows), outputs kept as written,
//! and, with a manifest, every port access and written batch held to it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use super::contract::Contract;
use crate::batch::{Batch, Column, Field};
use crate::context::{Backend, InputStream, OutputStream};
use crate::error::{Error, Result};

#[derive(Default)]
pub(super) struct State {
    /// Calling the product's checks: outputs read back as inputs, none written.
    pub(super) checking: bool,
    pub(super) inputs: BTreeMap<String, Vec<Batch>>,
    /// Inputs opened in this call (each opens once per run, as on the host).
    pub(super) opened: BTreeSet<String>,
    pub(super) outputs: BTreeMap<String, Vec<Batch>>,
    pub(super) gauges: BTreeMap<String, f64>,
    pub(super) parameters: BTreeMap<String, crate::Parameter>,
    pub(super) contract: Option<Contract>,
    /// The first write the contract refused: the host fails such a run even when the product
    /// carries on.
    pub(super) violation: Option<String>,
}

pub(super) struct MemoryBackend {
    pub(super) state: Rc<RefCell<State>>,
}

impl Backend for MemoryBackend {
    fn open_input(&mut self, port: &str, columns: Option<&[&str]>) -> Result<Box<dyn InputStream>> {
        let mut state = self.state.borrow_mut();
        let checking = state.checking;
        if let Some(contract) = &state.contract {
            tessera_core::ports::may_read(&contract.manifest, port, checking)
                .map_err(Error::Denied)?;
            if let Some(names) = columns {
                tessera_core::ports::distinct_columns(port, names).map_err(Error::Invalid)?;
            }
            if !state.opened.insert(port.to_string()) {
                return Err(Error::Invalid(format!(
                    "input `{port}` is already open; open each input once per run"
                )));
            }
        }
        let staged = checking.then(|| state.outputs.get(port)).flatten();
        let declared = state
            .contract
            .as_ref()
            .map(|c| match checking && c.manifest.output(port).is_some() {
                true => c.output_fields(port),
                false => c.input_fields(port),
            })
            .unwrap_or_default();
        let nothing_written = Vec::new();
        let staged = match (staged, &state.contract) {
            // A declared output nothing was written to reads back empty, as on the host.
            (None, Some(c)) if checking && c.manifest.output(port).is_some() => {
                Some(&nothing_written)
            }
            (staged, _) => staged,
        };
        let batches =
            state.inputs.get(port).or(staged).ok_or_else(|| {
                Error::not_found(format!("no data was provided for input `{port}`"))
            })?;
        let batches = batches
            .iter()
            .map(|batch| project(port, batch, columns))
            .collect::<Result<VecDeque<Batch>>>()?;
        let schema = match batches.front() {
            Some(first) => fields_of(first),
            None => match columns {
                None => declared,
                Some(names) => declared
                    .into_iter()
                    .filter(|f| names.contains(&f.name.as_str()))
                    .collect(),
            },
        };
        Ok(Box::new(MemoryInput { batches, schema }))
    }

    fn open_output(&mut self, port: &str) -> Result<Box<dyn OutputStream>> {
        let state = self.state.borrow();
        let schema = match &state.contract {
            Some(contract) => {
                tessera_core::ports::may_write(&contract.manifest, port, state.checking)
                    .map_err(Error::Denied)?;
                contract.output_fields(port)
            }
            None if state.checking => {
                return Err(Error::Denied(format!(
                    "output `{port}` cannot be written while checking: checks read what `run` wrote (open it with `ctx.input`)"
                )));
            }
            None => Vec::new(),
        };
        Ok(Box::new(MemoryOutput {
            port: port.to_string(),
            state: self.state.clone(),
            schema,
        }))
    }

    fn gauge(&mut self, name: &str, value: f64) {
        self.state
            .borrow_mut()
            .gauges
            .insert(name.to_string(), value);
    }

    fn parameter(&mut self, name: &str) -> Option<crate::Parameter> {
        self.state.borrow().parameters.get(name).cloned()
    }
}

/// The asked-for columns of a batch, in the asked order; the host's words for a missing one.
fn project(port: &str, batch: &Batch, columns: Option<&[&str]>) -> Result<Batch> {
    let Some(names) = columns else {
        return Ok(batch.clone());
    };
    let picked = names
        .iter()
        .map(|name| {
            batch.column(name).cloned().map_err(|_| {
                let available: Vec<&str> =
                    batch.columns().iter().map(|c| c.name.as_str()).collect();
                Error::not_found(format!(
                    "input `{port}` has no column `{name}` (columns: {})",
                    available.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<Column>>>()?;
    Batch::new(picked)
}

fn fields_of(batch: &Batch) -> Vec<Field> {
    batch
        .columns()
        .iter()
        .map(|c| Field {
            name: c.name.clone(),
            data_type: c.values.data_type(),
            nullable: c.valid.is_some(),
        })
        .collect()
}

struct MemoryInput {
    batches: VecDeque<Batch>,
    schema: Vec<Field>,
}

impl InputStream for MemoryInput {
    fn schema(&self) -> &[Field] {
        &self.schema
    }

    fn version(&self) -> u64 {
        0
    }

    /// The next given batch, or its first `max_rows` rows when it has more.
    fn next(&mut self, max_rows: u32) -> Result<Option<Batch>> {
        let Some(batch) = self.batches.pop_front() else {
            return Ok(None);
        };
        let max = (max_rows as usize).max(1);
        let rows = batch.num_rows();
        if rows <= max {
            return Ok(Some(batch));
        }
        let head: Vec<usize> = (0..max).collect();
        let rest: Vec<usize> = (max..rows).collect();
        self.batches.push_front(batch.take(&rest)?);
        Ok(Some(batch.take(&head)?))
    }
}

struct MemoryOutput {
    port: String,
    state: Rc<RefCell<State>>,
    schema: Vec<Field>,
}

impl OutputStream for MemoryOutput {
    fn schema(&self) -> &[Field] {
        &self.schema
    }

    fn write(&mut self, batch: Batch) -> Result<()> {
        let mut state = self.state.borrow_mut();
        let stored = match state.contract.as_mut() {
            None => batch,
            Some(contract) => match contract.accept_output(&self.port, &batch) {
                Ok(stored) => stored,
                Err(e) => {
                    if state.violation.is_none() {
                        state.violation = Some(e.message().to_string());
                    }
                    return Err(e);
                }
            },
        };
        state
            .outputs
            .entry(self.port.clone())
            .or_default()
            .push(stored);
        Ok(())
    }
}
