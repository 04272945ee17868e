//! One file per WIT interface the host implements, each on [`crate::state::RunState`].
//!
//! Every function returns `wasmtime::Result<...>`: an `Err` there traps (a host fault or an
//! exceeded limit); an inner `Err` is a `tessera:product/types.error` the product sees.

pub(crate) mod gpu;
pub(crate) mod inputs;
pub(crate) mod log;
pub(crate) mod metrics;
pub(crate) mod outputs;
pub(crate) mod parameters;

use crate::bindings::Error;
use crate::state::RunState;

impl crate::bindings::tessera::product::types::Host for RunState {}

pub(crate) fn denied(message: String) -> Error {
    Error::Denied(message)
}
