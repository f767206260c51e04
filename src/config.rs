//! The one typed configuration of the server and how it is layered:
//! defaults < TOML file < `AURALIS_<SECTION>__<KEY>` environment < command-line flags.
//!
//! Every layer is merged as a TOML table before a single strict deserialization, so an
//! unknown key or a bad value is reported the same way (naming the key) whatever layer
//! it came from. Read once at start-up; it lives in the cores' `Arc<Shared>` and is never mutated.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the configuration could not be built. Start-up errors: they name the file or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("environment variable {var}: {source}")]
    Env { var: String, source: NotASection },
    #[error("invalid configuration: {0}")]
    NotASection(#[from] NotASection),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// A `section.key` override whose section names a plain value, not a table.
#[derive(Debug, thiserror::Error)]
#[error("`{section}` is not a section")]
pub struct NotASection {
    section: String,
}

/// The effective configuration. Each section is a TOML table of the same name.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub http: HttpConfig,
    pub rate_limit: RateLimitConfig,
    pub cors: CorsConfig,
    pub auth: AuthConfig,
    pub cache: CacheConfig,
    pub ws: WsConfig,
    pub library: LibraryConfig,
    pub monitor: MonitorConfig,
    pub tls: TlsConfig,
    pub cluster: ClusterConfig,
    pub tracing: TracingConfig,
}

/// This node's place among several behind a load balancer (deploy/haproxy.cfg).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The node's name in `X-Served-By: node/core` (default: the host name).
    pub node: String,
    /// After SIGTERM, how long the node keeps serving while its readiness probe
    /// already fails, so a load balancer's health checks take it out of rotation
    /// before it stops accepting (then in-flight work drains as usual). 0: stop at once.
    pub drain_delay_ms: u64,
    /// The Redis that carries WebSocket topics and shared sessions between nodes
    /// (`redis://host:port/`); unset: a single node, fan-out stays in the process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_url: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node: host_name(),
            drain_delay_ms: 0,
            broker_url: None,
        }
    }
}

/// Distributed tracing (W3C Trace Context, OTLP/HTTP export). Also read from the
/// standard `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME` and
/// `OTEL_TRACES_SAMPLER_ARG`, which a file sets over and `AURALIS_TRACING__*` over both.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP base URL (`http://127.0.0.1:4318`); spans are POSTed
    /// to `{otlp_endpoint}/v1/traces`. Unset: no spans are made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Share of requests without a caller's `traceparent` that start a trace (0 to 1).
    /// A caller's sampled or unsampled flag is always followed.
    pub sample_ratio: f64,
    /// `service.name` of the spans.
    pub service_name: String,
    /// Spans waiting for the exporter at most; past it they are dropped and counted.
    pub queue_spans: usize,
    /// Spans per OTLP request at most.
    pub batch_spans: usize,
    /// How long the exporter gathers a batch before sending what it has.
    pub export_interval_ms: u64,
    /// How long one export may take before its spans count as dropped.
    pub export_timeout_ms: u64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 0.0,
            service_name: "auralis-server".into(),
            queue_spans: 8192,
            batch_spans: 512,
            export_interval_ms: 1000,
            export_timeout_ms: 5000,
        }
    }
}

impl TracingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        if let Some(url) = &self.otlp_endpoint
            && !(url.starts_with("http://") && url.len() > "http://".len())
        {
            return bad(
                "tracing.otlp_endpoint",
                "must be an http:// URL (the exporter speaks plain OTLP/HTTP; put a collector beside the node for TLS)",
            );
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return bad("tracing.sample_ratio", "must be between 0 and 1");
        }
        if self.queue_spans == 0 || self.batch_spans == 0 {
            return bad(
                "tracing.queue_spans",
                "queue_spans and batch_spans must be at least 1",
            );
        }
        if self.export_interval_ms == 0 || self.export_timeout_ms == 0 {
            return bad(
                "tracing.export_interval_ms",
                "export_interval_ms and export_timeout_ms must be positive",
            );
        }
        Ok(())
    }
}

