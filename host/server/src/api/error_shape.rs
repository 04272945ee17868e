//! Every error answer in the one JSON shape. Handlers answer with [`ApiError`], but some
//! answers come from the framework before or around a handler (a 405 for a method a route does
//! not take, an extractor's rejection of a path that does not decode): this middleware gives
//! any error response without a JSON body the shape, keeping its status and its text as the
//! message. hyper's own answers to requests it cannot parse are handled in
//! [`crate::listener`].

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The longest framework message kept, in bytes.
const MAX_MESSAGE: usize = 1024;

/// The middleware.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
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
    let mut error = ApiError::from_status(status, message);
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
