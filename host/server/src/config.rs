//! Server configuration: defaults, then a TOML file, then `TESSERA_*` environment variables,
//! then command-line flags (each later source wins). Everything is validated at start, with a
//! message that names the setting, where it came from and what is allowed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tessera_core::manifest::{ByteSize, Span};

/// Everything `tessera serve` needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Where metadata, components and output files live.
    pub data_dir: PathBuf,
    /// The address to listen on.
    pub addr: SocketAddr,
    /// Where Arrow Flight (gRPC) listens, if anywhere (`flight_addr`, `TESSERA_FLIGHT_ADDR`,
    /// `--flight-addr`).
    pub flight_addr: Option<SocketAddr>,
    /// Limits that protect the host.
    pub limits: Limits,
    /// Whether public output ports can be read without a token.
    pub public_reads: bool,
    /// How long shutdown waits for running runs before marking them interrupted.
    pub shutdown_grace: Duration,
    /// How long the bytes of a version retention dropped stay readable (for readers that
    /// opened it before) before they are deleted; never less than `limits.max_timeout`, so a
    /// run's pinned inputs stay readable for the whole run.
    pub deletion_grace: Duration,
    /// When triggered runs start and how failed ones are retried.
    pub scheduler: SchedulerConfig,
    /// Which GPU products get.
    pub gpu: GpuSetting,
    /// How long clients may take, and how many may upload at once.
    pub http: HttpLimits,
    /// How the federation's policies are evaluated.
    pub governance: GovernanceConfig,
    /// Where OpenLineage events about runs go.
    pub lineage: LineageConfig,
    /// Delta Sharing.
    pub sharing: SharingConfig,
}

/// `[sharing]` in the file: Delta Sharing.
#[derive(Debug, Clone, PartialEq)]
pub struct SharingConfig {
    /// How long the pre-signed URL of a shared file stays valid (`url_lifetime`).
    pub url_lifetime: Duration,
}

impl Default for SharingConfig {
    fn default() -> Self {
        SharingConfig {
            url_lifetime: Duration::from_secs(3600),
        }
    }
}

/// `[lineage]` in the file: OpenLineage events (a `START` and a `COMPLETE`, `FAIL` or `ABORT`
/// per run) sent to an HTTP endpoint such as Marquez's `/api/v1/lineage`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageConfig {
    /// The endpoint events are POSTed to (`openlineage_url`, `TESSERA_OPENLINEAGE_URL`); none
    /// sends nothing. Plain `http://` only.
    pub openlineage_url: Option<String>,
    /// The namespace of the jobs (products) and datasets (ports) the events name.
    pub namespace: String,
    /// A bearer token the endpoint expects (`api_key`, `TESSERA_OPENLINEAGE_API_KEY`).
    pub api_key: Option<String>,
    /// Events waiting to be sent; past this, new ones are dropped (and counted).
    pub queue: usize,
    /// The longest one POST may take.
    pub timeout: Duration,
    /// Attempts per event (the first counts) before it is given up.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles after each failure.
    pub backoff: Duration,
}

impl Default for LineageConfig {
    fn default() -> Self {
        LineageConfig {
            openlineage_url: None,
            namespace: "tessera".into(),
            api_key: None,
            queue: 1024,
            timeout: Duration::from_secs(5),
            attempts: 5,
            backoff: Duration::from_millis(500),
        }
    }
}

/// `[governance]` in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernanceConfig {
    /// Install the policy library shipped with the host at start (`library = true`); `tessera
    /// demo` does.
    pub library: bool,
    /// Interpreter time one policy may take per evaluation (`policy_timeout`).
    pub policy_timeout: Duration,
    /// Memory one evaluation may add (`policy_memory`).
    pub policy_memory: u64,
    /// Time all policies of one evaluation may take together (`evaluation_budget`).
    pub evaluation_budget: Duration,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        GovernanceConfig {
            library: false,
            policy_timeout: Duration::from_secs(1),
            policy_memory: 256 << 20,
            evaluation_budget: Duration::from_secs(5),
        }
    }
}

