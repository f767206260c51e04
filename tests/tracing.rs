//! Distributed tracing against a real OTLP/HTTP receiver (`tests/otlp/receiver.py`,
//! decoding with the OpenTelemetry project's own protobuf classes): a request's
//! SERVER span continues the caller's W3C trace with the semantic-convention
//! attributes, a chunk's decode is its child, an unsampled caller exports nothing, a
//! WebSocket message has its span, log lines carry the ids, and a dead collector
//! costs only counted drops. (One trace across two nodes: tests/cluster.rs.)

mod common;

use common::otlp::{Collector, attr, skip};
use common::*;
use std::time::Duration;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const WAIT: Duration = Duration::from_secs(10);

fn traceparent(trace: &str, span: &str, sampled: bool) -> String {
    format!("00-{trace}-{span}-{}", if sampled { "01" } else { "00" })
}

/// A request with extra header lines, over one short-lived connection.
fn with_headers(s: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut c = Raw::connect(s.addr);
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    c.send(req.as_bytes());
    c.read_response().expect("response")
}

/// A traced server over `n` tracks exporting to `collector` with `ratio`.
fn traced_server(collector: &Collector, ratio: &str, extra: &[(&str, &str)]) -> Server {
    let endpoint = collector.endpoint();
    let mut env = vec![
        ("AURALIS_TRACING__OTLP_ENDPOINT", endpoint.as_str()),
        ("AURALIS_TRACING__SAMPLE_RATIO", ratio),
        ("AURALIS_TRACING__EXPORT_INTERVAL_MS", "100"),
        ("AURALIS_CLUSTER__NODE", "trace-node"),
    ];
    env.extend_from_slice(extra);
    lib_server(3, &env)
}

fn of_trace<'a>(spans: &'a [serde_json::Value], trace: &str) -> Vec<&'a serde_json::Value> {
    spans.iter().filter(|s| s["trace_id"] == trace).collect()
}

