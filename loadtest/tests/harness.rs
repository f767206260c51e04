//! The harness against a tiny in-test HTTP server with a known, injected delay:
//! the open model reports the delay at p50 and charges a 1 s server freeze to every
//! request it delayed (coordinated-omission correction), the closed model does not, and
//! closed-model request counts are exact.

use auralis_loadtest::plan::{Model, Plan, parse_target};
use auralis_loadtest::run::run;
use auralis_loadtest::workload::FixedMix;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A thread-per-connection HTTP server: answers after `delay`; during
/// `[freeze_at, freeze_at + 1 s)` (after its start) it answers nothing until the end of
/// that window. Counts the requests it answered.
fn server(delay: Duration, freeze_at: Option<Duration>) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let born = Instant::now();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if let Some(f) = freeze_at {
                            let t = born.elapsed();
                            if t >= f && t < f + Duration::from_secs(1) {
                                std::thread::sleep(f + Duration::from_secs(1) - t);
                            }
                        }
                        std::thread::sleep(delay);
                        counter.fetch_add(1, Ordering::Relaxed);
                        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .is_err()
                        {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, served)
}

fn plan(
    addr: std::net::SocketAddr,
    model: Model,
    connections: usize,
    duration: Option<Duration>,
    requests: Option<u64>,
) -> Plan {
    let (mix, server) =
        FixedMix::new(&[parse_target(&format!("http://{addr}/x")).unwrap()]).unwrap();
    Plan {
        server: auralis_loadtest::endpoint::Endpoint::plain(server.addr),
        workload: Arc::new(mix),
        pipeline: 1,
        connections,
        model,
        duration,
        requests,
        warmup: Duration::ZERO,
        cores: vec![0],
        source_ips: Vec::new(),
        timeout: Duration::from_secs(5),
        progress: false,
    }
}

#[test]
fn open_model_reports_the_injected_delay_at_p50() {
    let (addr, _) = server(Duration::from_millis(20), None);
    let r = run(plan(
        addr,
        Model::Open { rate: 100.0 },
        8,
        Some(Duration::from_secs(2)),
        None,
    ))
    .unwrap();
    assert_eq!(r.model, "open");
    assert!(
        r.requests >= 190 && r.requests <= 201,
        "100/s for 2 s: {}",
        r.requests
    );
    let p50 = r.latency_us.p50;
    assert!(
        (20_000..=26_000).contains(&p50),
        "p50 {p50} µs for a 20 ms server"
    );
    assert_eq!(r.errors.total(), 0);
    assert!(
        (r.achieved_rate - 100.0).abs() < 10.0,
        "achieved {}",
        r.achieved_rate
    );
    let lag = r
        .send_lag_us
        .clone()
        .expect("open model reports its send lag");
    assert!(lag.p50 < 5_000, "sent on schedule: lag p50 {} µs", lag.p50);
    assert!(!r.table().contains("warning"), "{}", r.table());
}

#[test]
fn open_model_with_too_few_connections_warns_and_charges_the_wait() {
    // One connection to a 20 ms server can do 50/s; 200/s is asked for.
    let (addr, _) = server(Duration::from_millis(20), None);
    let r = run(plan(
        addr,
        Model::Open { rate: 200.0 },
        1,
        Some(Duration::from_secs(1)),
        None,
    ))
    .unwrap();
    assert!(r.achieved_rate < 100.0, "achieved {}", r.achieved_rate);
    let lag = r.send_lag_us.clone().unwrap();
    assert!(
        lag.max > 400_000,
        "the last requests left ~0.5 s late: {}",
        lag.max
    );
    assert!(r.latency_us.max >= lag.max, "latency includes the wait");
    assert!(
        r.table()
            .contains("warning: requests left behind their schedule"),
        "{}",
        r.table()
    );
}

#[test]
fn open_model_charges_a_one_second_freeze_to_every_delayed_request() {
    // 1 ms answers, a 1 s freeze starting 1 s in; 200 requests/s intended throughout.
    let (addr, _) = server(Duration::from_millis(1), Some(Duration::from_millis(1200)));
    let open = run(plan(
        addr,
        Model::Open { rate: 200.0 },
        4,
        Some(Duration::from_secs(3)),
        None,
    ))
    .unwrap();
    // Every request intended during the freeze waited for its end: ~200 requests with
    // latencies spread from ~0 to 1 s, so well over 100 above 250 ms and a p99 near 1 s.
    let slow = open.histogram.count_between(250_000, u64::MAX);
    assert!(
        slow >= 100,
        "open model counted {slow} requests over 250 ms"
    );
    assert!(
        open.latency_us.p99 >= 700_000,
        "p99 {}",
        open.latency_us.p99
    );
    let (addr, _) = server(Duration::from_millis(1), Some(Duration::from_millis(1200)));
    let closed = run(plan(
        addr,
        Model::Closed,
        4,
        Some(Duration::from_secs(3)),
        None,
    ))
    .unwrap();
    // Without the correction only the 4 requests in flight see the stall.
    let slow_closed = closed.histogram.count_between(250_000, u64::MAX);
    assert!(slow_closed <= 4, "closed model counted {slow_closed}");
}

#[test]
fn closed_model_request_counts_are_exact() {
    let (addr, served) = server(Duration::ZERO, None);
    let r = run(plan(addr, Model::Closed, 7, None, Some(1000))).unwrap();
    assert_eq!(r.model, "closed");
    assert!(r.send_lag_us.is_none(), "no schedule in the closed model");
    assert_eq!(r.requests, 1000);
    assert_eq!(
        served.load(Ordering::Relaxed),
        1000,
        "the server answered exactly as many"
    );
    assert_eq!(r.histogram.len(), 1000);
    assert_eq!(r.bytes, 1000 * (38 + 2), "head + body of every answer");
    assert_eq!(r.series.iter().map(|s| s.requests).sum::<u64>(), 1000);
}