/// What the listener allows a client before and while a request reaches the API (`[http]` in
/// the file). A client that breaks these gets a JSON error (408, 503) or, for headers that do
/// not arrive, a closed connection; none of them holds a thread or memory for long.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLimits {
    /// The longest a client may take to send a request's line and headers.
    pub header_timeout: Duration,
    /// The longest a request body may pause between two pieces.
    pub body_idle_timeout: Duration,
    /// The longest a request body may take in all.
    pub body_timeout: Duration,
    /// Uploads (deploys and ingests) whose bodies are read at once; more get a 503.
    pub max_concurrent_uploads: usize,
    /// How long shutdown waits for open connections (a download, say) before closing them.
    pub drain_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(600),
            max_concurrent_uploads: 16,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Which GPU the host lends products (`gpu` in the file, `TESSERA_GPU`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GpuSetting {
    /// `auto`: the best Vulkan adapter found (a discrete GPU first, lavapipe last).
    #[default]
    Auto,
    /// `off`: no GPU; `optional` products run on the CPU path, `required` ones fail.
    Off,
    /// Any other text: the adapter whose name contains it.
    Adapter(String),
}

impl GpuSetting {
    /// Reads `auto`, `off` or an adapter name.
    pub fn parse(value: &str) -> GpuSetting {
        match value.trim() {
            "" | "auto" => GpuSetting::Auto,
            "off" | "none" | "false" => GpuSetting::Off,
            name => GpuSetting::Adapter(name.to_string()),
        }
    }

    /// The runtime's GPU configuration for this setting.
    pub fn to_config(&self) -> tessera_gpu::GpuConfig {
        let mut config = tessera_gpu::GpuConfig::default();
        match self {
            GpuSetting::Auto => {}
            GpuSetting::Off => config.disabled = true,
            GpuSetting::Adapter(name) => config.adapter = Some(name.clone()),
        }
        config
    }
}

/// When triggered runs start and how runs the host failed are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// How long an ingest-triggered run waits for more ingests before it starts; each new
    /// ingest in the window restarts the wait, so a burst makes one run.
    pub debounce: Duration,
    /// The longest a run waits in total while ingests keep arriving.
    pub max_delay: Duration,
    /// Attempts of a run that fails through the host's fault (not the product's), first
    /// included.
    pub retries: u32,
    /// Wait before the first retry; each later retry waits twice as long.
    pub retry_backoff: Duration,
    /// Run records kept per product, newest first; older finished ones are deleted (with the
    /// outputs of quarantined ones) as new runs finish.
    pub keep_runs: usize,
    /// Replays that may wait in line per product; more are refused with a 503.
    pub max_queued_replays: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            debounce: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            retries: 3,
            retry_backoff: Duration::from_secs(1),
            keep_runs: 1000,
            max_queued_replays: 8,
        }
    }
}

/// Limits on what clients and products may ask of the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The largest request body accepted (deploys, ingests), in bytes.
    pub max_upload: u64,
    /// Runs executing at once; more wait in line.
    pub max_concurrent_runs: usize,
    /// The largest `resources.memory` a manifest may declare.
    pub max_memory: u64,
    /// The longest `resources.timeout` a manifest may declare.
    pub max_timeout: Duration,
    /// CPU time a run computes at nice 10 before its thread moves to the idle scheduling
    /// class, where it gets the cores only when nothing else wants them. Zero (the default)
    /// puts every run there from the start: requests keep their latency whatever runs do, and
    /// runs slow down only while the cores are saturated by other work.
    pub idle_priority_after: Duration,
    /// Whether a run in the idle class is held back while the threads serving requests wait
    /// for the cores (it then computes at most one epoch tick in sixteen; its timeout keeps
    /// counting). On by default; off leaves it to the scheduler alone.
    pub yield_to_requests: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from("tessera-data"),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            flight_addr: None,
            limits: Limits::default(),
            public_reads: true,
            shutdown_grace: Duration::from_secs(30),
            deletion_grace: tessera_store::DEFAULT_DELETION_GRACE,
            scheduler: SchedulerConfig::default(),
            gpu: GpuSetting::Auto,
            http: HttpLimits::default(),
            governance: GovernanceConfig::default(),
            lineage: LineageConfig::default(),
            sharing: SharingConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_upload: 256 << 20,
            max_concurrent_runs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_memory: 4 << 30,
            max_timeout: Duration::from_secs(3600),
            idle_priority_after: Duration::ZERO,
            yield_to_requests: true,
        }
    }
}

