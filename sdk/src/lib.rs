//! # tessera-sdk: write Tessera data products in plain Rust
//!
//! A data product is one function. It reads the input ports its `product.toml` declares and
//! writes its output ports; the host runs it in a WebAssembly sandbox, checks what it writes
//! against the declared schemas, and publishes the result.
//!
//! ```
//! use tessera_sdk::{Batch, Context, Result};
//!
//! #[tessera_sdk::product]
//! fn run(ctx: &mut Context) -> Result<()> {
//!     let people = ctx.input("people")?.read_all()?;
//!     let names = people.text("name")?;
//!     let greetings: Vec<String> = names.iter().map(|n| format!("Hello, {}!", n.unwrap_or("stranger"))).collect();
//!     tessera_sdk::info!("greeting {} people", greetings.len());
//!     ctx.output("greetings")?.write(Batch::builder().text("greeting", &greetings).build()?)
//! }
//!
//! // Natively, the same function runs against in-memory data:
//! let mut test = tessera_sdk::testing::TestRun::new()
//!     .input("people", Batch::builder().text_opt("name", [Some("Ada"), None]).build()?);
//! test.run(run)?;
//! assert_eq!(test.output("greetings")?.text("greeting")?.get(1), Some("Hello, stranger!"));
//! # Ok::<(), tessera_sdk::Error>(())
//! ```
//!
//! Build it with `tessera build` (or `cargo build --target wasm32-wasip2 --release`), run it
//! locally with `tessera run`, and deploy the resulting `.wasm`.
//!
//! - [`Context`] opens inputs ([`Input`]: streaming batches, column projection) and outputs
//!   ([`Output`]), and records gauges.
//! - [`Batch`] holds typed columns: `batch.f64("agreement")?`, `batch.text("label")?`,
//!   `batch.timestamp("at")?`, with nulls as `None`; [`Batch::builder`] makes output.
//! - [`info!`], [`warn!`] and friends log to the run's log.
//! - [`testing::TestRun`] runs a product function natively for unit tests.
//! - [`Gpu`] (`ctx.gpu()?`): GPU compute lent by the host: [`Tensor`]s with `matmul`,
//!   `sigmoid`, `softmax_rows`, `sq_distances`, ..., and WGSL [`Kernel`]s (see [`gpu`]).
//! - [`relational`]: group-by with sums, means, counts, minima and maxima; joins; sorting;
//!   fast hash maps.
//! - [`Check`]: custom checks, rules about the outputs that need code, declared with
//!   `#[tessera_sdk::product(checks = NAME)]` (see the [`Check`] docs).

extern crate self as tessera_sdk;

mod batch;
mod check;
mod context;
mod dictionary;
mod error;
pub mod gpu;
#[cfg(target_arch = "wasm32")]
mod gpu_host;
#[cfg(not(target_arch = "wasm32"))]
mod gpu_native;
#[cfg(target_arch = "wasm32")]
mod host;
pub mod log;
pub mod parameters;
pub mod relational;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use batch::{
    Batch, BatchBuilder, Column, DataType, Field, FromVar, Primitive, Values, Var, VarData,
};
pub use check::{Check, Severity};
pub use context::{Batches, Context, DEFAULT_BATCH_ROWS, Input, Output, RunInfo};
pub use dictionary::Dictionary;
pub use error::{Error, Result};
pub use gpu::{Buffer as GpuBuffer, Element, Gpu, GpuData, GpuInfo, Kernel, Tensor};
pub use parameters::Parameter;

/// Marks the function a product runs: `fn NAME(ctx: &mut Context) -> Result<()>`.
///
/// The macro exports the function as the component's `run`. With `checks = NAME` it also
/// exports `fn NAME(ctx: &mut Context) -> Result<Vec<Check>>` as the product's custom checks,
/// called after a successful run on what it staged (see [`Check`]). Any other signature is a
/// compile error that says what is expected:
///
/// ```compile_fail
/// #[tessera_sdk::product]
/// fn run(ctx: &tessera_sdk::Context) -> tessera_sdk::Result<()> { Ok(()) }
/// ```
///
/// ```compile_fail
/// #[tessera_sdk::product]
/// async fn run(ctx: &mut tessera_sdk::Context) -> tessera_sdk::Result<()> { Ok(()) }
/// ```
///
/// ```
/// #[tessera_sdk::product]
/// fn run(_ctx: &mut tessera_sdk::Context) -> tessera_sdk::Result<()> { Ok(()) }
/// ```
///
/// ```
/// use tessera_sdk::{Check, Context, Result};
///
/// #[tessera_sdk::product(checks = checks)]
/// fn run(_ctx: &mut Context) -> Result<()> { Ok(()) }
///
/// fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
///     let rows = ctx.input("scores")?.read_all()?.num_rows();
///     Ok(vec![Check::new("scores", "not-empty").passed(rows > 0)])
/// }
/// ```
pub use tessera_sdk_macros::product;

