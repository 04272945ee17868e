//! Running a product's `run` function natively, with inputs and outputs in memory, so product
//! logic is tested with plain `cargo test`.
//!
//! [`TestRun::for_product`] holds the run to the product's `product.toml` with the host's own
//! rules (`tessera-core`'s conformance, `tessera-quality`'s checks): only declared ports open,
//! ingested inputs are conformed to their declared schema, every written batch must match its
//! port's schema (types, required columns), and the declared checks (including `unique = true`
//! columns) must pass, so a product whose tests pass is not refused by the host for the
//! contract. [`TestRun::new`] runs without a manifest and holds the product to nothing.
//!
//! Inputs are served in the batches the test gives (a port given several batches reads them
//! one by one), split only when the product asks for fewer rows at a time.
//!
//! ```
//! use tessera_sdk::{testing::TestRun, Batch, Context, Error, Result};
//!
//! const MANIFEST: &str = r#"
//! [product]
//! name = "totals"
//! domain = "examples"
//! version = "1.0.0"
//! owner = "team@example.org"
//! description = "The sum of the numbers"
//! kind = "aggregate"
//!
//! [[inputs]]
//! name = "numbers"
//! ingest = { n = { type = "int64", required = true } }
//!
//! [[outputs]]
//! name = "total"
//! schema = { total = { type = "int64", required = true } }
//! "#;
//!
//! fn run(ctx: &mut Context) -> Result<()> {
//!     let input = ctx.input("numbers")?.read_all()?;
//!     let total: i64 = input.i64("n")?.iter().flatten().sum();
//!     ctx.output("total")?.write(Batch::builder().i64("total", [total]).build()?)
//! }
//!
//! let numbers = Batch::builder().i64("n", [1, 2, 3]).build()?;
//! let mut test = TestRun::for_product(MANIFEST)?.input("numbers", numbers);
//! test.run(run)?;
//! assert_eq!(test.output("total")?.i64("total")?.get(0), Some(6));
//!
//! // A null in a required input column is refused, as ingestion refuses it.
//! let bad = Batch::builder().i64_opt("n", [Some(1), None]).build()?;
//! let mut test = TestRun::for_product(MANIFEST)?.input("numbers", bad);
//! assert!(matches!(test.run(run), Err(Error::Invalid(_))));
//! # Ok::<(), tessera_sdk::Error>(())
//! ```

mod arrow;
mod contract;
mod memory;

use std::cell::RefCell;
use std::rc::Rc;

pub use tessera_quality::CheckResult;

use contract::Contract;
use memory::{MemoryBackend, State};

use crate::batch::Batch;
use crate::context::{Context, RunInfo};
use crate::error::{Error, Result};

/// A native, in-memory run of a product function.
pub struct TestRun {
    info: RunInfo,
    state: Rc<RefCell<State>>,
    results: Vec<CheckResult>,
}

