//! The per-run memory limiter: enforces the manifest's memory limit (growth past it traps) and
//! records the peak, which every run reports.

use wasmtime::ResourceLimiter;

/// Limits linear memory growth and remembers how far a run got.
pub(crate) struct MemoryLimiter {
    pub limit: usize,
    pub peak: usize,
    /// The size a denied growth asked for, if any.
    pub exceeded: Option<usize>,
}

impl MemoryLimiter {
    pub fn new(limit: usize) -> Self {
        MemoryLimiter {
            limit,
            peak: 0,
            exceeded: None,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit || maximum.is_some_and(|m| desired > m) {
            self.exceeded = Some(desired);
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded: the product tried to grow to {desired} bytes",
                self.limit
            ));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        8
    }
}