/// The standard OpenTelemetry variables, as `tracing.*` keys (applied below the
/// file's values: see [`TracingConfig`]).
const OTEL_ENV: &[(&str, &str)] = &[
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "otlp_endpoint"),
    ("OTEL_SERVICE_NAME", "service_name"),
    ("OTEL_TRACES_SAMPLER_ARG", "sample_ratio"),
];

/// The host's name (`gethostname`), or `node` if it has none.
pub(crate) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into our own buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "node".to_string(),
    }
}

/// TLS termination on the cores (rustls). Off unless both files are given; then the
/// main listener speaks only HTTPS/WSS. The files are read again on SIGHUP.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// A plain-HTTP listener whose every request is answered `308` to the same path on
    /// HTTPS (the main listener's port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_listen: Option<SocketAddr>,
}

impl TlsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        if self.cert_file.is_some() != self.key_file.is_some() {
            return bad(
                "tls.cert_file",
                "tls.cert_file and tls.key_file go together",
            );
        }
        if self.redirect_listen.is_some() && self.cert_file.is_none() {
            return bad(
                "tls.redirect_listen",
                "needs tls.cert_file and tls.key_file",
            );
        }
        Ok(())
    }

    /// Both files, when TLS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }
}

/// The monitor: sampling, window, alert thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    pub interval_ms: u64,
    /// Per-second summaries kept.
    pub window: usize,
    /// Seconds the alert rules look back over.
    pub recent_s: usize,
    /// p99 SLO of API routes (JSON; observation routes excluded).
    #[serde(alias = "p99_slo_ms")]
    pub slo_api_ms: f64,
    /// p99 SLO of chunks served from tier 1 or tier 2.
    pub slo_chunk_hit_ms: f64,
    /// p99 SLO of chunks that had to be decoded (cold).
    pub slo_chunk_miss_ms: f64,
    /// p99 SLO of WebSocket message handling.
    pub slo_ws_ms: f64,
    pub hit_rate_warning: f64,
    pub hit_rate_critical: f64,
    pub min_cache_requests: u64,
    pub error_rate_warning: f64,
    pub error_rate_critical: f64,
    /// Samples a rate or percentile alert needs in its window before it may fire.
    pub min_requests: u64,
    /// Share of requests answered 429 in the window above which `rate_limited` warns
    /// (when more than `rate_limited_clients` distinct clients got them).
    pub rate_limited_warning: f64,
    /// Distinct clients answered 429 in the window that `rate_limited` needs: one
    /// abusive client is answered by its own 429s, not an alert.
    pub rate_limited_clients: usize,
    /// Share of WebSocket connections with an unanswered ping above which
    /// `stale_ws_connections` warns.
    pub stale_ws_share: f64,
    pub imbalance_factor: f64,
    /// An alert clears once its condition has been false this long.
    #[serde(alias = "alert_hold_s")]
    pub alert_clear_s: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            window: 100,
            recent_s: 10,
            slo_api_ms: 10.0,
            slo_chunk_hit_ms: 20.0,
            slo_chunk_miss_ms: 1000.0,
            slo_ws_ms: 10.0,
            hit_rate_warning: 0.70,
            hit_rate_critical: 0.50,
            min_cache_requests: 100,
            error_rate_warning: 0.01,
            error_rate_critical: 0.05,
            min_requests: 200,
            rate_limited_warning: 0.10,
            rate_limited_clients: 10,
            stale_ws_share: 0.01,
            imbalance_factor: 2.0,
            alert_clear_s: 30,
        }
    }
}

/// Where the music is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryConfig {
    /// Folder scanned at start (in the background); unset = the generated demo library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How long the writer waits on a database locked by another process (a backup,
    /// the `token` command) before the write is answered 503 with `Retry-After`.
    pub busy_timeout_ms: u64,
    /// A PostgreSQL database every node of a cluster shares (`postgres://user@host/db`);
    /// the node's `library.db` becomes a copy that follows it. Unset: SQLite alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// A track whose file is gone is kept (favorites, playlist entries, its id) and
    /// marked missing; a scan deletes it only after this many days missing.
    pub missing_grace_days: f64,
    /// A scan that would newly mark more than this share of the library missing (or
    /// whose folder holds no audio at all while tracks are known: an unmounted disk)
    /// stops without changing anything and says why.
    pub max_missing_share: f64,
}

