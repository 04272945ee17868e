//! The [`Context`] a product's `run` receives: its inputs, outputs, metrics and run facts.

use crate::batch::{Batch, Field};
use crate::error::{Error, Result};

/// Default number of rows per batch when reading.
pub const DEFAULT_BATCH_ROWS: u32 = 64 * 1024;

/// Facts about the current run.
///
/// ```
/// let info = tessera_sdk::RunInfo::default();
/// assert_eq!(info.started_at, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// Unique id of the run.
    pub run_id: String,
    /// The product's name.
    pub product: String,
    /// The product's version.
    pub version: String,
    /// When the run was triggered: microseconds since the Unix epoch, UTC. Use it instead of
    /// the clock, so a run depends only on its inputs.
    pub started_at: i64,
}

pub(crate) trait Backend {
    fn open_input(&mut self, port: &str, columns: Option<&[&str]>) -> Result<Box<dyn InputStream>>;
    fn open_output(&mut self, port: &str) -> Result<Box<dyn OutputStream>>;
    fn gauge(&mut self, name: &str, value: f64);
    fn parameter(&mut self, name: &str) -> Option<crate::Parameter>;
}

pub(crate) trait InputStream {
    fn schema(&self) -> &[Field];
    fn version(&self) -> u64;
    fn next(&mut self, max_rows: u32) -> Result<Option<Batch>>;
}

pub(crate) trait OutputStream {
    fn schema(&self) -> &[Field];
    fn write(&mut self, batch: Batch) -> Result<()>;
}

/// Everything a product can reach during a run.
///
/// ```
/// use tessera_sdk::{testing::TestRun, Batch, Context, Result};
///
/// fn run(ctx: &mut Context) -> Result<()> {
///     let people = ctx.input("people")?.read_all()?;
///     let n = people.num_rows() as i64;
///     ctx.output("count")?.write(Batch::builder().i64("n", [n]).build()?)?;
///     ctx.gauge("people", n as f64);
///     Ok(())
/// }
///
/// let mut test = TestRun::new().input("people", Batch::builder().text("name", ["Ada", "Alan"]).build()?);
/// test.run(run)?;
/// assert_eq!(test.output("count")?.i64("n")?.get(0), Some(2));
/// assert_eq!(test.gauge("people"), Some(2.0));
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub struct Context {
    info: RunInfo,
    backend: Box<dyn Backend>,
}

impl Context {
    pub(crate) fn new(info: RunInfo, backend: Box<dyn Backend>) -> Self {
        Context { info, backend }
    }

    /// The GPU the host lends this run (see [`crate::gpu`]). Fails with `denied` when the
    /// product did not declare `resources.gpu` in product.toml.
    pub fn gpu(&mut self) -> Result<crate::Gpu> {
        crate::Gpu::open()
    }

    /// A parameter from `[parameters]` in product.toml, if set (see [`crate::parameters`]).
    pub fn parameter(&mut self, name: &str) -> Option<crate::Parameter> {
        self.backend.parameter(name)
    }

    /// A number from `[parameters]` (an integer converts); an error names the parameter when
    /// it is missing or not a number.
    pub fn parameter_f64(&mut self, name: &str) -> Result<f64> {
        crate::parameters::as_f64(name, self.backend.parameter(name))
    }

    /// A whole number from `[parameters]`.
    pub fn parameter_i64(&mut self, name: &str) -> Result<i64> {
        crate::parameters::as_i64(name, self.backend.parameter(name))
    }

    /// Text from `[parameters]`.
    pub fn parameter_text(&mut self, name: &str) -> Result<String> {
        crate::parameters::as_text(name, self.backend.parameter(name))
    }

    /// A boolean from `[parameters]`.
    pub fn parameter_bool(&mut self, name: &str) -> Result<bool> {
        crate::parameters::as_bool(name, self.backend.parameter(name))
    }

    /// Facts about this run.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     assert_eq!(ctx.info().product, "test-product");
    ///     Ok(())
    /// }
    /// TestRun::new().run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// Opens an input port, all columns.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     let mut rows = 0;
    ///     for batch in ctx.input("events")?.batches(1000) {
    ///         rows += batch?.num_rows();
    ///     }
    ///     assert_eq!(rows, 3);
    ///     Ok(())
    /// }
    /// TestRun::new().input("events", Batch::builder().i64("n", [1, 2, 3]).build()?).run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn input(&mut self, port: &str) -> Result<Input> {
        Ok(Input {
            stream: self.backend.open_input(port, None)?,
        })
    }

    /// Opens an input port, reading only `columns`, in that order.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     let batch = ctx.input_columns("events", &["b"])?.read_all()?;
    ///     assert_eq!(batch.num_columns(), 1);
    ///     Ok(())
    /// }
    /// TestRun::new().input("events", Batch::builder().i64("a", [1]).i64("b", [2]).build()?).run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn input_columns(&mut self, port: &str, columns: &[&str]) -> Result<Input> {
        Ok(Input {
            stream: self.backend.open_input(port, Some(columns))?,
        })
    }

    /// Opens an output port for writing.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     ctx.output("out")?.write(Batch::builder().f64("x", [1.0]).build()?)
    /// }
    /// let mut test = TestRun::new();
    /// test.run(run)?;
    /// assert_eq!(test.output("out")?.num_rows(), 1);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn output(&mut self, port: &str) -> Result<Output> {
        Ok(Output {
            stream: self.backend.open_output(port)?,
        })
    }

    /// Records a product-defined gauge for this run (the last value of a name wins).
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     ctx.gauge("auc", 0.93);
    ///     Ok(())
    /// }
    /// let mut test = TestRun::new();
    /// test.run(run)?;
    /// assert_eq!(test.gauge("auc"), Some(0.93));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn gauge(&mut self, name: &str, value: f64) {
        self.backend.gauge(name, value);
    }
}

