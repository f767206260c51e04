//! `auralis-server doctor`: checks what this host allows against what the configuration
//! will ask of it, and says what to change. Each check names the setting, what it found,
//! and the command or file line that fixes it (`tuning/sysctl.conf`,
//! `tuning/limits.conf`, `tuning/auralis-server.service`).

use crate::config::Config;
use serde::Serialize;
use std::fmt;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Works, but limits scale or speed.
    Warn,
    /// The server will not start or will fail under load.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub found: String,
    /// What to change; empty when nothing needs to.
    pub fix: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        write!(f, "[{tag}] {:<22} {}", self.name, self.found)?;
        if !self.fix.is_empty() {
            write!(f, "\n       fix: {}", self.fix)?;
        }
        Ok(())
    }
}

fn check(name: &'static str, verdict: Verdict, found: String, fix: &str) -> Check {
    Check {
        name,
        verdict,
        found,
        fix: if verdict == Verdict::Ok {
            String::new()
        } else {
            fix.to_string()
        },
    }
}

/// Runs every check for `config`.
pub fn run(config: &Config) -> Vec<Check> {
    let cores = effective_cores(config);
    let mut checks = vec![
        io_uring(),
        cpus(config),
        nofile(config, cores),
        memlock(),
        somaxconn(),
        syn_backlog(),
        port_range(),
        socket_filter(cores),
    ];
    checks.extend(cluster_engines(config));
    checks
}

/// The shared engines a cluster node is configured for answer (only those configured).
fn cluster_engines(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(url) = &config.cluster.broker_url {
        let pinged = redis::Client::open(url.as_str())
            .and_then(|c| crate::cluster::publisher::connect(&c))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        out.push(match pinged {
            Ok(_) => check("broker", Verdict::Ok, format!("{url} answers"), ""),
            Err(e) => check(
                "broker",
                Verdict::Warn,
                format!("{url}: {e}"),
                "start redis-server there (the node starts anyway: topics stay local and health says degraded until it answers)",
            ),
        });
    }
    if let Some(url) = &config.library.database_url {
        out.push(match crate::library::shared::connect(url) {
            Ok(_) => check("database", Verdict::Ok, "PostgreSQL answers".into(), ""),
            Err(e) => check(
                "database",
                Verdict::Fail,
                format!("{e}"),
                "start PostgreSQL or correct library.database_url (the node copies the library from it at start)",
            ),
        });
    }
    out
}

fn effective_cores(config: &Config) -> usize {
    let allowed = crate::runtime::cpus::allowed_cpus().map_or(1, |c| c.len());
    match config.server.cores {
        0 => allowed,
        n => n,
    }
}

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn io_uring() -> Check {
    let disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
    let built = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(64)
        .build();
    match (built, disabled.as_deref()) {
        (Ok(_), _) => check("io_uring", Verdict::Ok, "a ring can be created".into(), ""),
        (Err(e), d) => check(
            "io_uring",
            Verdict::Warn,
            format!(
                "cannot create a ring ({e}); kernel.io_uring_disabled = {}",
                d.unwrap_or("n/a")
            ),
            "the server falls back to epoll (--driver auto). For io_uring: sysctl kernel.io_uring_disabled=0, and allow io_uring_setup in the container's seccomp profile",
        ),
    }
}

fn cpus(config: &Config) -> Check {
    let allowed = crate::runtime::cpus::allowed_cpus().unwrap_or_default();
    let asked = config.server.cores;
    let found = format!(
        "{} CPUs allowed {allowed:?}; server.cores = {asked} (0 = all)",
        allowed.len()
    );
    if asked > allowed.len() {
        check(
            "cpus",
            Verdict::Fail,
            found,
            "lower --cores to the allowed CPUs, or widen the cpuset (taskset / systemd CPUAffinity=)",
        )
    } else {
        check("cpus", Verdict::Ok, found, "")
    }
}

fn rlimit(resource: libc::__rlimit_resource_t) -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    (unsafe { libc::getrlimit(resource, &mut lim) } == 0).then_some((lim.rlim_cur, lim.rlim_max))
}

fn nofile(config: &Config, cores: usize) -> Check {
    // Every connection is a descriptor, plus the operator reserve, listeners, the
    // database, files being streamed and the decode pool's open tracks.
    let h = &config.http;
    let need =
        (h.max_connections_per_core + h.operator_reserve_connections) as u64 * cores as u64 + 256;
    let Some((soft, hard)) = rlimit(libc::RLIMIT_NOFILE) else {
        return check(
            "open files (nofile)",
            Verdict::Warn,
            "cannot read RLIMIT_NOFILE".into(),
            "",
        );
    };
    let found = format!("soft {soft}, hard {hard}; the configuration can use {need}");
    let fix = format!(
        "ulimit -n {need} (or LimitNOFILE={need} in the systemd unit, `nofile` in tuning/limits.conf), or lower http.max_connections_per_core"
    );
    if soft >= need {
        check("open files (nofile)", Verdict::Ok, found, "")
    } else if soft >= need / 10 {
        check("open files (nofile)", Verdict::Warn, found, &fix)
    } else {
        check("open files (nofile)", Verdict::Fail, found, &fix)
    }
}

