//! PROTOCOL.md against the real server with real WebSocket clients: every message type,
//! every error path, priority rate limits, heartbeats, RFC 6455 violations, slow
//! readers, shared sessions across cores, streaming over the socket.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

fn err_code(m: &Value) -> &str {
    assert_eq!(m["type"], "error", "{m}");
    m["payload"]["error"].as_str().unwrap()
}

#[test]
fn every_message_type_end_to_end() {
    let s = lib_server(6, &[]);
    let (mut ws, welcome) = ws_connect(&s, LOCAL);
    for key in [
        "connection_id",
        "core",
        "heartbeat_interval_ms",
        "heartbeat_timeout_ms",
        "rate_limits",
        "retry",
        "max_message_bytes",
        "server_version",
    ] {
        assert!(!welcome[key].is_null(), "welcome has {key}: {welcome}");
    }
    assert_eq!(welcome["max_message_bytes"], 65536);
    assert_eq!(welcome["rate_limits"]["per_priority"]["critical"], 1000.0);

    let pong = ws_rpc(&mut ws, "ping", json!({"n": 1}));
    assert_eq!(
        (pong["type"].as_str(), pong["payload"]["n"].as_i64()),
        (Some("pong"), Some(1))
    );

    let sub = ws_rpc(
        &mut ws,
        "subscribe",
        json!({"topics": ["library", "notifications"]}),
    );
    assert_eq!(sub["type"], "subscribed");
    assert_eq!(
        sub["payload"]["topics"],
        json!(["library", "notifications"])
    );
    assert_eq!(
        ws_rpc(&mut ws, "unsubscribe", json!({"topics": ["library"]}))["type"],
        "unsubscribed"
    );

    let ids = track_ids(&s, "/api/tracks?order_by=title");
    let st = |m: &Value| {
        (
            m["type"].as_str().unwrap().to_string(),
            m["payload"]["state"].as_str().unwrap().to_string(),
            m["payload"]["seq"].as_u64().unwrap(),
        )
    };
    let m = ws_rpc(
        &mut ws,
        "queue_add",
        json!({"track_ids": [ids[0], ids[1], ids[2]]}),
    );
    assert_eq!(st(&m), ("status_update".into(), "stopped".into(), 1));
    assert_eq!(m["payload"]["queue"], json!([ids[0], ids[1], ids[2]]));
    let m = ws_rpc(&mut ws, "play", json!({"index": 1}));
    assert_eq!(st(&m), ("status_update".into(), "playing".into(), 2));
    assert_eq!(m["payload"]["track"]["id"], ids[1]);
    assert_eq!(st(&ws_rpc(&mut ws, "pause", json!({}))).1, "paused");
    let m = ws_rpc(&mut ws, "seek", json!({"position_ms": 20}));
    assert_eq!(m["payload"]["position_ms"], 20);
    assert_eq!(ws_rpc(&mut ws, "next", json!({}))["payload"]["index"], 2);
    assert_eq!(
        ws_rpc(&mut ws, "previous", json!({}))["payload"]["index"],
        1
    );
    let m = ws_rpc(&mut ws, "queue_reorder", json!({"from": 0, "to": 2}));
    assert_eq!(
        (
            m["payload"]["queue"].clone(),
            m["payload"]["index"].as_u64()
        ),
        (json!([ids[1], ids[2], ids[0]]), Some(0))
    );
    let m = ws_rpc(&mut ws, "queue_remove", json!({"index": 2}));
    assert_eq!(m["payload"]["queue"], json!([ids[1], ids[2]]));
    assert_eq!(st(&ws_rpc(&mut ws, "stop", json!({}))).1, "stopped");
    let m = ws_rpc(&mut ws, "status_update", json!({}));
    assert_eq!(
        (m["type"].as_str(), m["payload"]["seq"].as_u64()),
        (Some("status_update"), Some(9))
    );
    let m = ws_rpc(&mut ws, "queue_clear", json!({}));
    assert_eq!(
        (m["payload"]["queue"].clone(), m["payload"]["seq"].as_u64()),
        (json!([]), Some(10))
    );

    // library_search returns what GET /api/tracks?search= returns, with its paging.
    let m = ws_rpc(
        &mut ws,
        "library_search",
        json!({"query": "song", "limit": 4}),
    );
    let rest = get(&s, "/api/tracks?search=song&limit=4").json();
    assert_eq!(m["payload"]["tracks"], rest["data"]);
    let c = m["payload"]["meta"]["next_cursor"].as_str().unwrap();
    let m2 = ws_rpc(
        &mut ws,
        "library_search",
        json!({"query": "song", "limit": 4, "cursor": c}),
    );
    assert_eq!(
        m2["payload"]["tracks"].as_array().unwrap().len(),
        2,
        "6 songs: 4 then 2"
    );

    // library_sync streams scan progress until the scan is done.
    let cid = "sync-1";
    ws.send(tungstenite::Message::text(
        json!({"type": "library_sync", "correlation_id": cid}).to_string(),
    ))
    .unwrap();
    let mut states = Vec::new();
    loop {
        let m = ws_next(&mut ws);
        if m["correlation_id"] != cid {
            continue;
        }
        assert_eq!(m["type"], "library_sync");
        let state = m["payload"]["progress"]["state"]
            .as_str()
            .unwrap()
            .to_string();
        states.push(state.clone());
        if state == "completed" {
            assert_eq!(m["payload"]["progress"]["unchanged"], 6);
            break;
        }
    }

    assert_eq!(
        ws_rpc(&mut ws, "cache_stats", json!({}))["payload"]["decodes"],
        0
    );
    assert_eq!(
        ws_rpc(&mut ws, "cache_status", json!({}))["payload"]["status"],
        "healthy"
    );
    let h = ws_rpc(&mut ws, "health_check", json!({}));
    assert_eq!(
        (h["type"].as_str(), h["payload"]["status"].as_str()),
        (Some("health_check"), Some("healthy"))
    );
    let sc = ws_rpc(&mut ws, "session_create", json!({}));
    assert_eq!(sc["type"], "session_created");
    assert!(sc["payload"]["session_id"].as_str().unwrap().len() > 8);

    // A notification published over REST reaches the subscriber.
    let r = post_json(
        &s,
        "/api/notifications",
        json!({"title": "hello", "level": "info"}),
    );
    assert_eq!(r.status, 202);
    let n = loop {
        let m = ws_next(&mut ws);
        if m["type"] == "notification" {
            break m;
        }
    };
    assert_eq!(n["payload"]["title"], "hello");
    assert_eq!(
        error_fields(&post_json(
            &s,
            "/api/notifications",
            json!({"title": "x", "level": "loud"})
        )),
        vec!["level"]
    );

    // The connection table knows this connection.
    let conns = ok_data(&get(&s, "/api/ws/connections"));
    assert_eq!(conns["total"], 1);
    let mine = &conns["details"][0];
    assert_eq!(mine["subscriptions"], json!(["notifications"]));
    assert!(mine["messages_in"].as_u64().unwrap() >= 20);

    let d = ws_rpc(&mut ws, "disconnect", json!({}));
    assert_eq!(d["type"], "disconnect");
    let code = ws_close_code(&mut ws);
    assert_eq!(code, 1000);
}

