//! `tessera:product/log`: product log lines go to `tracing` (with product, version and run as
//! fields) and into the run's captured log, within the run's budgets ([`crate::log_budget`]).

use crate::bindings::tessera::product::log::{Host, Level};
use crate::outcome::LogLevel;
use crate::state::RunState;

impl Host for RunState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let admitted = self.log_budget.admit(&message);
        drop(message);
        if !admitted.pause.is_zero() {
            // The run's own thread waits; the run's deadline still applies when it returns.
            std::thread::sleep(admitted.pause);
        }
        let product = &self.manifest.product.name;
        let version = self.manifest.product.version.to_string();
        let run = &self.run_id;
        if admitted.first_untraced {
            tracing::warn!(
                target: "tessera::product", %product, %version, %run,
                "the product logs faster than the host passes on; further lines stay in the \
                 run's log only"
            );
        }
        let shown = admitted
            .kept
            .as_deref()
            .unwrap_or("[line past the run's log budget]");
        if admitted.trace {
            match level {
                Level::Trace => {
                    tracing::trace!(target: "tessera::product", %product, %version, %run, "{shown}")
                }
                Level::Debug => {
                    tracing::debug!(target: "tessera::product", %product, %version, %run, "{shown}")
                }
                Level::Info => {
                    tracing::info!(target: "tessera::product", %product, %version, %run, "{shown}")
                }
                Level::Warn => {
                    tracing::warn!(target: "tessera::product", %product, %version, %run, "{shown}")
                }
                Level::Error => {
                    tracing::error!(target: "tessera::product", %product, %version, %run, "{shown}")
                }
            }
        }
        if let Some(kept) = admitted.kept {
            let level = match level {
                Level::Trace => LogLevel::Trace,
                Level::Debug => LogLevel::Debug,
                Level::Info => LogLevel::Info,
                Level::Warn => LogLevel::Warn,
                Level::Error => LogLevel::Error,
            };
            self.push_log(level, kept);
        }
        Ok(())
    }
}