#[test]
fn a_request_continues_the_callers_trace_and_its_chunk_decode_is_a_child() {
    let Some(collector) = Collector::start() else {
        return skip("a_request_continues_the_callers_trace_and_its_chunk_decode_is_a_child");
    };
    // Ratio 0: only the caller's sampled flag can make these spans.
    let s = traced_server(&collector, "0", &[]);
    let id = track_ids(&s, "/api/tracks")[0];
    let tp = traceparent(CALLER_TRACE, CALLER_SPAN, true);
    let resp = with_headers(
        &s,
        "GET",
        &format!("/api/tracks/{id}"),
        &[("traceparent", &tp), ("tracestate", "congo=t61rcWkgMzE")],
    );
    assert_eq!(resp.status, 200);
    let request_id = resp.header("x-request-id").unwrap().to_string();
    let got = collector.wait(WAIT, |s| {
        s["attributes"]["auralis.request_id"] == request_id.as_str()
    });
    assert_eq!(got.len(), 1, "one SERVER span per request: {got:?}");
    let span = &got[0];
    assert_eq!(span["trace_id"], CALLER_TRACE);
    assert_eq!(span["parent_span_id"], CALLER_SPAN);
    assert_eq!(span["kind"], 2, "SERVER");
    assert_eq!(span["name"], "GET /api/tracks/{id}");
    assert_eq!(span["trace_state"], "congo=t61rcWkgMzE");
    assert_eq!(attr(span, "http.request.method"), "GET");
    assert_eq!(attr(span, "http.route"), "/api/tracks/{id}");
    assert_eq!(attr(span, "url.path"), format!("/api/tracks/{id}").as_str());
    assert_eq!(attr(span, "http.response.status_code"), 200);
    assert_eq!(attr(span, "client.address"), "127.0.0.1");
    assert_eq!(attr(span, "server.address"), "localhost");
    assert!(attr(span, "auralis.core").is_i64(), "{span}");
    assert!(span["end_ns"].as_u64() >= span["start_ns"].as_u64());
    let res = &span["resource"];
    assert_eq!(res["service.name"], "auralis-server");
    assert_eq!(res["service.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(res["service.instance.id"], "trace-node");
    assert!(res["host.name"].as_str().is_some_and(|h| !h.is_empty()));

    // A chunk decoded for the request: the decode and its queue wait are children.
    let chunk_trace = "0af7651916cd43dd8448eb211c80319c";
    let tp = traceparent(chunk_trace, "b7ad6b7169203331", true);
    let path = format!("/api/stream/{id}/chunk/0?format=wav");
    let resp = with_headers(&s, "GET", &path, &[("traceparent", &tp)]);
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let got = collector.wait(WAIT, |s| {
        s["trace_id"] == chunk_trace && s["name"] == "decode chunk"
    });
    assert_eq!(got.len(), 1, "{got:?}");
    let all = collector.spans();
    let trace = of_trace(&all, chunk_trace);
    let server = trace
        .iter()
        .find(|s| s["kind"] == 2)
        .expect("the request's span");
    assert_eq!(
        attr(server, "http.route"),
        "/api/stream/{track_id}/chunk/{index}"
    );
    assert_eq!(attr(server, "auralis.cache_source"), "miss");
    let decode = &got[0];
    assert_eq!(
        decode["parent_span_id"], server["span_id"],
        "decode is the request's child"
    );
    assert_eq!(decode["kind"], 1, "INTERNAL");
    assert_eq!(attr(decode, "auralis.format"), "wav");
    assert!(
        attr(decode, "auralis.decode_ms")
            .as_f64()
            .is_some_and(|ms| ms >= 0.0)
    );
    let wait = trace
        .iter()
        .find(|s| s["name"] == "decode queue wait")
        .expect("queue wait span");
    assert_eq!(wait["parent_span_id"], server["span_id"]);

    // Served again from tier 1: no decode, and the span says where it came from.
    let tp = traceparent("1af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", true);
    assert_eq!(
        with_headers(&s, "GET", &path, &[("traceparent", &tp)]).status,
        200
    );
    let got = collector.wait(WAIT, |s| {
        s["trace_id"] == "1af7651916cd43dd8448eb211c80319c"
    });
    assert_eq!(got.len(), 1, "a cached chunk decodes nothing: {got:?}");
    assert_eq!(attr(&got[0], "auralis.cache_source"), "tier1");
}

#[test]
fn an_unsampled_or_malformed_caller_is_respected_and_the_ratio_starts_the_rest() {
    let Some(collector) = Collector::start() else {
        return skip("an_unsampled_or_malformed_caller_is_respected_and_the_ratio_starts_the_rest");
    };
    // Ratio 1: everything without a caller is traced, so silence below is meaningful.
    let s = traced_server(&collector, "1", &[]);
    let unsampled = traceparent(CALLER_TRACE, CALLER_SPAN, false);
    let r = with_headers(&s, "GET", "/api/tracks", &[("traceparent", &unsampled)]);
    assert_eq!(r.status, 200);
    for bad in [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        &"x".repeat(4000),
    ] {
        let r = with_headers(&s, "GET", "/api/version", &[("traceparent", bad)]);
        assert_eq!(
            r.status, 200,
            "a malformed traceparent is ignored, the request served"
        );
    }
    let r = get(&s, "/api/albums");
    assert_eq!(r.status, 200);
    // The last request's span arrives after the earlier ones' (one queue, in order).
    let got = collector.wait(WAIT, |s| s["attributes"]["http.route"] == "/api/albums");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["parent_span_id"], "", "no caller: a root");
    let all = collector.spans();
    assert!(
        of_trace(&all, CALLER_TRACE).is_empty(),
        "the unsampled caller's trace recorded nothing"
    );
    let malformed: Vec<_> = all
        .iter()
        .filter(|s| s["attributes"]["http.route"] == "/api/version")
        .collect();
    assert_eq!(
        malformed.len(),
        4,
        "each malformed caller got a new root trace"
    );
    for m in malformed {
        assert_eq!(m["parent_span_id"], "");
        assert_ne!(m["trace_id"], "00000000000000000000000000000000");
    }
}

#[test]
fn a_websocket_message_has_its_span_in_the_upgrades_or_its_own_trace() {
    use tungstenite::client::IntoClientRequest;
    let Some(collector) = Collector::start() else {
        return skip("a_websocket_message_has_its_span_in_the_upgrades_or_its_own_trace");
    };
    let s = traced_server(&collector, "0", &[]);
    let mut req = format!("ws://{}/ws", s.addr).into_client_request().unwrap();
    let upgrade_tp = traceparent(CALLER_TRACE, CALLER_SPAN, true);
    req.headers_mut()
        .insert("traceparent", upgrade_tp.parse().unwrap());
    let stream = std::net::TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(req, stream).expect("handshake");
    assert_eq!(ws_next(&mut ws)["type"], "connect");
    let pong = ws_rpc(&mut ws, "ping", serde_json::json!({}));
    assert_eq!(pong["type"], "pong");
    let own = "5bf92f3577b34da6a3ce929d0e0e4736";
    let msg = serde_json::json!({"type": "health_check", "correlation_id": "h1",
        "traceparent": traceparent(own, "10f067aa0ba902b7", true), "payload": {}});
    ws.send(tungstenite::Message::text(msg.to_string()))
        .unwrap();
    assert_eq!(
        ws_until(&mut ws, |m| m["correlation_id"] == "h1")["type"],
        "health_check"
    );
    // A message that fails: its outcome is the error code it was answered with.
    let bad = serde_json::json!({"type": "seek", "correlation_id": "s1", "payload": {"position_ms": "x"}});
    ws.send(tungstenite::Message::text(bad.to_string()))
        .unwrap();
    assert_eq!(
        ws_until(&mut ws, |m| m["correlation_id"] == "s1")["type"],
        "error"
    );

    let ping = collector.wait(WAIT, |s| s["name"] == "WS ping");
    assert_eq!(ping.len(), 1, "{ping:?}");
    assert_eq!(ping[0]["trace_id"], CALLER_TRACE, "the upgrade's trace");
    assert_eq!(ping[0]["parent_span_id"], CALLER_SPAN);
    assert_eq!(attr(&ping[0], "auralis.ws.type"), "ping");
    assert_eq!(attr(&ping[0], "auralis.ws.outcome"), "ok");
    assert!(attr(&ping[0], "auralis.ws.priority").is_string());
    let health = collector.wait(WAIT, |s| s["name"] == "WS health_check");
    assert_eq!(
        health[0]["trace_id"], own,
        "the message's own traceparent wins"
    );
    assert_eq!(health[0]["parent_span_id"], "10f067aa0ba902b7");
    let seek = collector.wait(WAIT, |s| s["name"] == "WS seek");
    assert_eq!(attr(&seek[0], "auralis.ws.outcome"), "invalid_payload");
}

#[test]
fn log_lines_of_a_traced_request_carry_its_trace_and_span_ids() {
    let Some(collector) = Collector::start() else {
        return skip("log_lines_of_a_traced_request_carry_its_trace_and_span_ids");
    };
    for format in ["pretty", "json"] {
        let endpoint = collector.endpoint();
        let lib = temp_dir("trace-log-lib");
        make_library(&lib, 0, 1);
        let s = Server::start(
            library_opts(&lib)
                .arg("--log-format")
                .arg(format)
                .env("RUST_LOG", "info")
                .env("AURALIS_TRACING__OTLP_ENDPOINT", &endpoint)
                .env("AURALIS_TRACING__EXPORT_INTERVAL_MS", "100"),
        );
        let tp = traceparent(CALLER_TRACE, CALLER_SPAN, true);
        let r = with_headers(&s, "GET", "/api/tracks/999999", &[("traceparent", &tp)]);
        assert_eq!(r.status, 404);
        let request_id = r.header("x-request-id").unwrap().to_string();
        let span = collector.wait(WAIT, |s| {
            s["attributes"]["auralis.request_id"] == request_id.as_str()
        });
        let span_id = span[0]["span_id"].as_str().unwrap().to_string();
        let log = s.log();
        let access: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("auralis::access") && l.contains(&request_id))
            .collect();
        assert_eq!(access.len(), 1, "{format}: {log}");
        assert!(access[0].contains(CALLER_TRACE), "{format}: {}", access[0]);
        assert!(access[0].contains(&span_id), "{format}: {}", access[0]);
        // An untraced request's line carries no ids (ratio 0, no caller).
        let r = get(&s, "/api/version");
        let id = r.header("x-request-id").unwrap().to_string();
        std::thread::sleep(Duration::from_millis(200));
        let log = s.log();
        let line = log.lines().find(|l| l.contains(&id)).expect("access line");
        assert!(!line.contains("trace_id"), "{line}");
    }
}

