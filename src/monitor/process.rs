//! The process's own figures for the Prometheus exposition, under the names every
//! Prometheus client library uses (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`, `process_virtual_memory_bytes`), read from `/proc` on
//! the monitor thread once per tick; plus `auralis_build_info{version,commit}`.

use std::fmt::Write;

/// What `/proc` says of this process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessFigures {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
}

/// Kernel clock ticks per second (`sysconf(_SC_CLK_TCK)`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// The fields of `/proc/self/stat` after the command name (which may hold spaces and
/// parentheses, so the split is at the last `)`): index 0 is field 3 (`state`).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().collect())
}

/// Parses `/proc/self/stat` and the boot time (`btime` of `/proc/stat`).
pub(crate) fn parse(
    stat: &str,
    proc_stat: &str,
    open_fds: u64,
    max_fds: Option<u64>,
) -> Option<ProcessFigures> {
    let f = stat_fields(stat)?;
    let num = |field: usize| -> Option<f64> { f.get(field - 3)?.parse().ok() };
    let ticks = ticks_per_second();
    let boot: f64 = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(ProcessFigures {
        cpu_seconds: (num(14)? + num(15)?) / ticks,
        virtual_bytes: num(23)? as u64,
        resident_bytes: num(24)? as u64 * page_size(),
        open_fds,
        max_fds,
        start_time_seconds: boot + num(22)? / ticks,
    })
}

/// Reads this process's figures (`None` off Linux or when `/proc` is unreadable).
pub(crate) fn read() -> Option<ProcessFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let proc_stat = std::fs::read_to_string("/proc/stat").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is handed.
    let max_fds = (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then_some(limit.rlim_cur);
    parse(&stat, &proc_stat, open_fds, max_fds)
}

/// The commit the binary was built from (`AURALIS_COMMIT` at build time), or
/// `unknown`.
pub(crate) fn commit() -> &'static str {
    option_env!("AURALIS_COMMIT").unwrap_or("unknown")
}

/// Appends the process families and `auralis_build_info`.
pub(crate) fn render(out: &mut String, p: Option<&ProcessFigures>) {
    let _ = writeln!(
        out,
        "# HELP auralis_build_info The running build: 1, labelled with its version and commit.\n# TYPE auralis_build_info gauge\nauralis_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        commit()
    );
    let Some(p) = p else {
        return;
    };
    let mut family = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    family(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, seconds.",
        format!("{}", p.cpu_seconds),
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size, bytes.",
        p.resident_bytes.to_string(),
    );
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size, bytes.",
        p.virtual_bytes.to_string(),
    );
    family(
        "process_open_fds",
        "gauge",
        "Open file descriptors.",
        p.open_fds.to_string(),
    );
    if let Some(max) = p.max_fds {
        family(
            "process_max_fds",
            "gauge",
            "The open file descriptor limit.",
            max.to_string(),
        );
    }
    family(
        "process_start_time_seconds",
        "gauge",
        "Start time since the Unix epoch, seconds.",
        format!("{:.2}", p.start_time_seconds),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_a_command_name_holding_spaces_and_parens() {
        // Fields 3.. of a real line, the command renamed to "a) b".
        let stat = "4242 (a) b) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 1000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse(stat, "cpu 1 2 3\nbtime 1700000000\n", 12, Some(1024)).unwrap();
        let ticks = ticks_per_second();
        assert!((p.cpu_seconds - 300.0 / ticks).abs() < 1e-9);
        assert_eq!(p.virtual_bytes, 104_857_600);
        assert_eq!(p.resident_bytes, 2560 * page_size());
        assert!((p.start_time_seconds - (1_700_000_000.0 + 1000.0 / ticks)).abs() < 1e-6);
        assert_eq!((p.open_fds, p.max_fds), (12, Some(1024)));
        assert_eq!(parse("garbage", "btime 1", 0, None), None);
    }

    #[test]
    fn this_process_reads_itself() {
        let p = read().expect("/proc is there on Linux");
        assert!(p.resident_bytes > 0 && p.open_fds > 0, "{p:?}");
        let mut out = String::new();
        render(&mut out, Some(&p));
        assert!(out.contains("auralis_build_info{version=\""), "{out}");
        assert!(out.contains("\nprocess_resident_memory_bytes "), "{out}");
    }
}
