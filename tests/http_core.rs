//! The HTTP/1.1 core against the real server: keep-alive, pipelining, limits, errors,
//! middleware headers, rate limiting, client-IP pinning, shutdown.

mod common;

use auralis_server::runtime::listener::core_for_ipv4;
use common::{
    Opts, Raw, Server, error_fields, get, library_opts, make_library, request, temp_dir, wait_scan,
    ws_connect, ws_rpc,
};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn get_req(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")
}

#[test]
fn real_client_gets_health_and_version_envelopes() {
    let s = Server::start(Opts::cores(1));
    let agent = ureq::AgentBuilder::new().build();
    let health: serde_json::Value = serde_json::from_str(
        &agent
            .get(&s.url("/api/health"))
            .call()
            .expect("health")
            .into_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(health["status"], "success");
    assert_eq!(health["data"]["status"], "healthy");
    assert_eq!(health["data"]["driver"], "io_uring");
    assert_eq!(health["data"]["pinning"], "client-ip");
    assert_eq!(health["data"]["cores"].as_array().unwrap().len(), 1);
    assert_eq!(
        health["data"]["cores"][0]["connections"], 1,
        "this request's connection"
    );
    let ts = health["timestamp"].as_str().unwrap();
    assert!(
        humantime::parse_rfc3339(ts).is_ok(),
        "RFC 3339 timestamp: {ts}"
    );
    assert!(!health["request_id"].as_str().unwrap().is_empty());

    let v = agent.get(&s.url("/api/version")).call().expect("version");
    assert_eq!(v.header("X-Content-Type-Options"), Some("nosniff"));
    // node/core: the node is the host name unless [cluster] node names it.
    let served_by = v.header("X-Served-By").unwrap().to_string();
    assert!(
        served_by.ends_with("/0") && served_by.len() > 2,
        "{served_by}"
    );
    let v: serde_json::Value = serde_json::from_str(&v.into_string().unwrap()).unwrap();
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn legacy_driver_on_demand_is_reported() {
    let s = Server::start(Opts::cores(1).arg("--driver").arg("legacy"));
    let h = get(&s, "/api/health").json();
    assert_eq!(h["data"]["driver"], "legacy");
    assert_eq!(get(&s, "/api/version").status, 200);
}

/// `server.sqpoll_idle_ms` and `server.uring_taskrun`: rings set up with a kernel
/// submission-polling thread, or with task work run cooperatively or deferred, serve
/// as usual (`--driver io-uring`: no silent fall back to epoll).
#[test]
fn sqpoll_and_taskrun_rings_serve_requests() {
    let probe = std::process::Command::new(env!("CARGO_BIN_EXE_auralis-server"))
        .args(["doctor"])
        .output()
        .unwrap();
    if !String::from_utf8_lossy(&probe.stdout).contains("[ok  ] io_uring") {
        println!("SKIPPED: io_uring is not available here");
        return;
    }
    let setups = [
        ("AURALIS_SERVER__SQPOLL_IDLE_MS", "50"),
        ("AURALIS_SERVER__URING_TASKRUN", "coop"),
        ("AURALIS_SERVER__URING_TASKRUN", "defer"),
    ];
    let lib = temp_dir("rings");
    make_library(&lib, 0, 1);
    for (var, value) in setups {
        let s = Server::start(
            library_opts(&lib)
                .arg("--driver")
                .arg("io-uring")
                .env(var, value),
        );
        wait_scan(&s);
        assert_eq!(get(&s, "/api/health").json()["data"]["driver"], "io_uring");
        let mut c = Raw::connect(s.addr);
        for _ in 0..50 {
            c.send(b"GET /api/version HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(c.read_response().unwrap().status, 200, "{var}={value}");
        }
        // A WebSocket (poll-io on the same ring) and a decoded chunk (pool -> core).
        let chunk = get(&s, "/api/stream/1/chunk/0?format=wav");
        assert_eq!(chunk.status, 200, "{var}={value}");
        let (mut ws, _) = ws_connect(&s, Ipv4Addr::LOCALHOST);
        assert_eq!(
            ws_rpc(&mut ws, "ping", serde_json::json!({}))["type"],
            "pong"
        );
    }
}

/// `[cluster] node` names the node in every response's `X-Served-By: node/core`,
/// the WebSocket 101 included.
#[test]
fn every_response_names_its_node_and_core() {
    let s = Server::start(Opts::cores(1).env("AURALIS_CLUSTER__NODE", "edge-7"));
    assert_eq!(
        get(&s, "/api/version").header("X-Served-By"),
        Some("edge-7/0")
    );
    assert_eq!(
        get(&s, "/api/nothing-here").header("X-Served-By"),
        Some("edge-7/0")
    );
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::io::Write::write_all(
        &mut c,
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && std::io::Read::read(&mut c, &mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.contains("101") && head.contains("X-Served-By: edge-7/0"),
        "{head}"
    );
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let s = Server::start(Opts::cores(1));
    let mut c = Raw::connect(s.addr);
    for i in 0..5 {
        c.send(get_req("/api/version", &format!("X-Request-ID: ka-{i}\r\n")).as_bytes());
        let r = c.read_response().expect("response on the same connection");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("X-Request-ID"), Some(format!("ka-{i}").as_str()));
    }
    let h = get(&s, "/api/health").json();
    assert_eq!(
        h["data"]["cores"][0]["accepted"], 2,
        "one kept-alive connection plus this one"
    );
}

#[test]
fn three_pipelined_requests_in_one_write_are_answered_in_order() {
    let s = Server::start(Opts::cores(1));
    let mut c = Raw::connect(s.addr);
    let mut wire = String::new();
    for id in ["first", "second", "third"] {
        wire.push_str(&get_req(
            if id == "second" {
                "/nope"
            } else {
                "/api/version"
            },
            &format!("X-Request-ID: {id}\r\n"),
        ));
    }
    c.send(wire.as_bytes());
    let got: Vec<(u16, String)> = (0..3)
        .map(|_| {
            let r = c.read_response().expect("pipelined response");
            (r.status, r.header("X-Request-ID").unwrap().to_string())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (200, "first".into()),
            (404, "second".into()),
            (200, "third".into())
        ]
    );
}

#[test]
fn connection_close_and_http10_close_after_the_response() {
    let s = Server::start(Opts::cores(1));
    let mut c = Raw::connect(s.addr);
    c.send(get_req("/api/version", "Connection: close\r\n").as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("Connection")), (200, Some("close")));
    assert!(c.closed_within(Duration::from_secs(2)));

    let mut c = Raw::connect(s.addr);
    c.send(b"GET /api/version HTTP/1.0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200);
    assert!(
        c.closed_within(Duration::from_secs(2)),
        "HTTP/1.0 closes by default"
    );

    let mut c = Raw::connect(s.addr);
    c.send(b"GET /api/version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    c.send(b"GET /api/version HTTP/1.0\r\n\r\n");
    assert_eq!(
        c.read_response().unwrap().status,
        200,
        "kept alive on request"
    );
}

#[test]
fn chunked_request_body_is_framed_correctly() {
    let s = Server::start(Opts::cores(1));
    let mut c = Raw::connect(s.addr);
    // A chunked POST (405 here: the route is GET-only) followed by a pipelined GET:
    // the second answer proves the body was consumed exactly.
    c.send(b"POST /api/version HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\nGET /api/version HTTP/1.1\r\nHost: t\r\n\r\n");
    let first = c.read_response().unwrap();
    assert_eq!(first.status, 405);
    assert_eq!(first.header("Allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(first.json()["error"], "method_not_allowed");
    assert_eq!(c.read_response().unwrap().status, 200);
    // A plain OPTIONS (no preflight) is answered with what a 405 would say is allowed.
    c.send(b"OPTIONS /api/version HTTP/1.1\r\nHost: t\r\n\r\n");
    let options = c.read_response().unwrap();
    assert_eq!(options.status, 204);
    assert_eq!(options.header("Allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn header_section_over_16k_gets_431_and_close() {
    let s = Server::start(Opts::cores(1));
    let mut c = Raw::connect(s.addr);
    let big = format!(
        "GET /api/version HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    c.send(big.as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 431);
    assert_eq!(r.json()["status"], "error");
    assert!(c.closed_within(Duration::from_secs(2)));

    let mut c = Raw::connect(s.addr);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    c.send(get_req("/api/version", &many).as_bytes());
    assert_eq!(c.read_response().unwrap().status, 431, "too many headers");
}

#[test]
fn body_over_limit_gets_413_declared_or_chunked() {
    let s = Server::start(Opts::cores(1));
    let mut c = Raw::connect(s.addr);
    c.send(b"POST /api/version HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "payload_too_large");
    assert!(c.closed_within(Duration::from_secs(2)));

    let s = Server::start(Opts::cores(1).env("AURALIS_HTTP__MAX_BODY_BYTES", "1000"));
    let mut c = Raw::connect(s.addr);
    c.send(b"POST /api/version HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        c.send(format!("200\r\n{}\r\n", "x".repeat(0x200)).as_bytes());
    }
    assert_eq!(c.read_response().unwrap().status, 413);
}

#[test]
fn malformed_requests_get_400_envelope_then_close() {
    let s = Server::start(Opts::cores(1));
    for wire in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET nope HTTP/1.1\r\n\r\n",
    ] {
        let mut c = Raw::connect(s.addr);
        c.send(wire);
        let r = c.read_response().expect("an answer, not a hang");
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(wire));
        let j = r.json();
        assert_eq!(
            (j["status"].as_str(), j["error"].as_str()),
            (Some("error"), Some("validation_error"))
        );
        assert!(r.header("X-Request-ID").is_some());
        assert!(c.closed_within(Duration::from_secs(2)));
    }
}

#[test]
fn slow_loris_and_idle_keep_alive_are_closed_by_timeouts() {
    let s = Server::start(
        Opts::cores(1)
            .env("AURALIS_HTTP__HEADER_READ_TIMEOUT_MS", "300")
            .env("AURALIS_HTTP__KEEP_ALIVE_TIMEOUT_MS", "400"),
    );
    let mut c = Raw::connect(s.addr);
    let t = Instant::now();
    c.send(b"GET /api/version HTTP/1.1\r\nX-Slow: ");
    std::thread::sleep(Duration::from_millis(100));
    c.send(b"a");
    assert!(
        c.closed_within(Duration::from_secs(3)),
        "slow header closed"
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );

    let mut c = Raw::connect(s.addr);
    c.send(get_req("/api/version", "").as_bytes());
    assert_eq!(c.read_response().unwrap().status, 200);
    let t = Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(3)),
        "idle keep-alive closed"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn connections_over_the_per_core_limit_get_503_and_close() {
    // No operator reserve: every connection past the cap is refused at once.
    let s = Server::start(
        Opts::cores(1)
            .env("AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE", "2")
            .env("AURALIS_HTTP__OPERATOR_RESERVE_CONNECTIONS", "0"),
    );
    let mut held: Vec<Raw> = (0..2).map(|_| Raw::connect(s.addr)).collect();
    for c in held.iter_mut() {
        c.send(get_req("/api/version", "").as_bytes());
        assert_eq!(c.read_response().unwrap().status, 200);
    }
    let mut third = Raw::connect(s.addr);
    let r = third.read_response().expect("503 without sending anything");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "service_unavailable");
    assert!(third.closed_within(Duration::from_secs(2)));
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        get(&s, "/api/version").status,
        200,
        "room again after the others left"
    );
}

#[test]
fn a_refused_connection_is_closed_cleanly_not_reset() {
    use std::io::{Read, Write};
    let s = Server::start(
        Opts::cores(1)
            .env("AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE", "1")
            .env("AURALIS_HTTP__OPERATOR_RESERVE_CONNECTIONS", "0"),
    );
    let mut held = Raw::connect(s.addr);
    held.send(get_req("/api/version", "").as_bytes());
    assert_eq!(held.read_response().unwrap().status, 200);
    // The client writes its request before the refusal arrives and reads only later:
    // closing with that request unread would reset the connection, and a reset
    // discards the 503 the client has not read yet.
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.write_all(get_req("/api/version", "").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let mut all = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.read_to_end(&mut all)
        .expect("an orderly close (FIN), not a reset");
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("service_unavailable"), "{text}");
}

#[test]
fn rate_limit_headers_then_429_while_another_address_is_unaffected() {
    let s = Server::start(Opts::cores(2));
    let src = Ipv4Addr::new(127, 0, 0, 1);
    let mut c = Raw::connect_from(src, s.addr);
    for i in 1..=100u32 {
        c.send(get_req("/api/version", "").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("X-RateLimit-Limit"), Some("100"));
        assert_eq!(
            r.header("X-RateLimit-Remaining"),
            Some((100 - i).to_string().as_str())
        );
        let reset: u64 = r.header("X-RateLimit-Reset").unwrap().parse().unwrap();
        assert!((1..=60).contains(&reset));
    }
    c.send(get_req("/api/version", "").as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "rate_limit_exceeded");
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.header("X-RateLimit-Remaining"), Some("0"));

    let mut other = Raw::connect_from(Ipv4Addr::new(127, 0, 0, 3), s.addr);
    other.send(get_req("/api/version", "").as_bytes());
    let r = other.read_response().unwrap();
    assert_eq!(
        (r.status, r.header("X-RateLimit-Remaining")),
        (200, Some("99"))
    );
    // Health probes are never limited.
    c.send(get_req("/api/health", "").as_bytes());
    assert_eq!(c.read_response().unwrap().status, 200);
}

#[test]
fn request_id_is_echoed_or_generated() {
    let s = Server::start(Opts::cores(1));
    let mut c = Raw::connect(s.addr);
    c.send(get_req("/api/version", "X-Request-ID: client-abc-123\r\n").as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(r.header("X-Request-ID"), Some("client-abc-123"));
    assert_eq!(r.json()["request_id"], "client-abc-123");
    c.send(get_req("/api/version", "X-Request-ID: bad id with spaces\r\n").as_bytes());
    let r = c.read_response().unwrap();
    let id = r.header("X-Request-ID").unwrap().to_string();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(r.json()["request_id"], id.as_str());
}

#[test]
fn each_client_ip_stays_on_its_predicted_core_and_addresses_spread() {
    let s = Server::start(Opts::cores(2));
    let mut seen = std::collections::BTreeSet::new();
    for last in 2..=20u8 {
        let ip = Ipv4Addr::new(127, 0, 0, last);
        let expected = core_for_ipv4(ip, 2).to_string();
        for _ in 0..3 {
            let mut c = Raw::connect_from(ip, s.addr);
            c.send(get_req("/api/health", "Connection: close\r\n").as_bytes());
            let r = c.read_response().unwrap();
            let core = r.header("X-Served-By").and_then(|v| v.rsplit('/').next());
            assert_eq!(core, Some(expected.as_str()), "{ip}");
        }
        seen.insert(expected);
    }
    assert_eq!(seen.len(), 2, "addresses spread over both cores");
}

#[test]
fn cors_preflight_and_simple_requests() {
    let s = Server::start(Opts::cores(1).env(
        "AURALIS_CORS__ALLOWED_ORIGINS",
        r#"["https://app.example"]"#,
    ));
    let mut c = Raw::connect(s.addr);
    c.send(b"OPTIONS /api/version HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert!(
        r.header("Access-Control-Allow-Methods")
            .unwrap()
            .contains("GET")
    );
    c.send(b"GET /api/version HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    c.send(b"OPTIONS /api/version HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
}

#[test]
fn unknown_path_404_wrong_method_405_head_has_no_body() {
    let s = Server::start(Opts::cores(1));
    let r = get(&s, "/api/does-not-exist");
    assert_eq!(r.status, 404);
    let j = r.json();
    for key in ["status", "error", "message", "timestamp", "request_id"] {
        assert!(j.get(key).is_some(), "envelope has {key}: {j}");
    }
    assert_eq!(j["error"], "not_found");
    let r = request(&s, "DELETE", "/api/health", None);
    assert_eq!(
        (r.status, r.header("Allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
    let r = request(&s, "HEAD", "/api/version", None);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(
        r.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
}

#[test]
fn shutdown_finishes_the_request_in_flight_then_exits_zero() {
    let mut s = Server::start(Opts::cores(1).env("RUST_LOG", "debug"));
    let mut c = Raw::connect(s.addr);
    c.send(b"GET /api/version HTTP/1.1\r\nHost: t\r\n");
    std::thread::sleep(Duration::from_millis(100));
    s.terminate();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(s.addr).is_err(),
        "no longer accepting"
    );
    c.send(b"X-Late: yes\r\n\r\n");
    let r = c
        .read_response()
        .unwrap_or_else(|| panic!("the in-flight request is answered; log:\n{}", s.log()));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn config_print_shows_layers_and_bad_keys_fail_naming_the_key() {
    let bin = env!("CARGO_BIN_EXE_auralis-server");
    let out = std::process::Command::new(bin)
        .args(["config", "--print", "--cores", "3"])
        .env("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "42")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let parsed: toml::Table = text.parse().unwrap();
    assert_eq!(
        parsed["rate_limit"]["requests_per_minute"].as_integer(),
        Some(42)
    );
    assert_eq!(parsed["server"]["cores"].as_integer(), Some(3));

    let out = std::process::Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AURALIS_HTTP__MAX_BODY", "5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_body"));
}

#[test]
fn strict_http_framing_host_and_header_limits() {
    let s = Server::start(Opts::cores(1));
    let status = |wire: &str| {
        let mut c = Raw::connect(s.addr);
        c.send(wire.as_bytes());
        c.read_response().map(|r| {
            (
                r.status,
                r.json()["message"].as_str().unwrap_or("").to_string(),
            )
        })
    };
    for cl in ["+13", "+0013", "013"] {
        let wire = format!(
            "POST /api/notifications HTTP/1.1\r\nHost: t\r\nContent-Length: {cl}\r\n\r\n{{\"title\": \"x\"}}"
        );
        assert_eq!(status(&wire).unwrap().0, 400, "Content-Length: {cl}");
    }
    let (code, msg) = status("GET /api/version HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(code, 400);
    assert!(msg.contains("Host"), "{msg}");
    assert_eq!(
        status("GET /api/version HTTP/1.0\r\n\r\n").unwrap().0,
        200,
        "1.0 needs no Host"
    );
    // 100 small headers: the count limit (96) is what is hit, and named.
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (code, msg) = status(&format!(
        "GET /api/version HTTP/1.1\r\nHost: t\r\n{many}\r\n"
    ))
    .unwrap();
    assert_eq!(code, 431);
    assert_eq!(msg, "request has more than 96 header fields");
    // A route that takes no query parameters refuses them.
    let r = request(&s, "POST", "/api/library/scan?path=/etc", None);
    assert_eq!(r.status, 422, "{}", r.json());
    assert_eq!(error_fields(&r), vec!["path"]);
}

#[test]
fn an_operator_on_loopback_can_observe_a_full_core() {
    let s = Server::start(Opts::cores(1).env("AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE", "1"));
    let mut held = Raw::connect(s.addr);
    held.send(get_req("/api/version", "").as_bytes());
    assert_eq!(held.read_response().unwrap().status, 200);
    // Past the cap, loopback still reads health and metrics...
    let mut op = Raw::connect(s.addr);
    op.send(get_req("/api/health/live", "").as_bytes());
    assert_eq!(op.read_response().unwrap().status, 200);
    op.send(get_req("/metrics", "").as_bytes());
    assert_eq!(op.read_response().unwrap().status, 200);
    // ...but nothing else: 503, then the connection closes.
    op.send(get_req("/api/version", "").as_bytes());
    let r = op.read_response().unwrap();
    assert_eq!(r.status, 503);
    assert!(op.closed_within(Duration::from_secs(2)));
}

/// RFC 9110 §6.6.1: every response carries `Date` (IMF-fixdate, the server's clock).
#[test]
fn responses_carry_a_date() {
    let s = Server::start(Opts::cores(1));
    for path in ["/api/version", "/api/nope"] {
        let r = get(&s, path);
        let date = r.header("date").expect("a Date header");
        assert_eq!(date.len(), 29, "{date}");
        assert!(
            date.ends_with(" GMT") && date.as_bytes()[3] == b',',
            "{date}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let year = (1970 + now / 31_556_952).to_string();
        assert!(date.contains(&year), "{date} is this year ({year})");
    }
}
