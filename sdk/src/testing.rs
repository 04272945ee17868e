//! Running a product's `run` function natively, with inputs and outputs in memory, so product
//! logic is tested with plain `cargo test`.
//!
//! ```
//! use tessera_sdk::{testing::TestRun, Batch, Context, Result};
//!
//! fn run(ctx: &mut Context) -> Result<()> {
//!     let input = ctx.input("numbers")?.read_all()?;
//!     let total: i64 = input.i64("n")?.iter().flatten().sum();
//!     ctx.output("total")?.write(Batch::builder().i64("total", [total]).build()?)
//! }
//!
//! let mut test = TestRun::new().input("numbers", Batch::builder().i64("n", [1, 2, 3]).build()?);
//! test.run(run)?;
//! assert_eq!(test.output("total")?.i64("total")?.get(0), Some(6));
//! # Ok::<(), tessera_sdk::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::batch::{Batch, Column, Field};
use crate::context::{Backend, Context, InputStream, OutputStream, RunInfo};
use crate::error::{Error, Result};

#[derive(Default)]
struct State {
    /// Calling the product's checks: outputs read back as inputs, none written.
    checking: bool,
    inputs: BTreeMap<String, Batch>,
    outputs: BTreeMap<String, Batch>,
    gauges: BTreeMap<String, f64>,
    parameters: BTreeMap<String, crate::Parameter>,
}

/// A native, in-memory run of a product function.
pub struct TestRun {
    info: RunInfo,
    state: Rc<RefCell<State>>,
}

impl Default for TestRun {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRun {
    /// A run with no inputs, named `test-product`.
    ///
    /// ```
    /// let test = tessera_sdk::testing::TestRun::new();
    /// ```
    pub fn new() -> Self {
        TestRun {
            info: RunInfo {
                run_id: "test-run".into(),
                product: "test-product".into(),
                version: "0.0.0".into(),
                started_at: 0,
            },
            state: Rc::default(),
        }
    }

    /// Sets what [`Context::info`] returns.
    ///
    /// ```
    /// let test = tessera_sdk::testing::TestRun::new().info(tessera_sdk::RunInfo { started_at: 5, ..Default::default() });
    /// ```
    pub fn info(mut self, info: RunInfo) -> Self {
        self.info = info;
        self
    }

    /// Provides the data of an input port.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch};
    /// let test = TestRun::new().input("in", Batch::builder().i64("n", [1]).build()?);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn input(self, port: &str, batch: Batch) -> Self {
        self.state
            .borrow_mut()
            .inputs
            .insert(port.to_string(), batch);
        self
    }

    /// Sets a parameter, as `[parameters]` in product.toml would.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Context, Result};
    /// let mut test = TestRun::new().parameter("min_kappa", 0.6);
    /// test.run(|ctx| { assert_eq!(ctx.parameter_f64("min_kappa")?, 0.6); Ok(()) })?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn parameter(self, name: &str, value: impl Into<crate::Parameter>) -> Self {
        self.state
            .borrow_mut()
            .parameters
            .insert(name.to_string(), value.into());
        self
    }

    /// Sets every parameter of a manifest's `[parameters]`, e.g.
    /// `include_str!("../product.toml")`, so tests run with the values the product ships with.
    ///
    /// ```
    /// # use tessera_sdk::testing::TestRun;
    /// let test = TestRun::new().parameters_from_manifest("[parameters]\nbatch = 5\n")?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn parameters_from_manifest(self, manifest: &str) -> Result<Self> {
        let parameters = crate::parameters::from_manifest(manifest)?;
        self.state.borrow_mut().parameters.extend(parameters);
        Ok(self)
    }

    /// Calls the product function with a context backed by this run.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Context, Error, Result};
    /// fn run(ctx: &mut Context) -> Result<()> { ctx.input("missing").map(|_| ()) }
    /// assert!(matches!(TestRun::new().run(run), Err(Error::NotFound(_))));
    /// ```
    pub fn run(&mut self, product: impl FnOnce(&mut Context) -> Result<()>) -> Result<()> {
        let mut ctx = Context::new(
            self.info.clone(),
            Box::new(MemoryBackend {
                state: self.state.clone(),
            }),
        );
        product(&mut ctx)
    }

    /// Calls a custom check function (see [`Check`](crate::Check)) as the host does after a
    /// successful run: [`Context::input`] reads what [`TestRun::run`] wrote to an output port
    /// (or an input), and outputs cannot be opened.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Check, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     ctx.output("scores")?.write(Batch::builder().f64("score", [0.2, 1.7]).build()?)
    /// }
    /// fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
    ///     let scores = ctx.input("scores")?.read_all()?;
    ///     let column = scores.f64("score")?;
    ///     let failing = (0..scores.num_rows()).filter(|&i| !(0.0..=1.0).contains(&column.get(i).unwrap_or(0.0)));
    ///     Ok(vec![Check::new("scores", "probability").rows(scores.num_rows(), failing)])
    /// }
    /// let mut test = TestRun::new();
    /// test.run(run)?;
    /// assert_eq!(test.check(checks)?[0].failing_rows(), &[1]);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn check(
        &mut self,
        checks: impl FnOnce(&mut Context) -> Result<Vec<crate::Check>>,
    ) -> Result<Vec<crate::Check>> {
        self.state.borrow_mut().checking = true;
        let mut ctx = Context::new(
            self.info.clone(),
            Box::new(MemoryBackend {
                state: self.state.clone(),
            }),
        );
        let results = checks(&mut ctx);
        self.state.borrow_mut().checking = false;
        results
    }

    /// Everything written to an output port.
    ///
    /// ```
    /// # use tessera_sdk::testing::TestRun;
    /// assert!(TestRun::new().output("never-written").is_err());
    /// ```
    pub fn output(&self, port: &str) -> Result<Batch> {
        self.state
            .borrow()
            .outputs
            .get(port)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("nothing was written to output `{port}`")))
    }

    /// The last value of a gauge.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::testing::TestRun::new().gauge("auc"), None);
    /// ```
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.state.borrow().gauges.get(name).copied()
    }
}

