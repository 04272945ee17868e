//! Tessera's HTTP server: operators run it, domain developers deploy and run products through
//! it, consumers read published outputs in the format their tools speak.
//!
//! - [`config`]: settings from file, environment and flags, validated at start;
//! - [`state`]: the store, the sandbox and the compiled products every handler shares;
//! - [`api`]: the routes under `/v1`, health probes and the OpenAPI document;
//! - [`encode`]: JSON, NDJSON, CSV, Arrow IPC and Parquet, streamed batch by batch;
//! - [`schedule`]: when runs happen: triggers, debounce, one run per product, cron, retries;
//! - [`runner`]: a run from the queue to atomic publication, with lineage and retention;
//! - [`replay`]: re-running a published version and comparing its outputs;
//! - [`outputs`]: which published data a caller may read, for every protocol that serves it;
//! - [`quality`]: the data tests that stand between a run's outputs and publication;
//! - [`flight`]: Arrow Flight: published outputs as record-batch streams, on a port of its own;
//! - [`freshness`]: how old each product's data is against its SLO;
//! - [`registry`]: deploys and activations (ownership, DAG check, activation as one step), and
//!   the active manifest and owner of each product, as everything else reads them;
//! - [`governance`]: the federation's policies evaluated at every lifecycle event, decision
//!   records, waivers;
//! - [`dag`]: upstream resolution and cycle checks over the products' inputs;
//! - [`ingest`]: data pushed into ingest ports, validated while it streams in;
//! - [`lineage`]: OpenLineage events about runs, sent to a configured endpoint from a bounded
//!   queue;
//! - [`listener`]: connections, client timeouts, and hyper's own refusals in the JSON shape;
//! - [`events`]: what happens, broadcast to Server-Sent Events subscribers;
//! - [`metrics`]: Prometheus metrics and the request-counting middleware;
//! - [`sharing`]: Delta Sharing's shares and what their recipients may read;
//! - [`ids`]: stable UUIDs made from names;
//! - [`auth`]: tokens, roles and access classes;
//! - [`error`]: the one JSON error shape.

// Guest- and client-supplied sizes and offsets never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod api;
pub mod auth;
pub mod body_timeout;
pub mod catalog;
pub mod config;
pub mod dag;
pub mod encode;
pub mod error;
pub mod events;
pub mod flight;
pub mod freshness;
pub mod governance;
pub mod ids;
pub mod ingest;
pub mod lineage;
pub mod listener;
pub mod mesh;
pub mod metrics;
pub mod outputs;
pub mod quality;
pub mod registry;
pub mod replay;
pub mod runner;
pub mod schedule;
pub mod sharing;
pub mod state;
pub mod views;
pub mod web;

use std::future::Future;
use std::time::Duration;

/// The longest a shutdown waits for queued OpenLineage events to be sent.
const LINEAGE_FLUSH_AT_SHUTDOWN: Duration = Duration::from_secs(5);

pub use config::{ConfigError, HttpLimits, Limits, Overrides, ServerConfig};
pub use state::AppState;

/// Serves `state` on `listener` until `shutdown` resolves; then stops accepting and starting
/// queued runs (they stay queued for the next start), lets running ones finish for the
/// configured grace period and marks the rest interrupted (to be retried at the next start).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_flight(listener, None, state, shutdown).await
}

/// [`serve`], with Arrow Flight on `flight` as well (it stops with the HTTP server).
pub async fn serve_with_flight(
    listener: tokio::net::TcpListener,
    flight: Option<tokio::net::TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.start();
    let app = api::router(state.clone()).layer(tower_http::trace::TraceLayer::new_for_http());
    let events = state.events().clone();
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let flight = flight.map(|listener| {
        let mut stop = stop.clone();
        tokio::spawn(flight::serve(listener, state.clone(), async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        }))
    });
    listener::run(listener, app, state.config().http.clone(), async move {
        shutdown.await;
        let _ = stopping.send(true);
        // Followers of the event stream would hold their connections open for ever.
        events.close();
    })
    .await?;
    if let Some(mut flight) = flight {
        // Open Flight streams get the HTTP connections' drain time, then are cut.
        let drain = state.config().http.drain_timeout;
        match tokio::time::timeout(drain, &mut flight).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "the Arrow Flight server failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "the Arrow Flight server stopped"),
            Err(_) => {
                tracing::warn!("Arrow Flight streams still open at shutdown were cut");
                flight.abort();
            }
        }
    }
    state.scheduler().stop();
    let grace = state.config().shutdown_grace;
    let interrupted = state.drain(grace).await;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "runs still executing at shutdown were marked interrupted"
        );
    }
    // The last runs' lineage events (an `ABORT` for each interrupted run) go out if the
    // endpoint takes them soon; the shutdown never waits on it for long.
    let lineage = state.clone();
    let unsent =
        tokio::task::spawn_blocking(move || lineage.lineage().flush(LINEAGE_FLUSH_AT_SHUTDOWN))
            .await
            .unwrap_or(0);
    if unsent > 0 {
        tracing::warn!(
            unsent,
            "OpenLineage events were still unsent when the server stopped"
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