impl Default for LibraryConfig {
    fn default() -> Self {
        Self {
            path: None,
            busy_timeout_ms: 5000,
            database_url: None,
            missing_grace_days: 30.0,
            max_missing_share: 0.5,
        }
    }
}

impl LibraryConfig {
    /// What scans may do, from these settings.
    pub fn scan_policy(&self) -> crate::library::scan::ScanPolicy {
        crate::library::scan::ScanPolicy {
            missing_grace_ms: (self.missing_grace_days * 86_400_000.0) as i64,
            max_missing_share: self.max_missing_share,
        }
    }
}

/// Process-level settings: where to listen, how many cores, which driver.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Number of cores to run; 0 means every CPU in the process's allowed set.
    pub cores: usize,
    pub data_dir: PathBuf,
    /// `auto` (io_uring, else epoll), `io_uring` (fail if unavailable) or `legacy`.
    pub driver: DriverChoice,
    /// Deadline for in-flight requests after SIGINT/SIGTERM.
    pub shutdown_grace_ms: u64,
    /// Attach the client-IP socket filter; off leaves the kernel's 4-tuple hash.
    pub pin_by_client_ip: bool,
    /// io_uring submission queue entries per core.
    pub uring_entries: u32,
    /// SQPOLL: a kernel thread per core polls the submission queue, so submitting costs
    /// no syscall, and sleeps after this many idle milliseconds (0 = off). It spends a
    /// CPU per core while busy; measured in tuning/README.md.
    pub sqpoll_idle_ms: u32,
    /// When the kernel runs a core's io_uring completion work (task work): `signal`
    /// (the kernel default: it interrupts the running thread with an IPI), `coop`
    /// (COOP_TASKRUN: at the thread's next kernel entry, no interrupt) or `defer`
    /// (DEFER_TASKRUN + SINGLE_ISSUER: only when the core waits for completions).
    /// Measured in tuning/README.md.
    pub uring_taskrun: TaskRun,
    /// Connections on `listen` may (`optional`) or must (`required`) start with a PROXY
    /// protocol header (v1 or v2, HAProxy's `send-proxy-v2`) naming the client: behind
    /// a load balancer, the client — not the balancer — is then the peer for rate
    /// limits, logs, loopback trust and core pinning. `optional` also serves direct
    /// connections (probes, operators) as themselves. A header is believed only from
    /// `trusted_proxies`.
    pub proxy_protocol: ProxyProtocol,
    /// Peers whose PROXY header is believed (CIDRs; default: loopback only). From any
    /// other peer a header is refused (`required`: the connection is closed and
    /// counted) or not read at all (`optional`: served as the peer it is, so the header
    /// is a malformed request, 400).
    pub trusted_proxies: Vec<crate::cidr::Cidr>,
    /// Host names (without port) that name this server, for requests granted rights by
    /// their address (loopback trust, the operator reserve): a page that rebinds its
    /// own DNS name to 127.0.0.1 sends its own name, and is refused 421. Empty (the
    /// default): the loopback names, the listen address, the host name and the node
    /// name. `*.example.org` allows the subdomains.
    pub allowed_hosts: Vec<String>,
}

/// Whether connections carry a PROXY protocol header (`server.proxy_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProxyProtocol {
    #[default]
    Off,
    Optional,
    Required,
}

/// When io_uring task work runs on a core (`server.uring_taskrun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskRun {
    Signal,
    Coop,
    Defer,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            cores: 0,
            data_dir: PathBuf::from("./auralis-data"),
            driver: DriverChoice::Auto,
            shutdown_grace_ms: 5000,
            pin_by_client_ip: true,
            uring_entries: 1024,
            sqpoll_idle_ms: 0,
            uring_taskrun: TaskRun::Signal,
            proxy_protocol: ProxyProtocol::Off,
            trusted_proxies: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            allowed_hosts: Vec::new(),
        }
    }
}

