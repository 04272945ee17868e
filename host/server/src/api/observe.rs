//! The request side of Prometheus: a middleware that counts and times every request, and
//! `GET /metrics`.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Middleware: counts every request by method, matched route and status, and times it to the
/// response head. The thread that serves it is one runs yield to (see
/// [`tessera_runtime::Foreground`]).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.foreground().register_current_thread();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let began = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics().request(
        method,
        route,
        response.status().as_u16(),
        began.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    let body = state.metrics().render();
    Response::builder()
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}
