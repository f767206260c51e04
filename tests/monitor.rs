//! The monitor against the real server: exact per-route counts across cores, the
//! Prometheus exposition (parsed by a real parser), alerts driving /api/health to 503 and
//! back, the WebSocket `metrics` push, and the dashboard in headless Chromium.

mod common;

use auralis_server::runtime::listener::core_for_ipv4;
use common::*;
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn fast_monitor(extra: &[(&str, &str)]) -> Server {
    let mut o = Opts::cores(2)
        .env("AURALIS_MONITOR__INTERVAL_MS", "200")
        .env("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "1000000");
    for (k, v) in extra {
        o = o.env(k, v);
    }
    Server::start(o)
}

/// Waits until `f` holds for the data of `path`, polling.
fn wait_for(s: &Server, path: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = get(s, path);
        let body = r.json();
        if f(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: last {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hit(s: &Server, ip: Ipv4Addr, path: &str, n: usize) {
    let mut c = Raw::connect_from(ip, s.addr);
    for _ in 0..n {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert!(c.read_response().is_some());
    }
}

#[test]
fn per_route_counts_are_exact_across_cores_and_prometheus_parses() {
    let s = fast_monitor(&[]);
    let (a, b) = two_cores();
    hit(&s, a, "/api/version", 37);
    hit(&s, b, "/api/version", 25);
    hit(&s, b, "/api/nope", 3);
    let eps = wait_for(
        &s,
        "/api/metrics/endpoints",
        "62 version requests merged",
        |v| {
            v["data"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|e| e["name"] == "/api/version" && e["total"]["count"] == 62)
            })
        },
    );
    let version = eps["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "/api/version")
        .unwrap()
        .clone();
    let t = &version["total"];
    assert!(
        t["p50"].as_u64().unwrap() <= t["p99"].as_u64().unwrap()
            && t["p99"].as_u64().unwrap() <= t["max"].as_u64().unwrap()
    );
    assert_eq!(version["kind"], "route");
    let unmatched = eps["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "unmatched")
        .unwrap();
    assert_eq!(unmatched["total"]["count"], 3);

    let text = String::from_utf8(get(&s, "/metrics").body).unwrap();
    let lines: Vec<std::io::Result<String>> = text.lines().map(|l| Ok(l.to_string())).collect();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter())
        .expect("a real Prometheus parser accepts /metrics");
    let count = |core: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "auralis_http_request_duration_seconds_count"
                    && s.labels.get("route") == Some("/api/version")
                    && s.labels.get("core") == Some(core)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Untyped(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v) => v,
                _ => -1.0,
            })
    };
    let (ca, cb) = (
        core_for_ipv4(a, 2).to_string(),
        core_for_ipv4(b, 2).to_string(),
    );
    assert_eq!(
        (count(&ca), count(&cb)),
        (Some(37.0), Some(25.0)),
        "labelled by core"
    );
    for name in [
        "auralis_responses_total",
        "auralis_cache_hits_total",
        "auralis_connections",
        "auralis_health",
        "auralis_http_request_duration_seconds_quantile",
        "auralis_core_inbox_refused_total",
    ] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == name),
            "{name} exposed"
        );
    }
    // Buckets are cumulative and end at the count.
    let buckets: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "auralis_http_request_duration_seconds"
                && s.labels.get("route") == Some("/api/version")
                && s.labels.get("core") == Some(&*ca)
        })
        .filter_map(|s| match &s.value {
            prometheus_parse::Value::Histogram(h) => {
                Some(h.iter().map(|b| b.count).collect::<Vec<f64>>())
            }
            _ => None,
        })
        .next()
        .expect("histogram parsed");
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]) && *buckets.last().unwrap() == 37.0,
        "{buckets:?}"
    );

    let m = ok_data(&get(&s, "/api/metrics"));
    assert!(m["since_start"]["requests"].as_u64().unwrap() >= 65);
    assert_eq!(
        m["inbox_refused"],
        serde_json::json!([0, 0]),
        "nothing refused, per core"
    );
    let hist = wait_for(&s, "/api/monitor/history", "two ticks of history", |v| {
        v["data"].as_array().is_some_and(|a| a.len() >= 2)
    })["data"]
        .clone();
    assert!(
        hist.as_array()
            .unwrap()
            .iter()
            .map(|t| t["requests"].as_u64().unwrap())
            .sum::<u64>()
            >= 65
    );
    let trends = ok_data(&get(&s, "/api/monitor/trends"));
    assert!(trends["rule"].as_str().unwrap().contains("window"));
    assert_eq!(trends["p99_latency"], "stable", "too few samples yet");
}