/// A configuration setting that is wrong: which one, where it came from, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: `{setting}`: {message}")]
pub struct ConfigError {
    /// The file, variable or flag.
    pub source_name: String,
    /// The setting's name.
    pub setting: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The optional TOML file, `tessera.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    addr: Option<String>,
    flight_addr: Option<String>,
    public_reads: Option<bool>,
    shutdown_grace: Option<String>,
    deletion_grace: Option<String>,
    gpu: Option<String>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    scheduler: FileScheduler,
    #[serde(default)]
    http: FileHttp,
    #[serde(default)]
    governance: FileGovernance,
    #[serde(default)]
    lineage: FileLineage,
    #[serde(default)]
    sharing: FileSharing,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSharing {
    url_lifetime: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLineage {
    openlineage_url: Option<String>,
    namespace: Option<String>,
    api_key: Option<String>,
    queue: Option<usize>,
    timeout: Option<String>,
    attempts: Option<u32>,
    backoff: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGovernance {
    library: Option<bool>,
    policy_timeout: Option<String>,
    policy_memory: Option<String>,
    evaluation_budget: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    header_timeout: Option<String>,
    body_idle_timeout: Option<String>,
    body_timeout: Option<String>,
    max_concurrent_uploads: Option<usize>,
    drain_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScheduler {
    debounce: Option<String>,
    max_delay: Option<String>,
    retries: Option<u32>,
    retry_backoff: Option<String>,
    keep_runs: Option<usize>,
    max_queued_replays: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_upload: Option<String>,
    max_concurrent_runs: Option<usize>,
    max_memory: Option<String>,
    max_timeout: Option<String>,
    idle_priority_after: Option<String>,
    yield_to_requests: Option<bool>,
}

/// Settings given on the command line; `None` keeps what the file and environment said.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data`.
    pub data_dir: Option<PathBuf>,
    /// `--addr`.
    pub addr: Option<String>,
    /// `--flight-addr`.
    pub flight_addr: Option<String>,
}