#[test]
fn pipelined_requests_are_all_answered_and_counted() {
    let (addr, served) = server(Duration::ZERO, None);
    let mut p = plan(addr, Model::Closed, 3, None, Some(1000));
    p.pipeline = 16;
    let r = run(p).unwrap();
    assert_eq!(r.requests, 1000);
    assert_eq!(served.load(Ordering::Relaxed), 1000);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.bytes, 1000 * (38 + 2));
    let mut open = plan(addr, Model::Open { rate: 10.0 }, 1, None, Some(1));
    open.pipeline = 2;
    assert!(run(open).is_err(), "pipelining needs the closed model");
}

#[test]
fn weighted_urls_are_reported_per_operation() {
    let (addr, served) = server(Duration::ZERO, None);
    let targets = [
        parse_target(&format!("http://{addr}/a@3")).unwrap(),
        parse_target(&format!("http://{addr}/b@1")).unwrap(),
    ];
    let mut p = plan(addr, Model::Closed, 4, None, Some(800));
    p.workload = Arc::new(FixedMix::new(&targets).unwrap().0);
    let r = run(p).unwrap();
    assert_eq!(served.load(Ordering::Relaxed), 800);
    let ops: Vec<(&str, u64)> = r
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.requests))
        .collect();
    assert_eq!(ops, [("GET /a", 600), ("GET /b", 200)], "3:1 weights");
    let other = parse_target("http://127.0.0.1:1/c").unwrap();
    assert!(
        FixedMix::new(&[targets[0].clone(), other]).is_err(),
        "one server per run"
    );
}

#[test]
fn plot_draws_the_spectrum_and_the_time_series() {
    let (addr, _) = server(Duration::from_millis(1), None);
    let r = run(plan(
        addr,
        Model::Open { rate: 200.0 },
        2,
        Some(Duration::from_millis(2500)),
        None,
    ))
    .unwrap();
    let path = std::env::temp_dir().join(format!("loadtest-{}.svg", std::process::id()));
    auralis_loadtest::plot::write_svg(&r, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "an SVG document");
    assert!(svg.contains("Latency by percentile") && svg.contains("Latency over time"));
    // ~500 samples: the spectrum goes as far as they support (99 %, not 99.9 %).
    assert!(
        svg.contains(">\n99%\n<") || svg.contains(">99%<"),
        "the percentile axis reaches the tail"
    );
    // One line for the spectrum and three (p50, p99, max) over time.
    assert!(
        svg.matches("<polyline").count() >= 4,
        "{} lines",
        svg.matches("<polyline").count()
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_server_that_does_not_answer_in_time_counts_as_timeouts() {
    let (addr, _) = server(Duration::from_secs(2), None);
    let mut p = plan(addr, Model::Closed, 2, None, Some(2));
    p.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let r = run(p).unwrap();
    assert_eq!(r.errors.timeout, 2, "{:?}", r.errors);
    assert_eq!(r.requests, 2);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "gave up at the timeout"
    );
}

#[test]
fn hdr_log_is_written_and_parses() {
    let (addr, _) = server(Duration::ZERO, None);
    let r = run(plan(addr, Model::Closed, 2, None, Some(200))).unwrap();
    let path = std::env::temp_dir().join(format!("loadtest-{}.hlog", std::process::id()));
    r.write_hdr_log(&path, std::time::SystemTime::now())
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let intervals = hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&bytes)
        .filter(|e| {
            matches!(
                e,
                Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(_))
            )
        })
        .count();
    assert_eq!(intervals, r.series.len());
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_run_where_every_request_fails_exits_non_zero_and_says_why() {
    // Nothing listens on port 1: every request is a connect error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auralis-loadtest"))
        .args([
            "http",
            "http://127.0.0.1:1/api/version",
            "--duration",
            "1s",
            "--connections",
            "2",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("the run failed: every one of the"), "{err}");
    assert!(err.contains("connect"), "{err}");
}

/// Runs the binary against the counting server; returns (exit code, stdout).
fn run_with_thresholds(addr: std::net::SocketAddr, thresholds: &[&str]) -> (Option<i32>, String) {
    let url = format!("http://{addr}/x");
    let mut args = vec![
        "http",
        &url,
        "--requests",
        "40",
        "--connections",
        "2",
        "--quiet",
    ];
    for t in thresholds {
        args.extend(["--threshold", t]);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auralis-loadtest"))
        .args(&args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn thresholds_print_a_verdict_each_and_a_crossed_one_exits_99() {
    let (addr, _) = server(Duration::from_millis(2), None);
    let (code, out) = run_with_thresholds(addr, &["p99<10s", "errors<0.1%", "rate>0"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches(" passed (measured ").count(), 3, "{out}");
    // Every answer takes 2 ms: a p50 under 1 µs cannot hold.
    let (code, out) = run_with_thresholds(addr, &["p50<1us", "errors<0.1%"]);
    assert_eq!(code, Some(99), "{out}");
    assert!(
        out.contains("threshold p50<1us") && out.contains("CROSSED"),
        "{out}"
    );
    assert!(
        out.contains("threshold errors<0.1%") && out.contains("passed"),
        "{out}"
    );
    // A threshold that does not parse is a usage error (2), not a verdict.
    let (code, _) = run_with_thresholds(addr, &["p98<1ms"]);
    assert_eq!(code, Some(2));
}
