//! `auralis-loadtest`: load tests on loopback, thread-per-core.
//!
//! auralis-loadtest http URL... [--connections C] [--rate R] [--duration 10s]
//!   [--requests N] [--warmup 2s] [--cores K] [--pipeline D] [--json FILE]
//!   [--hdr-log FILE] [--plot FILE.svg] [--source-ips 127.0.0.1-127.0.0.20]
//!   [--timeout 5s] [--quiet] [--threshold 'p99<5ms']... [--token T]
//! auralis-loadtest api-mix SERVER [--mix FILE.toml] (same load and output flags)
//! auralis-loadtest listeners SERVER --listeners N [--speed F] [--duration 30s] ...
//! auralis-loadtest subsonic SERVER --user U --password P --listeners N [--format raw|wav|opus] ...
//! auralis-loadtest ws-broadcast SERVER --listeners N --publishes M --rate R [--publish-to SERVER2] ...
//! (https:// and wss:// servers with --tls-ca CERT.pem)

// The server's own CPU-set reader, compiled into this binary (it needs only libc).
#[path = "../../src/runtime/cpus.rs"]
mod cpus;

use auralis_loadtest::apimix::ApiMix;
use auralis_loadtest::broadcast::BroadcastPlan;
use auralis_loadtest::endpoint::{Endpoint, ServerUrl};
use auralis_loadtest::listeners::ListenersPlan;
use auralis_loadtest::plan::{
    Model, Plan, parse_duration, parse_ip_range, parse_server, parse_target,
};
use auralis_loadtest::report::Report;
use auralis_loadtest::subsonic::SubsonicPlan;
use auralis_loadtest::threshold::{self, Threshold};
use auralis_loadtest::workload::{FixedMix, WorkloadFactory};
use auralis_loadtest::{limits, plot, run};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Parser)]
#[command(
    name = "auralis-loadtest",
    version,
    about = "Thread-per-core HTTP/WebSocket load generator with coordinated-omission-corrected HDR latency (loopback targets only)"
)]
struct Cli {
    /// The certificate (or CA) to trust for https:// and wss:// servers, PEM.
    #[arg(long, global = true)]
    tls_ca: Option<PathBuf>,
    /// A bearer token (`auralis-server token create`) sent on every request and
    /// WebSocket upgrade, for servers where changes need one.
    #[arg(long, global = true, env = "AURALIS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Keep-alive HTTP/1.1 GETs against one or more URLs (URL@weight for a mix).
    Http(HttpArgs),
    /// A weighted mix of auralis-server's REST API (list pages with cursors, search,
    /// tracks, albums, playlist writes), discovered from /api/openapi.json or --mix.
    ApiMix(ApiMixArgs),
    /// N simulated players: /ws control channel plus chunks pulled at playback pace;
    /// time to first chunk, chunk latency, underruns, cache tiers.
    Listeners(ListenersArgs),
    /// N WebSocket listeners on `notifications`; publishes M notifications at a rate;
    /// reports publish → receipt latency over all deliveries.
    WsBroadcast(BroadcastArgs),
    /// N Subsonic apps logged in as a user: getArtists → getArtist → getAlbum → stream
    /// a song, then play it out; whole-song time and underruns.
    Subsonic(SubsonicArgs),
}

#[derive(clap::Args)]
struct SubsonicArgs {
    /// The server: http://127.0.0.1:8080 (loopback only).
    #[arg(value_parser = parse_server)]
    server: ServerUrl,
    #[arg(long, default_value_t = 100)]
    listeners: usize,
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    duration: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Playback speed-up (10 plays a 30 s song in 3 s).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    ramp: Duration,
    /// The user (`auralis-server user create`).
    #[arg(long)]
    user: String,
    /// Its password.
    #[arg(long, env = "AURALIS_SUBSONIC_PASSWORD", hide_env_values = true)]
    password: String,
    /// raw (the file), wav or opus (made by the server from its chunk cache).
    #[arg(long, default_value = "raw", value_parser = ["raw", "wav", "opus"])]
    format: String,
    /// maxBitRate in kbit/s (0: none).
    #[arg(long, default_value_t = 0)]
    max_bit_rate: u32,
    #[arg(long, default_value_t = 1)]
    cores: usize,
    #[arg(long)]
    source_ips: Option<String>,
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    #[command(flatten)]
    out: Output,
}

/// How much load, for how long (http, api-mix).
#[derive(clap::Args)]
struct Load {
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Open model: requests per second in total (latency from the intended send time).
    /// Without it: closed model.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Total requests (split exactly over the connections).
    #[arg(long)]
    requests: Option<u64>,
    /// Run this long first, unmeasured.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Executors (pinned to the first K CPUs allowed to this process).
    #[arg(long, default_value_t = 1)]
    cores: usize,
    /// Bind client sockets over a loopback range, e.g. 127.0.0.1-127.0.0.20.
    #[arg(long)]
    source_ips: Option<String>,
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    timeout: Duration,
}