#[test]
fn a_critical_alert_makes_the_node_unhealthy_yet_ready_and_clears_after_the_delay() {
    // An SLO no request can meet, and evidence enough after 5 requests.
    let s = fast_monitor(&[
        ("AURALIS_MONITOR__SLO_API_MS", "0.0005"),
        ("AURALIS_MONITOR__MIN_REQUESTS", "5"),
        ("AURALIS_MONITOR__RECENT_S", "1"),
        ("AURALIS_MONITOR__ALERT_CLEAR_S", "1"),
    ]);
    assert_eq!(ok_data(&get(&s, "/api/health"))["status"], "healthy");
    hit(&s, Ipv4Addr::new(127, 0, 0, 1), "/api/version", 5);
    let body = wait_for(&s, "/api/health", "health goes unhealthy", |v| {
        v["data"]["status"] == "unhealthy"
    });
    // Unhealthy is a verdict for operators; the node still serves, so it stays in.
    assert_eq!(body["status"], "success", "/api/health answers 200: {body}");
    assert_eq!(body["data"]["ready"], true);
    let alerts = body["data"]["alerts"].as_array().unwrap();
    assert_eq!(
        (alerts[0]["id"].as_str(), alerts[0]["severity"].as_str()),
        (Some("latency_p99_api"), Some("critical"))
    );
    assert_eq!(alerts[0]["window"], "1s");
    assert_eq!(get(&s, "/api/health/ready").status, 200);
    assert_eq!(get(&s, "/api/health/live").status, 200);
    let a = ok_data(&get(&s, "/api/monitor/alerts"));
    assert_eq!(a["health"], "unhealthy");
    // No more API traffic (probes don't count): it clears once false for 1 s.
    wait_for(&s, "/api/health", "health recovers", |v| {
        v["status"] == "success" && v["data"]["status"] == "healthy"
    });
    assert_eq!(
        ok_data(&get(&s, "/api/monitor/alerts"))["alerts"],
        json!([])
    );
}

/// `n` tracks of `seconds` of a 44.1 kHz stereo tone.
fn long_tracks(dir: &std::path::Path, n: usize, seconds: usize) {
    tone_tracks(dir, n, seconds, 44_100, 2);
}

#[test]
fn a_cold_decode_and_a_polling_probe_leave_the_node_healthy_and_ready() {
    // The README's quick-start chunk (a cold decode, far over the 10 ms API SLO) and a
    // probe polling /api/health: neither is evidence of a sick node.
    let lib = temp_dir("cold");
    long_tracks(&lib, 1, 12);
    let s = Server::start(
        library_opts(&lib)
            .env("AURALIS_MONITOR__INTERVAL_MS", "200")
            .env("AURALIS_MONITOR__RECENT_S", "2"),
    );
    wait_scan(&s);
    let id = track_ids(&s, "/api/tracks")[0];
    let chunk = get(
        &s,
        &format!("/api/stream/{id}/chunk/0?format=wav&preset=normalized&intensity=0.8"),
    );
    assert_eq!(
        (chunk.status, chunk.header("x-cache-tier")),
        (200, Some("miss"))
    );
    for _ in 0..20 {
        let h = get(&s, "/api/health");
        assert_eq!(h.status, 200);
        assert_eq!(h.json()["data"]["status"], "healthy", "{}", h.json());
        assert_eq!(get(&s, "/api/health/ready").status, 200);
        std::thread::sleep(Duration::from_millis(60));
    }
    let m = wait_for(&s, "/api/metrics", "the probes counted apart", |v| {
        v["data"]["since_start"]["observation_requests"].as_u64() >= Some(40)
    })["data"]
        .clone();
    assert!(m["alerts"].as_array().unwrap().is_empty(), "{m}");
    let miss = m["latency_slo"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "chunk_miss")
        .unwrap()
        .clone();
    assert_eq!(miss["judged"], false, "one decode is not evidence: {miss}");
    // The hit rate is one figure per window, each labelled.
    let windows: Vec<&str> = m["cache_hit_rate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["window"].as_str().unwrap())
        .collect();
    assert_eq!(windows, vec!["2s", "since_start"]);
    let cache = ok_data(&get(&s, "/api/cache/health"));
    assert_eq!(cache["status"], "healthy", "{cache}");
    assert_eq!(cache["hit_rate"][1]["window"], "since_start");
    // Per-endpoint responses by status class, probes included.
    let eps = ok_data(&get(&s, "/api/metrics/endpoints"));
    let health = eps
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "/api/health")
        .unwrap()
        .clone();
    assert!(health["responses"]["2xx"].as_u64() >= Some(20), "{health}");
}