#[test]
fn a_dead_or_refusing_collector_costs_only_counted_drops() {
    let Some(refusing) = Collector::start_with(&["--status", "503"]) else {
        return skip("a_dead_or_refusing_collector_costs_only_counted_drops");
    };
    let dead = format!("http://127.0.0.1:{}", free_port());
    for endpoint in [dead, refusing.endpoint()] {
        let s = lib_server(
            1,
            &[
                ("AURALIS_TRACING__OTLP_ENDPOINT", &endpoint),
                ("AURALIS_TRACING__SAMPLE_RATIO", "1"),
                ("AURALIS_TRACING__EXPORT_INTERVAL_MS", "50"),
            ],
        );
        for _ in 0..200 {
            assert_eq!(get(&s, "/api/version").status, 200);
        }
        let deadline = std::time::Instant::now() + WAIT;
        let (dropped, exported) = loop {
            let m = String::from_utf8(get(&s, "/metrics").body).unwrap();
            let dropped = metric_sum(
                &m,
                "auralis_trace_spans_dropped_total{reason=\"export_failed\"}",
            ) + metric_sum(
                &m,
                "auralis_trace_spans_dropped_total{reason=\"queue_full\"}",
            );
            let exported = metric_sum(&m, "auralis_trace_spans_exported_total");
            if dropped >= 200.0 || std::time::Instant::now() > deadline {
                break (dropped, exported);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(
            dropped >= 200.0,
            "{endpoint}: every span counted as dropped ({dropped})"
        );
        assert_eq!(exported, 0.0, "{endpoint}");
        let warnings = s
            .log()
            .lines()
            .filter(|l| l.contains("span export failed"))
            .count();
        assert_eq!(
            warnings, 1,
            "{endpoint}: one warning per outage, not per batch"
        );
    }
}

/// The collector restarted while the server runs: what was sent while it was down is
/// counted dropped, and export resumes on its own once it is back (same port), with a
/// second warning only for a second outage.
#[test]
fn export_resumes_when_the_collector_comes_back() {
    let Some(first) = Collector::start() else {
        return skip("export_resumes_when_the_collector_comes_back");
    };
    let port = first.port.to_string();
    let s = lib_server(
        1,
        &[
            ("AURALIS_TRACING__OTLP_ENDPOINT", &first.endpoint()),
            ("AURALIS_TRACING__SAMPLE_RATIO", "1"),
            ("AURALIS_TRACING__EXPORT_INTERVAL_MS", "50"),
        ],
    );
    let request = |id: &str| {
        let r = with_headers(&s, "GET", "/api/version", &[("X-Request-ID", id)]);
        assert_eq!(r.status, 200);
    };
    let arrived = |c: &Collector, id: &str| {
        !c.wait(WAIT, |sp| attr(sp, "auralis.request_id") == id)
            .is_empty()
    };
    request("before-outage");
    assert!(arrived(&first, "before-outage"));
    drop(first);
    for _ in 0..20 {
        request("during-outage");
    }
    let deadline = std::time::Instant::now() + WAIT;
    while !s.log().contains("span export failed") {
        assert!(
            std::time::Instant::now() < deadline,
            "no warning for the outage"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = Collector::start_with(&["--port", &port]).expect("the collector again, same port");
    request("after-restart");
    assert!(arrived(&second, "after-restart"), "export did not resume");
    let m = String::from_utf8(get(&s, "/metrics").body).unwrap();
    // Rendered once a second: poll until the outage's drops show.
    let deadline = std::time::Instant::now() + WAIT;
    let mut failed = metric_sum(
        &m,
        "auralis_trace_spans_dropped_total{reason=\"export_failed\"}",
    );
    while failed < 20.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let m = String::from_utf8(get(&s, "/metrics").body).unwrap();
        failed = metric_sum(
            &m,
            "auralis_trace_spans_dropped_total{reason=\"export_failed\"}",
        );
    }
    assert!(failed >= 20.0, "the outage's spans are counted: {failed}");
    let warnings = s.log().matches("span export failed").count();
    assert_eq!(warnings, 1, "one warning for one outage");
}

/// A collector answering 200 with an OTLP partial success: the spans it says it
/// rejected are counted dropped, the rest exported — and one claiming more rejections
/// than it was sent spans cannot make the counters wrap.
#[test]
fn a_partial_success_counts_the_rejected_spans_as_dropped() {
    for (reject, batch) in [("1", "5"), ("1000000", "5")] {
        let Some(collector) = Collector::start_with(&["--partial-reject", reject]) else {
            return skip("a_partial_success_counts_the_rejected_spans_as_dropped");
        };
        let s = lib_server(
            1,
            &[
                ("AURALIS_TRACING__OTLP_ENDPOINT", &collector.endpoint()),
                ("AURALIS_TRACING__SAMPLE_RATIO", "1"),
                ("AURALIS_TRACING__BATCH_SPANS", batch),
                ("AURALIS_TRACING__EXPORT_INTERVAL_MS", "50"),
            ],
        );
        for _ in 0..40 {
            assert_eq!(get(&s, "/api/version").status, 200);
        }
        // Every span the collector received is counted once: exported or rejected.
        // Quiet for 3 s (exports every 50 ms, /metrics rendered every second), then
        // the collector's count, then the counters (whose own request comes after).
        std::thread::sleep(Duration::from_secs(3));
        let received = collector.spans().len() as f64;
        let m = String::from_utf8(get(&s, "/metrics").body).unwrap();
        let failed = metric_sum(
            &m,
            "auralis_trace_spans_dropped_total{reason=\"export_failed\"}",
        );
        let exported = metric_sum(&m, "auralis_trace_spans_exported_total");
        assert_eq!(failed + exported, received, "{failed} + {exported}");
        assert!(received >= 40.0, "{received}");
        if reject == "1" {
            // One rejected per batch of at most 5 spans.
            assert!(
                failed >= received / 5.0 && exported > 0.0,
                "{failed} {exported}"
            );
        } else {
            assert_eq!(exported, 0.0, "everything was rejected");
        }
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    let Some(collector) = Collector::start_with(&["--delay-ms", "2000"]) else {
        return skip("a_full_queue_drops_and_counts_without_waiting");
    };
    // A collector that takes 2 s per batch of one span, behind a queue of 2: most of
    // 100 spans find the queue full while the exporter waits, and the requests don't.
    let s = lib_server(
        1,
        &[
            ("AURALIS_TRACING__OTLP_ENDPOINT", &collector.endpoint()),
            ("AURALIS_TRACING__SAMPLE_RATIO", "1"),
            ("AURALIS_TRACING__QUEUE_SPANS", "2"),
            ("AURALIS_TRACING__BATCH_SPANS", "1"),
            ("AURALIS_TRACING__EXPORT_INTERVAL_MS", "10"),
        ],
    );
    for _ in 0..100 {
        assert_eq!(get(&s, "/api/version").status, 200);
    }
    // /metrics is rendered once a monitor tick: wait for the tick after the requests.
    let deadline = std::time::Instant::now() + WAIT;
    let full = loop {
        let m = String::from_utf8(get(&s, "/metrics").body).unwrap();
        let full = metric_sum(
            &m,
            "auralis_trace_spans_dropped_total{reason=\"queue_full\"}",
        );
        if full >= 90.0 || std::time::Instant::now() > deadline {
            break full;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(full >= 90.0, "{full}");
    // What was exported is what the collector received.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = String::from_utf8(get(&s, "/metrics").body).unwrap();
        let exported = metric_sum(&m, "auralis_trace_spans_exported_total");
        let received = collector.spans().len() as f64;
        if exported > 0.0 && exported == received {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "exported {exported}, received {received}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