impl ServerConfig {
    /// Builds the configuration from the file (if any), the environment and the flags.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<ServerConfig, ConfigError> {
        let mut config = ServerConfig::default();
        if let Some(path) = file {
            config.apply_file(path)?;
        }
        for (name, value) in env {
            config.apply_env(&name, &value)?;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(addr) = &overrides.addr {
            config.addr = parse_addr(addr, "--addr", "addr")?;
        }
        if let Some(addr) = &overrides.flight_addr {
            config.flight_addr = Some(parse_addr(addr, "--flight-addr", "flight_addr")?);
        }
        config.validate()?;
        Ok(config)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_name: source.clone(),
            setting: "file".into(),
            message: format!("cannot read the configuration file: {e}"),
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(&text, span.start))
                .unwrap_or((0, 0));
            ConfigError {
                source_name: format!("{source}:{line}:{column}"),
                setting: "file".into(),
                message: e.message().to_string(),
            }
        })?;
        if let Some(data) = file.data {
            self.data_dir = data;
        }
        if let Some(addr) = file.addr {
            self.addr = parse_addr(&addr, &source, "addr")?;
        }
        if let Some(addr) = file.flight_addr {
            self.flight_addr = Some(parse_addr(&addr, &source, "flight_addr")?);
        }
        if let Some(gpu) = file.gpu {
            self.gpu = GpuSetting::parse(&gpu);
        }
        if let Some(public) = file.public_reads {
            self.public_reads = public;
        }
        if let Some(grace) = file.shutdown_grace {
            self.shutdown_grace = parse_span(&grace, &source, "shutdown_grace")?;
        }
        if let Some(grace) = file.deletion_grace {
            self.deletion_grace = parse_span(&grace, &source, "deletion_grace")?;
        }
        let limits = file.limits;
        if let Some(v) = limits.max_upload {
            self.limits.max_upload = parse_size(&v, &source, "limits.max_upload")?;
        }
        if let Some(v) = limits.max_concurrent_runs {
            self.limits.max_concurrent_runs = v;
        }
        if let Some(v) = limits.max_memory {
            self.limits.max_memory = parse_size(&v, &source, "limits.max_memory")?;
        }
        if let Some(v) = limits.max_timeout {
            self.limits.max_timeout = parse_span(&v, &source, "limits.max_timeout")?;
        }
        if let Some(v) = limits.idle_priority_after {
            self.limits.idle_priority_after =
                parse_span(&v, &source, "limits.idle_priority_after")?;
        }
        if let Some(v) = limits.yield_to_requests {
            self.limits.yield_to_requests = v;
        }
        let http = file.http;
        for (value, setting, target) in [
            (
                http.header_timeout,
                "http.header_timeout",
                &mut self.http.header_timeout,
            ),
            (
                http.body_idle_timeout,
                "http.body_idle_timeout",
                &mut self.http.body_idle_timeout,
            ),
            (
                http.body_timeout,
                "http.body_timeout",
                &mut self.http.body_timeout,
            ),
            (
                http.drain_timeout,
                "http.drain_timeout",
                &mut self.http.drain_timeout,
            ),
        ] {
            if let Some(v) = value {
                *target = parse_span(&v, &source, setting)?;
            }
        }
        if let Some(v) = http.max_concurrent_uploads {
            self.http.max_concurrent_uploads = v;
        }
        let governance = file.governance;
        if let Some(v) = governance.library {
            self.governance.library = v;
        }
        if let Some(v) = governance.policy_timeout {
            self.governance.policy_timeout = parse_span(&v, &source, "governance.policy_timeout")?;
        }
        if let Some(v) = governance.policy_memory {
            self.governance.policy_memory = parse_size(&v, &source, "governance.policy_memory")?;
        }
        if let Some(v) = governance.evaluation_budget {
            self.governance.evaluation_budget =
                parse_span(&v, &source, "governance.evaluation_budget")?;
        }
        self.apply_file_lineage(file.lineage, &source)?;
        if let Some(v) = file.sharing.url_lifetime {
            self.sharing.url_lifetime = parse_span(&v, &source, "sharing.url_lifetime")?;
        }
        let scheduler = file.scheduler;
        if let Some(v) = scheduler.debounce {
            self.scheduler.debounce = parse_span(&v, &source, "scheduler.debounce")?;
        }
        if let Some(v) = scheduler.max_delay {
            self.scheduler.max_delay = parse_span(&v, &source, "scheduler.max_delay")?;
        }
        if let Some(v) = scheduler.retries {
            self.scheduler.retries = v;
        }
        if let Some(v) = scheduler.retry_backoff {
            self.scheduler.retry_backoff = parse_span(&v, &source, "scheduler.retry_backoff")?;
        }
        if let Some(v) = scheduler.keep_runs {
            self.scheduler.keep_runs = v;
        }
        if let Some(v) = scheduler.max_queued_replays {
            self.scheduler.max_queued_replays = v;
        }
        Ok(())
    }

    fn apply_file_lineage(&mut self, file: FileLineage, source: &str) -> Result<(), ConfigError> {
        let lineage = &mut self.lineage;
        if let Some(url) = file.openlineage_url {
            lineage.openlineage_url =
                Some(parse_http_url(&url, source, "lineage.openlineage_url")?);
        }
        if let Some(v) = file.namespace {
            lineage.namespace = v;
        }
        if let Some(v) = file.api_key {
            lineage.api_key = Some(v);
        }
        if let Some(v) = file.queue {
            lineage.queue = v;
        }
        if let Some(v) = file.timeout {
            lineage.timeout = parse_span(&v, source, "lineage.timeout")?;
        }
        if let Some(v) = file.attempts {
            lineage.attempts = v;
        }
        if let Some(v) = file.backoff {
            lineage.backoff = parse_span(&v, source, "lineage.backoff")?;
        }
        Ok(())
    }

    fn apply_env(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let Some(setting) = name.strip_prefix("TESSERA_") else {
            return Ok(());
        };
        let source = format!("environment variable {name}");
        match setting {
            "DATA" => self.data_dir = PathBuf::from(value),
            "ADDR" => self.addr = parse_addr(value, &source, "addr")?,
            "FLIGHT_ADDR" => {
                self.flight_addr = Some(parse_addr(value, &source, "flight_addr")?);
            }
            "PUBLIC_READS" => self.public_reads = parse_bool(value, &source, "public_reads")?,
            "YIELD_TO_REQUESTS" => {
                self.limits.yield_to_requests = parse_bool(value, &source, "yield_to_requests")?;
            }
            "SHUTDOWN_GRACE" => {
                self.shutdown_grace = parse_span(value, &source, "shutdown_grace")?;
            }
            "DELETION_GRACE" => {
                self.deletion_grace = parse_span(value, &source, "deletion_grace")?;
            }
            "MAX_UPLOAD" => self.limits.max_upload = parse_size(value, &source, "max_upload")?,
            "MAX_MEMORY" => self.limits.max_memory = parse_size(value, &source, "max_memory")?,
            "MAX_TIMEOUT" => self.limits.max_timeout = parse_span(value, &source, "max_timeout")?,
            "IDLE_PRIORITY_AFTER" => {
                self.limits.idle_priority_after =
                    parse_span(value, &source, "idle_priority_after")?;
            }
            "MAX_CONCURRENT_RUNS" => {
                self.limits.max_concurrent_runs = value.parse().map_err(|_| ConfigError {
                    source_name: source,
                    setting: "max_concurrent_runs".into(),
                    message: format!("`{value}` is not a whole number"),
                })?;
            }
            "GPU" => self.gpu = GpuSetting::parse(value),
            "DEBOUNCE" => self.scheduler.debounce = parse_span(value, &source, "debounce")?,
            "MAX_DELAY" => self.scheduler.max_delay = parse_span(value, &source, "max_delay")?,
            "RETRY_BACKOFF" => {
                self.scheduler.retry_backoff = parse_span(value, &source, "retry_backoff")?;
            }
            "RETRIES" => {
                self.scheduler.retries = value.parse().map_err(|_| ConfigError {
                    source_name: source,
                    setting: "retries".into(),
                    message: format!("`{value}` is not a whole number"),
                })?;
            }
            "OPENLINEAGE_URL" => {
                self.lineage.openlineage_url =
                    Some(parse_http_url(value, &source, "lineage.openlineage_url")?);
            }
            "OPENLINEAGE_API_KEY" => self.lineage.api_key = Some(value.to_string()),
            // Variables of the CLI client and of other tools share the prefix.
            _ => {}
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting: &str, message: &str| ConfigError {
            source_name: "configuration".into(),
            setting: setting.into(),
            message: message.into(),
        };
        if self.limits.max_concurrent_runs == 0 {
            return Err(invalid(
                "max_concurrent_runs",
                "must be at least 1 (runs would never start)",
            ));
        }
        if self.limits.max_upload < 1024 {
            return Err(invalid(
                "max_upload",
                "must be at least 1KiB; no component fits in less",
            ));
        }
        if self.limits.max_memory < (1 << 20) {
            return Err(invalid("max_memory", "must be at least 1MiB"));
        }
        if self.limits.max_timeout.is_zero() {
            return Err(invalid("max_timeout", "must be longer than zero"));
        }
        if self.http.max_concurrent_uploads == 0 {
            return Err(invalid(
                "http.max_concurrent_uploads",
                "must be at least 1 (no deploy or ingest could be read)",
            ));
        }
        for (setting, span) in [
            ("http.header_timeout", self.http.header_timeout),
            ("http.body_idle_timeout", self.http.body_idle_timeout),
            ("http.body_timeout", self.http.body_timeout),
        ] {
            if span.is_zero() {
                return Err(invalid(setting, "must be longer than zero"));
            }
        }
        if self.scheduler.keep_runs == 0 {
            return Err(invalid(
                "scheduler.keep_runs",
                "must be at least 1 (a product's last run must stay visible)",
            ));
        }
        if self.scheduler.retries == 0 {
            return Err(invalid(
                "retries",
                "must be at least 1 (the first attempt counts)",
            ));
        }
        if self.sharing.url_lifetime.is_zero()
            || self.sharing.url_lifetime > Duration::from_secs(7 * 24 * 3600)
        {
            return Err(invalid(
                "sharing.url_lifetime",
                "must be longer than zero and at most 7 days",
            ));
        }
        if self.lineage.queue == 0 {
            return Err(invalid(
                "lineage.queue",
                "must be at least 1 (every event would be dropped)",
            ));
        }
        if self.lineage.attempts == 0 {
            return Err(invalid(
                "lineage.attempts",
                "must be at least 1 (the first attempt counts)",
            ));
        }
        if self.lineage.timeout.is_zero() {
            return Err(invalid("lineage.timeout", "must be longer than zero"));
        }
        if self.lineage.namespace.trim().is_empty() {
            return Err(invalid(
                "lineage.namespace",
                "must not be empty (events name their jobs and datasets in it)",
            ));
        }
        if self.scheduler.max_delay < self.scheduler.debounce {
            return Err(invalid(
                "max_delay",
                "must be at least `debounce` (a run would start before its debounce ends)",
            ));
        }
        Ok(())
    }
}

