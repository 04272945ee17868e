//! Tessera's shared model, used by the runtime, the storage, the server and the CLI.
//!
//! - [`manifest`]: the `product.toml` a data product declares itself with, parsed strictly.
//! - [`schema`]: column types and schemas, and their mapping to Apache Arrow.
//! - [`conform`]: checking a batch of rows against a declared schema.
//! - [`custom_checks`]: what the host accepts of the checks a product computes itself.
//! - [`formats`]: reading and writing CSV, NDJSON, Parquet and Arrow IPC.
//! - [`package`]: the manifest and README embedded in a product component.
//! - [`ports`]: which ports a run may open.
//! - [`io`]: the batch source and sink traits that connect data to a run.
//! - [`failure`]: why a run failed, as the sandbox, the store and the API name it.
//! - [`quality`]: the results of data tests and column statistics, as stored and served.
//!
//! Nothing here depends on wasmtime, sled or a web framework.

// Guest- and client-supplied sizes and offsets never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod conform;
pub mod custom_checks;
pub mod failure;
pub mod formats;
pub mod io;
pub mod manifest;
pub mod package;
mod parquet_reader;
pub mod ports;
pub mod quality;
pub mod schema;

pub use arrow;
