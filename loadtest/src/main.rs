//! `auralis-loadtest`: load tests on loopback, thread-per-core.
//!
//! auralis-loadtest http URL... [--connections C] [--rate R] [--duration 10s]
//!   [--requests N] [--warmup 2s] [--cores K] [--json FILE] [--hdr-log FILE]
//!   [--source-ips 127.0.0.1-127.0.0.20] [--timeout 5s] [--quiet]

use auralis_loadtest::plan::{Model, Plan, parse_ip_range, parse_target};
use auralis_loadtest::{limits, run};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[derive(Parser)]
#[command(
    name = "auralis-loadtest",
    version,
    about = "Thread-per-core HTTP load generator with coordinated-omission-corrected HDR latency"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Keep-alive HTTP/1.1 GETs against one or more URLs (URL@weight for a mix).
    Http(HttpArgs),
    /// N WebSocket listeners on `notifications`; publishes M notifications at a rate;
    /// reports publish → receipt latency over all deliveries.
    WsBroadcast(BroadcastArgs),
}

#[derive(clap::Args)]
struct BroadcastArgs {
    /// Server address, e.g. 127.0.0.1:8080 (loopback only).
    #[arg(long)]
    server: std::net::SocketAddr,
    #[arg(long, default_value_t = 1000)]
    listeners: usize,
    #[arg(long, default_value_t = 20)]
    publishes: u64,
    /// Publishes per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    #[arg(long, default_value_t = 1)]
    cores: usize,
    #[arg(long)]
    source_ips: Option<String>,
    #[arg(long)]
    json: Option<PathBuf>,
}

fn broadcast(a: BroadcastArgs) -> Result<(), String> {
    if !a.server.ip().is_loopback() {
        return Err("--server must be a loopback address".into());
    }
    if a.rate <= 0.0 || a.listeners == 0 || a.publishes == 0 {
        return Err("--rate, --listeners and --publishes must be positive".into());
    }
    let cores = pick_cpus(a.cores)?;
    limits::check(a.listeners, a.cores)?;
    let plan = auralis_loadtest::broadcast::BroadcastPlan {
        server: a.server,
        listeners: a.listeners,
        publishes: a.publishes,
        rate: a.rate,
        cores,
        source_ips: a
            .source_ips
            .as_deref()
            .map(parse_ip_range)
            .transpose()?
            .unwrap_or_default(),
    };
    let report = auralis_loadtest::broadcast::run(plan)?;
    print!("{}", report.table());
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}

#[derive(clap::Args)]
struct HttpArgs {
    /// Targets: http://127.0.0.1:PORT/path[@weight]. Loopback only.
    #[arg(required = true)]
    urls: Vec<String>,
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
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Executors (pinned to the first K CPUs allowed to this process).
    #[arg(long, default_value_t = 1)]
    cores: usize,
    #[arg(long)]
    json: Option<PathBuf>,
    /// HdrHistogram interval log, one interval per second.
    #[arg(long)]
    hdr_log: Option<PathBuf>,
    /// Bind client sockets over a loopback range, e.g. 127.0.0.1-127.0.0.20.
    #[arg(long)]
    source_ips: Option<String>,
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    timeout: Duration,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("bad duration unit in {s} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data filled by sched_getaffinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// The first `n` CPUs this process may run on, one executor each.
fn pick_cpus(n: usize) -> Result<Vec<usize>, String> {
    let cpus = allowed_cpus();
    if n == 0 || n > cpus.len() {
        return Err(format!(
            "--cores {n} but {} CPUs are allowed ({cpus:?})",
            cpus.len()
        ));
    }
    Ok(cpus[..n].to_vec())
}

fn main() -> ExitCode {
    let a = match Cli::parse().scenario {
        Scenario::Http(a) => a,
        Scenario::WsBroadcast(b) => {
            return match broadcast(b) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            };
        }
    };
    let result = (|| -> Result<(), String> {
        if a.duration.is_none() && a.requests.is_none() {
            return Err("give --duration or --requests (every run is bounded)".into());
        }
        if a.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        let cores = pick_cpus(a.cores)?;
        limits::check(a.connections, a.cores)?;
        let targets = a
            .urls
            .iter()
            .map(|u| parse_target(u))
            .collect::<Result<Vec<_>, _>>()?;
        let plan = Plan {
            targets,
            connections: a.connections,
            model: match a.rate {
                Some(r) if r > 0.0 => Model::Open { rate: r },
                Some(_) => return Err("--rate must be positive".into()),
                None => Model::Closed,
            },
            duration: a.duration,
            requests: a.requests,
            warmup: a.warmup,
            cores,
            source_ips: a
                .source_ips
                .as_deref()
                .map(parse_ip_range)
                .transpose()?
                .unwrap_or_default(),
            timeout: a.timeout,
            progress: !a.quiet,
        };
        let started = SystemTime::now();
        let report = run::run(plan)?;
        print!("{}", report.table());
        if let Some(p) = &a.json {
            let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
        if let Some(p) = &a.hdr_log {
            report
                .write_hdr_log(p, started)
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