fn post_json(s: &Server, path: &str, body: Value) -> Resp {
    request(s, "POST", path, Some(&body.to_string()))
}

#[test]
fn bad_messages_get_errors_and_the_connection_stays_open() {
    let s = lib_server(6, &[]);
    let (mut ws, _) = ws_connect(&s, LOCAL);
    ws.send(tungstenite::Message::text("{nope")).unwrap();
    let m = ws_next(&mut ws);
    assert_eq!(err_code(&m), "invalid_json");
    assert!(
        !m["correlation_id"].as_str().unwrap().is_empty(),
        "an id is generated when none could be read"
    );
    assert_eq!(err_code(&ws_rpc(&mut ws, "fly", json!({}))), "unknown_type");
    assert_eq!(
        err_code(&ws_rpc(&mut ws, "seek", json!({"position_ms": "soon"}))),
        "invalid_payload"
    );
    assert_eq!(
        err_code(&ws_rpc(&mut ws, "play", json!({"extra": 1}))),
        "invalid_payload"
    );
    assert_eq!(
        err_code(&ws_rpc(
            &mut ws,
            "queue_add",
            json!({"track_ids": [424242]})
        )),
        "not_found"
    );
    let m = ws_rpc(&mut ws, "queue_add", json!({"track_ids": [1]}));
    let seq = m["payload"]["seq"].as_u64().unwrap();
    assert_eq!(
        err_code(&ws_rpc(&mut ws, "play", json!({"index": 5}))),
        "invalid_payload"
    );
    assert_eq!(
        err_code(&ws_rpc(&mut ws, "queue_remove", json!({"index": 3}))),
        "invalid_payload"
    );
    assert_eq!(
        err_code(&ws_rpc(&mut ws, "subscribe", json!({"topics": ["gossip"]}))),
        "invalid_payload"
    );
    assert_eq!(
        err_code(&ws_rpc(
            &mut ws,
            "subscribe",
            json!({"topics": ["session:nope"]})
        )),
        "not_found"
    );
    assert_eq!(
        err_code(&ws_rpc(
            &mut ws,
            "stream_start",
            json!({"track_id": 1, "format": "mp3"})
        )),
        "invalid_payload"
    );
    assert_eq!(
        ws_rpc(&mut ws, "status_update", json!({}))["payload"]["seq"],
        seq,
        "failed commands change nothing"
    );
    ws.send(tungstenite::Message::binary(vec![1u8, 2, 3]))
        .unwrap();
    assert_eq!(err_code(&ws_next(&mut ws)), "invalid_payload");
    assert_eq!(
        ws_rpc(&mut ws, "ping", json!({}))["type"],
        "pong",
        "still open"
    );
    // A message over 64 KiB closes with 1009.
    ws.send(tungstenite::Message::text(format!(
        "{{\"type\":\"ping\",\"payload\":{{\"x\":\"{}\"}}}}",
        "a".repeat(70_000)
    )))
    .unwrap();
    let code = ws_close_code(&mut ws);
    assert_eq!(code, 1009);
}

/// How many of `n` messages of `kind` are answered with `reply`.
fn answered(ws: &mut Ws, n: usize, kind: &str, payload: Value, reply: &str) -> usize {
    (0..n)
        .filter(|_| ws_rpc(ws, kind, payload.clone())["type"] == reply)
        .count()
}

