//! What a run produced: its status and reason, timings, peak memory, log, gauges and rows per
//! output port. Plain data, serializable, free of wasmtime types.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Severity of a captured log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Debugging.
    Debug,
    /// Progress.
    Info,
    /// Handled surprises.
    Warn,
    /// Failures.
    Error,
    /// A line the product printed to standard output.
    Stdout,
    /// A line the product printed to standard error.
    Stderr,
}

impl LogLevel {
    /// The lowercase name (`info`, `stdout`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Stdout => "stdout",
            LogLevel::Stderr => "stderr",
        }
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Severity or stream.
    pub level: LogLevel,
    /// The text.
    pub message: String,
    /// Milliseconds since the run started.
    pub at_ms: u64,
}

pub use tessera_core::failure::FailureKind;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RunStatus {
    /// `run` returned `Ok` and every output was stored.
    Succeeded,
    /// The run failed; its outputs must not be published.
    Failed {
        /// The category.
        kind: FailureKind,
        /// What happened, in words.
        reason: String,
    },
}

/// Rows and bytes written to one output port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSummary {
    /// Rows written.
    pub rows: u64,
    /// Bytes stored (0 where the sink does not know).
    pub bytes: u64,
}

/// Everything a finished run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// Time from the request to `run` being entered (instantiation).
    pub start_latency: Duration,
    /// Wall time of the whole run, instantiation included.
    pub duration: Duration,
    /// CPU time the run's thread used (the product's code and the host's work for it), where
    /// the platform reports it.
    #[serde(default)]
    pub cpu_time: Option<Duration>,
    /// Largest linear memory size the product reached, in bytes.
    pub peak_memory: u64,
    /// Captured log: `log` calls, then standard output and error.
    pub log: Vec<LogLine>,
    /// Log lines dropped after the per-run cap.
    pub dropped_log_lines: u64,
    /// Bytes of log messages not kept: dropped lines and what cutting long lines removed.
    #[serde(default)]
    pub dropped_log_bytes: u64,
    /// Product-defined gauges.
    pub gauges: BTreeMap<String, f64>,
    /// Per output port: rows and bytes (only complete for succeeded runs).
    pub outputs: BTreeMap<String, PortSummary>,
    /// The run's GPU use, when it made any GPU call.
    #[serde(default)]
    pub gpu: Option<GpuUsage>,
}

/// What a run did with the GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuUsage {
    /// `gpu` (the host's adapter) or `cpu` (the CPU reference of the built-in operations).
    pub path: String,
    /// The adapter's name, on the GPU path.
    pub adapter: Option<String>,
    /// Time the GPU worked for the run: from each submission to its completion.
    pub gpu_time: Duration,
    /// Built-in operations and kernel dispatches run.
    pub dispatches: u64,
    /// The most bytes of GPU buffers the run held at once.
    pub peak_memory: u64,
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    /// The failure reason, if the run failed.
    pub fn failure(&self) -> Option<(FailureKind, &str)> {
        match &self.status {
            RunStatus::Succeeded => None,
            RunStatus::Failed { kind, reason } => Some((*kind, reason)),
        }
    }
}

/// One custom check's result, as the product's `check` export reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomCheck {
    /// The output port it tests.
    pub port: String,
    /// The check's name, unique per port.
    pub name: String,
    /// `error` (a failure blocks publication) or `warn`.
    pub severity: tessera_core::manifest::Severity,
    /// Whether it passed.
    pub passed: bool,
    /// Rows looked at.
    pub evaluated: u64,
    /// Rows that failed.
    pub failed: u64,
    /// Some failing rows, as indices in the port (from 0).
    pub failing_rows: Vec<u64>,
    /// What was found, in words.
    pub message: String,
}

/// What a call of the product's `check` export reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// `Succeeded` when `check` returned results (passed or not); `Failed` when it returned an
    /// error, trapped, ran out of time or memory, or reported malformed results.
    pub status: RunStatus,
    /// The results, in the order reported (empty unless `status` is `Succeeded`).
    pub checks: Vec<CustomCheck>,
    /// Wall time, instantiation included.
    pub duration: Duration,
    /// CPU time of the checking thread, where the platform reports it.
    #[serde(default)]
    pub cpu_time: Option<Duration>,
    /// Largest linear memory size reached, in bytes.
    pub peak_memory: u64,
    /// Captured log of the check call.
    pub log: Vec<LogLine>,
}