/// Typed ports from `product.toml`, generated at compile time: a module `ports` with one
/// module per port. An input whose columns the manifest declares (ingested, or an upstream
/// output whose manifest is named in `upstream = [...]`) gets a borrowed `Row<'a>`, typed
/// `Columns<'a>` views, `rows(&batch)`, `read_all(ctx)` and `open(ctx)`; an output gets an
/// owned `Row` and `batch(rows)`/`write(ctx, rows)`, which build the declared columns in
/// declared order. Required columns are plain values, the others `Option`s. Reading a column
/// the manifest does not declare, or writing a value of another type, fails to compile.
///
/// ```ignore
/// tessera_sdk::ports!(upstream = ["../labeled-studies/product.toml"]);
///
/// #[tessera_sdk::product]
/// fn run(ctx: &mut Context) -> Result<()> {
///     let readings = ports::readings::read_all(ctx)?;
///     let rows = ports::readings::rows(&readings)?;   // Row { sensor: &str, value: Option<f64>, .. }
///     ports::stats::write(ctx, summarize(&rows).map(|(sensor, mean)| ports::stats::Row { sensor, mean }))
/// }
/// ```
pub use tessera_sdk_macros::ports;

/// Support for the `#[product]` macro; not a stable API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    #[allow(missing_docs, unsafe_code)]
    pub mod bindings {
        //! The raw WIT bindings, generated by wit-bindgen. Product code never names these;
        //! the `#[product]` macro and the typed wrappers of this crate do.
        wit_bindgen::generate!({
            path: "../wit",
            world: "tessera:product/product-with-checks",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "tessera_sdk::__private::bindings",
            runtime_path: "tessera_sdk::__private::wit_bindgen::rt",
        });
    }
    #[cfg(target_arch = "wasm32")]
    pub use bindings::tessera::product::types::{
        CheckResult as WitCheckResult, Error as WitError, RunInfo as WitRunInfo,
    };
    #[cfg(target_arch = "wasm32")]
    pub use bindings::{Guest, export};
    pub use wit_bindgen;

    use crate::{Check, Context, Result};

    /// Runs the product function for the host's `run` export.
    #[cfg(target_arch = "wasm32")]
    pub fn run(
        info: WitRunInfo,
        product: fn(&mut Context) -> Result<()>,
    ) -> core::result::Result<(), WitError> {
        let info = crate::RunInfo {
            run_id: info.run_id,
            product: info.product,
            version: info.version,
            started_at: info.started_at,
        };
        let mut ctx = Context::new(info, Box::new(crate::host::HostBackend));
        product(&mut ctx).map_err(crate::host::to_wit)
    }

    /// Runs the product's check function for the host's `check` export.
    #[cfg(target_arch = "wasm32")]
    pub fn check(
        info: WitRunInfo,
        checks: fn(&mut Context) -> Result<Vec<Check>>,
    ) -> core::result::Result<Vec<WitCheckResult>, WitError> {
        let info = crate::RunInfo {
            run_id: info.run_id,
            product: info.product,
            version: info.version,
            started_at: info.started_at,
        };
        let mut ctx = Context::new(info, Box::new(crate::host::HostBackend));
        let results = checks(&mut ctx).map_err(crate::host::to_wit)?;
        Ok(results.iter().map(crate::host::check_to_wit).collect())
    }

    /// The error for a null in a column the manifest declares required (typed ports).
    pub fn null_in_required(port: &str, column: &str, row: usize) -> crate::Error {
        crate::Error::Invalid(format!(
            "input `{port}`: column `{column}` is declared required, but row {row} is null"
        ))
    }

    /// The check function of a product that declares none.
    pub fn no_checks(_ctx: &mut Context) -> Result<Vec<Check>> {
        Ok(Vec::new())
    }

    /// Names the product function so an unused-function warning never appears natively.
    pub fn native(product: fn(&mut Context) -> Result<()>) -> fn(&mut Context) -> Result<()> {
        product
    }

    /// Names the check function so an unused-function warning never appears natively.
    pub fn native_checks(
        checks: fn(&mut Context) -> Result<Vec<Check>>,
    ) -> fn(&mut Context) -> Result<Vec<Check>> {
        checks
    }
}
