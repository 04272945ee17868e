//! End-to-end tests: real products built from source, run in the real sandbox against real data
//! and the real store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod custom_checks;
mod demo;
mod dicom;
mod dictionaries;
mod faulty;
mod flight;
mod flow;
mod governance;
mod gpu;
mod hostile;
mod lifecycle;
mod majors;
mod openlineage;
mod products;
mod quality;
mod sandbox;
mod server;
mod sharing;
mod uploads;
mod web;

/// Held by the tests that run the whole demo mesh (and a browser), so that two of them never
/// share the machine's cores: each deploys under the federation's policies, whose evaluation
/// has a wall-clock deadline.
pub(crate) static WHOLE_MESH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
