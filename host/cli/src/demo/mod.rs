//! `tessera demo`: the medical-imaging mesh in one command. Builds the five products of
//! `products/` (cargo reuses up-to-date builds), starts the server on a data directory, deploys
//! them, pushes the demo data ([`tessera_demo_data`]), waits for the DAG to publish every
//! product, prints what ran and where to look, and serves until Ctrl-C.
//!
//! Re-running on the same directory is safe: deploying the same code again changes nothing,
//! and every push carries an idempotency key made from its content, so the same data is not
//! ingested twice.

mod pipeline;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tessera_server::{AppState, Overrides, ServerConfig};

pub use pipeline::{PRODUCTS, ProductReport, Report, run_pipeline};

use crate::build::Progress;
use crate::client::Client;

/// What `tessera demo` was asked for.
pub struct DemoArgs {
    /// `--data`: the server's data directory (default `./tessera-demo`).
    pub data: Option<PathBuf>,
    /// `--addr` (default 127.0.0.1:8080).
    pub addr: Option<String>,
}

/// The project checkout the CLI was built from: where `products/` and `examples/data/` are.
pub fn project_root() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root.join("products").is_dir() || !root.join("examples/data").is_dir() {
        bail!(
            "the demo builds the products in {}, which is not there; run `tessera demo` from a checkout of the project (cargo run -p tessera-cli -- demo)",
            root.join("products").display()
        );
    }
    Ok(root.canonicalize().unwrap_or(root))
}

/// Builds every demo product and returns the packaged components, in [`PRODUCTS`] order.
pub fn build_products(root: &Path, progress: Progress) -> Result<Vec<PathBuf>> {
    PRODUCTS
        .iter()
        .map(|name| {
            let dir = root.join("products").join(name);
            crate::build::build(&dir, progress)
                .map(|b| b.path)
                .with_context(|| format!("cannot build the demo product {name}"))
        })
        .collect()
}

/// Runs the demo and serves until SIGINT or SIGTERM.
pub fn demo(args: DemoArgs) -> Result<()> {
    let root = project_root()?;
    let data_dir = args.data.unwrap_or_else(|| PathBuf::from("tessera-demo"));
    let mut config = ServerConfig::load(
        None,
        std::env::vars(),
        &Overrides {
            data_dir: Some(data_dir.clone()),
            addr: args.addr,
            flight_addr: None,
        },
    )?;
    // The demo mesh follows the federation's shipped policies.
    config.governance.library = true;
    anstream::eprintln!("building the five products (cargo reuses up-to-date builds)…");
    let components = build_products(&root, Progress::Show)?;
    let data = tessera_demo_data::DemoData::generate(&root.join("examples/data"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = config.addr;
        let state = AppState::open(config)
            .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
        let token = admin_token(&state)?;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr}; is another server using it? (--addr)")
        })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let flight = flight_listener(state.config().flight_addr, addr).await?;
        let flight_addr = flight.local_addr().ok();
        let server = tokio::spawn(tessera_server::serve_with_flight(
            listener,
            Some(flight),
            state.clone(),
            tessera_server::shutdown_signal(),
        ));
        let url = format!("http://{addr}");
        let client = Client::new(&url, Some(token.clone()))?;
        let report = tokio::task::spawn_blocking(move || run_pipeline(&client, &components, &data))
            .await
            .context("the demo pipeline stopped")??;
        anstream::print!("{}", report.render());
        anstream::print!("{}", where_to_look(&url, &token, &data_dir));
        if let Some(flight) = flight_addr {
            anstream::print!("{}", flight_snippet(flight, &token));
        }
        server.await.context("the server stopped")??;
        anstream::eprintln!("stopped; the data stays in {}", data_dir.display());
        Ok(())
    })
}

/// Where the demo serves Arrow Flight: the configured address, else port 8815 beside the HTTP
/// address, else any free port there.
async fn flight_listener(
    configured: Option<std::net::SocketAddr>,
    http: std::net::SocketAddr,
) -> Result<tokio::net::TcpListener> {
    if let Some(addr) = configured {
        return tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for Arrow Flight on {addr}"));
    }
    let preferred = std::net::SocketAddr::new(http.ip(), 8815);
    match tokio::net::TcpListener::bind(preferred).await {
        Ok(listener) => Ok(listener),
        Err(_) => tokio::net::TcpListener::bind(std::net::SocketAddr::new(http.ip(), 0))
            .await
            .with_context(|| format!("cannot listen for Arrow Flight on {}", http.ip())),
    }
}

fn flight_snippet(addr: std::net::SocketAddr, token: &str) -> String {
    format!(
        "\x20 Arrow Flight grpc://{addr}\n\
         \x20   import pyarrow.flight as fl\n\
         \x20   c = fl.connect(\"grpc://{addr}\"); o = fl.FlightCallOptions(headers=[(b\"authorization\", b\"Bearer {token}\")])\n\
         \x20   c.do_get(fl.Ticket(b\"labeled-studies/consensus\"), o).read_pandas()\n"
    )
}

/// An admin token for this demo session (tokens are stored hashed, so each start issues one).
fn admin_token(state: &AppState) -> Result<String> {
    let (token, _) = tessera_server::auth::issue(
        state.store(),
        tessera_server::auth::NewToken {
            role: tessera_store::Role::Admin,
            domain: None,
            grants: Vec::new(),
            description: "tessera demo".into(),
            expires_in: None,
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot issue the demo's admin token: {e}"))?;
    Ok(token)
}

fn where_to_look(url: &str, token: &str, data: &Path) -> String {
    format!(
        "\nWhere to look (data in {data}):\n\
         \x20 web UI       {url}/   (sign in with the admin token below)\n\
         \x20 dashboards   {url}/products/shadow-models\n\
         \x20 catalog API  {url}/v1/products\n\
         \x20 outputs      {url}/v1/products/shadow-models/outputs/evaluation?format=csv\n\
         \x20 queue        {url}/v1/products/active-learning/outputs/queue?format=json\n\
         \x20 metrics      {url}/v1/products/annotator-quality/metrics   and {url}/metrics\n\
         \x20 docs         {url}/v1/products/image-quality/docs\n\
         \x20 API          {url}/v1/openapi.json\n\
         \x20 admin token  {token}\n\
         \x20              (export TESSERA_SERVER={url} TESSERA_TOKEN={token}; tessera products)\n\
         Ctrl-C stops the server.\n",
        data = data.display()
    )
}
