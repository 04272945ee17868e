//! `tessera:product/metrics`: product-defined gauges, kept per run (the last value wins).

use crate::bindings::tessera::product::metrics::Host;
use crate::state::RunState;

/// Most distinct gauges one run may record.
const MAX_GAUGES: usize = 1_000;

impl Host for RunState {
    fn gauge(&mut self, name: String, value: f64) -> wasmtime::Result<()> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            self.push_log(
                crate::outcome::LogLevel::Warn,
                format!("ignored gauge `{name}`: names are 1-128 letters, digits, `_` or `.`"),
            );
            return Ok(());
        }
        if self.gauges.len() >= MAX_GAUGES && !self.gauges.contains_key(&name) {
            self.push_log(
                crate::outcome::LogLevel::Warn,
                format!("ignored gauge `{name}`: a run may record at most {MAX_GAUGES} gauges"),
            );
            return Ok(());
        }
        self.gauges.insert(name, value);
        Ok(())
    }
}
