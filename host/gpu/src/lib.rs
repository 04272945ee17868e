//! GPU compute lent to products.
//!
//! A sandboxed product cannot reach a GPU; the host lends it one through the `gpu` interface of
//! its world. This crate is that lending, free of wasmtime:
//!
//! - [`GpuHost`]: the host's one adapter and device (Vulkan through wgpu), shared by every run;
//!   submissions take turns in arrival order on a submission thread, submits and waits are
//!   bounded by the run's deadline; a device that is lost, or still busy when a deadline
//!   passes, is replaced for later runs. A product kernel's dispatch is estimated against the
//!   device's measured speed and refused when the run could not finish it in time (`cost`);
//!   built-in operations whose work grows faster than their data (matmul, distances) run in
//!   paced bands of rows, refused after the first band when they could not finish in time
//!   (`bands`).
//! - [`Session`]: one run's use of it: typed [`Buffer`]s within `resources.gpu_memory`, product
//!   [`Kernel`]s (WGSL validated by naga with line and column, bindings read from the shader,
//!   loops bounded), dispatches checked against the kernel and the device's limits, the built-in
//!   operations ([`ops`]), and the GPU time spent.
//! - [`reference`] (the `tessera-gpu-reference` crate): the CPU reference of every built-in operation: what tests compare the GPU
//!   with, and what runs when a product declared `gpu = "optional"` on a host without a GPU.

// Guest- and client-supplied sizes and offsets never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod bands;
mod buffer;
mod cost;
mod device;
mod dispatch;
mod error;
mod guard;
mod kernel;
pub mod ops;
mod session;
mod timer;

#[cfg(test)]
mod recovery_tests;

pub use buffer::{Buffer, Data, Element};
pub use device::{AdapterInfo, GpuConfig, GpuHost};
pub use error::GpuError;
pub use kernel::{BindingSpec, Kernel, compile};
pub use session::{ComputePath, Session, SessionLimits};
pub use tessera_gpu_reference as reference;