struct MemoryBackend {
    state: Rc<RefCell<State>>,
}

impl Backend for MemoryBackend {
    fn open_input(&mut self, port: &str, columns: Option<&[&str]>) -> Result<Box<dyn InputStream>> {
        let state = self.state.borrow();
        let staged = if state.checking {
            state.outputs.get(port)
        } else {
            None
        };
        let batch =
            state.inputs.get(port).or(staged).ok_or_else(|| {
                Error::not_found(format!("no input port `{port}` in this test run"))
            })?;
        let batch = match columns {
            None => batch.clone(),
            Some(names) => Batch::new(
                names
                    .iter()
                    .map(|n| batch.column(n).cloned())
                    .collect::<Result<Vec<Column>>>()?,
            )?,
        };
        let schema = batch
            .columns()
            .iter()
            .map(|c| Field {
                name: c.name.clone(),
                data_type: c.values.data_type(),
                nullable: c.valid.is_some(),
            })
            .collect();
        Ok(Box::new(MemoryInput {
            rows: batch_rows(batch),
            schema,
        }))
    }

    fn open_output(&mut self, port: &str) -> Result<Box<dyn OutputStream>> {
        if self.state.borrow().checking {
            return Err(Error::Denied(format!(
                "output `{port}` cannot be written while checking: checks read what `run` wrote (open it with `ctx.input`)"
            )));
        }
        Ok(Box::new(MemoryOutput {
            port: port.to_string(),
            state: self.state.clone(),
            schema: Vec::new(),
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

/// Splits a batch into single-row batches, re-joined to the requested size on read.
fn batch_rows(batch: Batch) -> std::collections::VecDeque<Batch> {
    let rows = batch.num_rows();
    let mut out = std::collections::VecDeque::with_capacity(rows);
    for i in 0..rows {
        let columns = batch.columns().iter().map(|c| slice_column(c, i)).collect();
        out.push_back(Batch::new(columns).unwrap_or_default());
    }
    out
}

fn slice_column(c: &Column, i: usize) -> Column {
    use crate::batch::{Values, VarData};
    let values = match &c.values {
        Values::Float64(v) => Values::Float64(vec![v[i]]),
        Values::Float32(v) => Values::Float32(vec![v[i]]),
        Values::Int64(v) => Values::Int64(vec![v[i]]),
        Values::Boolean(v) => Values::Boolean(vec![v[i]]),
        Values::Timestamp(v) => Values::Timestamp(vec![v[i]]),
        Values::Text(v) => Values::Text(VarData::from_bytes([v.get(i)])),
        Values::Binary(v) => Values::Binary(VarData::from_bytes([v.get(i)])),
        Values::TextDictionary(d) => Values::Text(VarData::from_bytes([d.get(i)])),
        Values::BinaryDictionary(d) => Values::Binary(VarData::from_bytes([d.get(i)])),
    };
    Column {
        name: c.name.clone(),
        values,
        valid: c.valid.as_ref().map(|v| vec![v[i]]),
    }
}

struct MemoryInput {
    rows: std::collections::VecDeque<Batch>,
    schema: Vec<Field>,
}

impl InputStream for MemoryInput {
    fn schema(&self) -> &[Field] {
        &self.schema
    }

    fn version(&self) -> u64 {
        0
    }

    fn next(&mut self, max_rows: u32) -> Result<Option<Batch>> {
        let mut out: Option<Batch> = None;
        for _ in 0..max_rows {
            let Some(row) = self.rows.pop_front() else {
                break;
            };
            match &mut out {
                None => out = Some(row),
                Some(batch) => batch.append(row)?,
            }
        }
        Ok(out)
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
        match state.outputs.get_mut(&self.port) {
            Some(existing) => existing.append(batch),
            None => {
                state.outputs.insert(self.port.clone(), batch);
                Ok(())
            }
        }
    }
}