/// Which monoio driver a core runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DriverChoice {
    Auto,
    IoUring,
    Legacy,
}

/// Limits on everything an HTTP client controls.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
    pub header_read_timeout_ms: u64,
    pub body_read_timeout_ms: u64,
    pub keep_alive_timeout_ms: u64,
    /// A response write that makes no complete progress by then closes the connection
    /// (a client that never reads must not hold a task forever).
    pub write_timeout_ms: u64,
    pub max_connections_per_core: usize,
    /// Loopback connections let in past `max_connections_per_core` for observation
    /// routes only (health, metrics), so an operator can read a full node.
    pub operator_reserve_connections: usize,
    /// Requests served on one connection before it is closed (0 = unlimited).
    pub max_requests_per_connection: u64,
    /// Connections one client address (an IPv6 client: its `rate_limit.ipv6_prefix`
    /// network) may hold open on its core; past it the connection gets 503 and closes
    /// (counted), so one address cannot fill a core's table.
    pub max_connections_per_ip: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_headers: 96,
            max_body_bytes: 1024 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            keep_alive_timeout_ms: 60_000,
            write_timeout_ms: 30_000,
            max_connections_per_core: 10_000,
            operator_reserve_connections: 8,
            max_requests_per_connection: 0,
            max_connections_per_ip: 1024,
        }
    }
}

/// Per-client-IP fixed-window limits, one window per route class.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub requests_per_minute: u32,
    /// Audio chunk fetches: a listener pulls one per chunk duration, plus prefetch.
    pub stream_requests_per_minute: u32,
    /// Buckets kept per core; idle ones are swept, the oldest evicted past this.
    pub max_clients_per_core: usize,
    pub window_ms: u64,
    /// IPv6 clients share a bucket per network of this prefix length (default 64: one
    /// subscriber's /64 is one client, not 2^64 of them). 128 = per address.
    pub ipv6_prefix: u8,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            requests_per_minute: 100,
            stream_requests_per_minute: 1200,
            max_clients_per_core: 100_000,
            window_ms: 60_000,
            ipv6_prefix: 64,
        }
    }
}

/// Access control (tokens live in the database: `auralis-server token create`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Until the first token is created, let clients on loopback make changes (with a
    /// `Host` naming this server, no foreign `Origin`, JSON declared as JSON). Once any
    /// token has existed — revoked or not — loopback gets no rights by address: revoking
    /// the last token never hands admin back to every local process and web page. Turn it
    /// off behind a reverse proxy on the same host unless it sends PROXY headers
    /// (`server.proxy_protocol`): otherwise every client arrives from loopback.
    pub trust_loopback: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            trust_loopback: true,
        }
    }
}

/// Cross-origin policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins; `"*"` allows any.
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub max_age_s: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: vec!["*".into()],
            allowed_methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
                .map(String::from)
                .to_vec(),
            allowed_headers: ["Content-Type", "X-Request-ID", "Range", "Authorization"]
                .map(String::from)
                .to_vec(),
            max_age_s: 600,
        }
    }
}

/// Chunk cache budgets (used by the streaming path).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub tier1_bytes_per_core: u64,
    pub tier2_bytes: u64,
    pub chunk_duration_s: f64,
    /// Threads decoding chunks and measuring loudness, off the cores.
    pub decode_threads: usize,
    /// Client decode jobs each decode thread queues before refusing more (503, and
    /// readiness fails while it refuses).
    pub decode_queue: usize,
    /// How long a client waits for a chunk's decode before it gets 504 `timeout`; a
    /// decode thread busy on one job this long is counted stuck and its work goes to a
    /// fresh thread (a hung file system must not wedge every track of that thread).
    pub decode_timeout_ms: u64,
    /// Share of tier 2 that prefetched chunks nobody has asked for yet may take; they
    /// never push out a chunk a client asked for (cache/tier2.rs).
    pub prefetch_fraction: f64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            tier1_bytes_per_core: 64 << 20,
            tier2_bytes: 512 << 20,
            chunk_duration_s: 10.0,
            decode_threads: 2,
            decode_queue: 1024,
            decode_timeout_ms: 10_000,
            prefetch_fraction: 0.125,
        }
    }
}