#[test]
fn each_priority_has_its_own_budget_so_heartbeats_never_eat_playback_control() {
    let s = lib_server(6, &[("AURALIS_WS__RATE_BASE_PER_MINUTE", "50")]);
    let (mut ws, welcome) = ws_connect(&s, LOCAL);
    let budgets = &welcome["rate_limits"]["per_priority"];
    assert_eq!(budgets["critical"], 500.0);
    assert_eq!(budgets["high"], 100.0);
    assert_eq!(budgets["normal"], 50.0);
    assert_eq!(budgets["low"], 25.0);
    // A client polling its status and pinging once a second for a minute…
    assert_eq!(
        answered(&mut ws, 30, "status_update", json!({}), "status_update"),
        25
    );
    let refused = ws_rpc(&mut ws, "health_check", json!({}));
    assert_eq!(err_code(&refused), "rate_limit_exceeded");
    assert!(refused["payload"]["retry_after_ms"].as_u64().unwrap() > 0);
    assert_eq!(answered(&mut ws, 60, "ping", json!({}), "pong"), 60);
    // …still has its whole normal and high budgets.
    assert_eq!(
        answered(&mut ws, 55, "queue_clear", json!({}), "status_update"),
        50
    );
    assert_eq!(
        answered(&mut ws, 105, "stop", json!({}), "status_update"),
        100
    );
    assert_eq!(answered(&mut ws, 20, "ping", json!({}), "pong"), 20);
}

/// Completes the handshake on a raw socket (to send frames tungstenite won't).
fn raw_ws(s: &Server) -> std::net::TcpStream {
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "RFC 6455 §1.3 example"
    );
    c
}

/// A client frame: masked unless told otherwise.
fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n < 65536 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x11, 0x22, 0x33, 0x44];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// Reads server frames until a close frame; returns its code.
fn close_code(c: &mut std::net::TcpStream) -> Option<u16> {
    loop {
        let mut h = [0u8; 2];
        c.read_exact(&mut h).ok()?;
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            c.read_exact(&mut b).ok()?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            c.read_exact(&mut b).ok()?;
            len = u64::from_be_bytes(b);
        }
        let mut p = vec![0u8; len as usize];
        c.read_exact(&mut p).ok()?;
        if h[0] & 0x0f == 0x8 {
            return p.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        }
    }
}

#[test]
fn rfc6455_violations_close_with_the_right_codes() {
    let s = lib_server(6, &[]);
    let ping = br#"{"type":"ping"}"#;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked client frame", frame(true, 0x1, ping, false), 1002),
        ("reserved opcode 0x3", frame(true, 0x3, b"x", true), 1002),
        (
            "fragmented control frame",
            frame(false, 0x9, b"x", true),
            1002,
        ),
        (
            "oversized frame",
            frame(true, 0x1, &vec![b'a'; 70_000], true),
            1009,
        ),
        (
            "invalid UTF-8 text",
            frame(true, 0x1, &[0x7b, 0xff, 0xfe, 0x7d], true),
            1007,
        ),
        (
            "continuation without a message",
            frame(true, 0x0, b"x", true),
            1002,
        ),
        (
            "fragmented message over the limit",
            {
                let mut v = frame(false, 0x1, &vec![b'a'; 40_000], true);
                v.extend(frame(true, 0x0, &vec![b'a'; 40_000], true));
                v
            },
            1009,
        ),
        (
            "invalid UTF-8 across fragments",
            {
                let mut v = frame(false, 0x1, b"{\"type\":\"", true);
                v.extend(frame(true, 0x0, &[0xc3, 0x28, b'"', b'}'], true));
                v
            },
            1007,
        ),
    ];
    for (what, bytes, want) in cases {
        let mut c = raw_ws(&s);
        c.write_all(&bytes).unwrap();
        assert_eq!(close_code(&mut c), Some(want), "{what}");
    }
    // A fragmented message with a ping in between is fine (RFC 6455 §5.4).
    let mut c = raw_ws(&s);
    let mut v = frame(false, 0x1, br#"{"type":"pi"#, true);
    v.extend(frame(true, 0x9, b"hb", true));
    v.extend(frame(true, 0x0, br#"ng","correlation_id":"frag"}"#, true));
    c.write_all(&v).unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("\"frag\"") && Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("\"type\":\"pong\""), "{seen}");
}

#[test]
fn a_client_that_never_answers_pings_is_closed_by_the_heartbeat() {
    let s = lib_server(
        6,
        &[
            ("AURALIS_WS__HEARTBEAT_INTERVAL_MS", "200"),
            ("AURALIS_WS__HEARTBEAT_TIMEOUT_MS", "300"),
        ],
    );
    let mut c = raw_ws(&s);
    let t = Instant::now();
    assert_eq!(close_code(&mut c), Some(1001));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(4),
        "{took:?}"
    );
    drop(c);
    // A client that answers (tungstenite replies to pings while reading) stays.
    let (mut ws, _) = ws_connect(&s, LOCAL);
    let until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < until {
        assert_eq!(ws_rpc(&mut ws, "ping", json!({}))["type"], "pong");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok_data(&get(&s, "/api/ws/connections"))["total"], 1);
}

