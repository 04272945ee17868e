//! `tessera`: scaffold, build, run and inspect Tessera data products.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tessera_cli::build::{self, Progress};
use tessera_cli::local_run::{self, LocalRun};
use tessera_cli::style::{self, BAD, BOLD, DIM, GOOD, NAME, WARN};
use tessera_cli::{inspect, quality_report, remote, scaffold};
use tessera_core::formats::Format;
use tessera_core::manifest::Manifest;
use tessera_runtime::{LogLevel, RunStatus};

/// Tessera: self-serve data products as WebAssembly components.
#[derive(Parser)]
#[command(name = "tessera", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new product crate that builds and runs out of the box.
    New {
        /// Product name, kebab-case (e.g. `scan-quality`).
        name: String,
        /// Directory to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The owning domain written into product.toml.
        #[arg(long, default_value = "examples")]
        domain: String,
    },
    /// Build a product to a WebAssembly component with its manifest embedded.
    Build {
        /// The product directory (with Cargo.toml and product.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run a product locally in the sandbox, on local files.
    Run {
        /// A product directory (built first) or a packaged .wasm file.
        #[arg(default_value = ".")]
        target: PathBuf,
        /// Input data as PORT=FILE (CSV, NDJSON, Parquet or Arrow IPC); repeat for each port.
        #[arg(long = "input", short = 'i', value_name = "PORT=FILE", value_parser = local_run::parse_input)]
        inputs: Vec<(String, PathBuf)>,
        /// Directory for the outputs, one file per port.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Format of the output files.
        #[arg(long, default_value = "csv", value_parser = ["csv", "ndjson", "parquet", "arrow"])]
        format: String,
        /// Replaces a parameter of the manifest for this run, as NAME=VALUE (of the declared
        /// kind); repeat for each.
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", value_parser = local_run::parse_param)]
        params: Vec<(String, String)>,
    },
    /// Show a packaged product's manifest, imports and exports.
    Inspect {
        /// The packaged .wasm file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Start a server with the five medical-imaging demo products and their data, and serve
    /// them until Ctrl-C (safe to re-run on the same directory).
    Demo {
        /// Data directory (default: ./tessera-demo).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on (default: 127.0.0.1:8080, or TESSERA_ADDR).
        #[arg(long)]
        addr: Option<String>,
    },
    /// Serve the mesh over HTTP: deploy, catalog, outputs, runs.
    Serve {
        /// Data directory (default: ./tessera-data, or TESSERA_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on (default: 127.0.0.1:8080, or TESSERA_ADDR).
        #[arg(long)]
        addr: Option<String>,
        /// Address for Arrow Flight (gRPC) readers (default: none, or TESSERA_FLIGHT_ADDR).
        #[arg(long)]
        flight_addr: Option<String>,
        /// A tessera.toml with server settings and limits.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Deploy a product to a server (a directory is built first).
    Deploy {
        /// A product directory or a packaged .wasm file.
        #[arg(default_value = ".")]
        target: PathBuf,
        /// Keep the active version; only upload this one.
        #[arg(long)]
        no_activate: bool,
        /// When this version replaces a major that consumers pin (`product/port@MAJOR`), keep
        /// that major running for them this long (e.g. 90d).
        #[arg(long, value_name = "DURATION", value_parser = tessera_core::manifest::units::Span::parse)]
        deprecate_after: Option<tessera_core::manifest::units::Span>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Push a data file (CSV, NDJSON, Arrow IPC or Parquet) into a product's ingest port.
    Ingest {
        /// PRODUCT/PORT, e.g. labeled-studies/annotations.
        target: String,
        /// The data file; its extension names the format unless --format does.
        file: PathBuf,
        /// csv, ndjson, arrow or parquet.
        #[arg(long)]
        format: Option<String>,
        /// Make the file the port's whole data instead of appending it.
        #[arg(long)]
        replace: bool,
        /// Sending the same key again changes nothing (safe retries).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Wait for the run the ingest triggers; exit non-zero if it does not succeed.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the products on a server.
    Products {
        /// Only this domain.
        #[arg(long)]
        domain: Option<String>,
        /// Only this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Free-text search.
        #[arg(long, short)]
        query: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a product: version, status, last run, data version, output ports.
    Status {
        /// Product name.
        product: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run a product on the server now.
    Trigger {
        /// Product name.
        product: String,
        /// Instead of a new run, re-run a published version on the inputs it read and compare
        /// its outputs: PORT@VERSION.
        #[arg(long, value_name = "PORT@VERSION")]
        replay: Option<String>,
        /// Wait for the run to end; exit non-zero if it fails.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a product's runs, newest first.
    Runs {
        /// Product name.
        product: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a run with its captured log.
    Logs {
        /// Run id.
        run: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Download an output port.
    Get {
        /// PRODUCT/PORT.
        target: String,
        /// json, ndjson, csv, arrow or parquet.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Delta Sharing: shares of output ports, and recipients' profiles (admin token).
    Share {
        #[command(subcommand)]
        command: ShareCommand,
    },
    /// The federation's policies: list, add, show, test offline, and the decisions they made.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Waivers: exceptions to one policy for one product, until they expire (governance role).
    Waiver {
        #[command(subcommand)]
        command: WaiverCommand,
    },
    /// Embed a manifest (and README) into a component built another way (e.g. `cargo component build`).
    Package {
        /// The component.
        component: PathBuf,
        /// The product.toml to embed.
        #[arg(long, default_value = "product.toml")]
        manifest: PathBuf,
        /// A README to embed.
        #[arg(long)]
        readme: Option<PathBuf>,
        /// Where to write the packaged product (default: NAME.tessera.wasm beside the component).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Where the server is and how to talk to it.
#[derive(clap::Args)]
struct Remote {
    /// The server's URL.
    #[arg(long, env = "TESSERA_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token.
    #[arg(long, env = "TESSERA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl Remote {
    fn client(&self) -> Result<tessera_cli::client::Client> {
        tessera_cli::client::Client::new(&self.server, self.token.clone())
    }
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// List the policies (newest version of each).
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Add a policy (or its next version) from a Rego file whose `violation` rule is a set of
    /// messages. Global policies need a governance token; a domain's owners add its policies.
    Add {
        /// The Rego file (its stem is the id unless --id is given).
        #[arg(required_unless_present = "library")]
        file: Option<PathBuf>,
        /// Add every policy of the library shipped with the host instead.
        #[arg(long, conflicts_with = "file")]
        library: bool,
        /// The policy's id.
        #[arg(long)]
        id: Option<String>,
        /// What it asks for.
        #[arg(long, default_value = "")]
        description: String,
        /// Make it a policy of this domain (default: global).
        #[arg(long)]
        domain: Option<String>,
        /// Events it applies to: deploy, activate, publish, grant, ingest (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "deploy,activate")]
        events: Vec<String>,
        /// deny (refuses) or warn (reports).
        #[arg(long, default_value = "deny")]
        effect: String,
        /// Retire the policy: this version is kept and applies nowhere.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show every version of a policy, and its Rego.
    Show {
        /// The policy's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Evaluate policies offline against a product.toml, as the server would at deploy; exits
    /// non-zero when one refuses.
    Test {
        /// Rego files, then the product.toml last.
        #[arg(required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Also the library shipped with the host.
        #[arg(long)]
        library: bool,
        /// The active version's product.toml, to diff the contract against.
        #[arg(long)]
        against: Option<PathBuf>,
        /// The event to evaluate at.
        #[arg(long, default_value = "deploy", value_parser = parse_event)]
        event: tessera_store::PolicyEvent,
    },
    /// Decision records, newest first: mesh-wide, or one product's.
    Decisions {
        /// Only this product's.
        #[arg(long)]
        product: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum WaiverCommand {
    /// Waive one policy for one product until it expires.
    Grant {
        /// The policy.
        #[arg(long)]
        policy: String,
        /// The product.
        #[arg(long)]
        product: String,
        /// Why; recorded in every decision that uses the waiver.
        #[arg(long)]
        reason: String,
        /// How long: 30d, 12h (at most 366d).
        #[arg(long, default_value = "30d")]
        expires_in: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the waivers.
    List {
        #[command(flatten)]
        remote: Remote,
    },
}

fn parse_event(text: &str) -> Result<tessera_store::PolicyEvent, String> {
    tessera_store::PolicyEvent::parse(text).ok_or_else(|| {
        format!("`{text}` is not an event; use deploy, activate, publish, grant or ingest")
    })
}

#[derive(Subcommand)]
enum ShareCommand {
    /// Create a share of output ports (or replace the tables of the share of that name).
    Create {
        /// The share's name (lower-case letters, digits, `-` and `_`).
        name: String,
        /// An output port to share, as PRODUCT/PORT; repeat for more.
        #[arg(long = "table", value_name = "PRODUCT/PORT", required = true)]
        tables: Vec<String>,
        /// What the share is for.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Grant a share to an existing token, by its id.
    Grant {
        /// The share.
        name: String,
        /// The token's id, as `tessera token list` shows it.
        #[arg(long)]
        token: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Issue a recipient's token for a share and write the profile file its Delta Sharing
    /// client reads.
    Profile {
        /// The share.
        name: String,
        /// Where to write the profile (owner-only; it holds the token); printed if left out.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// How long the recipient's token is accepted: 90d, 12h (default: until revoked).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the shares, their tables and the tokens they are granted to.
    List {
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token in a data directory (with the server stopped) and print it once.
    Create {
        /// admin (everything), owner (one domain), reader, or governance (the federation).
        #[arg(long, value_parser = tessera_cli::token::parse_role)]
        role: tessera_store::Role,
        /// The domain an owner owns, or a reader belongs to.
        #[arg(long)]
        domain: Option<String>,
        /// A restricted port the token may read, as PRODUCT/PORT; repeat for more.
        #[arg(long = "grant", value_name = "PRODUCT/PORT")]
        grants: Vec<String>,
        /// What the token is for.
        #[arg(long, default_value = "")]
        description: String,
        /// How long the token is accepted: 90d, 12h, 30m, 45s (default: until revoked).
        #[arg(long, value_name = "DURATION", value_parser = parse_span)]
        expires_in: Option<std::time::Duration>,
        /// The server's data directory.
        #[arg(long, env = "TESSERA_DATA", default_value = "tessera-data")]
        data: PathBuf,
    },
    /// List a server's tokens (ids, roles, domains, expiry; never secrets). Needs an admin token.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token by its id: the server refuses it from the next request on. Needs an
    /// admin token.
    Revoke {
        /// The token's id, as `tessera token list` shows it.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    tessera_core::manifest::units::Span::parse(text).map(|s| s.duration())
}

fn run_share(command: ShareCommand) -> Result<()> {
    use tessera_cli::share;
    match command {
        ShareCommand::Create {
            name,
            tables,
            description,
            remote,
        } => share::create(&remote.client()?, &name, &tables, &description),
        ShareCommand::Grant {
            name,
            token,
            remote,
        } => share::grant(&remote.client()?, &name, &token),
        ShareCommand::Profile {
            name,
            out,
            expires_in,
            remote,
        } => share::profile(
            &remote.client()?,
            &name,
            expires_in.as_deref(),
            out.as_deref(),
        ),
        ShareCommand::List { remote } => share::list(&remote.client()?, remote.json),
    }
}

fn run_policy(command: PolicyCommand) -> Result<ExitCode> {
    use tessera_cli::policy;
    match command {
        PolicyCommand::List { remote } => policy::list(&remote.client()?, remote.json)?,
        PolicyCommand::Add {
            file,
            library,
            id,
            description,
            domain,
            events,
            effect,
            disabled,
            remote,
        } => {
            let client = remote.client()?;
            let added = match file {
                Some(file) if !library => vec![policy::add(
                    &client,
                    policy::AddPolicy {
                        file: &file,
                        id,
                        description,
                        domain,
                        events,
                        effect,
                        disabled,
                    },
                )?],
                _ => policy::add_library(&client)?,
            };
            for p in added {
                anstream::eprintln!(
                    "{}added{} policy {} version {}",
                    GOOD.render(),
                    GOOD.render_reset(),
                    p.get("id").and_then(|v| v.as_str()).unwrap_or("?"),
                    p.get("version").and_then(|v| v.as_u64()).unwrap_or(0)
                );
            }
        }
        PolicyCommand::Show { id, remote } => policy::show(&remote.client()?, &id, remote.json)?,
        PolicyCommand::Test {
            mut paths,
            library,
            against,
            event,
        } => {
            let Some(manifest) = paths.pop() else {
                anyhow::bail!("name the product.toml last");
            };
            let passed = policy::test(&policy::TestPolicies {
                files: paths,
                library,
                manifest,
                against,
                event,
            })?;
            return Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        PolicyCommand::Decisions {
            product,
            limit,
            remote,
        } => policy::decisions(&remote.client()?, product.as_deref(), limit, remote.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_waiver(command: WaiverCommand) -> Result<ExitCode> {
    use tessera_cli::policy;
    match command {
        WaiverCommand::Grant {
            policy: id,
            product,
            reason,
            expires_in,
            remote,
        } => {
            let waiver = policy::waive(&remote.client()?, &id, &product, &reason, &expires_in)?;
            anstream::eprintln!(
                "{}granted{} waiver {} of {id} for {product} until {}",
                GOOD.render(),
                GOOD.render_reset(),
                waiver.get("id").and_then(|v| v.as_str()).unwrap_or("?"),
                waiver
                    .get("expires_at")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
            );
        }
        WaiverCommand::List { remote } => policy::waivers(&remote.client()?, remote.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A duration in milliseconds with one decimal.
fn millis(duration: std::time::Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

/// Turns off Mesa's `device_select` Vulkan layer unless the user set `NODEVICE_SELECT`: the host
/// ranks adapters itself (`tessera_gpu`), and the layer connects to a Wayland display while
/// adapters are listed, printing "error: XDG_RUNTIME_DIR is invalid or not set" on every
/// machine without a desktop session.
fn quiet_vulkan_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called first thing in `main`, before any thread exists, so nothing reads
        // the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("NODEVICE_SELECT", "1");
        }
    }
}

fn main() -> ExitCode {
    quiet_vulkan_device_select();
    let cli = Cli::parse();
    // The server logs its requests and runs; the other commands only warnings.
    let default_filter = match cli.command {
        Command::Serve { .. } => "info,tower_http=info",
        Command::Demo { .. } => "warn,tessera_server=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            anstream::eprintln!("{}error{}: {e:#}", BAD.render(), BAD.render_reset());
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::New { name, dir, domain } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = scaffold::scaffold(&name, &dir, &domain)?;
            anstream::println!(
                "{}created{} product {}{name}{} in {}",
                GOOD.render(),
                GOOD.render_reset(),
                NAME.render(),
                NAME.render_reset(),
                dir.display()
            );
            for file in files {
                anstream::println!("  {}{}{}", DIM.render(), file.display(), DIM.render_reset());
            }
            anstream::println!(
                "\nnext:\n  cd {}\n  cargo test\n  tessera run . --input readings=data/readings.csv",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { dir } => {
            let built = build::build(&dir, Progress::Show)?;
            anstream::println!(
                "{}built{} {}{}{} {} → {} ({})",
                GOOD.render(),
                GOOD.render_reset(),
                NAME.render(),
                built.manifest.product.name,
                NAME.render_reset(),
                built.manifest.product.version,
                built.path.display(),
                style::size(built.size)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            target,
            inputs,
            out,
            format,
            params,
        } => {
            let format: Format = format.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let wasm = local_run::resolve_target(&target, Progress::Show)?;
            let result = local_run::run(&LocalRun {
                wasm,
                inputs,
                out,
                format,
                params,
            })?;
            Ok(report(&result))
        }
        Command::Deploy {
            target,
            no_activate,
            deprecate_after,
            remote,
        } => {
            let how = remote::DeployArgs {
                activate: !no_activate,
                deprecate_after,
            };
            remote::deploy(&remote.client()?, &target, &how, remote.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest {
            target,
            file,
            format,
            replace,
            idempotency_key,
            wait,
            remote,
        } => {
            remote::ingest(
                &remote.client()?,
                &remote::IngestArgs {
                    target: &target,
                    file: &file,
                    format: format.as_deref(),
                    replace,
                    idempotency_key: idempotency_key.as_deref(),
                    wait,
                },
                remote.json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Products {
            domain,
            tag,
            query,
            remote,
        } => {
            remote::products(
                &remote.client()?,
                &[("domain", domain), ("tag", tag), ("q", query)],
                remote.json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { product, remote } => {
            remote::status(&remote.client()?, &product, remote.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Trigger {
            product,
            replay,
            wait,
            remote,
        } => {
            remote::trigger(
                &remote.client()?,
                &product,
                replay.as_deref(),
                wait,
                remote.json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { product, remote } => {
            remote::runs(&remote.client()?, &product, remote.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { run, remote } => {
            remote::logs(&remote.client()?, &run, remote.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Get {
            target,
            format,
            output,
            remote,
        } => {
            remote::get(&remote.client()?, &target, &format, output.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    role,
                    domain,
                    grants,
                    description,
                    expires_in,
                    data,
                },
        } => {
            let (secret, id) = tessera_cli::token::create(
                &data,
                tessera_server::auth::NewToken {
                    role,
                    domain,
                    grants,
                    description,
                    expires_in,
                },
            )?;
            anstream::eprintln!(
                "{}created{} token {id}; it is shown once, keep it:",
                GOOD.render(),
                GOOD.render_reset()
            );
            println!("{secret}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command: TokenCommand::List { remote },
        } => {
            tessera_cli::token::list(&remote.client()?, remote.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command: TokenCommand::Revoke { id, remote },
        } => {
            tessera_cli::token::revoke(&remote.client()?, &id)?;
            anstream::eprintln!("{}revoked{} token {id}", GOOD.render(), GOOD.render_reset());
            Ok(ExitCode::SUCCESS)
        }
        Command::Share { command } => {
            run_share(command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { command } => run_policy(command),
        Command::Waiver { command } => run_waiver(command),
        Command::Demo { data, addr } => {
            tessera_cli::demo::demo(tessera_cli::demo::DemoArgs { data, addr })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            data,
            addr,
            flight_addr,
            config,
        } => {
            tessera_cli::serve::serve(tessera_cli::serve::ServeArgs {
                data,
                addr,
                flight_addr,
                config,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { file, json } => {
            let inspection = inspect::inspect(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&inspection)?);
                return Ok(ExitCode::SUCCESS);
            }
            anstream::println!(
                "{}{}{}  {} sha256:{}",
                BOLD.render(),
                file.display(),
                BOLD.render_reset(),
                style::size(inspection.size),
                inspection.sha256
            );
            match &inspection.manifest {
                Some(text) => match Manifest::parse(text, "<embedded product.toml>") {
                    Ok(manifest) => print!("{}", inspect::describe(&manifest)),
                    Err(e) => anstream::println!(
                        "{}embedded manifest is invalid{}:\n{e}",
                        BAD.render(),
                        BAD.render_reset()
                    ),
                },
                None => anstream::println!(
                    "{}no embedded manifest{}: package it with `tessera build` or `tessera package`",
                    WARN.render(),
                    WARN.render_reset()
                ),
            }
            anstream::println!(
                "readme: {}",
                if inspection.has_readme {
                    "embedded"
                } else {
                    "none"
                }
            );
            anstream::println!("imports:");
            for import in &inspection.imports {
                anstream::println!("  {import}");
            }
            anstream::println!("exports:");
            for export in &inspection.exports {
                anstream::println!("  {export}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Package {
            component,
            manifest,
            readme,
            output,
        } => {
            let readme = readme.or_else(|| {
                manifest
                    .parent()
                    .map(|p| p.join("README.md"))
                    .filter(|p| p.is_file())
            });
            let text = std::fs::read_to_string(&manifest)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", manifest.display()))?;
            let name = Manifest::parse(&text, &manifest.display().to_string())
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .product
                .name;
            let output =
                output.unwrap_or_else(|| component.with_file_name(format!("{name}.tessera.wasm")));
            build::package_file(&component, &manifest, readme.as_deref(), &output)?;
            anstream::println!(
                "{}packaged{} {}",
                GOOD.render(),
                GOOD.render_reset(),
                output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn report(result: &local_run::LocalResult) -> ExitCode {
    let outcome = &result.outcome;
    for line in &outcome.log {
        let (style, tag) = match line.level {
            LogLevel::Error => (BAD, "error"),
            LogLevel::Warn => (WARN, "warn"),
            LogLevel::Info => (DIM, "info"),
            LogLevel::Debug | LogLevel::Trace => (DIM, "debug"),
            LogLevel::Stdout => (DIM, "stdout"),
            LogLevel::Stderr => (DIM, "stderr"),
        };
        anstream::eprintln!(
            "{}{tag:>6}{} {}",
            style.render(),
            style.render_reset(),
            line.message
        );
    }
    match &outcome.status {
        RunStatus::Succeeded => {
            anstream::println!(
                "{}succeeded{} in {} ms ({}start {} ms, host reading {} ms, writing {} ms), peak memory {}",
                GOOD.render(),
                GOOD.render_reset(),
                millis(outcome.duration),
                outcome
                    .cpu_time
                    .map_or(String::new(), |cpu| format!("CPU {} ms; ", millis(cpu))),
                millis(outcome.start_latency),
                millis(result.reading),
                millis(result.writing),
                style::size(outcome.peak_memory)
            );
            anstream::println!("{:<20} {:>10} {:>8}  file", "port", "rows", "columns");
            for (port, file, columns) in &result.files {
                let rows = outcome.outputs.get(port).map_or(0, |s| s.rows);
                let file = file
                    .as_ref()
                    .map_or(String::new(), |f| f.display().to_string());
                anstream::println!(
                    "{}{port:<20}{} {rows:>10} {columns:>8}  {file}",
                    NAME.render(),
                    NAME.render_reset()
                );
            }
            for (name, value) in &outcome.gauges {
                anstream::println!(
                    "{}gauge{} {name} = {value}",
                    DIM.render(),
                    DIM.render_reset()
                );
            }
            for (port, stats) in &result.stats {
                anstream::print!("{}", quality_report::stats(port, stats));
            }
            anstream::print!(
                "{}",
                quality_report::checks(&result.checks, &result.skipped_checks)
            );
            if quality_report::blocking(&result.checks) {
                anstream::eprintln!(
                    "{}checks failed{}: a server would quarantine these outputs instead of publishing them",
                    BAD.render(),
                    BAD.render_reset()
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        RunStatus::Failed { kind, reason } => {
            anstream::eprintln!(
                "{}failed{} ({kind:?}) after {:.1?}: {reason}",
                BAD.render(),
                BAD.render_reset(),
                outcome.duration
            );
            anstream::eprintln!("no outputs were written");
            ExitCode::FAILURE
        }
    }
}
