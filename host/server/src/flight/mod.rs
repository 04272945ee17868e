//! Arrow Flight for consumers: published output ports as Flight streams, for `pyarrow.flight`,
//! ADBC's Flight drivers and the tools built on them (pandas, Polars, DuckDB), beside the HTTP
//! API on a port of its own (`flight_addr`). Access is the API's: the same tokens, the same
//! port classes, the same rule that a version is read under the access it was published with.
//!
//! - [`ticket`]: `product/port[@version][?columns=a,b]`, parsed strictly;
//! - [`service`]: the Flight service (handshake, list, info, schema, `DoGet`);
//! - [`status`]: a service's error as a gRPC status.

pub mod service;
pub mod status;
pub mod ticket;

use std::future::Future;

pub use service::TesseraFlight;

use crate::state::AppState;

/// Calls one connection may have open at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// The longest a call may take to start answering (a handshake waiting for its payload, say).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves Flight on `listener` until `shutdown` resolves; streams still open then end.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let service =
        arrow_flight::flight_service_server::FlightServiceServer::new(TesseraFlight::new(state));
    // Bounds for untrusted clients: streams per connection, the time a call may take to answer
    // (a stream's body is bounded by HTTP/2 flow control, not by this), and pings that close
    // connections whose peer went away.
    tonic::transport::Server::builder()
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .timeout(CALL_TIMEOUT)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .tcp_keepalive(Some(std::time::Duration::from_secs(60)))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
