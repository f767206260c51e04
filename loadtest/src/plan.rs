//! What to run: targets, model, bounds.

use crate::endpoint::{Endpoint, ServerUrl};
use crate::workload::WorkloadFactory;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// One HTTP target (`http://host:port/path` or `https://…`), with a weight in the mix.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `https://`: through TLS.
    pub secure: bool,
    pub host: String,
    pub path: String,
    pub weight: u32,
}

/// Parses `http://127.0.0.1:8080/path[@weight]`. Loopback addresses only: the harness
/// is for load testing on this machine.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let (url, weight) = match url.rsplit_once('@') {
        Some((u, w)) if w.chars().all(|c| c.is_ascii_digit()) => {
            (u, w.parse().map_err(|_| "bad weight")?)
        }
        _ => (url, 1),
    };
    let (secure, rest) = split_scheme(url)?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = host
        .replace("localhost", "127.0.0.1")
        .parse()
        .map_err(|_| format!("{url}: host must be an IP:port (e.g. 127.0.0.1:8080)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{url}: only loopback targets (127.0.0.0/8, ::1) are allowed"
        ));
    }
    Ok(Target {
        addr,
        secure,
        host: host.to_string(),
        path: path.to_string(),
        weight,
    })
}

/// A server given as `http://127.0.0.1:8080` or `127.0.0.1:8080` (loopback only).
pub fn parse_server(s: &str) -> Result<ServerUrl, String> {
    let url = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let t = parse_target(&url)?;
    if t.path != "/" {
        return Err(format!("{s}: give the server only (no path)"));
    }
    Ok(ServerUrl {
        addr: t.addr,
        secure: t.secure,
    })
}

/// `http://` and `ws://` are plain, `https://` and `wss://` are TLS.
fn split_scheme(url: &str) -> Result<(bool, &str), String> {
    for (scheme, secure) in [
        ("http://", false),
        ("ws://", false),
        ("https://", true),
        ("wss://", true),
    ] {
        if let Some(rest) = url.strip_prefix(scheme) {
            return Ok((secure, rest));
        }
    }
    Err(format!(
        "{url}: only http://, https://, ws:// and wss:// URLs"
    ))
}

/// `500ms`, `10s`, `2m` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("bad duration {s}"));
    }
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("bad duration unit in {s} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Open (constant arrival rate) or closed (fixed concurrency) model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    Open { rate: f64 },
    Closed,
}

/// A closed- or open-model run of a [`WorkloadFactory`] against one server.
#[derive(Clone)]
pub struct Plan {
    pub server: Endpoint,
    pub workload: Arc<dyn WorkloadFactory>,
    pub connections: usize,
    /// Requests written back to back per connection before reading the answers (closed
    /// model only; 1 = no pipelining).
    pub pipeline: usize,
    pub model: Model,
    pub duration: Option<Duration>,
    /// Total requests (split exactly over the connections).
    pub requests: Option<u64>,
    pub warmup: Duration,
    pub cores: Vec<usize>,
    pub source_ips: Vec<Ipv4Addr>,
    pub timeout: Duration,
    pub progress: bool,
}

/// `127.0.0.1-127.0.0.20` → the addresses in between (loopback only).
pub fn parse_ip_range(s: &str) -> Result<Vec<Ipv4Addr>, String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: Ipv4Addr = a.trim().parse().map_err(|_| format!("bad address {a}"))?;
    let b: Ipv4Addr = b.trim().parse().map_err(|_| format!("bad address {b}"))?;
    if !a.is_loopback() || !b.is_loopback() || u32::from(a) > u32::from(b) {
        return Err("source addresses must be an ascending loopback range".into());
    }
    Ok((u32::from(a)..=u32::from(b)).map(Ipv4Addr::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_ranges() {
        let t = parse_target("http://127.0.0.1:8080/api/version@3").unwrap();
        assert_eq!(
            (t.path.as_str(), t.weight, t.addr.port()),
            ("/api/version", 3, 8080)
        );
        assert!(
            parse_target("http://10.0.0.1:80/").is_err(),
            "non-loopback refused"
        );
        let s = parse_server("wss://127.0.0.1:8443").unwrap();
        assert!(s.secure && s.addr.port() == 8443);
        assert!(!parse_server("127.0.0.1:80").unwrap().secure);
        assert!(parse_target("https://127.0.0.1:8443/x").unwrap().secure);
        assert!(parse_target("ftp://127.0.0.1:21/").is_err());
        assert_eq!(parse_ip_range("127.0.0.1-127.0.0.3").unwrap().len(), 3);
        assert!(parse_ip_range("127.0.0.1-192.168.0.1").is_err());
    }
}