#[test]
fn a_saturated_decode_pool_makes_readiness_503_and_it_recovers() {
    let lib = temp_dir("saturate");
    long_tracks(&lib, 4, 40);
    let s = Server::start(
        library_opts(&lib)
            .env("AURALIS_CACHE__DECODE_THREADS", "1")
            .env("AURALIS_CACHE__DECODE_QUEUE", "1")
            .env("AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE", "1000000"),
    );
    wait_scan(&s);
    let ids = track_ids(&s, "/api/tracks");
    assert_eq!(get(&s, "/api/health/ready").status, 200);
    // 16 different cold chunks at once against one decoder with a queue of one.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|k| {
                let (s, barrier) = (&s, barrier.clone());
                let (id, index) = (ids[k % ids.len()], k / ids.len());
                scope.spawn(move || {
                    let mut c = Raw::connect(s.addr);
                    barrier.wait();
                    let path = format!("/api/stream/{id}/chunk/{index}?format=wav");
                    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
                    c.read_response().map_or((0, None), |r| {
                        (r.status, r.header("Retry-After").map(String::from))
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        !refused.is_empty(),
        "one decoder with a queue of one refused none of 16: {answers:?}"
    );
    assert!(
        refused
            .iter()
            .all(|(_, retry)| retry.as_deref() == Some("1")),
        "a refused decode says when to retry: {refused:?}"
    );
    let r = get(&s, "/api/health/ready");
    assert_eq!(r.status, 503, "{}", r.json());
    let body = r.json();
    assert_eq!(body["error"], "service_unavailable");
    assert_eq!(
        body["details"]["not_ready"][0]["reason"],
        "decode_saturated"
    );
    assert_eq!(get(&s, "/api/health").status, 503);
    assert_eq!(get(&s, "/api/health/live").status, 200, "alive all along");
    wait_for(&s, "/api/health/ready", "readiness recovers", |v| {
        v["status"] == "success"
    });
}

#[test]
fn the_metrics_topic_pushes_every_tick() {
    let s = fast_monitor(&[]);
    let (mut ws, _) = ws_connect(&s, Ipv4Addr::new(127, 0, 0, 1));
    assert_eq!(
        ws_rpc(&mut ws, "subscribe", json!({"topics": ["metrics"]}))["type"],
        "subscribed"
    );
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < 3 {
        let m = ws_next(&mut ws);
        if m["type"] == "metrics" {
            got.push(m);
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "3 ticks of 200 ms"
    );
    for m in &got {
        assert!(
            m["payload"]["last_second"]["connections_per_core"].is_array(),
            "{m}"
        );
        assert!(m["payload"]["health"].is_string());
    }
}

#[test]
fn dashboard_draws_live_data_in_headless_chromium() {
    let s = fast_monitor(&[]);
    let page = get(&s, "/dashboard");
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("new WebSocket") && !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED: no headless Chromium (apt-get install chromium); the page itself was checked"
        );
        return;
    };
    hit(&s, Ipv4Addr::new(127, 0, 0, 1), "/api/version", 20);
    // The page starts from /api/monitor/history, then follows the metrics topic.
    wait_for(&s, "/api/monitor/history", "three ticks of history", |v| {
        v["data"].as_array().is_some_and(|a| a.len() >= 3)
    });
    let (dom, stderr) = chromium_dom(
        chromium,
        &s.url("/dashboard"),
        &[
            "--virtual-time-budget=4000",
            "--run-all-compositor-stages-before-draw",
        ],
    );
    let samples: u64 = dom
        .split("data-samples=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no data-samples in the DOM; stderr: {stderr}"));
    assert!(samples >= 2, "the charts received {samples} samples");
    assert!(
        dom.contains("class=\"healthy\"") || dom.contains("class=\"degraded\""),
        "health badge rendered"
    );
}

/// Whether the alert `id` is active.
fn alerting(v: &Value, id: &str) -> bool {
    v["data"]["alerts"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["id"] == id))
}