/// WebSocket settings (docs/PROTOCOL.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    pub heartbeat_interval_ms: u64,
    pub heartbeat_timeout_ms: u64,
    pub max_message_bytes: usize,
    pub rate_base_per_minute: u32,
    pub outbound_queue: usize,
    pub slow_close_ms: u64,
    /// SO_SNDBUF for upgraded sockets; 0 keeps the kernel's autotuning (up to
    /// net.ipv4.tcp_wmem's max per socket: bound it for very many listeners).
    pub send_buffer_bytes: usize,
    /// How the WebSocket reader and writer reach the socket: `poll_io` (monoio's
    /// readiness-based TcpStreamPoll, no copy buffers) or `compat` (monoio-compat's
    /// StreamWrapper over owned-buffer I/O). Measured with `tuning/ws-transport.sh`.
    pub transport: WsTransport,
    /// What the `connect` message tells clients about retrying a request that got no
    /// answer: wait this long, at most `retry_max` times.
    pub retry_timeout_s: f64,
    pub retry_max: u32,
}

/// See [`WsConfig::transport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WsTransport {
    PollIo,
    Compat,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 30_000,
            heartbeat_timeout_ms: 10_000,
            max_message_bytes: 65_536,
            rate_base_per_minute: 100,
            outbound_queue: 256,
            slow_close_ms: 5000,
            send_buffer_bytes: 0,
            transport: WsTransport::PollIo,
            retry_timeout_s: 30.0,
            retry_max: 3,
        }
    }
}

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "AURALIS_";

