//! The harness's own thin HTTP/1.1 client over `httparse`: keep-alive, pipelining,
//! Content-Length and chunked bodies, reconnect on `Connection: close`.
//!
//! Its costs are the harness's own overhead, so it keeps them per request at one send
//! and (usually) one receive: the read buffer is reused without zeroing or shifting
//! (a window `start..end` over it), and time limits are the socket's own read/write
//! timeouts rather than a timer per request.

use crate::endpoint::Endpoint;
use crate::stream::Stream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};

/// Why a request failed (reported by kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    Protocol,
}

/// One keep-alive connection.
pub struct Conn {
    stream: Stream,
    /// Storage; the unread bytes are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// A response: status, bytes read, whether the server closes the connection, the
/// server's `X-Cache-Tier` when it sent one, and the body when it was asked for.
pub struct Answer {
    pub status: u16,
    pub bytes: u64,
    pub close: bool,
    pub tier: Option<CacheTier>,
    /// The node that answered (`X-Served-By: node/core`), behind a load balancer.
    pub node: Option<Node>,
    pub body: Vec<u8>,
}

/// A node's name from `X-Served-By` (the part before `/`), kept inline so reading it
/// costs no allocation per response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    len: u8,
    bytes: [u8; 31],
}

impl Node {
    /// The name in an `X-Served-By` value; `None` when empty or over 31 bytes.
    pub fn parse(value: &[u8]) -> Option<Node> {
        let name = value.split(|&b| b == b'/').next()?;
        if name.is_empty() || name.len() > 31 {
            return None;
        }
        let mut bytes = [0u8; 31];
        bytes[..name.len()].copy_from_slice(name);
        Some(Node {
            len: name.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

/// Where auralis-server found a chunk (its `X-Cache-Tier` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTier {
    Tier1,
    Tier2,
    Miss,
}

impl CacheTier {
    fn parse(v: &[u8]) -> Option<CacheTier> {
        match v {
            b"tier1" => Some(CacheTier::Tier1),
            b"tier2" => Some(CacheTier::Tier2),
            b"miss" => Some(CacheTier::Miss),
            _ => None,
        }
    }
}

/// Read buffer to start with; grows for large heads or wanted bodies.
const INITIAL_BUFFER: usize = 16 * 1024;
/// A buffer grown past this is given back once it is empty again.
const KEEP_BUFFER: usize = 1024 * 1024;

impl Conn {
    /// Connects, from `source` when given (to spread over loopback addresses). Reads
    /// and writes that wait longer than `timeout` fail with [`Failure::Timeout`].
    pub async fn connect(
        server: &Endpoint,
        source: Option<Ipv4Addr>,
        timeout: std::time::Duration,
    ) -> Result<Conn, Failure> {
        let stream = server.connect(source, Some(timeout)).await?;
        Ok(Conn {
            stream,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
        })
    }

    pub async fn send(&mut self, request: &[u8]) -> Result<(), Failure> {
        self.stream.write_all(request).await.map_err(io_failure)?;
        // TLS holds records until flushed when the socket pushes back; plain TCP: no-op.
        self.stream.flush().await.map_err(io_failure)
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_BUFFER {
                self.buf = vec![0; INITIAL_BUFFER];
            }
        }
    }

    /// Reads what the socket has onto the end of the unread bytes, making room for at
    /// least `want` more (bounded) first.
    async fn fill(&mut self, want: usize) -> Result<(), Failure> {
        let want = want.clamp(1, 256 * 1024);
        if self.buf.len() - self.end < want && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            let size = (self.end + want).max(self.buf.len() * 2);
            self.buf.resize(size, 0);
        }
        match self.stream.read(&mut self.buf[self.end..]).await {
            Ok(0) => Err(Failure::Protocol),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            Err(e) => Err(io_failure(e)),
        }
    }

    /// Reads one whole response; keeps its body (a chunked body raw, with its chunk
    /// framing: no scenario needs it de-chunked) only when `want_body`.
    pub async fn receive(&mut self, want_body: bool) -> Result<Answer, Failure> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp.parse(&self.buf[self.start..self.end]);
            match parsed {
                Ok(httparse::Status::Complete(head)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut len = 0;
                    let mut chunked = false;
                    let mut close = false;
                    let mut tier = None;
                    let mut node = None;
                    for h in resp.headers.iter() {
                        // By length first: most headers are none of these five.
                        match h.name.len() {
                            14 if h.name.eq_ignore_ascii_case("content-length") => {
                                len = std::str::from_utf8(h.value)
                                    .ok()
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                                    .ok_or(Failure::Protocol)?;
                            }
                            17 if h.name.eq_ignore_ascii_case("transfer-encoding") => {
                                chunked = h.value.eq_ignore_ascii_case(b"chunked");
                            }
                            10 if h.name.eq_ignore_ascii_case("connection") => {
                                close = h.value.eq_ignore_ascii_case(b"close");
                            }
                            12 if h.name.eq_ignore_ascii_case("x-cache-tier") => {
                                tier = CacheTier::parse(h.value);
                            }
                            11 if h.name.eq_ignore_ascii_case("x-served-by") => {
                                node = Node::parse(h.value);
                            }
                            _ => {}
                        }
                    }
                    if (100..200).contains(&status) {
                        self.consume(head);
                        continue;
                    }
                    let (bytes, body) = if chunked {
                        let total = self.chunked_end(head).await?;
                        let body = if want_body {
                            self.unread()[head..total].to_vec()
                        } else {
                            Vec::new()
                        };
                        self.consume(total);
                        (total, body)
                    } else {
                        (head + len, self.sized_body(head, len, want_body).await?)
                    };
                    return Ok(Answer {
                        status,
                        bytes: bytes as u64,
                        close,
                        tier,
                        node,
                        body,
                    });
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start > 64 * 1024 {
                        return Err(Failure::Protocol); // a head this large is not HTTP
                    }
                    self.fill(4096).await?;
                }
                Err(_) => return Err(Failure::Protocol),
            }
        }
    }

    /// Consumes a `Content-Length` body; a body nobody wants is discarded as it arrives,
    /// so a 2 MB audio chunk needs no 2 MB buffer per connection.
    async fn sized_body(
        &mut self,
        head: usize,
        len: usize,
        want_body: bool,
    ) -> Result<Vec<u8>, Failure> {
        let total = head + len;
        if want_body || self.end - self.start >= total {
            while self.end - self.start < total {
                let missing = total - (self.end - self.start);
                self.fill(missing).await?;
            }
            let body = if want_body {
                self.unread()[head..total].to_vec()
            } else {
                Vec::new()
            };
            self.consume(total);
            return Ok(body);
        }
        let mut remaining = total - (self.end - self.start);
        self.consume(self.end - self.start);
        while remaining > 0 {
            self.fill(remaining.min(64 * 1024)).await?;
            let n = (self.end - self.start).min(remaining);
            self.consume(n);
            remaining -= n;
        }
        Ok(Vec::new())
    }

    /// The length of a chunked message (head included) once all of it is buffered.
    async fn chunked_end(&mut self, head: usize) -> Result<usize, Failure> {
        let mut pos = head;
        loop {
            match httparse::parse_chunk_size(&self.unread()[pos..]) {
                Ok(httparse::Status::Complete((used, 0))) => {
                    pos += used;
                    while self.end - self.start < pos + 2 {
                        self.fill(2).await?;
                    }
                    return Ok(pos + 2);
                }
                Ok(httparse::Status::Complete((used, size))) => {
                    let end = pos + used + size as usize + 2;
                    while self.end - self.start < end {
                        let missing = end - (self.end - self.start);
                        self.fill(missing).await?;
                    }
                    pos = end;
                }
                Ok(httparse::Status::Partial) => self.fill(4096).await?,
                Err(_) => return Err(Failure::Protocol),
            }
        }
    }
}

