//! The API's one error shape: `{"error": {"code", "message", "hint"}}` with the right status.
//!
//! Client mistakes are 4xx with a message that names what was wrong; only host faults are 5xx,
//! and those are logged (without a stack trace) with the request's context.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_store::StoreError;
use utoipa::ToSchema;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code such as `not_found`.
    pub code: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Row-level problems of rejected data, first ones first.
    pub errors: Vec<DataProblem>,
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

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The fields of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// For rejected data: the first problems, by row and column.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<DataProblem>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: None,
            errors: Vec::new(),
        }
    }

    /// 400: data that does not match the declared schema; `problems` says where.
    pub fn invalid_data(message: impl Into<String>, problems: Vec<DataProblem>) -> Self {
        let mut err = Self::new(StatusCode::BAD_REQUEST, "invalid_data", message);
        err.errors = problems;
        err
    }

    /// 415: a body in a format the server does not read.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400: a query parameter is wrong.
    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("query parameter `{name}`: {message}"),
        )
    }

    /// 401: no token, or one the server does not know.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message).hint(
            "send `Authorization: Bearer TOKEN`; an operator creates tokens with `tessera token create`",
        )
    }

    /// 403: a valid token without the permission; the message says which is missing.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: something does not exist; `existing` lists what does.
    pub fn not_found(what: impl Into<String>, existing: &[String]) -> Self {
        let err = Self::new(StatusCode::NOT_FOUND, "not_found", what);
        if existing.is_empty() {
            err.hint("nothing of this kind exists yet")
        } else {
            err.hint(format!("these exist: {}", existing.join(", ")))
        }
    }

    /// 406: no format the client accepts can be produced.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", message)
    }

    /// 409: the request contradicts what is stored.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413: the body is larger than the server accepts.
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
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
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", message)
            .hint("raise the product's resources.storage, or keep fewer versions with [retention]")
    }

    /// 416: the byte range cannot be served.
    pub fn range_not_satisfiable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            message,
        )
    }

    /// 422: the upload is well-formed but cannot be deployed.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 408: the client took too long to send its request.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
            .hint("send the body without long pauses; the limits are the server's [http] settings")
    }

    /// 503: the server is busy; the client may retry soon.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message).hint("retry in a few seconds")
    }

    /// Any status with a message (for answers the framework made): the code is the status's
    /// name in snake case, such as `method_not_allowed`.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            s if s.is_server_error() => "internal",
            _ => "error",
        };
        Self::new(status, code, message)
    }

    /// 500: the host failed. The message is logged; the client gets a short one.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "host fault while answering a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; the failure is in its log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(message) => ApiError::not_found(message, &[]),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::Io(message) => ApiError::internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                hint: self.hint,
                errors: self.errors,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"tessera\""),
            );
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