/// Where results go (every scenario).
#[derive(clap::Args)]
struct Output {
    /// The report as JSON (with the per-second series).
    #[arg(long)]
    json: Option<PathBuf>,
    /// HdrHistogram interval log, one interval per second.
    #[arg(long)]
    hdr_log: Option<PathBuf>,
    /// SVG chart: latency percentile spectrum and latency over time.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
    /// Pass/fail criterion, k6-style, repeatable: `p99<5ms`, `errors<0.1%`,
    /// `rate>=900` (p50, p90, p99, p999, max, errors, rate). Any crossed: exit 99.
    #[arg(long = "threshold")]
    thresholds: Vec<Threshold>,
}

#[derive(clap::Args)]
struct HttpArgs {
    /// Targets: http://127.0.0.1:PORT/path[@weight], all on one server. Loopback only.
    #[arg(required = true)]
    urls: Vec<String>,
    #[command(flatten)]
    load: Load,
    /// Requests written back to back per connection before reading the answers
    /// (closed model only).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    #[command(flatten)]
    out: Output,
}

#[derive(clap::Args)]
struct ApiMixArgs {
    /// The server: http://127.0.0.1:8080 (loopback only).
    #[arg(value_parser = parse_server)]
    server: ServerUrl,
    /// TOML file of `[[op]]` tables (name, method, path, body, weight, follow_cursor)
    /// instead of the mix discovered from /api/openapi.json.
    #[arg(long)]
    mix: Option<PathBuf>,
    #[command(flatten)]
    load: Load,
    #[command(flatten)]
    out: Output,
}

#[derive(clap::Args)]
struct ListenersArgs {
    /// The server: http://127.0.0.1:8080 (loopback only).
    #[arg(value_parser = parse_server)]
    server: ServerUrl,
    #[arg(long, alias = "connections", default_value_t = 100)]
    listeners: usize,
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    duration: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Playback speed-up (10 pulls a 10 s chunk every second).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Spread listener starts over this.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    ramp: Duration,
    /// Chunk format: wav, f32, flac (lossless) or opus (Ogg Opus).
    #[arg(long, default_value = "wav", value_parser = ["wav", "f32", "flac", "opus"])]
    format: String,
    /// Opus bitrate in kbit/s (the server's default, 128, when not given).
    #[arg(long, value_parser = clap::value_parser!(u16).range(32..=256))]
    bitrate: Option<u16>,
    #[arg(long, default_value = "original", value_parser = ["original", "normalized"])]
    preset: String,
    /// Play only the library's first N tracks (more cache hits).
    #[arg(long)]
    tracks: Option<usize>,
    #[arg(long, default_value_t = 1)]
    cores: usize,
    #[arg(long)]
    source_ips: Option<String>,
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
    #[command(flatten)]
    out: Output,
}

#[derive(clap::Args)]
struct BroadcastArgs {
    /// The server: http://127.0.0.1:8080 (loopback only).
    #[arg(value_parser = parse_server)]
    server: ServerUrl,
    #[arg(long, alias = "connections", default_value_t = 1000)]
    listeners: usize,
    /// Publish on this server instead (another node of a cluster: the latency then
    /// includes the broker hop).
    #[arg(long, value_parser = parse_server)]
    publish_to: Option<ServerUrl>,
    /// Measured notifications (default 20, or rate × --duration).
    #[arg(long, conflicts_with = "duration")]
    publishes: Option<u64>,
    /// Publish for this long (publishes = rate × duration).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Publish for this long first, unmeasured.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Publishes per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    #[arg(long, default_value_t = 1)]
    cores: usize,
    #[arg(long)]
    source_ips: Option<String>,
    #[command(flatten)]
    out: Output,
}

/// The first `n` CPUs this process may run on, one executor each.
fn pick_cpus(n: usize) -> Result<Vec<usize>, String> {
    let cpus = cpus::allowed_cpus().unwrap_or_else(|_| vec![0]);
    if n == 0 || n > cpus.len() {
        return Err(format!(
            "--cores {n} but {} CPUs are allowed ({cpus:?})",
            cpus.len()
        ));
    }
    Ok(cpus[..n].to_vec())
}

fn source_ips(s: &Option<String>) -> Result<Vec<std::net::Ipv4Addr>, String> {
    Ok(s.as_deref()
        .map(parse_ip_range)
        .transpose()?
        .unwrap_or_default())
}

/// The engine's plan for `http` and `api-mix`.
fn plan(
    server: Endpoint,
    workload: Arc<dyn WorkloadFactory>,
    load: &Load,
    pipeline: usize,
    out: &Output,
) -> Result<Plan, String> {
    if load.duration.is_none() && load.requests.is_none() {
        return Err("give --duration or --requests (every run is bounded)".into());
    }
    if load.connections == 0 || pipeline == 0 {
        return Err("--connections and --pipeline must be at least 1".into());
    }
    let cores = pick_cpus(load.cores)?;
    limits::check(load.connections, load.cores)?;
    Ok(Plan {
        server,
        workload,
        connections: load.connections,
        pipeline,
        model: match load.rate {
            Some(r) if r > 0.0 => Model::Open { rate: r },
            Some(_) => return Err("--rate must be positive".into()),
            None => Model::Closed,
        },
        duration: load.duration,
        requests: load.requests,
        warmup: load.warmup,
        cores,
        source_ips: source_ips(&load.source_ips)?,
        timeout: load.timeout,
        progress: !out.quiet,
    })
}