/// One GET (`Host: host`) on a scenario's keep-alive connection, opened (from `source`) when there is
/// none; a connection the server closes, or a failed one, is dropped for the next call.
pub async fn get_on(
    conn: &mut Option<Conn>,
    server: &crate::endpoint::Endpoint,
    host: &str,
    source: Option<Ipv4Addr>,
    timeout: std::time::Duration,
    path: &str,
    want_body: bool,
) -> Result<Answer, Failure> {
    if conn.is_none() {
        *conn = Some(Conn::connect(server, source, timeout).await?);
    }
    let c = conn.as_mut().ok_or(Failure::Connect)?;
    let mut request = Vec::with_capacity(256);
    write_request(&mut request, "GET", host, path, None);
    let answer = async {
        c.send(&request).await?;
        c.receive(want_body).await
    }
    .await;
    if answer.as_ref().map_or(true, |a| a.close) {
        *conn = None;
    }
    answer
}

/// The `Authorization` header line every request of this run carries (`--token`).
static AUTHORIZATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sends `token` as a bearer token on every request and WebSocket upgrade of the
/// run (set once, before the run starts).
pub fn use_token(token: &str) {
    let _ = AUTHORIZATION.set(format!("Authorization: Bearer {token}\r\n"));
}

/// The header line of [`use_token`], or nothing.
pub fn authorization() -> &'static str {
    AUTHORIZATION.get().map_or("", String::as_str)
}

/// Writes one HTTP/1.1 request (with a JSON body when given): the one place every
/// scenario's requests are formatted.
pub fn write_request(out: &mut Vec<u8>, method: &str, host: &str, path: &str, json: Option<&str>) {
    use std::io::Write;
    let _ = write!(
        out,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: auralis-loadtest\r\n{}",
        authorization()
    );
    match json {
        Some(b) => {
            let _ = write!(
                out,
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
        }
        None => out.extend_from_slice(b"\r\n"),
    }
}

fn io_failure(e: std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Protocol,
    }
}

/// Opens a TCP connection, from `source` when given (to spread many connections over
/// loopback addresses past the ephemeral-port limit of one).
pub async fn open(addr: SocketAddr, source: Option<Ipv4Addr>) -> Result<TcpStream, Failure> {
    let stream = match source {
        None => TcpStream::connect(addr)
            .await
            .map_err(|_| Failure::Connect)?,
        Some(ip) => {
            // Bind then connect on a plain socket (loopback connects complete at
            // once), then hand the fd to glommio.
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .map_err(|_| Failure::Connect)?;
            sock.bind(&SocketAddr::from((ip, 0)).into())
                .map_err(|_| Failure::Connect)?;
            sock.connect(&addr.into()).map_err(|_| Failure::Connect)?;
            sock.set_nonblocking(true).map_err(|_| Failure::Connect)?;
            // SAFETY: the fd is a connected TCP socket we own and hand over.
            unsafe { TcpStream::from_raw_fd(sock.into_raw_fd()) }
        }
    };
    Ok(stream)
}
