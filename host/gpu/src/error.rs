//! What a GPU call can fail with, in the categories a product sees.

/// A failed GPU call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// A kernel entry point or binding that does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// An argument out of range: sizes that do not match, an invalid shader, workgroup counts
    /// of zero or past the device's limits.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The product did not declare a GPU (`resources.gpu = "none"`).
    #[error("denied: {0}")]
    Denied(String),
    /// A declared limit would be exceeded (`resources.gpu_memory`, a kernel's loop bound).
    #[error("limit: {0}")]
    Limit(String),
    /// The device failed, or the operation needs a GPU this host does not have.
    #[error("gpu: {0}")]
    Gpu(String),
    /// The run's deadline passed while the GPU was working: the run fails as timed out.
    #[error("timeout: {0}")]
    Timeout(String),
}