/// Prints the table and the thresholds' verdicts and writes the files asked for;
/// `Ok(false)` when a threshold was crossed.
fn finish(report: &Report, out: &Output, started: SystemTime) -> Result<bool, String> {
    print!("{}", report.table());
    let (verdicts, passed) = threshold::summary(&out.thresholds, report);
    print!("{verdicts}");
    if let Some(p) = &out.json {
        let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if let Some(p) = &out.hdr_log {
        report
            .write_hdr_log(p, started)
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if let Some(p) = &out.plot {
        plot::write_svg(report, p)?;
    }
    match report.failure() {
        Some(why) => Err(format!("the run failed: {why}")),
        None => Ok(passed),
    }
}

fn scenario(s: Scenario, tls_ca: Option<&Path>) -> Result<bool, String> {
    let started = SystemTime::now();
    let endpoint = |url: ServerUrl| Endpoint::new(url, tls_ca);
    match s {
        Scenario::Http(a) => {
            let targets = a
                .urls
                .iter()
                .map(|u| parse_target(u))
                .collect::<Result<Vec<_>, _>>()?;
            let (mix, server) = FixedMix::new(&targets)?;
            let plan = plan(
                endpoint(server)?,
                Arc::new(mix),
                &a.load,
                a.pipeline,
                &a.out,
            )?;
            finish(&run::run(plan)?, &a.out, started)
        }
        Scenario::ApiMix(a) => {
            let server = endpoint(a.server)?;
            let mix = ApiMix::discover(&server, a.mix.as_deref())?;
            let plan = plan(server, Arc::new(mix), &a.load, 1, &a.out)?;
            finish(&run::run(plan)?, &a.out, started)
        }
        Scenario::Listeners(a) => {
            let cores = pick_cpus(a.cores)?;
            limits::check(a.listeners * 2, a.cores)?;
            let plan = ListenersPlan {
                server: endpoint(a.server)?,
                listeners: a.listeners,
                duration: a.duration,
                warmup: a.warmup,
                speed: a.speed,
                ramp: a.ramp,
                format: a.format.clone(),
                bitrate: a.bitrate,
                preset: a.preset.clone(),
                tracks: a.tracks,
                cores,
                source_ips: source_ips(&a.source_ips)?,
                timeout: a.timeout,
                progress: !a.out.quiet,
            };
            finish(&auralis_loadtest::listeners::run(plan)?, &a.out, started)
        }
        Scenario::Subsonic(a) => {
            let cores = pick_cpus(a.cores)?;
            limits::check(a.listeners, a.cores)?;
            let plan = SubsonicPlan {
                server: endpoint(a.server)?,
                listeners: a.listeners,
                duration: a.duration,
                warmup: a.warmup,
                speed: a.speed,
                ramp: a.ramp,
                user: a.user,
                password: a.password,
                format: a.format,
                max_bit_rate: a.max_bit_rate,
                cores,
                source_ips: source_ips(&a.source_ips)?,
                timeout: a.timeout,
                progress: !a.out.quiet,
            };
            finish(&auralis_loadtest::subsonic::run(plan)?, &a.out, started)
        }
        Scenario::WsBroadcast(a) => {
            let publishes = match (a.publishes, a.duration) {
                (Some(n), _) => n,
                (None, Some(d)) => (d.as_secs_f64() * a.rate).round() as u64,
                (None, None) => 20,
            };
            if a.rate <= 0.0 || a.listeners == 0 || publishes == 0 {
                return Err(
                    "--rate, --listeners and --publishes (or --duration) must be positive".into(),
                );
            }
            let cores = pick_cpus(a.cores)?;
            limits::check(a.listeners, a.cores)?;
            let plan = BroadcastPlan {
                server: endpoint(a.server)?,
                publisher: a.publish_to.map(endpoint).transpose()?,
                listeners: a.listeners,
                publishes,
                warmup_publishes: (a.warmup.as_secs_f64() * a.rate).round() as u64,
                rate: a.rate,
                cores,
                source_ips: source_ips(&a.source_ips)?,
                progress: !a.out.quiet,
            };
            finish(&auralis_loadtest::broadcast::run(plan)?, &a.out, started)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(t) = &cli.token {
        auralis_loadtest::client::use_token(t);
    }
    match scenario(cli.scenario, cli.tls_ca.as_deref()) {
        Ok(true) => ExitCode::SUCCESS,
        // k6's code for crossed thresholds, so a CI job can tell them from errors.
        Ok(false) => ExitCode::from(99),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
