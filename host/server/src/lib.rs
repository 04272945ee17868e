//! Tessera's HTTP server: operators run it, domain developers deploy and run products through
//! it, consumers read published outputs in the format their tools speak.
//!
//! - [`config`]: settings from file, environment and flags, validated at start;
//! - [`state`]: the store, the sandbox and the compiled products every handler shares;
//! - [`api`]: the routes under `/v1`, health probes and the OpenAPI document;
//! - [`encode`]: JSON, NDJSON, CSV, Arrow IPC and Parquet, streamed batch by batch;
//! - [`runner`]: a run from trigger to atomic publication;
//! - [`events`]: what happens, broadcast to Server-Sent Events subscribers;
//! - [`metrics`]: Prometheus metrics and the request-counting middleware;
//! - [`auth`]: tokens, roles and access classes;
//! - [`error`]: the one JSON error shape.

pub mod api;
pub mod auth;
pub mod config;
pub mod encode;
pub mod error;
pub mod events;
pub mod metrics;
pub mod runner;
pub mod state;

use std::future::Future;

pub use config::{ConfigError, Limits, Overrides, ServerConfig};
pub use state::AppState;

/// Serves `state` on `listener` until `shutdown` resolves; then stops accepting, lets runs
/// finish for the configured grace period and marks the rest interrupted.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::router(state.clone()).layer(tower_http::trace::TraceLayer::new_for_http());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    let grace = state.config().shutdown_grace;
    let interrupted = state.drain(grace).await;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "runs still executing at shutdown were marked interrupted"
        );
    }
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new requests; waiting for runs to finish");
}