fn memlock() -> Check {
    let Some((soft, _)) = rlimit(libc::RLIMIT_MEMLOCK) else {
        return check(
            "locked memory",
            Verdict::Warn,
            "cannot read RLIMIT_MEMLOCK".into(),
            "",
        );
    };
    let shown = if soft == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        format!("{} KiB", soft / 1024)
    };
    // Rings are charged to memlock on kernels before 5.12 (later ones use the cgroup);
    // 64 KiB covers only the smallest ring.
    let found = format!("RLIMIT_MEMLOCK {shown}");
    if soft == libc::RLIM_INFINITY || soft >= 8 << 20 {
        check("locked memory", Verdict::Ok, found, "")
    } else {
        check(
            "locked memory",
            Verdict::Warn,
            found,
            "kernels before 5.12 charge io_uring rings to it: ulimit -l 65536 (LimitMEMLOCK=64M in the unit, `memlock` in tuning/limits.conf)",
        )
    }
}

fn somaxconn() -> Check {
    let v = read_sysctl("/proc/sys/net/core/somaxconn").and_then(|s| s.parse::<u64>().ok());
    match v {
        Some(n) if n >= 4096 => check(
            "net.core.somaxconn",
            Verdict::Ok,
            format!("{n} (the server listens with 4096)"),
            "",
        ),
        Some(n) => check(
            "net.core.somaxconn",
            Verdict::Warn,
            format!("{n}: the kernel caps the 4096 backlog the server asks for"),
            "sysctl -w net.core.somaxconn=4096 (tuning/sysctl.conf)",
        ),
        None => check("net.core.somaxconn", Verdict::Warn, "unreadable".into(), ""),
    }
}

fn syn_backlog() -> Check {
    let v =
        read_sysctl("/proc/sys/net/ipv4/tcp_max_syn_backlog").and_then(|s| s.parse::<u64>().ok());
    match v {
        Some(n) if n >= 4096 => check("tcp_max_syn_backlog", Verdict::Ok, n.to_string(), ""),
        Some(n) => check(
            "tcp_max_syn_backlog",
            Verdict::Warn,
            format!("{n}: connection bursts queue fewer half-open connections"),
            "sysctl -w net.ipv4.tcp_max_syn_backlog=8192 (tuning/sysctl.conf)",
        ),
        None => check(
            "tcp_max_syn_backlog",
            Verdict::Warn,
            "unreadable".into(),
            "",
        ),
    }
}

fn port_range() -> Check {
    let v = read_sysctl("/proc/sys/net/ipv4/ip_local_port_range")
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join("-"));
    let span = v.as_deref().and_then(|s| {
        let mut it = s.split('-').filter_map(|x| x.parse::<u64>().ok());
        Some(it.next_back()?.saturating_sub(it.next()?) + 1)
    });
    match span {
        Some(n) if n >= 28_000 => check(
            "ip_local_port_range",
            Verdict::Ok,
            format!("{} ({n} ports)", v.unwrap_or_default()),
            "",
        ),
        Some(n) => check(
            "ip_local_port_range",
            Verdict::Warn,
            format!(
                "{} ({n} ports): few outgoing connections per source address (load tests, a proxy in front)",
                v.unwrap_or_default()
            ),
            "sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\" (tuning/sysctl.conf); the harness also spreads over --source-ips",
        ),
        None => check(
            "ip_local_port_range",
            Verdict::Warn,
            "unreadable".into(),
            "",
        ),
    }
}

fn socket_filter(cores: usize) -> Check {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    match crate::runtime::listener::bind_group(addr, cores.max(2), true) {
        Ok(g) if g.pinning == crate::runtime::core_state::PinningMode::ClientIp => check(
            "client-IP pinning",
            Verdict::Ok,
            "the SO_REUSEPORT group takes the client-IP BPF program".into(),
            "",
        ),
        Ok(_) => check(
            "client-IP pinning",
            Verdict::Warn,
            "the BPF program does not attach: connections are spread by the kernel's hash, so one client's connections may land on several cores (rate limits per core, less cache locality)".into(),
            "allow SO_ATTACH_REUSEPORT_CBPF (a seccomp profile or an old kernel blocks it); server.pin_by_client_ip = false silences this",
        ),
        Err(e) => check("client-IP pinning", Verdict::Fail, format!("cannot bind a test listener group: {e}"), "check that the process may bind sockets"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_runs_and_says_what_to_change_when_not_ok() {
        let mut cfg = Config::default();
        cfg.server.cores = 10_000;
        cfg.cluster.broker_url = Some("redis://127.0.0.1:1/".into());
        cfg.library.database_url = Some("postgres://nobody@127.0.0.1:1/none".into());
        let checks = run(&cfg);
        assert_eq!(checks.len(), 10);
        let db = checks.iter().find(|c| c.name == "database").unwrap();
        assert_eq!(db.verdict, Verdict::Fail, "{db}");
        let broker = checks.iter().find(|c| c.name == "broker").unwrap();
        assert_eq!(broker.verdict, Verdict::Warn, "{broker}");
        for c in &checks {
            assert_eq!(c.verdict == Verdict::Ok, c.fix.is_empty(), "{c}");
        }
        let cpus = checks.iter().find(|c| c.name == "cpus").unwrap();
        assert_eq!(cpus.verdict, Verdict::Fail, "{cpus}");
        assert!(cpus.to_string().contains("fix:"));
    }
}
