//! Shared test helpers: start the real `auralis-server` binary on 127.0.0.1 port 0 with
//! its own temp data dir, and talk to it over real sockets (raw TCP and `ureq`).
#![allow(dead_code)]

pub mod corpus;
pub mod engines;
pub mod otlp;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A running server process; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The plain-HTTP redirect listener, when `tls.redirect_listen` is set.
    pub redirect: Option<SocketAddr>,
    pub data_dir: PathBuf,
    stderr_log: PathBuf,
}

/// How to start a server: extra args and env.
#[derive(Default, Clone)]
pub struct Opts {
    /// Serve the generated demo library (slow to make in debug builds); otherwise a
    /// server without `--library` gets an empty library folder.
    pub demo: bool,
    pub cores: usize,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Log with the server's own default filter (no `RUST_LOG`), as a user would.
    pub default_log: bool,
    /// Reuse this data dir (a restart) instead of a fresh one.
    pub data_dir: Option<PathBuf>,
    /// Listen here instead of `127.0.0.1:0` (e.g. `[::]:0`, dual stack).
    pub listen: Option<String>,
}

impl Opts {
    pub fn cores(n: usize) -> Self {
        Self {
            cores: n,
            ..Self::default()
        }
    }
    pub fn demo(mut self) -> Self {
        self.demo = true;
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn data_dir(mut self, dir: &std::path::Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }
    pub fn default_log(mut self) -> Self {
        self.default_log = true;
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "auralis-test-{}-{}-{}",
        tag,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

impl Server {
    pub fn start(opts: Opts) -> Server {
        let data_dir = opts.data_dir.clone().unwrap_or_else(|| temp_dir("data"));
        let stderr_log = data_dir.join("server.log");
        let cores = if opts.cores == 0 { 1 } else { opts.cores };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_auralis-server"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(opts.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--cores")
            .arg(cores.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&opts.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).expect("log file"));
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        if opts.default_log {
            cmd.env_remove("RUST_LOG");
        }
        if !opts.demo && !opts.args.iter().any(|a| a == "--library") {
            let empty = data_dir.join("empty-library");
            std::fs::create_dir_all(&empty).expect("empty library dir");
            cmd.arg("--library").arg(empty);
        }
        let mut child = cmd.spawn().expect("spawn auralis-server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(rest) = line.strip_prefix("auralis-server listening on ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let (addr, redirect) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let mut words = line.split_whitespace();
                let addr = words.next().unwrap_or("").parse().expect("listen address");
                let redirect = words
                    .find_map(|w| w.strip_prefix("redirect="))
                    .map(|a| a.parse().expect("redirect address"));
                (addr, redirect)
            }
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&stderr_log).unwrap_or_default();
                panic!("server did not start; stderr:\n{log}");
            }
        };
        Server {
            child,
            addr,
            redirect,
            data_dir,
            stderr_log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc_kill(self.child.id() as i32, 15);
        }
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A raw TCP client connection that parses responses itself.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        Self::wrap(stream)
    }

    /// Connects, or `None` when nothing listens (a server that was killed).
    pub fn try_connect(addr: SocketAddr) -> Option<Raw> {
        TcpStream::connect(addr).ok().map(Self::wrap)
    }

    /// Connects from a chosen loopback source address (127.0.0.x).
    pub fn connect_from(src: Ipv4Addr, addr: SocketAddr) -> Raw {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        sock.bind(&SocketAddr::from((src, 0)).into())
            .expect("bind source");
        sock.connect(&addr.into()).expect("connect");
        Self::wrap(sock.into())
    }

    fn wrap(stream: TcpStream) -> Raw {
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        stream.set_nodelay(true).ok();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one response (Content-Length framed, or to EOF for `Connection: close`
    /// without a length). `head` = response to a HEAD request (no body).
    pub fn read_response_opts(&mut self, head: bool) -> Option<Resp> {
        read_response_from(&mut self.stream, &mut self.buf, head)
    }

    pub fn read_response(&mut self) -> Option<Resp> {
        self.read_response_opts(false)
    }

    /// True when the server has closed the connection (EOF) within `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).ok();
        let mut b = [0u8; 1024];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => {
                    return matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    );
                }
            }
        }
    }
}

/// GET with a fresh connection per call.
pub fn get(server: &Server, path: &str) -> Resp {
    request(server, "GET", path, None)
}

/// Any method with an optional JSON body, over one short-lived connection.
pub fn request(server: &Server, method: &str, path: &str, body: Option<&str>) -> Resp {
    let mut c = Raw::connect(server.addr);
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.send(req.as_bytes());
    c.read_response_opts(method == "HEAD").expect("response")
}