fn parse_addr(value: &str, source: &str, setting: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError {
        source_name: source.into(),
        setting: setting.into(),
        message: format!("`{value}` is not a socket address; write it as 127.0.0.1:8080"),
    })
}

/// An `http://host[:port]/path` URL, as events are sent to it.
fn parse_http_url(value: &str, source: &str, setting: &str) -> Result<String, ConfigError> {
    let error = |message: String| ConfigError {
        source_name: source.into(),
        setting: setting.into(),
        message,
    };
    let uri: axum::http::Uri = value
        .parse()
        .map_err(|e| error(format!("`{value}` is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(value.to_string()),
        Some("https") => Err(error(format!(
            "`{value}`: this host sends lineage over plain HTTP only; point it at an http:// \
             endpoint (a TLS-terminating proxy beside it, say)"
        ))),
        _ => Err(error(format!(
            "`{value}` is not an http:// URL with a host; write it as \
             http://marquez:5000/api/v1/lineage"
        ))),
    }
}

fn parse_size(value: &str, source: &str, setting: &str) -> Result<u64, ConfigError> {
    ByteSize::parse(value)
        .map(|s| s.0)
        .map_err(|message| ConfigError {
            source_name: source.into(),
            setting: setting.into(),
            message,
        })
}

fn parse_bool(value: &str, source: &str, setting: &str) -> Result<bool, ConfigError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ConfigError {
            source_name: source.to_string(),
            setting: setting.into(),
            message: format!("`{value}` is not a boolean; use true or false"),
        }),
    }
}

