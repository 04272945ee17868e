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

/// Serves Flight on `listener` until `shutdown` resolves; streams still open then end.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let service =
        arrow_flight::flight_service_server::FlightServiceServer::new(TesseraFlight::new(state));
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
