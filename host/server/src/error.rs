//! The one error of the server's services: what kind of refusal or fault it is ([`ErrorKind`]),
//! a stable code, what was wrong in words, what to do, and for rejected data the rows and
//! columns. Nothing here knows HTTP: `api::error_shape` maps each kind to a status and the one
//! JSON body, in one place.
//!
//! Client mistakes are refusals that name what was wrong; only host faults are
//! [`ErrorKind::Internal`], and those are logged (without a stack trace) with their context.

use serde::Serialize;
use tessera_store::StoreError;
use utoipa::ToSchema;

/// What kind of error a service met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request or its data is malformed or does not match what is declared.
    Invalid,
    /// No credentials, or ones that are not valid.
    Unauthenticated,
    /// Valid credentials without the permission.
    Forbidden,
    /// Something named does not exist.
    NotFound,
    /// The route does not take the method.
    MethodNotAllowed,
    /// No representation the client accepts.
    NotAcceptable,
    /// The client took too long.
    Timeout,
    /// The request contradicts what is stored.
    Conflict,
    /// The request is larger than allowed.
    TooLarge,
    /// Storing it would pass the product's storage quota.
    QuotaExceeded,
    /// A body in a format the server does not read.
    UnsupportedMediaType,
    /// A byte range outside the data.
    RangeNotSatisfiable,
    /// Well-formed, but refused by a rule (a DAG check, a limit).
    Unprocessable,
    /// The host is at a limit for now; retrying later may work.
    Busy,
    /// The host failed.
    Internal,
}

/// An error of a service.
#[derive(Debug, Clone)]
pub struct ServiceError {
    /// What kind of error.
    pub kind: ErrorKind,
    /// A stable, machine-readable code such as `not_found`.
    pub code: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Row-level problems of rejected data, first ones first.
    pub errors: Vec<DataProblem>,
    /// For a refusal by the federation's policies: each policy and what it said.
    pub violations: Vec<PolicyViolation>,
}

/// One policy's refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PolicyViolation {
    /// The policy's id.
    pub policy: String,
    /// The version evaluated.
    pub version: u32,
    /// What it said.
    pub message: String,
}

/// One problem in rejected data: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DataProblem {
    /// Data row, from 1 (the header of a CSV file is not a row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// Line of the file, from 1, where the format has lines (CSV, NDJSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The offending value, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What is wrong with it.
    pub reason: String,
}

impl ServiceError {
    /// An error of `kind` with a stable `code` (for kinds without a constructor of their own).
    pub fn of(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(kind, code, message)
    }

    fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        ServiceError {
            kind,
            code,
            message: message.into(),
            hint: None,
            errors: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// 422: the federation's policies refuse the action; `violations` says which and why.
    pub fn policy_denied(message: impl Into<String>, violations: Vec<PolicyViolation>) -> Self {
        let mut err = Self::new(ErrorKind::Unprocessable, "policy_denied", message);
        err.violations = violations;
        err
    }

    /// 400: data that does not match the declared schema; `problems` says where.
    pub fn invalid_data(message: impl Into<String>, problems: Vec<DataProblem>) -> Self {
        let mut err = Self::new(ErrorKind::Invalid, "invalid_data", message);
        err.errors = problems;
        err
    }

    /// 415: a body in a format the server does not read.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            message,
        )
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, "bad_request", message)
    }

    /// 400: a query parameter is wrong.
    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::Invalid,
            "bad_parameter",
            format!("query parameter `{name}`: {message}"),
        )
    }

    /// 401: no token, or one the server does not know.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, "unauthorized", message).hint(
            "send `Authorization: Bearer TOKEN`; an operator creates tokens with `tessera token create`",
        )
    }

    /// 403: a valid token without the permission; the message says which is missing.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, "forbidden", message)
    }

    /// 404: something does not exist; `existing` lists what does.
    pub fn not_found(what: impl Into<String>, existing: &[String]) -> Self {
        let err = Self::new(ErrorKind::NotFound, "not_found", what);
        if existing.is_empty() {
            err.hint("nothing of this kind exists yet")
        } else {
            err.hint(format!("these exist: {}", existing.join(", ")))
        }
    }

    /// 406: no format the client accepts can be produced.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotAcceptable, "not_acceptable", message)
    }

    /// 409: the request contradicts what is stored.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, "conflict", message)
    }

    /// 413: the body is larger than the server accepts.
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            ErrorKind::TooLarge,
            "too_large",
            format!(
                "the request body is larger than this server's limit of {}",
                tessera_core::manifest::ByteSize(limit)
            ),
        )
        .hint("ask the operator to raise limits.max_upload, or send less")
    }

    /// 413: storing the request's data would take the product over its storage quota.
    pub fn quota_exceeded(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::QuotaExceeded, "quota_exceeded", message)
            .hint("raise the product's resources.storage, or keep fewer versions with [retention]")
    }

    /// 416: the byte range cannot be served.
    pub fn range_not_satisfiable(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::RangeNotSatisfiable,
            "range_not_satisfiable",
            message,
        )
    }

    /// 422: the upload is well-formed but cannot be deployed.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, code, message)
    }

    /// 408: the client took too long to send its request.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, "request_timeout", message)
            .hint("send the body without long pauses; the limits are the server's [http] settings")
    }

    /// 503: the server is busy; the client may retry soon.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Busy, "busy", message).hint("retry in a few seconds")
    }

    /// 500: the host failed. The message is logged; the client gets a short one.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "host fault while answering a request");
        Self::new(
            ErrorKind::Internal,
            "internal",
            "the server failed to answer; the failure is in its log",
        )
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(message) => ServiceError::not_found(message, &[]),
            StoreError::Conflict(message) => ServiceError::conflict(message),
            StoreError::Io(message) => ServiceError::internal(message),
        }
    }
}

/// Result of a service (and of a handler).
pub type ServiceResult<T> = Result<T, ServiceError>;
