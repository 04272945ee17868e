//! `tessera serve`: the HTTP server (and Arrow Flight, where configured), configured from a file, `TESSERA_*` variables and flags.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tessera_server::{AppState, Overrides, ServerConfig};

/// What `tessera serve` was asked for.
pub struct ServeArgs {
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--addr`.
    pub addr: Option<String>,
    /// `--flight-addr`.
    pub flight_addr: Option<String>,
    /// `--config`.
    pub config: Option<PathBuf>,
}

/// Starts the server and blocks until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs) -> Result<()> {
    let config = ServerConfig::load(
        args.config.as_deref(),
        std::env::vars(),
        &Overrides {
            data_dir: args.data,
            addr: args.addr,
            flight_addr: args.flight_addr,
        },
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = config.addr;
        let data = config.data_dir.clone();
        let state = AppState::open(config)
            .with_context(|| format!("cannot open the data directory {}", data.display()))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}; is another server using it?"))?;
        tracing::info!(%addr, data = %data.display(), "serving");
        anstream::eprintln!(
            "tessera serving on http://{addr} (data in {}); API at http://{addr}/v1/openapi.json",
            data.display()
        );
        let flight = match state.config().flight_addr {
            Some(flight_addr) => {
                let flight = tokio::net::TcpListener::bind(flight_addr)
                    .await
                    .with_context(|| {
                        format!("cannot listen for Arrow Flight on {flight_addr}; is another server using it?")
                    })?;
                anstream::eprintln!("Arrow Flight on grpc://{flight_addr}");
                Some(flight)
            }
            None => None,
        };
        tessera_server::serve_with_flight(
            listener,
            flight,
            state,
            tessera_server::shutdown_signal(),
        )
        .await?;
        Ok(())
    })
}