#[test]
fn rate_limited_alerts_for_many_limited_clients_not_for_one() {
    let s = fast_monitor(&[
        ("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "5"),
        ("AURALIS_MONITOR__MIN_REQUESTS", "10"),
        ("AURALIS_MONITOR__RATE_LIMITED_CLIENTS", "3"),
        ("AURALIS_MONITOR__ALERT_CLEAR_S", "1"),
    ]);
    // One abusive client (35 of its 40 requests answered 429) among good ones.
    hit(&s, Ipv4Addr::new(127, 0, 0, 2), "/api/version", 40);
    for i in 3..9 {
        hit(&s, Ipv4Addr::new(127, 0, 0, i), "/api/version", 3);
    }
    let seen = wait_for(&s, "/api/metrics", "the monitor counts them", |v| {
        v["data"]["since_start"]["requests"].as_u64() >= Some(58)
    });
    // A few more ticks over the same window: still no alert.
    std::thread::sleep(Duration::from_millis(600));
    let alerts = get(&s, "/api/monitor/alerts").json();
    assert!(!alerting(&alerts, "rate_limited"), "{alerts}\n{seen}");
    // Six clients limited at once: the deployment's limit is wrong, or it is attacked.
    for i in 10..16 {
        hit(&s, Ipv4Addr::new(127, 0, 0, i), "/api/version", 10);
    }
    let fired = wait_for(&s, "/api/monitor/alerts", "rate_limited fires", |v| {
        alerting(v, "rate_limited")
    });
    let text = fired.to_string();
    assert!(text.contains("clients"), "{text}");
}

#[test]
fn metrics_carry_the_build_and_the_process_figures() {
    let s = fast_monitor(&[]);
    let text = wait_for_text(&s, "/metrics", "auralis_build_info");
    let lines: Vec<std::io::Result<String>> = text.lines().map(|l| Ok(l.to_string())).collect();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).expect("parses");
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|x| x.metric == name)
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => -1.0,
            })
    };
    let build = scrape
        .samples
        .iter()
        .find(|x| x.metric == "auralis_build_info")
        .expect("build info");
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    let commit = build.labels.get("commit").unwrap_or("");
    assert!(
        commit == "unknown" || commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{commit}"
    );
    // The server's own RSS and descriptors: a running server holds some of each.
    assert!(value("process_resident_memory_bytes") > Some(1e6), "{text}");
    assert!(value("process_open_fds") > Some(3.0));
    assert!(value("process_max_fds") >= value("process_open_fds"));
    assert!(value("process_cpu_seconds_total") > Some(0.0));
    let started = value("process_start_time_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now - started < 300.0 && now >= started - 5.0,
        "{started} vs {now}"
    );
}

/// The body of `path` once it contains `needle` (the exposition is rendered per tick).
fn wait_for_text(s: &Server, path: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = String::from_utf8(get(s, path).body).unwrap();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "{needle} never in {path}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