/// Fills `tracing.*` keys the file left unset from the standard `OTEL_*` variables.
fn otel_defaults(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (var, key) in OTEL_ENV {
        let Some((_, value)) = env.iter().find(|(k, _)| k == var) else {
            continue;
        };
        let set = table
            .get("tracing")
            .and_then(|t| t.as_table())
            .is_some_and(|t| t.contains_key(*key));
        if !set {
            // A URL or a name stays a string even when it reads as TOML (`true`, `1`).
            let value = match *key {
                "sample_ratio" => parse_env_value(value),
                _ => toml::Value::String(value.clone()),
            };
            insert_path(table, "tracing", key, value).map_err(|source| ConfigError::Env {
                var: var.to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

impl Config {
    /// Granularity of the per-core deadline sweep: a quarter of the shortest HTTP
    /// timeout, between 10 ms and 1 s.
    pub fn deadline_tick(&self) -> std::time::Duration {
        let h = &self.http;
        let shortest = h
            .header_read_timeout_ms
            .min(h.body_read_timeout_ms)
            .min(h.keep_alive_timeout_ms)
            .min(h.write_timeout_ms);
        std::time::Duration::from_millis((shortest / 4).clamp(10, 1000))
    }

    /// Builds the config from an optional file and the given environment variables.
    /// CLI flags are applied afterwards by the caller through [`Config::set`].
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?
            }
            None => toml::Table::new(),
        };
        let env: Vec<(String, String)> = env.into_iter().collect();
        otel_defaults(&mut table, &env)?;
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (var, value) in env {
            let rest = &var[ENV_PREFIX.len()..];
            let Some((section, key)) = rest.split_once("__") else {
                // AURALIS_ variables without a section separator belong to other tools
                // (e.g. AURALIS_LOG); only SECTION__KEY ones are config.
                continue;
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            insert_path(&mut table, &section, &key, parse_env_value(&value))
                .map_err(|source| ConfigError::Env { var, source })?;
        }
        Self::from_table(table)
    }

    /// Overrides one `section.key` with a TOML-typed value, re-validating the whole.
    pub fn set(&mut self, section: &str, key: &str, value: toml::Value) -> Result<(), ConfigError> {
        let mut table =
            toml::Table::try_from(&*self).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        insert_path(&mut table, section, key, value)?;
        *self = Self::from_table(table)?;
        Ok(())
    }

    pub(crate) fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string().trim().to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The cluster's engines are named by URL scheme (checked again when connecting).
    fn validate_engine_urls(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        if let Some(url) = &self.library.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return bad("library.database_url", "must be a postgres:// URL");
        }
        if let Some(url) = &self.cluster.broker_url
            && !(url.starts_with("redis://") || url.starts_with("unix://"))
        {
            return bad("cluster.broker_url", "must be a redis:// or unix:// URL");
        }
        Ok(())
    }

    /// The limits that bound what one client may hold or make the server wait for.
    fn validate_client_bounds(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        if self.http.max_connections_per_ip == 0 {
            return bad("http.max_connections_per_ip", "must be at least 1");
        }
        if !(1..=128).contains(&self.rate_limit.ipv6_prefix) {
            return bad("rate_limit.ipv6_prefix", "must be between 1 and 128");
        }
        if !(self.library.missing_grace_days >= 0.0 && self.library.missing_grace_days.is_finite())
        {
            return bad(
                "library.missing_grace_days",
                "must be a number of days, 0 or more",
            );
        }
        if !(0.0..=1.0).contains(&self.library.max_missing_share) {
            return bad("library.max_missing_share", "must be between 0 and 1");
        }
        if self.cache.decode_timeout_ms < 100 {
            return bad("cache.decode_timeout_ms", "must be at least 100");
        }
        Ok(())
    }

    /// Range checks serde cannot express; each names its key.
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        self.validate_engine_urls()?;
        self.validate_client_bounds()?;
        self.tracing.validate()?;
        if self.http.max_header_bytes < 256 {
            return bad("http.max_header_bytes", "must be at least 256");
        }
        if self.http.max_headers == 0 || self.http.max_headers > 128 {
            return bad("http.max_headers", "must be between 1 and 128");
        }
        for (key, v) in [
            (
                "http.header_read_timeout_ms",
                self.http.header_read_timeout_ms,
            ),
            ("http.body_read_timeout_ms", self.http.body_read_timeout_ms),
            (
                "http.keep_alive_timeout_ms",
                self.http.keep_alive_timeout_ms,
            ),
            ("http.write_timeout_ms", self.http.write_timeout_ms),
        ] {
            if v < 10 {
                return bad(key, "must be at least 10 ms");
            }
        }
        if self.http.max_connections_per_core == 0 {
            return bad("http.max_connections_per_core", "must be at least 1");
        }
        if self.rate_limit.window_ms == 0 {
            return bad("rate_limit.window_ms", "must be positive");
        }
        if self.rate_limit.max_clients_per_core == 0 {
            return bad("rate_limit.max_clients_per_core", "must be at least 1");
        }
        if !(self.cache.chunk_duration_s > 0.0 && self.cache.chunk_duration_s <= 60.0) {
            return bad("cache.chunk_duration_s", "must be in (0, 60]");
        }
        if self.cache.decode_threads == 0 || self.cache.decode_threads > 64 {
            return bad("cache.decode_threads", "must be between 1 and 64");
        }
        if !(0.0..=1.0).contains(&self.cache.prefetch_fraction) {
            return bad("cache.prefetch_fraction", "must be between 0 and 1");
        }
        if self.cache.decode_queue == 0 {
            return bad("cache.decode_queue", "must be at least 1");
        }
        if !(self.ws.retry_timeout_s > 0.0 && self.ws.retry_timeout_s.is_finite()) {
            return bad("ws.retry_timeout_s", "must be a positive number of seconds");
        }
        if self.monitor.interval_ms < 50 {
            return bad("monitor.interval_ms", "must be at least 50");
        }
        if self.monitor.window == 0 {
            return bad("monitor.window", "must be at least 1");
        }
        let m = &self.monitor;
        for (key, v) in [
            ("monitor.slo_api_ms", m.slo_api_ms),
            ("monitor.slo_chunk_hit_ms", m.slo_chunk_hit_ms),
            ("monitor.slo_chunk_miss_ms", m.slo_chunk_miss_ms),
            ("monitor.slo_ws_ms", m.slo_ws_ms),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return bad(key, "must be a positive number of milliseconds");
            }
        }
        if !(m.stale_ws_share >= 0.0 && m.stale_ws_share < 1.0) {
            return bad("monitor.stale_ws_share", "must be in [0, 1)");
        }
        if !(m.rate_limited_warning > 0.0 && m.rate_limited_warning <= 1.0) {
            return bad("monitor.rate_limited_warning", "must be in (0, 1]");
        }
        if self.ws.heartbeat_interval_ms < 100 {
            return bad("ws.heartbeat_interval_ms", "must be at least 100");
        }
        self.tls.validate()
    }

    /// The effective configuration as TOML, for `config --print`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn insert_path(
    table: &mut toml::Table,
    section: &str,
    key: &str,
    value: toml::Value,
) -> Result<(), NotASection> {
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => {
            t.insert(key.to_string(), value);
            Ok(())
        }
        _ => Err(NotASection {
            section: section.to_string(),
        }),
    }
}

