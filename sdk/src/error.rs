//! The error type of product code, mirroring the WIT `error` variant.

use std::fmt;

/// What went wrong in a product. The host sees the kind and the message.
///
/// ```
/// use tessera_sdk::Error;
/// let e = Error::invalid("agreement must lie in 0..1");
/// assert_eq!(e.to_string(), "invalid: agreement must lie in 0..1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A port, column or resource that does not exist.
    NotFound(String),
    /// Data that breaks a schema, or an argument out of range.
    Invalid(String),
    /// A port or resource the product did not declare.
    Denied(String),
    /// A declared limit would be exceeded.
    Limit(String),
    /// A GPU operation failed.
    Gpu(String),
    /// Anything else.
    Internal(String),
}

impl Error {
    /// An [`Error::Invalid`] with this message.
    ///
    /// ```
    /// let e = tessera_sdk::Error::invalid("bad row");
    /// assert!(matches!(e, tessera_sdk::Error::Invalid(_)));
    /// ```
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// An [`Error::NotFound`] with this message.
    ///
    /// ```
    /// let e = tessera_sdk::Error::not_found("no such column");
    /// assert!(matches!(e, tessera_sdk::Error::NotFound(_)));
    /// ```
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound(message.into())
    }

    /// An [`Error::Internal`] with this message.
    ///
    /// ```
    /// let e = tessera_sdk::Error::internal("unexpected state");
    /// assert!(matches!(e, tessera_sdk::Error::Internal(_)));
    /// ```
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// The message without the kind.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Error::invalid("x").message(), "x");
    /// ```
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::Invalid(m)
            | Error::Denied(m)
            | Error::Limit(m)
            | Error::Gpu(m)
            | Error::Internal(m) => m,
        }
    }

    /// The kind, as the WIT variant names it.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Error::not_found("x").kind(), "not-found");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not-found",
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Limit(_) => "limit",
            Error::Gpu(_) => "gpu",
            Error::Internal(_) => "internal",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Error {}

impl From<std::fmt::Error> for Error {
    fn from(e: std::fmt::Error) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<std::num::ParseFloatError> for Error {
    fn from(e: std::num::ParseFloatError) -> Self {
        Error::Invalid(e.to_string())
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