impl Default for TestRun {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRun {
    /// A run with no manifest, named `test-product`: any port opens and nothing written is
    /// checked. Prefer [`TestRun::for_product`], which holds the product to its contract.
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
            results: Vec::new(),
        }
    }

    /// A run held to a manifest, usually `include_str!("../product.toml")`: the host's
    /// parser reads it (its errors name the line), its `[parameters]` are set, and every
    /// port, batch and declared check is held to it as the host would (see the module docs).
    ///
    /// ```
    /// # use tessera_sdk::testing::TestRun;
    /// assert!(TestRun::for_product("[product]\nname = \"x\"\n").is_err());
    /// ```
    pub fn for_product(manifest: &str) -> Result<Self> {
        let contract = Contract::parse(manifest)?;
        let mut test = TestRun::new();
        test.info.product = contract.manifest.product.name.clone();
        test.info.version = contract.manifest.product.version.to_string();
        let test = test.parameters_from_manifest(manifest)?;
        test.state.borrow_mut().contract = Some(contract);
        Ok(test)
    }

    /// The declared columns of an ingested input port (empty without a manifest, or for an
    /// upstream port), to build complete test batches from.
    ///
    /// ```
    /// # use tessera_sdk::testing::TestRun;
    /// let manifest = "[product]\nname = \"p\"\ndomain = \"d\"\nversion = \"1.0.0\"\nowner = \"o@example.org\"\ndescription = \"\"\nkind = \"aggregate\"\n\n[[inputs]]\nname = \"in\"\ningest = { id = \"text\", x = \"float64\" }\n\n[[outputs]]\nname = \"out\"\nschema = { id = \"text\" }\n";
    /// let names: Vec<String> = TestRun::for_product(manifest)?.input_schema("in").into_iter().map(|f| f.name).collect();
    /// assert_eq!(names, ["id", "x"]);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn input_schema(&self, port: &str) -> Vec<crate::Field> {
        self.state
            .borrow()
            .contract
            .as_ref()
            .map(|c| c.input_fields(port))
            .unwrap_or_default()
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

    /// Gives a batch of an input port; a port given several batches serves them in order, as
    /// the host serves a port stored in several parts.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch};
    /// let test = TestRun::new()
    ///     .input("in", Batch::builder().i64("n", [1]).build()?)
    ///     .input("in", Batch::builder().i64("n", [2, 3]).build()?);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn input(self, port: &str, batch: Batch) -> Self {
        self.state
            .borrow_mut()
            .inputs
            .entry(port.to_string())
            .or_default()
            .push(batch);
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
    pub fn parameters_from_manifest(self, manifest: &str) -> Result<Self> {
        let parameters = crate::parameters::from_manifest(manifest)?;
        self.state.borrow_mut().parameters.extend(parameters);
        Ok(self)
    }

    /// Calls the product function with a context backed by this run. Held to a manifest, the
    /// run fails as the host would fail it or hold its outputs back: an undeclared port, input
    /// data ingestion would refuse, a batch that does not match its port's schema (even when
    /// the product goes on after the refused write), or a declared check of `error` severity
    /// that fails ([`TestRun::checks`] has every result).
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Context, Error, Result};
    /// fn run(ctx: &mut Context) -> Result<()> { ctx.input("missing").map(|_| ()) }
    /// assert!(matches!(TestRun::new().run(run), Err(Error::NotFound(_))));
    /// ```
    pub fn run(&mut self, product: impl FnOnce(&mut Context) -> Result<()>) -> Result<()> {
        self.begin()?;
        let mut ctx = self.context();
        product(&mut ctx)?;
        let mut state = self.state.borrow_mut();
        if let Some(violation) = state.violation.take() {
            return Err(Error::Invalid(format!(
                "{violation} (the host fails a run whose write it refused, even when the product goes on)"
            )));
        }
        self.results = state
            .contract
            .as_mut()
            .map(Contract::finish)
            .unwrap_or_default();
        let failed: Vec<String> = self
            .results
            .iter()
            .filter(|r| !r.passed && r.severity == tessera_core::manifest::Severity::Error)
            .map(|r| format!("{} {}: {}", r.port, r.check, r.message))
            .collect();
        if !failed.is_empty() {
            return Err(Error::Invalid(format!(
                "the host would publish nothing from this run; failed checks: {}",
                failed.join("; ")
            )));
        }
        Ok(())
    }

    /// The declared checks' results of the last [`TestRun::run`] held to a manifest (empty
    /// otherwise), passed or not, in manifest order.
    ///
    /// ```
    /// assert!(tessera_sdk::testing::TestRun::new().checks().is_empty());
    /// ```
    pub fn checks(&self) -> &[CheckResult] {
        &self.results
    }

    /// Calls a custom check function (see [`Check`](crate::Check)) as the host does after a
    /// successful run: [`Context::input`] reads what [`TestRun::run`] wrote to an output port
    /// (or an input), and outputs cannot be opened. Held to a manifest, results the host
    /// would refuse (an undeclared port, an empty or repeated name) are an error.
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
        {
            let mut state = self.state.borrow_mut();
            state.checking = true;
            state.opened.clear();
        }
        let mut ctx = self.context();
        let results = checks(&mut ctx);
        let mut state = self.state.borrow_mut();
        state.checking = false;
        let results = results?;
        if let Some(contract) = &state.contract {
            contract.admit_custom_checks(&results)?;
        }
        Ok(results)
    }

    /// Everything written to an output port, as one batch (held to a manifest: as the host
    /// stores it, columns in declared order).
    ///
    /// ```
    /// # use tessera_sdk::testing::TestRun;
    /// assert!(TestRun::new().output("never-written").is_err());
    /// ```
    pub fn output(&self, port: &str) -> Result<Batch> {
        let state = self.state.borrow();
        let mut batches = state
            .outputs
            .get(port)
            .ok_or_else(|| Error::not_found(format!("nothing was written to output `{port}`")))?
            .iter()
            .cloned();
        let mut out = batches.next().unwrap_or_default();
        for batch in batches {
            out.append(batch)?;
        }
        Ok(out)
    }

    /// The last value of a gauge.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::testing::TestRun::new().gauge("auc"), None);
    /// ```
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.state.borrow().gauges.get(name).copied()
    }

    /// Clears what an earlier call wrote and, held to a manifest, admits the given inputs as
    /// the host would hand them over.
    fn begin(&mut self) -> Result<()> {
        self.results.clear();
        let mut state = self.state.borrow_mut();
        state.outputs.clear();
        state.opened.clear();
        state.violation = None;
        let State {
            contract, inputs, ..
        } = &mut *state;
        let Some(contract) = contract.as_mut() else {
            return Ok(());
        };
        // Checks such as `freshness` compare with the clock, as the host's do when it checks.
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        contract.begin(now_us);
        for (port, batches) in inputs.iter_mut() {
            let given = std::mem::take(batches);
            *batches = contract.admit_input(port, given)?;
        }
        Ok(())
    }

    fn context(&self) -> Context {
        Context::new(
            self.info.clone(),
            Box::new(MemoryBackend {
                state: self.state.clone(),
            }),
        )
    }
}