/// Runs `auralis-server token …` against the server's data dir; returns stdout.
pub fn token_cli(s: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_auralis-server"))
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(&s.data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the token command");
    assert!(
        out.status.success(),
        "token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `auralis-server user …` with `stdin` as the password input.
pub fn user_cli(s: &Server, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_auralis-server"))
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(&s.data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the user command");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Creates a user with a password (`user create`, the password on stdin).
pub fn create_user(s: &Server, name: &str, role: &str, password: &str) {
    let out = user_cli(
        s,
        &["create", "--name", name, "--role", role],
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "user create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates a token; returns its secret (all of stdout, shown once).
pub fn create(s: &Server, role: &str, name: &str) -> String {
    let out = token_cli(s, &["create", "--role", role, "--name", name]);
    // stdout is the secret alone (`TOKEN=$(… token create …)`): one line, nothing else.
    assert_eq!(out.lines().count(), 1, "token create's stdout: {out:?}");
    out.trim().to_string()
}

/// How [`files_into`] takes each file.
#[derive(Clone, Copy)]
pub enum Transfer {
    Copy,
    Move,
}

/// Puts every file of `from` into `to` (made if missing).
pub fn files_into(from: &std::path::Path, to: &std::path::Path, how: Transfer) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let (src, dst) = (e.unwrap().path(), to.to_path_buf());
        let dst = dst.join(src.file_name().unwrap());
        match how {
            Transfer::Copy => std::fs::copy(&src, &dst).map(|_| ()),
            Transfer::Move => std::fs::rename(&src, &dst),
        }
        .unwrap();
    }
}

/// Writes `n` tiny tagged WAV tracks (ids `start..start+n`) into `dir`: titles
/// "Song NNN", artists cycling over 4 names, albums over 6, years 1990+i%30, genres
/// over 3. Returns the titles written.
pub fn make_library(dir: &std::path::Path, start: usize, n: usize) -> Vec<String> {
    use auralis_server::audio::{Tags, wav};
    let artists = ["Alpha", "beta", "Gamma", "delta"];
    let genres = ["Rock", "Jazz", "Ambient"];
    std::fs::create_dir_all(dir).unwrap();
    let mut titles = Vec::new();
    for i in start..start + n {
        let tags = Tags {
            title: format!("Song {i:03}"),
            artist: artists[i % 4].to_string(),
            album: format!("Album {}", i % 6),
            album_artist: None,
            track_number: (i % 12 + 1) as u32,
            year: 1990 + (i % 30) as u32,
            genre: genres[i % 3].to_string(),
        };
        // 0.05 s of a tone, 8 kHz mono: a real, decodable file of ~1 KB.
        let samples: Vec<i16> = (0..400)
            .map(|k| ((k as f32 * 0.3 + i as f32).sin() * 8000.0) as i16)
            .collect();
        let bytes = wav::encode_pcm16(&samples, 1, 8000, Some(&tags));
        std::fs::write(dir.join(format!("song-{i:03}.wav")), bytes).unwrap();
        titles.push(tags.title);
    }
    titles
}

/// Options for a server over `library` with a rate limit high enough for long walks.
pub fn library_opts(library: &std::path::Path) -> Opts {
    Opts::cores(2)
        .arg("--library")
        .arg(library.to_str().unwrap())
        .env("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "1000000")
}

/// A server over a fresh library of `n` tiny tracks, scanned, with extra environment.
pub fn lib_server(n: usize, extra: &[(&str, &str)]) -> Server {
    let lib = temp_dir("lib");
    make_library(&lib, 0, n);
    let mut o = library_opts(&lib);
    for (k, v) in extra {
        o = o.env(k, v);
    }
    let s = Server::start(o);
    wait_scan(&s);
    s
}

/// Waits until the current scan is no longer running; returns its progress.
pub fn wait_scan(server: &Server) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = get(server, "/api/library/scan").json()["data"].clone();
        if ["completed", "failed", "refused"].contains(&p["state"].as_str().unwrap_or("")) {
            return p;
        }
        assert!(Instant::now() < deadline, "scan did not finish: {p}");
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// `data` of a 2xx JSON response, panicking with the body otherwise.
pub fn ok_data(resp: &Resp) -> serde_json::Value {
    assert!(
        (200..300).contains(&resp.status),
        "status {}: {}",
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    resp.json()["data"].clone()
}

/// The `details.errors[].field` names of a 422.
pub fn error_fields(resp: &Resp) -> Vec<String> {
    assert_eq!(resp.status, 422, "{}", String::from_utf8_lossy(&resp.body));
    fields_of(resp)
}

/// Field names of a 409 refused by the current state (valid input otherwise).
pub fn conflict_fields(resp: &Resp) -> Vec<String> {
    assert_eq!(resp.status, 409, "{}", String::from_utf8_lossy(&resp.body));
    fields_of(resp)
}

fn fields_of(resp: &Resp) -> Vec<String> {
    resp.json()["details"]["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one response from any byte stream (plain or TLS); `buf` keeps what arrived
/// behind it for the next call.
/// A whole chunked body (RFC 9112 §7.1) at the start of `bytes`: the body and the bytes
/// its framing used; `None` until all of it is there.
fn dechunk(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        let data = line_end + 2;
        if size == 0 {
            // No trailers are sent here: the final CRLF follows at once.
            return (bytes.len() >= data + 2).then_some((body, data + 2));
        }
        if bytes.len() < data + size + 2 {
            return None;
        }
        body.extend_from_slice(&bytes[data..data + size]);
        at = data + size + 2;
    }
}

pub fn read_response_from(stream: &mut impl Read, buf: &mut Vec<u8>, head: bool) -> Option<Resp> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(n)) = r.parse(buf) {
            let status = r.code.unwrap_or(0);
            let hs: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let len = hs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            let chunked = !head
                && hs.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
                });
            if chunked && let Some((body, used)) = dechunk(&buf[n..]) {
                buf.drain(..n + used);
                return Some(Resp {
                    status,
                    headers: hs,
                    body,
                });
            }
            let len = if head || status == 100 { 0 } else { len };
            if !chunked && buf.len() >= n + len {
                let body = buf[n..n + len].to_vec();
                buf.drain(..n + len);
                return Some(Resp {
                    status,
                    headers: hs,
                    body,
                });
            }
        }
        let mut chunk = [0u8; 16384];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// A WebSocket client connection (tungstenite over a std socket).
pub type Ws = tungstenite::WebSocket<TcpStream>;

/// Opens `/ws` from a chosen loopback source address; returns the socket and the
/// welcome message's payload.
pub fn ws_connect(server: &Server, src: Ipv4Addr) -> (Ws, serde_json::Value) {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::from((src, 0)).into())
        .expect("bind source");
    sock.connect(&server.addr.into()).expect("connect");
    let stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let url = format!("ws://{}/ws", server.addr);
    let (mut ws, resp) = tungstenite::client(url.as_str(), stream).expect("handshake");
    assert_eq!(resp.status().as_u16(), 101);
    let welcome = ws_next(&mut ws);
    assert_eq!(welcome["type"], "connect");
    (ws, welcome["payload"].clone())
}

/// The next text message as JSON (control frames are handled by tungstenite).
pub fn ws_next<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>) -> serde_json::Value {
    loop {
        match ws.read().expect("a message") {
            tungstenite::Message::Text(t) => {
                return serde_json::from_str(t.as_str()).expect("JSON message");
            }
            tungstenite::Message::Binary(_) => panic!("unexpected binary frame"),
            _ => continue,
        }
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Reads messages until one satisfies `want` (others are skipped); panics on the
/// socket's read timeout.
pub fn ws_until<S: Read + Write>(
    ws: &mut tungstenite::WebSocket<S>,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let m = ws_next(ws);
        if want(&m) {
            return m;
        }
    }
}

/// Sends a message and returns the reply with the same correlation id.
pub fn ws_rpc<S: Read + Write>(
    ws: &mut tungstenite::WebSocket<S>,
    kind: &str,
    payload: serde_json::Value,
) -> serde_json::Value {
    let cid = format!("t-{}-{}", kind, SEQ.fetch_add(1, Ordering::Relaxed));
    let msg = serde_json::json!({"type": kind, "correlation_id": cid, "payload": payload});
    ws.send(tungstenite::Message::text(msg.to_string()))
        .expect("send");
    loop {
        let m = ws_next(ws);
        if m["correlation_id"] == cid.as_str() {
            return m;
        }
    }
}

/// Two loopback source addresses that the socket filter puts on different cores (of 2).
pub fn two_cores() -> (Ipv4Addr, Ipv4Addr) {
    use auralis_server::runtime::listener::core_for_ipv4;
    let a = Ipv4Addr::new(127, 0, 0, 2);
    let b = (3..=40u8)
        .map(|i| Ipv4Addr::new(127, 0, 0, i))
        .find(|ip| core_for_ipv4(*ip, 2) != core_for_ipv4(a, 2))
        .expect("some address in 127.0.0.3-40 hashes to the other core");
    (a, b)
}

/// The ids of the tracks a list request returns, in order.
pub fn track_ids(server: &Server, path: &str) -> Vec<i64> {
    ok_data(&get(server, path))
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["id"].as_i64().expect("an id"))
        .collect()
}

/// `n` tagged WAV tracks of `seconds` each (22.05 kHz mono).
pub fn long_tracks(dir: &std::path::Path, n: usize, seconds: usize) {
    tone_tracks(dir, n, seconds, 22_050, 1);
}

/// `n` tagged WAV tone tracks (`long-{i}.wav`) of `seconds` at `rate` Hz.
pub fn tone_tracks(dir: &std::path::Path, n: usize, seconds: usize, rate: u32, channels: u16) {
    use auralis_server::audio::{Tags, wav};
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let tags = Tags {
            title: format!("Long {i}"),
            artist: "Pace".into(),
            album: "Buffers".into(),
            album_artist: None,
            track_number: i as u32 + 1,
            year: 2020,
            genre: "Test".into(),
        };
        let samples: Vec<i16> = (0..rate as usize * channels as usize * seconds)
            .map(|k| ((k as f32 * (0.02 + i as f32 * 0.005)).sin() * 6000.0) as i16)
            .collect();
        let bytes = wav::encode_pcm16(&samples, channels, rate, Some(&tags));
        std::fs::write(dir.join(format!("long-{i}.wav")), bytes).unwrap();
    }
}

/// The sum over every sample line of a Prometheus text exposition that starts with
/// `prefix` (a metric name and its `{`, so all its label sets and no other metric).
pub fn metric_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The server's resident set in kB, from /proc.
#[allow(dead_code)]
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A headless Chromium on this machine, if any (the browser tests skip without one).
#[allow(dead_code)]
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
}

/// Headless Chromium without the sandbox (tests run as root), a GPU or background work.
#[allow(dead_code)]
const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Loads `url` in headless Chromium (own profile, no sandbox) with `extra` flags and
/// returns the DOM it dumps, and its stderr.
#[allow(dead_code)]
pub fn chromium_dom(browser: &str, url: &str, extra: &[&str]) -> (String, String) {
    let profile = temp_dir("chromium");
    let out = std::process::Command::new(browser)
        .args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A page open in headless Chromium, driven over the DevTools protocol: for pages whose
/// work runs on real time (Web Audio's clock), which `--dump-dom`'s virtual time skips.
#[allow(dead_code)]
pub struct BrowserPage {
    child: Child,
    ws: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
    _profile: PathBuf,
}

#[allow(dead_code)]
impl BrowserPage {
    /// Opens `url` in `browser` with `extra` flags.
    pub fn open(browser: &str, url: &str, extra: &[&str]) -> BrowserPage {
        let profile = temp_dir("chromium-cdp");
        let mut child = Command::new(browser)
            .args(HEADLESS)
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…"
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut raw = Vec::new();
            while r.read_until(b'\n', &mut raw).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&raw).into_owned();
                raw.clear();
                if let Some(at) = line.find("ws://127.0.0.1:") {
                    let port = line[at + 15..].split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(port);
                }
            }
        });
        let port: u16 = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium's DevTools port")
            .parse()
            .expect("a port");
        let page_ws = (0..100)
            .find_map(|_| {
                let list = devtools_get(port, "/json/list");
                let found = list.as_array().and_then(|a| {
                    a.iter()
                        .find(|t| t["type"] == "page")
                        .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from))
                });
                if found.is_none() {
                    std::thread::sleep(Duration::from_millis(100));
                }
                found
            })
            .expect("a page target");
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let (ws, _) = tungstenite::client(page_ws.as_str(), stream).expect("DevTools handshake");
        BrowserPage {
            child,
            ws,
            next_id: 0,
            _profile: profile,
        }
    }

    /// Evaluates `expression` in the page; its value (as JSON).
    pub fn eval(&mut self, expression: &str) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({"id": id, "method": "Runtime.evaluate",
            "params": {"expression": expression, "returnByValue": true}});
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("send to DevTools");
        loop {
            if let tungstenite::Message::Text(t) = self.ws.read().expect("DevTools reply") {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["id"] == id {
                    return v["result"]["result"]["value"].clone();
                }
            }
        }
    }
}

