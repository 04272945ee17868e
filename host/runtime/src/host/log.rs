//! `tessera:product/log`: product log lines go to `tracing` (with product, version and run as
//! fields) and into the run's captured log.

use crate::bindings::tessera::product::log::{Host, Level};
use crate::outcome::LogLevel;
use crate::state::RunState;

/// Longest log line kept, in bytes; longer lines are cut.
const MAX_LINE: usize = 8 * 1024;

impl Host for RunState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [cut]");
        }
        let product = &self.manifest.product.name;
        let version = self.manifest.product.version.to_string();
        let run = &self.run_id;
        let level = match level {
            Level::Trace => {
                tracing::trace!(target: "tessera::product", %product, %version, %run, "{message}");
                LogLevel::Trace
            }
            Level::Debug => {
                tracing::debug!(target: "tessera::product", %product, %version, %run, "{message}");
                LogLevel::Debug
            }
            Level::Info => {
                tracing::info!(target: "tessera::product", %product, %version, %run, "{message}");
                LogLevel::Info
            }
            Level::Warn => {
                tracing::warn!(target: "tessera::product", %product, %version, %run, "{message}");
                LogLevel::Warn
            }
            Level::Error => {
                tracing::error!(target: "tessera::product", %product, %version, %run, "{message}");
                LogLevel::Error
            }
        };
        self.push_log(level, message);
        Ok(())
    }
}
