//! Every error answer in the one JSON shape, `{"error": {"code", "message", "hint"}}`, and the
//! one place where a service's [`ErrorKind`] becomes an HTTP status.
//!
//! Handlers answer with [`ServiceError`], but some answers come from the framework before or
//! around a handler (a 405 for a method a route does
//! not take, an extractor's rejection of a path that does not decode): this middleware gives
//! any error response without a JSON body the shape, keeping its status and its text as the
//! message. hyper's own answers to requests it cannot parse are handled in
//! [`crate::listener`].

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{DataProblem, ErrorKind, PolicyViolation, ServiceError};

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
    /// For a refusal by policies: each policy's id, version and message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<PolicyViolation>,
}

/// The HTTP status of each kind of error.
pub fn status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge | ErrorKind::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error for an answer the framework made with `status` (the code is the status's name in
/// snake case, such as `method_not_allowed`).
pub fn framework_error(status: StatusCode, message: impl Into<String>) -> ServiceError {
    let (kind, code) = match status {
        StatusCode::NOT_FOUND => (ErrorKind::NotFound, "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => (ErrorKind::MethodNotAllowed, "method_not_allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorKind::TooLarge, "too_large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (ErrorKind::UnsupportedMediaType, "unsupported_media_type")
        }
        StatusCode::UNPROCESSABLE_ENTITY => (ErrorKind::Unprocessable, "unprocessable"),
        StatusCode::REQUEST_TIMEOUT => (ErrorKind::Timeout, "request_timeout"),
        s if s.is_server_error() => (ErrorKind::Internal, "internal"),
        _ => (ErrorKind::Invalid, "bad_request"),
    };
    ServiceError::of(kind, code, message)
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = status(self.kind);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                hint: self.hint,
                errors: self.errors,
                violations: self.violations,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if self.kind == ErrorKind::Unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\""),
            );
        }
        response
    }
}

/// The longest framework message kept, in bytes.
const MAX_MESSAGE: usize = 1024;

/// The middleware.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // JSON errors are shaped already; the web UI's pages answer errors as HTML pages.
    if !(status.is_client_error() || status.is_server_error())
        || is_json(&response)
        || is_html(&response)
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = match axum::body::to_bytes(response.into_body(), MAX_MESSAGE * 4).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let mut error = shaped(status, &text, allow.as_ref());
    if let Some(allow) = allow {
        error.headers_mut().insert(header::ALLOW, allow);
    }
    error
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn is_html(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

fn shaped(status: StatusCode, text: &str, allow: Option<&HeaderValue>) -> Response {
    let mut message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text.to_string()
    };
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    let mut error = framework_error(status, message);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        error.message = format!(
            "this route does not take this method{}",
            allow
                .and_then(|a| a.to_str().ok())
                .map(|a| format!("; it takes {a}"))
                .unwrap_or_default()
        );
        error = error.hint("the API is described at /v1/openapi.json");
    }
    error.into_response()
}