impl Drop for BrowserPage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON GET on Chromium's DevTools HTTP endpoint.
fn devtools_get(port: u16, path: &str) -> serde_json::Value {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return serde_json::Value::Null;
    };
    c.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let _ = c.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes());
    // The DevTools server keeps the connection open: read up to Content-Length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                let l = l.to_ascii_lowercase();
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            if len.is_some_and(|n| body.len() >= n) {
                return serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
            }
        }
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return serde_json::Value::Null,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// The entry of a list (`data` of `/api/tracks`, …) whose title is `title`.
pub fn by_title(list: &serde_json::Value, title: &str) -> serde_json::Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|x| x["title"] == title)
        .unwrap_or_else(|| panic!("{title} in {list}"))
        .clone()
}

/// Reads until the server's close frame; its code (other messages are skipped).
pub fn ws_close_code<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>) -> u16 {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => return u16::from(f.code),
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame: {e}"),
        }
    }
}

/// Runs `auralis-server scan DIR --data-dir DATA`; panics unless it succeeds.
pub fn scan_cli(dir: &std::path::Path, data: &std::path::Path) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_auralis-server"))
        .arg("scan")
        .arg(dir)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "error")
        .output()
        .expect("run the scan command");
    assert!(
        out.status.success(),
        "scan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
