//! End-to-end tests: real products built from source, run in the real sandbox against real data
//! and the real store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod custom_checks;
mod demo;
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
