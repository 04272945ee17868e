//! The `tessera` command's library: everything the binary does, callable from tests.
//!
//! - [`build`]: compile a product crate to a component and embed its manifest.
//! - [`scaffold`]: `tessera new`.
//! - [`local_run`]: `tessera run` against local files in the real sandbox.
//! - [`inspect`]: what a packaged product declares, imports and exports.
//! - [`quality_report`]: check results and column statistics as the CLI prints them.
//! - [`serve`]: `tessera serve`, the HTTP server.
//! - [`demo`]: `tessera demo`, the medical-imaging mesh with its data in one command.
//! - [`client`], [`remote`]: the commands that talk to a server.
//! - [`token`]: `tessera token create`, offline.
//! - [`share`]: `tessera share`, Delta Sharing shares and recipients' profiles.
//! - [`policy`]: `tessera policy` and `tessera waiver`, and `tessera policy test` offline.

pub mod build;
pub mod client;
pub mod demo;
pub mod inspect;
pub mod local_run;
pub mod policy;
pub mod quality_report;
pub mod remote;
pub mod scaffold;
pub mod serve;
pub mod share;
pub mod style;
pub mod timed;
pub mod token;