/// Environment values are typed like TOML values when they parse as one (numbers,
/// booleans, arrays), else taken as plain strings, so `AURALIS_SERVER__LISTEN=0.0.0.0:80`
/// needs no quoting.
fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn otel_variables_fill_what_the_file_and_auralis_variables_leave() {
        let c = Config::load(
            None,
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_SERVICE_NAME", "true"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
                ("AURALIS_TRACING__SAMPLE_RATIO", "0.5"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.tracing.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(c.tracing.service_name, "true");
        assert_eq!(c.tracing.sample_ratio, 0.5);
        let err = Config::load(None, env(&[("OTEL_TRACES_SAMPLER_ARG", "2")])).unwrap_err();
        assert!(err.to_string().contains("tracing.sample_ratio"), "{err}");
        let err =
            Config::load(None, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://x")])).unwrap_err();
        assert!(err.to_string().contains("tracing.otlp_endpoint"), "{err}");
    }

    #[test]
    fn env_overrides_file_and_names_bad_keys() {
        let dir = std::env::temp_dir().join(format!("auralis-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[rate_limit]\nrequests_per_minute = 7\n[http]\nmax_body_bytes = 10\n",
        )
        .unwrap();
        let cfg = Config::load(
            Some(&file),
            env(&[
                ("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "9"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.rate_limit.requests_per_minute, 9);
        assert_eq!(cfg.http.max_body_bytes, 10);

        let err = Config::load(None, env(&[("AURALIS_HTTP__MAX_BODYBYTES", "1")])).unwrap_err();
        assert!(err.to_string().contains("max_bodybytes"), "{err}");
        let err = Config::load(None, env(&[("AURALIS_HTTP__MAX_BODY_BYTES", "lots")])).unwrap_err();
        assert!(err.to_string().contains("max_body_bytes"), "{err}");
        std::fs::write(&file, "[server]\nlisten = \"nope\"\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        for (key, url) in [
            ("AURALIS_LIBRARY__DATABASE_URL", "mysql://x/y"),
            ("AURALIS_CLUSTER__BROKER_URL", "nats://x"),
        ] {
            let err = Config::load(None, env(&[(key, url)])).unwrap_err();
            let field = key.trim_start_matches("AURALIS_").replace("__", ".");
            assert!(err.to_string().contains(&field.to_lowercase()), "{err}");
        }
    }

    #[test]
    fn set_revalidates() {
        let mut cfg = Config::default();
        cfg.set("server", "cores", toml::Value::Integer(3)).unwrap();
        assert_eq!(cfg.server.cores, 3);
        assert!(
            cfg.set("http", "max_headers", toml::Value::Integer(0))
                .is_err()
        );
    }
}