/// A stream of batches from one input port.
pub struct Input {
    stream: Box<dyn InputStream>,
}

impl Input {
    /// The columns this input yields.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     assert_eq!(ctx.input("in")?.schema()[0].name, "n");
    ///     Ok(())
    /// }
    /// TestRun::new().input("in", Batch::builder().i64("n", [1]).build()?).run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn schema(&self) -> &[Field] {
        self.stream.schema()
    }

    /// The version of the data being read (0 for data handed to a local run).
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     assert_eq!(ctx.input("in")?.version(), 0);
    ///     Ok(())
    /// }
    /// TestRun::new().input("in", Batch::builder().i64("n", [1]).build()?).run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn version(&self) -> u64 {
        self.stream.version()
    }

    /// The next batch of at most `max_rows` rows, or `None` at the end.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     let mut input = ctx.input("in")?;
    ///     assert_eq!(input.next_batch(2)?.map(|b| b.num_rows()), Some(2));
    ///     assert_eq!(input.next_batch(2)?.map(|b| b.num_rows()), Some(1));
    ///     assert!(input.next_batch(2)?.is_none());
    ///     Ok(())
    /// }
    /// TestRun::new().input("in", Batch::builder().i64("n", [1, 2, 3]).build()?).run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn next_batch(&mut self, max_rows: u32) -> Result<Option<Batch>> {
        if max_rows == 0 {
            return Err(Error::invalid("max_rows must be at least 1"));
        }
        self.stream.next(max_rows)
    }

    /// Iterates over batches of at most `max_rows` rows.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     let sizes: Vec<usize> = ctx.input("in")?.batches(2).map(|b| b.map(|b| b.num_rows())).collect::<Result<_>>()?;
    ///     assert_eq!(sizes, vec![2, 1]);
    ///     Ok(())
    /// }
    /// TestRun::new().input("in", Batch::builder().i64("n", [1, 2, 3]).build()?).run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn batches(self, max_rows: u32) -> Batches {
        Batches {
            input: self,
            max_rows,
            done: false,
        }
    }

    /// Reads every remaining row into one batch. Mind the memory limit for large inputs;
    /// prefer [`Input::batches`] there.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     assert_eq!(ctx.input("in")?.read_all()?.num_rows(), 3);
    ///     Ok(())
    /// }
    /// TestRun::new().input("in", Batch::builder().i64("n", [1, 2, 3]).build()?).run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn read_all(mut self) -> Result<Batch> {
        let mut all = Batch::default();
        let mut read_any = false;
        while let Some(batch) = self.next_batch(DEFAULT_BATCH_ROWS)? {
            all.append(batch)?;
            read_any = true;
        }
        if !read_any && !self.schema().is_empty() {
            // No rows: still the input's columns, so code that asks for one finds it empty.
            all = Batch::new(
                self.schema()
                    .iter()
                    .map(|field| crate::batch::Column {
                        name: field.name.clone(),
                        values: crate::batch::Values::empty(field.data_type),
                        valid: None,
                    })
                    .collect(),
            )?;
        }
        Ok(all)
    }
}

/// Iterator over an input's batches; see [`Input::batches`]. It ends after the last batch or
/// after the first error.
///
/// ```
/// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
/// fn run(ctx: &mut Context) -> Result<()> {
///     let mut batches = ctx.input("in")?.batches(10);
///     assert_eq!(batches.next().transpose()?.map(|b| b.num_rows()), Some(3));
///     assert!(batches.next().is_none());
///     Ok(())
/// }
/// TestRun::new().input("in", Batch::builder().i64("n", [1, 2, 3]).build()?).run(run)?;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub struct Batches {
    input: Input,
    max_rows: u32,
    done: bool,
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.input.next_batch(self.max_rows) {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Appends batches to one output port.
pub struct Output {
    stream: Box<dyn OutputStream>,
}

impl Output {
    /// The declared schema of the port (empty in native tests, where nothing is declared).
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     let _columns = ctx.output("out")?.schema().len();
    ///     Ok(())
    /// }
    /// TestRun::new().run(run)?;
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn schema(&self) -> &[Field] {
        self.stream.schema()
    }

    /// Appends a batch. Inside the sandbox the host checks it against the declared schema;
    /// a mismatch is an [`Error::Invalid`] naming the column, and fails the run.
    ///
    /// ```
    /// # use tessera_sdk::{testing::TestRun, Batch, Context, Result};
    /// fn run(ctx: &mut Context) -> Result<()> {
    ///     let mut out = ctx.output("out")?;
    ///     out.write(Batch::builder().i64("n", [1]).build()?)?;
    ///     out.write(Batch::builder().i64("n", [2]).build()?)
    /// }
    /// let mut test = TestRun::new();
    /// test.run(run)?;
    /// assert_eq!(test.output("out")?.i64("n")?.values(), &[1, 2]);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn write(&mut self, batch: Batch) -> Result<()> {
        self.stream.write(batch)
    }
}
