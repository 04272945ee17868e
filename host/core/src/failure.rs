//! Why a run failed: one list of failure kinds, shared by the sandbox that detects them, the
//! store that records them and the API that reports them (by their kebab-case names).

use serde::{Deserialize, Serialize};

/// Why a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The product's `run` returned an error.
    ProductError,
    /// The product panicked.
    Panic,
    /// The product ran past its timeout.
    Timeout,
    /// The product tried to use more memory than it declared.
    OutOfMemory,
    /// The product's wasm stack overflowed (usually unbounded recursion).
    StackOverflow,
    /// Any other trap (unreachable, out-of-bounds access, ...).
    Trap,
    /// A batch broke its port's declared schema.
    SchemaViolation,
    /// Input data could not be read (a malformed file, a row that breaks the port's schema).
    InputData,
    /// The host failed (storage, I/O); not the product's fault.
    Host,
    /// The product requires a GPU (`resources.gpu = "required"`) and this host has none.
    GpuUnavailable,
    /// The product held more host resources at once (open readers, writers, GPU buffers and
    /// kernels) than a run may.
    ResourceLimit,
    /// Publishing would have taken the product over its storage quota (`resources.storage`).
    Quota,
}

impl FailureKind {
    /// The kebab-case name (`timeout`, `out-of-memory`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::ProductError => "product-error",
            FailureKind::Panic => "panic",
            FailureKind::Timeout => "timeout",
            FailureKind::OutOfMemory => "out-of-memory",
            FailureKind::StackOverflow => "stack-overflow",
            FailureKind::Trap => "trap",
            FailureKind::SchemaViolation => "schema-violation",
            FailureKind::InputData => "input-data",
            FailureKind::Host => "host",
            FailureKind::GpuUnavailable => "gpu-unavailable",
            FailureKind::ResourceLimit => "resource-limit",
            FailureKind::Quota => "quota",
        }
    }

    /// Whether the host, not the product, failed the run: such a run is retried.
    pub fn is_host_fault(self) -> bool {
        self == FailureKind::Host
    }
}