/// A socket that streamed a 10 s chunk (1.76 MB) and went idle keeps no buffer of the
/// chunk's size. Frames over 1 KiB are written as header + payload straight from the
/// queued bytes; before, every frame was copied into a writer buffer that kept the
/// largest size ever sent, about 1.8 MB per listener after its first chunk.
#[test]
fn an_idle_socket_that_streamed_a_chunk_keeps_no_chunk_sized_buffer() {
    const SOCKETS: u64 = 16;
    let lib = temp_dir("wsidle");
    tone_tracks(&lib, 1, 12, 44_100, 2);
    let s = Server::start(library_opts(&lib));
    wait_scan(&s);
    let pid = s.child.id();
    let stream_one = || {
        let (mut ws, _) = ws_connect(&s, LOCAL);
        let start = ws_rpc(
            &mut ws,
            "stream_start",
            json!({"track_id": 1, "format": "pcm16", "window": 1}),
        );
        assert_eq!(start["type"], "audio_stream_start", "{start}");
        loop {
            match ws.read().unwrap() {
                tungstenite::Message::Binary(b) => {
                    assert!(b.len() > 1_000_000, "a 10 s chunk: {} bytes", b.len());
                    break;
                }
                tungstenite::Message::Text(_) => {}
                other => panic!("{other:?}"),
            }
        }
        ws_rpc(&mut ws, "stream_stop", json!({}));
        ws
    };
    // The chunk decoded and cached, every path warm: then the baseline.
    drop(stream_one());
    std::thread::sleep(Duration::from_millis(1500));
    let before = rss_kb(pid);
    let held: Vec<_> = (0..SOCKETS).map(|_| stream_one()).collect();
    std::thread::sleep(Duration::from_millis(1500));
    let per_socket = rss_kb(pid).saturating_sub(before) / SOCKETS;
    println!("RSS growth per idle socket after one streamed chunk: {per_socket} kB");
    assert!(
        per_socket < 512,
        "{per_socket} kB per idle socket: a chunk-sized buffer is kept"
    );
    drop(held);
}

#[test]
fn socket_streaming_respects_the_ack_window_and_matches_http_chunks() {
    let lib = temp_dir("wsstream");
    std::fs::copy("tests/fixtures/formats/tone.wav", lib.join("tone.wav")).unwrap();
    let s = Server::start(library_opts(&lib).env("AURALIS_CACHE__CHUNK_DURATION_S", "0.2"));
    wait_scan(&s);
    let (mut ws, _) = ws_connect(&s, LOCAL);
    let start = ws_rpc(
        &mut ws,
        "stream_start",
        json!({"track_id": 1, "format": "f32", "window": 2}),
    );
    assert_eq!(start["type"], "audio_stream_start");
    let total = start["payload"]["total_chunks"].as_u64().unwrap();
    assert_eq!(total, 8, "ceil(33075 / 4410)");
    let mut audio = Vec::new();
    let mut metas = 0u64;
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    // Without acks, no more than the window arrives.
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let m: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(m["type"], "audio_chunk_meta");
                assert_eq!(m["payload"]["seq"], metas);
                metas += 1;
            }
            Ok(tungstenite::Message::Binary(b)) => audio.extend_from_slice(&b),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(metas, 2, "window of 2 without acks");
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut acked = 0;
    while acked < metas {
        ws.send(tungstenite::Message::text(
            json!({"type": "stream_ack", "payload": {"seq": acked}}).to_string(),
        ))
        .unwrap();
        acked += 1;
    }
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => {
                let m: Value = serde_json::from_str(t.as_str()).unwrap();
                match m["type"].as_str().unwrap() {
                    "audio_chunk_meta" => {
                        let seq = m["payload"]["seq"].as_u64().unwrap();
                        ws.send(tungstenite::Message::text(
                            json!({"type": "stream_ack", "payload": {"seq": seq}}).to_string(),
                        ))
                        .unwrap();
                        metas += 1;
                    }
                    "audio_stream_end" => break,
                    other => panic!("unexpected {other}"),
                }
            }
            tungstenite::Message::Binary(b) => audio.extend_from_slice(&b),
            _ => {}
        }
    }
    assert_eq!(metas, total);
    let mut http = Vec::new();
    for i in 0..total {
        http.extend_from_slice(&get(&s, &format!("/api/stream/1/chunk/{i}?format=f32")).body);
    }
    assert!(audio == http, "socket stream equals the HTTP chunks");
}