fn parse_span(value: &str, source: &str, setting: &str) -> Result<Duration, ConfigError> {
    Span::parse(value)
        .map(Span::duration)
        .map_err(|message| ConfigError {
            source_name: source.into(),
            setting: setting.into(),
            message,
        })
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(
            &file,
            "addr = \"127.0.0.1:9000\"\n[limits]\nmax_upload = \"1MiB\"\nmax_timeout = \"5m\"\n",
        )
        .unwrap();
        let config = ServerConfig::load(
            Some(&file),
            env(&[("TESSERA_MAX_UPLOAD", "2MiB"), ("TESSERA_TOKEN", "x")]),
            &Overrides {
                addr: Some("127.0.0.1:9100".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(config.addr.port(), 9100);
        assert_eq!(config.limits.max_upload, 2 << 20);
        assert_eq!(config.limits.max_timeout, Duration::from_secs(300));
        assert!(config.limits.yield_to_requests, "on unless turned off");

        std::fs::write(&file, "[limits]\nyield_to_requests = false\n").unwrap();
        let off = ServerConfig::load(Some(&file), env(&[]), &Overrides::default()).unwrap();
        assert!(!off.limits.yield_to_requests);
        let on = ServerConfig::load(
            Some(&file),
            env(&[("TESSERA_YIELD_TO_REQUESTS", "true")]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(on.limits.yield_to_requests);
        let err = ServerConfig::load(
            None,
            env(&[("TESSERA_YIELD_TO_REQUESTS", "sometimes")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(err.setting, "yield_to_requests");
        assert!(err.message.contains("not a boolean"), "{err}");
    }

    #[test]
    fn errors_name_the_setting_and_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(&file, "addr = \"127.0.0.1:9000\"\nthreads = 4\n").unwrap();
        let err = ServerConfig::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert!(err.source_name.ends_with("tessera.toml:2:1"), "{err}");
        assert!(err.message.contains("unknown field `threads`"), "{err}");

        let err = ServerConfig::load(
            None,
            env(&[("TESSERA_MAX_MEMORY", "lots")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(err.source_name, "environment variable TESSERA_MAX_MEMORY");

        let err = ServerConfig::load(
            None,
            env(&[("TESSERA_MAX_CONCURRENT_RUNS", "0")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");

        let err = ServerConfig::load(
            None,
            env(&[]),
            &Overrides {
                addr: Some("localhost".into()),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("--addr"), "{err}");
    }
}
