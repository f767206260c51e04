//! TLS end to end: the real server with a self-signed certificate (rcgen) and a real
//! rustls client. HTTPS and WSS on the same port and cores, ALPN http/1.1, a refused
//! h2-only client and plain-HTTP client counted, SIGHUP reload without dropping open
//! connections, and the plain-HTTP redirect listener.

mod common;

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A fresh self-signed pair for `localhost` and 127.0.0.1, written as PEM; returns
/// the certificate (the client's only trust root).
fn write_cert(cert: &Path, key: &Path) -> CertificateDer<'static> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    std::fs::write(cert, ck.cert.pem()).unwrap();
    std::fs::write(key, ck.signing_key.serialize_pem()).unwrap();
    ck.cert.der().clone()
}

fn client_config(root: &CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Full handshakes only: a resumed session skips certificate verification, and the
    // reload test must see which certificate the server offers now.
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

/// Connects and completes the handshake (errors are the handshake's).
fn connect(s: &Server, cfg: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(s.addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// One keep-alive GET over an open TLS connection.
fn tls_get(tls: &mut Tls, buf: &mut Vec<u8>, path: &str) -> Resp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    tls.write_all(req.as_bytes()).unwrap();
    read_response_from(tls, buf, false).expect("a response over TLS")
}

struct TlsServer {
    server: Server,
    cert: PathBuf,
    key: PathBuf,
    root: CertificateDer<'static>,
}

fn start(redirect: bool, library_tracks: usize) -> TlsServer {
    let dir = temp_dir("tls");
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let root = write_cert(&cert, &key);
    let lib = dir.join("library");
    std::fs::create_dir_all(&lib).unwrap();
    make_library(&lib, 0, library_tracks);
    let mut o = library_opts(&lib)
        .env("AURALIS_TLS__CERT_FILE", cert.to_str().unwrap())
        .env("AURALIS_TLS__KEY_FILE", key.to_str().unwrap());
    if redirect {
        o = o.env("AURALIS_TLS__REDIRECT_LISTEN", "127.0.0.1:0");
    }
    TlsServer {
        server: Server::start(o),
        cert,
        key,
        root,
    }
}

fn wait_scan_tls(tls: &mut Tls, buf: &mut Vec<u8>) {
    for _ in 0..2000 {
        let p = tls_get(tls, buf, "/api/library/scan").json()["data"].clone();
        if p["state"] == "completed" {
            return;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    panic!("scan did not finish");
}

#[test]
fn https_and_wss_share_the_port_with_alpn_http11() {
    let t = start(false, 2);
    let mut tls = connect(&t.server, client_config(&t.root, &[b"http/1.1"])).expect("handshake");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut buf = Vec::new();
    wait_scan_tls(&mut tls, &mut buf);

    // Keep-alive JSON and a large chunk body over one TLS connection.
    let v = tls_get(&mut tls, &mut buf, "/api/version");
    assert_eq!(v.status, 200);
    let tracks = tls_get(&mut tls, &mut buf, "/api/tracks?limit=1").json();
    let id = tracks["data"][0]["id"].as_i64().expect("a track");
    let chunk = tls_get(
        &mut tls,
        &mut buf,
        &format!("/api/stream/{id}/chunk/0?format=wav"),
    );
    assert_eq!(chunk.status, 200);
    assert_eq!(&chunk.body[..4], b"RIFF");
    assert_eq!(
        chunk
            .header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        chunk.body.len()
    );

    // WSS: the upgrade and frames ride the same TLS stream.
    let wss = connect(&t.server, client_config(&t.root, &[b"http/1.1"])).unwrap();
    let (mut ws, resp) = tungstenite::client("ws://localhost/ws", wss).expect("wss upgrade");
    assert_eq!(resp.status().as_u16(), 101);
    assert_eq!(ws_next(&mut ws)["type"], "connect");
    let pong = ws_rpc(&mut ws, "ping", json!({"n": 7}));
    assert_eq!(
        (pong["type"].as_str(), pong["payload"]["n"].as_i64()),
        (Some("pong"), Some(7))
    );
    let sub = ws_rpc(&mut ws, "subscribe", json!({"topics": ["notifications"]}));
    assert_eq!(sub["type"], "subscribed");
    let r = tls_post(
        &mut tls,
        &mut buf,
        "/api/notifications",
        r#"{"title":"over tls"}"#,
    );
    assert_eq!(r.status, 202);
    loop {
        let m = ws_next(&mut ws);
        if m["type"] == "notification" {
            assert_eq!(m["payload"]["title"], "over tls");
            break;
        }
    }
}

fn tls_post(tls: &mut Tls, buf: &mut Vec<u8>, path: &str, body: &str) -> Resp {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).unwrap();
    read_response_from(tls, buf, false).expect("a response over TLS")
}

#[test]
fn wrong_protocols_are_refused_and_counted() {
    let t = start(false, 0);
    // A client that speaks only h2: no common protocol, so the handshake fails.
    let err = connect(&t.server, client_config(&t.root, &[b"h2"])).err();
    assert!(err.is_some(), "an h2-only client must not get a session");
    // Plain HTTP on the TLS port: not a TLS record, closed without an answer.
    let mut raw = Raw::connect(t.server.addr);
    raw.send(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        raw.read_response().is_none(),
        "plaintext must not be answered"
    );
    // A client offering no ALPN at all is served (curl without --http1.1, old clients).
    let mut tls = connect(&t.server, client_config(&t.root, &[])).expect("no-ALPN client");
    let mut buf = Vec::new();
    std::thread::sleep(Duration::from_millis(1200));
    let metrics = tls_get(&mut tls, &mut buf, "/metrics");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metric_sum(&text, "auralis_tls_handshake_failures_total{") >= 2.0,
        "{text}"
    );
    assert!(
        metric_sum(&text, "auralis_tls_handshakes_total{") >= 1.0,
        "{text}"
    );
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_open_connections() {
    let t = start(false, 0);
    let old = client_config(&t.root, &[b"http/1.1"]);
    let mut open = connect(&t.server, old.clone()).unwrap();
    let mut buf = Vec::new();
    assert_eq!(tls_get(&mut open, &mut buf, "/api/version").status, 200);

    // A broken pair first: SIGHUP logs it and keeps serving the current certificate.
    std::fs::write(&t.key, "not a key").unwrap();
    signal(&t.server, 1);
    std::thread::sleep(Duration::from_millis(300));
    connect(&t.server, old.clone()).expect("old certificate still served after a bad reload");
    assert!(
        t.server.log().contains("TLS reload failed"),
        "{}",
        t.server.log()
    );

    let new_root = write_cert(&t.cert, &t.key);
    signal(&t.server, 1);
    let fresh = client_config(&new_root, &[b"http/1.1"]);
    let mut ok = None;
    for _ in 0..100 {
        if let Ok(c) = connect(&t.server, fresh.clone()) {
            ok = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut new_conn = ok.expect("new handshakes use the reloaded certificate");
    let mut nbuf = Vec::new();
    assert_eq!(
        tls_get(&mut new_conn, &mut nbuf, "/api/version").status,
        200
    );
    assert!(
        connect(&t.server, old).is_err(),
        "the old certificate is no longer offered"
    );
    // The connection opened before the reload still works.
    assert_eq!(tls_get(&mut open, &mut buf, "/api/health").status, 200);
}

#[test]
fn plain_http_is_redirected_to_https() {
    let t = start(true, 0);
    let plain = t.server.redirect.expect("the redirect listener's address");
    let mut raw = Raw::connect(plain);
    raw.send(
        b"POST /api/playlists?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 0\r\n\r\n",
    );
    let r = raw.read_response().expect("an answer");
    assert_eq!(r.status, 308);
    let want = format!(
        "https://localhost:{}/api/playlists?x=1",
        t.server.addr.port()
    );
    assert_eq!(r.header("location"), Some(want.as_str()));
    assert!(raw.closed_within(Duration::from_secs(2)));

    let mut raw = Raw::connect(plain);
    raw.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(raw.read_response().expect("an answer").status, 400);
    // The HTTPS side is unaffected.
    let mut tls = connect(&t.server, client_config(&t.root, &[b"http/1.1"])).unwrap();
    let mut buf = Vec::new();
    assert_eq!(tls_get(&mut tls, &mut buf, "/api/health/live").status, 200);
}

fn signal(s: &Server, sig: i32) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(s.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The harness over TLS: `https://` targets through the engine, `wss://` listeners for
/// ws-broadcast, every session verified against the server's certificate.
#[test]
fn the_harness_drives_https_and_wss() {
    use auralis_loadtest::endpoint::{Endpoint, ServerUrl};
    use auralis_loadtest::plan::{Model, Plan, parse_target};
    use auralis_loadtest::workload::FixedMix;
    let t = start(false, 0);
    let target = parse_target(&format!("https://{}/api/version", t.server.addr)).unwrap();
    let (mix, url) = FixedMix::new(&[target]).unwrap();
    assert!(url.secure);
    let server = Endpoint::new(url, Some(&t.cert)).unwrap();
    let report = auralis_loadtest::run::run(Plan {
        server: server.clone(),
        workload: Arc::new(mix),
        connections: 4,
        pipeline: 1,
        model: Model::Closed,
        duration: None,
        requests: Some(400),
        warmup: Duration::ZERO,
        cores: vec![0],
        source_ips: Vec::new(),
        timeout: Duration::from_secs(10),
        progress: false,
    })
    .expect("https run");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.requests, 400);

    let report = auralis_loadtest::broadcast::run(auralis_loadtest::broadcast::BroadcastPlan {
        server,
        publisher: None,
        listeners: 20,
        publishes: 3,
        warmup_publishes: 1,
        rate: 10.0,
        cores: vec![0],
        source_ips: Vec::new(),
        progress: false,
    })
    .expect("wss run");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(
        report.requests, 60,
        "20 listeners x 3 notifications over wss"
    );

    // Without the certificate to trust, a secure target is refused up front.
    let url = ServerUrl {
        addr: t.server.addr,
        secure: true,
    };
    assert!(Endpoint::new(url, None).unwrap_err().contains("--tls-ca"));
}
