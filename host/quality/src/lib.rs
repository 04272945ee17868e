//! Data tests: the declarative checks of a product's output ports, evaluated natively on the
//! rows a run wrote, before anything is published.
//!
//! [`PortChecks`] takes one port's checks, sees the port's batches one by one (a single pass,
//! whatever the size), and ends with one [`CheckResult`] per check: passed or not, how many
//! rows were looked at and how many failed, the observed figure for table-level checks, a
//! message, and the first failing rows with their row numbers. Row-level checks honour `mostly`
//! (the share of looked-at rows that must pass); `severity` says whether a failure blocks
//! publication (`error`) or is reported (`warn`).
//!
//! [`StatsBuilder`] computes the column statistics of every published version in the same
//! single pass: counts, nulls, distinct values, min, max, mean, standard deviation, quantiles,
//! histograms and top values (see [`stats`] for which figures are exact).

// Guest- and client-supplied sizes and offsets never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod checks;
mod result;
mod sink;
mod sketch;
pub mod stats;
mod values;

pub use checks::{CheckEnv, PortChecks, check_source, reference_key};
pub use result::{CheckResult, FailingRow, SAMPLE_ROWS, blocking, sample_rows};
pub use sink::{StatsHandle, StatsSink};
pub use stats::{ColumnStats, PortStats, StatsBuilder};
pub use values::{numbers, texts};
