//! The `tessera` command's library: everything the binary does, callable from tests.
//!
//! - [`build`]: compile a product crate to a component and embed its manifest.
//! - [`scaffold`]: `tessera new`.
//! - [`local_run`]: `tessera run` against local files in the real sandbox.
//! - [`inspect`]: what a packaged product declares, imports and exports.
//! - [`serve`]: `tessera serve`, the HTTP server.
//! - [`token`]: `tessera token create`, offline.

pub mod build;
pub mod inspect;
pub mod local_run;
pub mod scaffold;
pub mod serve;
pub mod style;
pub mod token;