/// Reads every client of `group` round-robin (non-blocking) until each has received
/// `n` notifications; returns when the last one arrived.
fn read_notifications(group: &mut [Ws], n: usize) -> Instant {
    for ws in group.iter_mut() {
        ws.get_mut().set_nonblocking(true).unwrap();
    }
    let mut counts = vec![0usize; group.len()];
    let mut last = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    while counts.iter().any(|c| *c < n) {
        assert!(Instant::now() < deadline, "listeners starved: {counts:?}");
        let mut progressed = false;
        for (ws, count) in group.iter_mut().zip(counts.iter_mut()) {
            loop {
                match ws.read() {
                    Ok(tungstenite::Message::Text(t)) => {
                        progressed = true;
                        if t.as_str().contains("\"type\":\"notification\"") {
                            *count += 1;
                            last = Instant::now();
                        }
                    }
                    Ok(_) => progressed = true,
                    Err(tungstenite::Error::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock =>
                    {
                        break;
                    }
                    Err(e) => panic!("listener lost: {e}"),
                }
            }
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    last
}

/// Publishes notifications titled `n0`, `n1`, … with `body` as their message.
fn publish_numbered(s: &Server, n: usize, body: &str) {
    for i in 0..n {
        let r = post_json(
            s,
            "/api/notifications",
            json!({"title": format!("n{i}"), "message": body}),
        );
        assert_eq!(r.status, 202);
    }
}

#[test]
fn a_client_that_never_reads_does_not_slow_a_500_listener_broadcast() {
    let s = lib_server(
        6,
        &[
            ("AURALIS_WS__OUTBOUND_QUEUE", "64"),
            ("AURALIS_WS__SLOW_CLOSE_MS", "300"),
            ("AURALIS_WS__SEND_BUFFER_BYTES", "16384"),
            ("AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE", "2000"),
        ],
    );
    const LISTENERS: usize = 500;
    // The publisher posts as fast as HTTP allows, faster than a core writes 400
    // messages to 250 sockets: the core's inbox absorbs the burst and fan-out waits
    // for its writers, so a listener that keeps up loses nothing (only a peer whose
    // socket is full has `low` notifications shed). The messages are small (~250 B,
    // 100 KB in all) so every normal listener's kernel buffers hold the whole
    // broadcast even when its reader thread is starved of CPU. The slow client's
    // 4 KiB receive buffer, the 16 KiB send buffer and its 64-message queue hold
    // about 220 of them, so its queue fills and stays full, and it is closed.
    const MESSAGES: usize = 400;
    // The slow client: subscribes, then never reads, with a tiny receive buffer.
    let slow = {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.connect(&s.addr.into()).unwrap();
        let stream: std::net::TcpStream = sock.into();
        let (mut ws, _) =
            tungstenite::client(format!("ws://{}/ws", s.addr).as_str(), stream).unwrap();
        ws_next(&mut ws);
        assert_eq!(
            ws_rpc(&mut ws, "subscribe", json!({"topics": ["notifications"]}))["type"],
            "subscribed"
        );
        ws
    };
    let mut listeners: Vec<Ws> = (0..LISTENERS)
        .map(|i| {
            let (mut ws, _) = ws_connect(&s, Ipv4Addr::new(127, 0, 1, (i % 200) as u8 + 1));
            assert_eq!(
                ws_rpc(&mut ws, "subscribe", json!({"topics": ["notifications"]}))["type"],
                "subscribed"
            );
            ws
        })
        .collect();
    let body = "n".repeat(100);
    let published = Instant::now();
    let readers = std::thread::scope(|sc| {
        let handles: Vec<_> = listeners
            .chunks_mut(50)
            .map(|group| sc.spawn(move || read_notifications(group, MESSAGES)))
            .collect();
        publish_numbered(&s, MESSAGES, &body);
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    });
    let took = readers - published;
    // Every listener got every message; the slow one was closed instead of holding them up.
    std::thread::sleep(Duration::from_millis(800));
    let conns = ok_data(&get(&s, "/api/ws/connections"));
    assert_eq!(
        conns["total"], LISTENERS as u64,
        "the slow reader was closed (1008); took {took:?}"
    );
    drop(slow);
    eprintln!("500 listeners x {MESSAGES} notifications delivered in {took:?}");
}

/// Fan-out writes straight to an idle subscriber's socket (`ws::direct`); when the
/// socket takes only part of a frame, the rest goes to the connection's writer, ahead
/// of anything queued after it. A subscriber that stops reading while 80 messages of
/// 2 KB (160 KB) are published — far more than its 4 KiB receive buffer and the
/// server's 16 KiB send buffer hold — must, once it reads again, get every frame whole
/// and in order: a frame cut at the wrong byte or a tail sent after the next frame
/// would fail tungstenite's parse or the sequence check.
#[test]
fn a_subscriber_that_pauses_gets_every_frame_whole_when_sends_are_partial() {
    let s = lib_server(
        6,
        &[
            ("AURALIS_WS__OUTBOUND_QUEUE", "1000"),
            ("AURALIS_WS__SEND_BUFFER_BYTES", "16384"),
            ("AURALIS_WS__RATE_BASE_PER_MINUTE", "1000000"),
        ],
    );
    const MESSAGES: usize = 80;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&s.addr.into()).unwrap();
    let stream: std::net::TcpStream = sock.into();
    let (mut ws, _) = tungstenite::client(format!("ws://{}/ws", s.addr).as_str(), stream).unwrap();
    ws_next(&mut ws);
    assert_eq!(
        ws_rpc(&mut ws, "subscribe", json!({"topics": ["notifications"]}))["type"],
        "subscribed"
    );
    // Not reading from here until every message is published.
    let body: String = (0..2000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    publish_numbered(&s, MESSAGES, &body);
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut next = 0;
    while next < MESSAGES {
        let msg = ws_next(&mut ws);
        if msg["type"] != "notification" {
            continue;
        }
        assert_eq!(msg["payload"]["title"], format!("n{next}"), "in order");
        assert_eq!(msg["payload"]["message"], body.as_str(), "whole");
        next += 1;
    }
    // The connection is still healthy: it answers a request after the backlog.
    assert_eq!(ws_rpc(&mut ws, "ping", json!({}))["type"], "pong");
}

#[test]
fn shared_session_delivers_every_status_update_in_order_on_both_cores() {
    let secs: u64 = std::env::var("AURALIS_SESSION_TEST_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let s = lib_server(6, &[("AURALIS_WS__RATE_BASE_PER_MINUTE", "1000000")]);
    let (a, b) = two_cores();
    let (mut ctl, w) = ws_connect(&s, a);
    let sid = ws_rpc(&mut ctl, "session_create", json!({}))["payload"]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut listeners: Vec<(Ws, u64)> = [a, b, a, b]
        .iter()
        .map(|ip| {
            let (mut ws, wl) = ws_connect(&s, *ip);
            assert_eq!(
                ws_rpc(
                    &mut ws,
                    "subscribe",
                    json!({"topics": [format!("session:{sid}")]})
                )["type"],
                "subscribed"
            );
            (ws, wl["core"].as_u64().unwrap())
        })
        .collect();
    let cores: std::collections::BTreeSet<u64> = listeners
        .iter()
        .map(|l| l.1)
        .chain([w["core"].as_u64().unwrap()])
        .collect();
    assert_eq!(cores.len(), 2, "controller and listeners span both cores");
    let ids = track_ids(&s, "/api/tracks");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last_seq = 0;
    let results = std::thread::scope(|sc| {
        let handles: Vec<_> = listeners
            .iter_mut()
            .map(|(ws, _)| {
                sc.spawn(move || {
                    let mut seqs = Vec::new();
                    loop {
                        let m = ws_next(ws);
                        if m["type"] == "status_update" {
                            let seq = m["payload"]["seq"].as_u64().unwrap();
                            seqs.push(seq);
                            if m["payload"]["queue"].as_array().map_or(0, Vec::len) == 3 {
                                return seqs;
                            }
                        }
                    }
                })
            })
            .collect();
        let mut n = 0u64;
        while Instant::now() < deadline {
            let cmd = match n % 6 {
                0 => (
                    "queue_add",
                    json!({"track_ids": [ids[(n as usize) % ids.len()]]}),
                ),
                1 => ("play", json!({})),
                2 => ("pause", json!({})),
                3 => ("seek", json!({"position_ms": 10})),
                4 => ("queue_remove", json!({"index": 0})),
                _ => ("stop", json!({})),
            };
            let m = ws_rpc(&mut ctl, cmd.0, cmd.1);
            assert_eq!(m["type"], "status_update", "{m}");
            last_seq = m["payload"]["seq"].as_u64().unwrap();
            n += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        // The end marker: the run's queue never holds more than one track.
        ws_rpc(&mut ctl, "queue_clear", json!({}));
        let m = ws_rpc(
            &mut ctl,
            "queue_add",
            json!({"track_ids": [ids[0], ids[1], ids[2]]}),
        );
        last_seq = m["payload"]["seq"].as_u64().unwrap();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let _ = last_seq;
    for seqs in results {
        let expected: Vec<u64> = (1..=*seqs.last().unwrap()).collect();
        assert_eq!(seqs.len(), expected.len(), "every update, none twice");
        assert!(seqs == expected, "in seq order");
    }
}

#[test]
fn python_websockets_client_talks_to_the_server() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import websockets"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: python3 with the websockets package is not available");
        return;
    }
    let s = lib_server(6, &[]);
    let out = std::process::Command::new("python3")
        .arg("tests/ws_client.py")
        .arg(format!("ws://{}/ws", s.addr))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shutdown_tells_websocket_clients() {
    let mut s = lib_server(6, &[]);
    let (mut ws, _) = ws_connect(&s, LOCAL);
    s.terminate();
    let d = ws_next(&mut ws);
    assert_eq!(
        (d["type"].as_str(), d["payload"]["reason"].as_str()),
        (Some("disconnect"), Some("server shutting down"))
    );
    let code = ws_close_code(&mut ws);
    assert_eq!(code, 1001);
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn the_compat_transport_speaks_the_same_protocol() {
    let s = lib_server(6, &[("AURALIS_WS__TRANSPORT", "compat")]);
    let (mut ws, welcome) = ws_connect(&s, LOCAL);
    assert_eq!(welcome["max_message_bytes"], 65536);
    assert_eq!(ws_rpc(&mut ws, "ping", json!({"k": 2}))["payload"]["k"], 2);
    assert_eq!(
        ws_rpc(&mut ws, "queue_add", json!({"track_ids": [1, 2]}))["payload"]["queue"],
        json!([1, 2])
    );
    let mut c = raw_ws(&s);
    c.write_all(&frame(true, 0x1, br#"{"type":"ping"}"#, false))
        .unwrap();
    assert_eq!(close_code(&mut c), Some(1002), "unmasked frame");
    let mut c = raw_ws(&s);
    c.write_all(&frame(true, 0x1, &[0xff, 0xfe], true)).unwrap();
    assert_eq!(close_code(&mut c), Some(1007), "invalid UTF-8");
}

/// The next message of `kind` (others, e.g. replies, are skipped).
fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let m = ws_next(ws);
        if m["type"] == kind {
            return m;
        }
    }
}

#[test]
fn a_burst_of_990_pings_gets_990_pongs_and_nothing_is_lost_silently() {
    let s = lib_server(6, &[]);
    let (mut ws, _) = ws_connect(&s, LOCAL);
    // 990 pings in one burst (under the 1 000-per-minute critical limit), written
    // before a single pong is read: the server must not drop replies it cannot queue.
    for n in 0..990 {
        let m = json!({"type": "ping", "correlation_id": format!("p{n}"), "payload": {"n": n}});
        ws.write(tungstenite::Message::text(m.to_string())).unwrap();
    }
    ws.flush().unwrap();
    for n in 0..990 {
        let m = ws_next(&mut ws);
        assert_eq!(m["type"], "pong", "reply {n}: {m}");
        assert_eq!(m["payload"]["n"], n, "in order");
    }
    let conns = ok_data(&get(&s, "/api/ws/connections"));
    let mine = &conns["details"][0];
    assert_eq!(
        (mine["dropped_low"].as_u64(), mine["refused"].as_u64()),
        (Some(0), Some(0)),
        "{mine}"
    );
    assert!(mine["uptime_s"].as_f64().is_some(), "{mine}");
    // Per-core totals in /metrics once the monitor has ticked.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = String::from_utf8(get(&s, "/metrics").body).unwrap();
        if metrics.contains("auralis_ws_refused_total") {
            assert!(
                metrics.contains("auralis_ws_refused_total{core=\"0\"} 0"),
                "{metrics}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no /metrics: {metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn topics_hear_changes_whatever_transport_made_them() {
    let s = lib_server(6, &[]);
    let (mut ws, _) = ws_connect(&s, LOCAL);
    let sub = ws_rpc(
        &mut ws,
        "subscribe",
        json!({"topics": ["library", "cache", "player"]}),
    );
    assert_eq!(sub["type"], "subscribed");
    let id = track_ids(&s, "/api/tracks")[0];

    // library: a favorite and a playlist over HTTP, then a scan started over HTTP.
    assert_eq!(
        post_json(&s, &format!("/api/tracks/{id}/favorite"), json!({})).status,
        200
    );
    let m = next_of(&mut ws, "library_changed");
    assert_eq!(
        m["payload"],
        json!({"event": "favorite_changed", "track_id": id, "favorite": true})
    );
    let created = ok_data(&post_json(
        &s,
        "/api/playlists",
        json!({"name": "Topic test"}),
    ));
    let m = next_of(&mut ws, "library_changed");
    assert_eq!(m["payload"]["event"], "playlist_created");
    assert_eq!(m["payload"]["playlist_id"], created["id"]);
    assert_eq!(request(&s, "POST", "/api/library/scan", None).status, 202);
    assert_eq!(
        next_of(&mut ws, "library_changed")["payload"]["event"],
        "scan_started"
    );
    let done = next_of(&mut ws, "library_changed");
    assert_eq!(
        (
            done["payload"]["event"].as_str(),
            done["payload"]["state"].as_str()
        ),
        (Some("scan_finished"), Some("completed"))
    );

    // cache: a clear over HTTP.
    assert_eq!(request(&s, "POST", "/api/cache/clear", None).status, 200);
    let m = next_of(&mut ws, "cache_changed");
    assert_eq!(m["payload"]["event"], "cleared");
    assert_eq!(m["payload"]["track_id"], Value::Null);

    // player: a shared session's state, from another connection.
    let (mut ctl, _) = ws_connect(&s, LOCAL);
    ws_rpc(&mut ctl, "session_create", json!({}));
    ws_rpc(&mut ctl, "queue_add", json!({"track_ids": [id]}));
    let m = next_of(&mut ws, "status_update");
    assert!(m["payload"]["session_id"].is_string(), "{m}");
}

#[test]
fn ws_connections_lists_every_core_with_pages() {
    let s = lib_server(6, &[]);
    let (a, b) = two_cores();
    let (_wa, _) = ws_connect(&s, a);
    let (_wb, _) = ws_connect(&s, b);
    for _ in 0..3 {
        // Whichever core answers, it lists both.
        let all = ok_data(&get(&s, "/api/ws/connections"));
        assert_eq!(all["total"], 2, "{all}");
        assert_eq!(all["cores_missing"], json!([]));
        let mut cores: Vec<u64> = all["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["core"].as_u64().unwrap())
            .collect();
        cores.sort();
        assert_eq!(cores, vec![0, 1]);
    }
    let page = get(&s, "/api/ws/connections?limit=1");
    let body = page.json();
    assert_eq!(body["data"]["details"].as_array().unwrap().len(), 1);
    assert_eq!(body["meta"]["has_more"], true);
    let rest = ok_data(&get(&s, "/api/ws/connections?limit=1&offset=1"));
    assert_ne!(
        rest["details"][0]["connection_id"],
        body["data"]["details"][0]["connection_id"]
    );
}

#[test]
fn the_welcome_retry_block_comes_from_config() {
    let s = Server::start(
        Opts::cores(1)
            .env("AURALIS_WS__RETRY_TIMEOUT_S", "12.5")
            .env("AURALIS_WS__RETRY_MAX", "7"),
    );
    let (_ws, welcome) = ws_connect(&s, LOCAL);
    assert_eq!(
        welcome["retry"],
        json!({"timeout_seconds": 12.5, "max_retries": 7})
    );
}

#[test]
fn a_second_connection_joins_a_session_and_both_control_its_latest_state() {
    let s = lib_server(4, &[]);
    let (a, b) = two_cores();
    let (mut first, _) = ws_connect(&s, a);
    let sid = ws_rpc(&mut first, "session_create", json!({}))["payload"]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = track_ids(&s, "/api/tracks");
    ws_rpc(
        &mut first,
        "queue_add",
        json!({"track_ids": [ids[0], ids[1]]}),
    );
    let topic = json!({"topics": [format!("session:{sid}")]});
    assert_eq!(ws_rpc(&mut first, "subscribe", topic)["type"], "subscribed");
    let (mut second, _) = ws_connect(&s, b);
    let joined = ws_rpc(&mut second, "session_join", json!({"session_id": sid}));
    assert_eq!(joined["type"], "status_update", "{joined}");
    assert_eq!(joined["payload"]["session_id"], sid.as_str());
    assert_eq!(joined["payload"]["queue"], json!([ids[0], ids[1]]));
    assert_eq!(joined["payload"]["seq"], 1);
    // The joiner's command applies to the session's state; the creator hears it and
    // its next command continues from it.
    assert_eq!(
        ws_rpc(&mut second, "play", json!({"index": 1}))["payload"]["seq"],
        2
    );
    let heard = ws_until(&mut first, |m| {
        m["type"] == "status_update" && m["payload"]["seq"] == 2
    });
    assert_eq!(heard["payload"]["state"], "playing");
    let paused = ws_rpc(&mut first, "pause", json!({}));
    assert_eq!(paused["payload"]["seq"], 3);
    assert_eq!(paused["payload"]["index"], 1);
    let unknown = ws_rpc(&mut second, "session_join", json!({"session_id": "nope"}));
    assert_eq!(err_code(&unknown), "not_found");
    let bad = ws_rpc(&mut second, "session_join", json!({}));
    assert_eq!(err_code(&bad), "invalid_payload");
}

#[test]
fn twenty_protocol_violations_are_answered_and_the_twenty_first_closes_1008() {
    // As PROTOCOL.md says: each violation gets an `error`; the 21st closes the socket.
    let s = Server::start(Opts::cores(1).env("AURALIS_RATE_LIMIT__ENABLED", "false"));
    let (mut ws, _) = ws_connect(&s, Ipv4Addr::LOCALHOST);
    for i in 1..=20 {
        ws.send(tungstenite::Message::text(format!("not json {i}")))
            .unwrap();
        let reply = ws_next(&mut ws);
        assert_eq!(reply["type"], "error", "violation {i}: {reply}");
    }
    ws.send(tungstenite::Message::text("not json 21")).unwrap();
    let code = ws_close_code(&mut ws);
    assert_eq!(code, 1008);
}

#[test]
fn one_event_reaches_a_connection_once_naming_its_topic_and_position_moves_while_playing() {
    let s = lib_server(3, &[]);
    let (mut ctl, _) = ws_connect(&s, LOCAL);
    let sid = ws_rpc(&mut ctl, "session_create", json!({}))["payload"]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let session = format!("session:{sid}");
    // Subscribed to both topics that carry the session's changes, and to `player` only.
    let (mut both, _) = ws_connect(&s, LOCAL);
    let r = ws_rpc(
        &mut both,
        "subscribe",
        json!({"topics": ["player", &session]}),
    );
    assert_eq!(r["type"], "subscribed", "{r}");
    let (mut player_only, _) = ws_connect(&s, LOCAL);
    let r = ws_rpc(&mut player_only, "subscribe", json!({"topics": ["player"]}));
    assert_eq!(r["type"], "subscribed", "{r}");
    let ids = track_ids(&s, "/api/tracks");
    let r = ws_rpc(&mut ctl, "queue_add", json!({"track_ids": [ids[0]]}));
    let playing = ws_rpc(&mut ctl, "play", json!({}));
    assert_eq!(playing["payload"]["state"], "playing", "{playing}");
    // The last change is "play": everyone hears the queue_add, then the play, once.
    let heard = |ws: &mut Ws| {
        let mut got = Vec::new();
        while got.len() < 2 {
            let m = ws_next(ws);
            if m["type"] == "status_update" {
                got.push(m);
            }
        }
        got
    };
    let via_both = heard(&mut both);
    assert_eq!(via_both[0]["correlation_id"], r["correlation_id"]);
    assert!(
        via_both.iter().all(|m| m["topic"] == session.as_str()),
        "{via_both:?}"
    );
    let via_player = heard(&mut player_only);
    assert!(
        via_player.iter().all(|m| m["topic"] == "player"),
        "{via_player:?}"
    );
    // Nothing more comes: a second copy would be next in the socket.
    let ping = ws_rpc(&mut both, "ping", json!({"n": 1}));
    assert_eq!(
        ping["type"], "pong",
        "the next message is the pong, no duplicate: {ping}"
    );
    // The position moves with the server's clock while playing (from 0 at play), up
    // to the track's end (these test tracks last 50 ms), and stops on pause.
    assert_eq!(playing["payload"]["position_ms"], 0, "{playing}");
    std::thread::sleep(Duration::from_millis(400));
    let now = ws_rpc(&mut ctl, "status_update", json!({}));
    let duration = now["payload"]["track"]["duration_ms"].as_u64().unwrap();
    assert!(duration > 0);
    assert_eq!(
        now["payload"]["position_ms"].as_u64(),
        Some(duration),
        "{now}"
    );
    let paused = ws_rpc(&mut ctl, "pause", json!({}));
    let at = paused["payload"]["position_ms"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let later = ws_rpc(&mut ctl, "status_update", json!({}));
    assert_eq!(
        later["payload"]["position_ms"].as_u64(),
        Some(at),
        "{later}"
    );
}

#[test]
fn a_session_participant_asking_for_status_gets_the_sessions_whoever_changed_it() {
    let s = lib_server(3, &[]);
    let (mut a, _) = ws_connect(&s, LOCAL);
    let made = ws_rpc(&mut a, "session_create", json!({}));
    let (sid, secret) = (
        made["payload"]["session_id"].clone(),
        made["payload"]["join_secret"].clone(),
    );
    let ids = track_ids(&s, "/api/tracks");
    ws_rpc(&mut a, "queue_add", json!({"track_ids": [ids[0], ids[1]]}));
    assert_eq!(
        ws_rpc(&mut a, "play", json!({}))["payload"]["state"],
        "playing"
    );
    let (mut b, _) = ws_connect(&s, Ipv4Addr::new(127, 0, 0, 2));
    let joined = ws_rpc(
        &mut b,
        "session_join",
        json!({"session_id": sid, "join_secret": secret}),
    );
    assert_eq!(joined["type"], "status_update", "{joined}");
    let paused = ws_rpc(&mut b, "pause", json!({}));
    assert_eq!(paused["payload"]["state"], "paused");
    // A asks: the session is paused at B's seq, and its position stays put.
    let seen = ws_rpc(&mut a, "status_update", json!({}));
    assert_eq!(seen["payload"]["state"], "paused", "{seen}");
    assert_eq!(seen["payload"]["seq"], paused["payload"]["seq"]);
    assert_eq!(
        seen["payload"]["position_ms"],
        paused["payload"]["position_ms"]
    );
}
