//! The HTTP/1.1 connection of one core: read, parse every complete (pipelined)
//! request, answer them in order, write once, repeat. Enforces the header-read,
//! body-read and keep-alive timeouts and the per-core connection limit. Never blocks.
//!
//! A connection is `Conn { io, state }`: [`Io`] owns the socket and counts every byte
//! it moves; [`ReadState`] is where parsing stands; each pass of the loop parses what
//! is buffered ([`Conn::answer_buffered`]), flushes, then waits for more bytes.

use super::error::ApiError;
use super::parse::{Limits, ParseError, Parsed, RequestParser};
use super::request::Request;
use super::response::{FileBody, Response};
use super::service::Service;
use crate::config::HttpConfig;
use crate::runtime::connections::ConnHandle;
use crate::runtime::core_state::CoreState;
use crate::runtime::transport::{Step, Transport};
use monoio::buf::{IoBuf, IoBufMut};
use monoio::net::TcpStream;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Smallest free space offered to each read.
const READ_CHUNK: usize = 8 * 1024;
/// Buffered responses are flushed early past this size, so pipelining cannot make the
/// write buffer grow without bound.
const FLUSH_AT: usize = 64 * 1024;
/// Piece size for streamed files.
const FILE_PIECE: usize = 256 * 1024;

/// Entry point for an accepted connection: the TLS handshake when TLS is on, admission
/// (per-core connection limit), then the request loop, then bookkeeping.
///
/// The handshake comes before admission so that a refused TLS client still reads its
/// 503; it is bounded by the header-read timeout and holds no table entry meanwhile.
pub(crate) async fn accept(
    service: Rc<Service>,
    core: Rc<CoreState>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let wait = Duration::from_millis(core.shared.config.http.header_read_timeout_ms);
    let tls = core.shared.tls.get().map(|t| &**t);
    let stream = match Transport::accept(tls, stream, wait).await {
        Ok(t) => {
            if tls.is_some() {
                crate::runtime::counters::bump(&core.counters.tls_handshakes);
            }
            t
        }
        Err(e) => {
            crate::runtime::counters::bump(&core.counters.tls_handshake_failures);
            tracing::debug!(core = core.id.0, %peer, error = %e, "TLS handshake failed");
            return;
        }
    };
    let http = &core.shared.config.http;
    let client = crate::cidr::client_key(peer.ip(), core.shared.config.rate_limit.ipv6_prefix);
    if core.connections.borrow().of_client(client) >= http.max_connections_per_ip {
        crate::runtime::counters::bump(&core.counters.per_ip_refused);
        let why = "too many connections from your address; close some and retry";
        refuse(&service, &core, stream, peer, why).await;
        return;
    }
    let open = core.connections.borrow().len();
    // At the cap, a few loopback connections are still let in for observation only,
    // so an operator on the node can read health and metrics of a full server.
    let operator_only = open >= http.max_connections_per_core;
    let reserve = http.operator_reserve_connections;
    let local = crate::cidr::is_loopback(peer.ip());
    if operator_only && !(local && open < http.max_connections_per_core + reserve) {
        let why = "too many connections on this core; retry later";
        refuse(&service, &core, stream, peer, why).await;
        return;
    }
    let info = core.connections.borrow_mut().open(client);
    let id = info.borrow().id;
    core.gauge().connections.fetch_add(1, Ordering::Relaxed);
    crate::runtime::counters::bump(&core.counters.connections_opened);
    let mut conn = Conn::new(service, core.clone(), stream, peer, info);
    conn.operator_only = operator_only;
    match conn.run().await {
        Ok(Ended::Closed) => {}
        // Upgraded: the WebSocket runs in a task of its own, so this task (sized for the
        // whole HTTP request path) is freed instead of idling under every listener. The
        // connection keeps its table entry (and its place under the per-core limit).
        Ok(Ended::Upgraded(stream, client)) => {
            monoio::spawn(async move {
                let ws = crate::ws::connection::run(core.clone(), stream, peer, client);
                if let Err(panic) = crate::panics::CatchUnwind(ws).await {
                    crate::runtime::counters::bump(&core.counters.connection_panics);
                    let what = crate::panics::message(&*panic);
                    tracing::error!(core = core.id.0, panic = %what, "a WebSocket task panicked; connection closed");
                }
                closed(&core, id);
            });
            return;
        }
        Err(e) => {
            tracing::debug!(core = core.id.0, %peer, error = %e, "connection ended with an error")
        }
    }
    closed(&core, id);
}

fn closed(core: &CoreState, id: crate::runtime::connections::ConnId) {
    core.connections.borrow_mut().close(id);
    core.gauge().connections.fetch_sub(1, Ordering::Relaxed);
    crate::runtime::counters::bump(&core.counters.connections_closed);
}

/// Over the connection limit: a 503 envelope and close, without reading the request.
async fn refuse(
    service: &Service,
    core: &CoreState,
    mut stream: Transport,
    peer: SocketAddr,
    why: &str,
) {
    let resp = service.reject(core, peer, ApiError::Unavailable(why.into()));
    let mut out = Vec::with_capacity(512);
    resp.encode(false, 1, &mut out);
    let _ = monoio::time::timeout(Duration::from_secs(1), stream.write_all(out)).await;
    drain_before_close(&mut stream).await;
}

/// Half-closes, then reads what the client sent until it closes (briefly): closing
/// with its request unread would send a TCP reset, and a reset can destroy the answer
/// (a 431 for a 1 MB URI, a 503 at the cap) before the client reads it.
async fn drain_before_close(stream: &mut Transport) {
    let _ = monoio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
    let drain = async {
        let mut buf = vec![0u8; 4096];
        let mut total = 0usize;
        loop {
            let (r, b) = stream.read(buf).await;
            buf = b;
            match r {
                Ok(n) if n > 0 && total + n <= REFUSE_DRAIN_BYTES => total += n,
                _ => break,
            }
        }
    };
    let _ = monoio::time::timeout(REFUSE_DRAIN_TIME, drain).await;
}

/// How long, and how much, a refused connection is read before it is closed.
/// Long enough for a client on loopback or a LAN to finish sending a refused 1 MB
/// request line; bounded in bytes so a refused client cannot keep a task reading.
const REFUSE_DRAIN_TIME: Duration = Duration::from_millis(500);
const REFUSE_DRAIN_BYTES: usize = 4 << 20;

fn parse_error_to_api(err: ParseError, limits: &Limits) -> ApiError {
    match err {
        ParseError::HeadersTooLarge => ApiError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        },
        ParseError::TooManyHeaders => ApiError::TooManyHeaders {
            limit: limits.max_headers,
        },
        ParseError::BodyTooLarge => ApiError::PayloadTooLarge(format!(
            "request body is larger than {} bytes",
            limits.max_body_bytes
        )),
        ParseError::Malformed(m) => ApiError::BadRequest(m),
    }
}

/// How a connection's request loop ended.
pub(crate) enum Ended {
    Closed,
    /// Upgraded to WebSocket: the socket and the client's version string.
    Upgraded(Transport, crate::ws::upgrade::Client),
}

/// What answering the buffered requests decided.
enum Next {
    /// Keep reading.
    Read,
    /// Flush and close.
    Close,
    /// Flush, then read briefly before closing: the request was refused unread, and
    /// closing with unread bytes sends a reset that can destroy the answer.
    Refused,
    /// The 101 is written: hand the socket to the WebSocket.
    Upgrade(crate::ws::upgrade::Client),
}

/// The socket and the connection's table entry. Every write goes through here, so the
/// entry's `bytes_out` is exactly what went on the wire, whatever the response shape.
pub(crate) struct Io {
    stream: Transport,
    info: ConnHandle,
    write_timeout: Duration,
}

/// A buffer the connection writes and gets back for reuse.
trait Reusable: IoBuf {
    fn reset(&mut self);
}

impl Reusable for Vec<u8> {
    fn reset(&mut self) {
        self.clear();
    }
}

impl Reusable for bytes::Bytes {
    fn reset(&mut self) {}
}

impl Io {
    /// Arms the deadline the core's sweep enforces; returns the cancel handle.
    fn arm(&self, wait: Duration) -> monoio::io::CancelHandle {
        let mut i = self.info.borrow_mut();
        i.deadline = Some(Instant::now() + wait);
        i.canceller.handle()
    }

    /// Disarms the deadline; `true` if the sweep cancelled the operation.
    fn disarm(&self) -> bool {
        let mut i = self.info.borrow_mut();
        i.deadline = None;
        i.timed_out
    }

    /// Writes the whole buffer under the write deadline; returns it reset.
    async fn write_all<B: Reusable>(&mut self, mut buf: B) -> std::io::Result<B> {
        let mut written = 0;
        while written < buf.bytes_init() {
            let handle = self.arm(self.write_timeout);
            let step = self
                .stream
                .write_within(buf.slice(written..), handle, self.write_timeout)
                .await;
            let res = match step {
                Step::Done(res, slice) => {
                    buf = slice.into_inner();
                    res
                }
                Step::Expired => {
                    self.disarm();
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "write deadline passed",
                    ));
                }
            };
            if self.disarm() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "write deadline passed",
                ));
            }
            match res? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => {
                    written += n;
                    self.info.borrow_mut().bytes_out += n as u64;
                }
            }
        }
        buf.reset();
        Ok(buf)
    }

    /// Streams a file range, one bounded piece at a time.
    async fn send_file(&mut self, file: &FileBody) -> std::io::Result<()> {
        let f = monoio::fs::File::open(&file.path).await?;
        let mut pos = file.offset;
        let end = file.offset + file.len;
        let mut buf = Vec::with_capacity(FILE_PIECE.min(file.len as usize).max(1));
        while pos < end {
            let want = ((end - pos) as usize).min(FILE_PIECE);
            buf.clear();
            let (res, slice) = f.read_at(buf.slice_mut(0..want), pos).await;
            buf = slice.into_inner();
            let n = res?;
            if n == 0 {
                // The file shrank under us: the promised length can no longer be met.
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            pos += n as u64;
            buf = self.write_all(buf).await?;
        }
        Ok(())
    }

    /// Sends a body made while it is sent: each piece as it comes (in chunked framing
    /// when asked), never more than a promised `len` and never less (a source that ends
    /// short or fails ends the connection, so the client sees the body was cut).
    async fn send_stream(
        &mut self,
        source: &mut dyn super::response::BodySource,
        len: Option<u64>,
        chunked: bool,
    ) -> std::io::Result<()> {
        let mut sent = 0u64;
        while let Some(piece) = source.next_piece().await {
            let mut piece = piece?;
            if let Some(len) = len {
                piece.truncate((len - sent).min(piece.len() as u64) as usize);
            }
            if piece.is_empty() {
                continue;
            }
            sent += piece.len() as u64;
            if chunked {
                let size = format!("{:x}\r\n", piece.len()).into_bytes();
                self.write_all(size).await?;
                self.write_all(piece).await?;
                self.write_all(b"\r\n".to_vec()).await?;
            } else {
                self.write_all(piece).await?;
            }
            if len == Some(sent) {
                break;
            }
        }
        match (len, chunked) {
            (Some(len), _) if sent < len => Err(std::io::ErrorKind::UnexpectedEof.into()),
            (_, true) => self.write_all(b"0\r\n\r\n".to_vec()).await.map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Reads into the free tail of `rbuf`, waiting at most `wait`. `Ok(None)`: the
    /// deadline passed.
    async fn read(&mut self, rbuf: &mut Vec<u8>, wait: Duration) -> std::io::Result<Option<usize>> {
        if rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK.max(rbuf.len()));
        }
        let (len, cap) = (rbuf.len(), rbuf.capacity());
        let handle = self.arm(wait);
        let buf = std::mem::take(rbuf);
        let step = self
            .stream
            .read_within(buf.slice_mut(len..cap), handle, wait)
            .await;
        let res = match step {
            Step::Done(res, slice) => {
                *rbuf = slice.into_inner();
                res
            }
            Step::Expired => {
                self.disarm();
                return Ok(None);
            }
        };
        if self.disarm() {
            return Ok(None);
        }
        let n = res?;
        let mut i = self.info.borrow_mut();
        i.bytes_in += n as u64;
        i.last_activity = Instant::now();
        Ok(Some(n))
    }
}

/// Where parsing stands: buffered bytes and the deadlines of the request being read.
#[derive(Default)]
struct ReadState {
    rbuf: Vec<u8>,
    /// Bytes of `rbuf` already consumed by parsed requests.
    start: usize,
    served: u64,
    head_deadline: Option<Instant>,
    body_deadline: Option<Instant>,
    continue_sent: bool,
    /// Where parsing of the request at `start` stands, so each byte is parsed once.
    parser: RequestParser,
}

impl ReadState {
    fn unparsed(&self) -> &[u8] {
        &self.rbuf[self.start..]
    }

    /// Parses the request at the front of the unparsed bytes. A panic in the parser
    /// (a bug: it is pure and checks every size) becomes a 500 for this connection
    /// instead of unwinding through the core's runtime.
    fn parse(&mut self, limits: &Limits) -> Result<Parsed, ApiError> {
        let (buf, parser) = (&self.rbuf[self.start..], &mut self.parser);
        let guarded = || {
            let parsed = parser.parse(buf, limits);
            if let Ok(Parsed::Complete { request, .. }) = &parsed {
                use crate::faults::{Boundary, request as fault};
                fault(Boundary::Parser, || request.header("x-auralis-fault"));
            }
            parsed
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(guarded))
            .map_err(|panic| {
                *parser = RequestParser::default();
                let what = crate::panics::message(&*panic);
                tracing::error!(panic = %what, "request parser panicked");
                ApiError::Internal(format!("request parser panicked: {what}"))
            })?
            .map_err(|e| parse_error_to_api(e, limits))
    }

    /// A request was parsed: the next one starts fresh.
    fn consumed(&mut self, n: usize) {
        self.start += n;
        self.head_deadline = None;
        self.body_deadline = None;
        self.continue_sent = false;
    }

    /// Keeps unconsumed bytes at the front; most of the time the buffer is empty.
    fn compact(&mut self) {
        if self.start == self.rbuf.len() {
            self.rbuf.clear();
        } else if self.start > 0 {
            self.rbuf.drain(..self.start);
        }
        self.start = 0;
    }
}

/// One HTTP connection.
pub(crate) struct Conn {
    io: Io,
    state: ReadState,
    wbuf: Vec<u8>,
    service: Rc<Service>,
    core: Rc<CoreState>,
    peer: SocketAddr,
    limits: Limits,
    /// Admitted past the connection cap (loopback reserve): observation routes only.
    operator_only: bool,
}

impl Conn {
    pub(crate) fn new(
        service: Rc<Service>,
        core: Rc<CoreState>,
        stream: Transport,
        peer: SocketAddr,
        info: ConnHandle,
    ) -> Self {
        let cfg = &core.shared.config.http;
        let limits = Limits {
            max_header_bytes: cfg.max_header_bytes,
            max_headers: cfg.max_headers,
            max_body_bytes: cfg.max_body_bytes,
        };
        let io = Io {
            stream,
            info,
            write_timeout: Duration::from_millis(cfg.write_timeout_ms),
        };
        Self {
            io,
            state: ReadState {
                rbuf: Vec::with_capacity(READ_CHUNK),
                ..ReadState::default()
            },
            // Allocated by the first answer: a connection that never completes a
            // request (slow loris, idle pre-connect) holds no write buffer.
            wbuf: Vec::new(),
            service,
            core,
            peer,
            limits,
            operator_only: false,
        }
    }

    fn cfg(&self) -> &HttpConfig {
        &self.core.shared.config.http
    }

    /// Serves requests until the connection closes or upgrades.
    pub(crate) async fn run(mut self) -> std::io::Result<Ended> {
        loop {
            let next = self.answer_buffered().await?;
            self.state.compact();
            let pending = !self.state.rbuf.is_empty();
            self.flush().await?;
            if let Next::Upgrade(client) = next {
                self.io.info.borrow_mut().busy = false;
                // Clients must wait for the 101 before sending frames (RFC 6455 §4.1);
                // anything pipelined behind the upgrade is dropped.
                return Ok(Ended::Upgraded(self.io.stream, client));
            }
            // Only now is the answer on the wire: graceful shutdown waits on this flag.
            self.io.info.borrow_mut().busy = pending;
            // While shutting down, a connection closes once it has nothing pending; a
            // fresh one (accepted during `cluster.drain_delay_ms`) still gets its request.
            let idle_after_answer = !pending && self.state.served > 0;
            if matches!(next, Next::Refused) {
                drain_before_close(&mut self.io.stream).await;
                return Ok(Ended::Closed);
            }
            if matches!(next, Next::Close) || (self.core.shutting_down.get() && idle_after_answer) {
                return Ok(Ended::Closed);
            }
            if !self.read_more(pending).await? {
                return Ok(Ended::Closed);
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            let buf = std::mem::take(&mut self.wbuf);
            self.wbuf = self.io.write_all(buf).await?;
        }
        Ok(())
    }

    /// Waits for more bytes under the deadline that applies; `false` when the
    /// connection should close (deadline passed, peer closed).
    async fn read_more(&mut self, pending: bool) -> std::io::Result<bool> {
        let cfg = self.cfg();
        let wait = match (
            pending,
            self.state.body_deadline.or(self.state.head_deadline),
        ) {
            (true, Some(deadline)) => deadline.saturating_duration_since(Instant::now()),
            // A new connection must send its first request within the header timeout;
            // between requests, the keep-alive idle timeout applies.
            _ if self.state.served == 0 => Duration::from_millis(cfg.header_read_timeout_ms),
            _ => Duration::from_millis(cfg.keep_alive_timeout_ms),
        };
        let header_timeout = Duration::from_millis(cfg.header_read_timeout_ms);
        match self.io.read(&mut self.state.rbuf, wait).await? {
            None => {
                tracing::debug!(core = self.core.id.0, peer = %self.peer, pending, "read deadline passed; closing");
                Ok(false)
            }
            Some(0) => Ok(false),
            Some(_) => {
                if !pending {
                    self.state.head_deadline = Some(Instant::now() + header_timeout);
                    self.io.info.borrow_mut().busy = true;
                }
                Ok(true)
            }
        }
    }

    /// Parses and answers every complete request in the buffer, in order.
    async fn answer_buffered(&mut self) -> std::io::Result<Next> {
        while !self.state.unparsed().is_empty() {
            match self.state.parse(&self.limits) {
                Ok(Parsed::Complete { request, consumed }) => {
                    self.state.consumed(consumed);
                    if crate::ws::upgrade::wants_upgrade(&request) {
                        return Ok(self.upgrade(&request));
                    }
                    if !self.answer(request).await? {
                        return Ok(Next::Close);
                    }
                }
                Ok(Parsed::Partial {
                    head_done,
                    expect_continue,
                }) => return Ok(self.partial(head_done, expect_continue)),
                Err(err) => {
                    self.reject(err);
                    return Ok(Next::Refused);
                }
            }
        }
        Ok(Next::Read)
    }

    /// Buffers an error answer for a request that cannot be served; the connection
    /// closes after it.
    fn reject(&mut self, err: ApiError) {
        self.service
            .reject(&self.core, self.peer, err)
            .encode(false, 1, &mut self.wbuf);
    }

    /// A WebSocket upgrade: the 101 (or a 400/401 and close) into the write buffer.
    fn upgrade(&mut self, request: &Request) -> Next {
        if self.operator_only {
            // The reserve is for reading a full node's health, not for a listener.
            self.reject(ApiError::Unavailable(
                "too many connections on this core; past the cap only health and metrics are served".into(),
            ));
            return Next::Close;
        }
        if let Some(refusal) = self.service.admit_upgrade(&self.core, self.peer, request) {
            refusal.encode(false, 1, &mut self.wbuf);
            return Next::Close;
        }
        let principal = match super::middleware::auth::upgrade_principal(&self.core, request) {
            Ok(p) => p,
            Err(e) => {
                self.reject(e);
                return Next::Close;
            }
        };
        let config = &self.core.shared.config;
        if let Some(origin) = request.header("origin")
            && !super::middleware::cors::allows_reads(config, origin)
            && !super::site::origin_trusted(config, origin, request.header("host"))
        {
            self.reject(ApiError::Forbidden(format!(
                "origin {origin} is not allowed (cors.allowed_origins)"
            )));
            return Next::Close;
        }
        // Rights by address only for what this machine's user sent on purpose (the
        // same rule as HTTP: `http::site`), decided once for the connection's life.
        let address_trusted = principal.is_none()
            && super::middleware::auth::local(&self.core, self.peer)
            && super::site::check(config, self.service.site(), request).is_ok();
        match crate::ws::upgrade::respond(&self.core, request, principal, address_trusted) {
            Ok((head, client)) => {
                self.wbuf.extend_from_slice(&head);
                Next::Upgrade(client)
            }
            Err(why) => {
                self.reject(ApiError::BadRequest(why.to_string()));
                Next::Close
            }
        }
    }

    /// A request whose head or body is still arriving.
    fn partial(&mut self, head_done: bool, expect_continue: bool) -> Next {
        if head_done && self.state.body_deadline.is_none() {
            let body_timeout = Duration::from_millis(self.cfg().body_read_timeout_ms);
            self.state.body_deadline = Some(Instant::now() + body_timeout);
        }
        if expect_continue && !self.state.continue_sent {
            self.wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.state.continue_sent = true;
        }
        // Chunked framing can exceed the decoded size; cap what one request may buffer.
        let cfg = self.cfg();
        let max_buffered = cfg.max_header_bytes + 2 * cfg.max_body_bytes + READ_CHUNK;
        if self.state.unparsed().len() > max_buffered {
            self.reject(ApiError::PayloadTooLarge(
                "request framing exceeds the buffer limit".into(),
            ));
            return Next::Refused;
        }
        Next::Read
    }

    /// A request that is not observation on a connection admitted past the cap: 503,
    /// then the connection closes.
    async fn refuse_past_cap(&mut self, version: u8) -> std::io::Result<bool> {
        let msg =
            "too many connections on this core; past the cap only health and metrics are served";
        let resp = self
            .service
            .reject(&self.core, self.peer, ApiError::Unavailable(msg.into()));
        self.write_response(resp, false, version).await?;
        Ok(false)
    }

    /// Answers one request; `false` when the connection must close after it.
    async fn answer(&mut self, request: Request) -> std::io::Result<bool> {
        self.state.served += 1;
        let max_req = self.cfg().max_requests_per_connection;
        let keep = request.wants_keep_alive()
            && !self.core.shutting_down.get()
            && (max_req == 0 || self.state.served < max_req);
        let version = request.version;
        {
            use crate::faults::{Boundary, request as fault};
            fault(Boundary::Connection, || request.header("x-auralis-fault"));
            fault(Boundary::Core, || request.header("x-auralis-fault"));
        }
        if self.operator_only && !self.service.observes(&request) {
            return self.refuse_past_cap(version).await;
        }
        let resp = self.service.handle(&self.core, self.peer, request).await;
        let keep = resp.keeps_alive(keep, version);
        self.write_response(resp, keep, version).await?;
        self.io.info.borrow_mut().requests += 1;
        if keep && self.wbuf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(keep)
    }

    /// Buffers a small response behind earlier pipelined ones; a large body or a file
    /// goes out as its own write after what is buffered.
    async fn write_response(
        &mut self,
        mut resp: Response,
        keep: bool,
        version: u8,
    ) -> std::io::Result<()> {
        if resp.body_separate() {
            resp.encode_head(keep, version, &mut self.wbuf);
            self.flush().await?;
            // A shared body itself: a refcount, not a copy of the audio.
            self.io
                .write_all(std::mem::take(&mut resp.body).into_bytes())
                .await?;
            return Ok(());
        }
        resp.encode(keep, version, &mut self.wbuf);
        if let (Some(file), false) = (&resp.file, resp.omit_body) {
            self.flush().await?;
            self.io.send_file(file).await?;
        }
        if let (Some(stream), false) = (&resp.stream, resp.omit_body) {
            self.flush().await?;
            let source = stream.source.borrow_mut().take();
            if let Some(mut source) = source {
                self.io
                    .send_stream(&mut *source, stream.len, resp.chunked(version))
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::core_state::{CoreId, DriverKind, PinningMode, Shared};
    use std::io::{Read, Write};

    /// Answers on one connection of a real loopback socket, with the real routes.
    fn serve_one(
        client: impl FnOnce(std::net::TcpStream) -> Vec<u8> + Send + 'static,
    ) -> (Vec<u8>, u64) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client =
            std::thread::spawn(move || client(std::net::TcpStream::connect(addr).unwrap()));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let served = rt.block_on(async move {
            let shared = Shared::new(Config::default(), 1, PinningMode::Kernel, None).unwrap();
            let service = Rc::new(Service::new(crate::api::routes(), &shared.config));
            let core = Rc::new(CoreState::new(CoreId(0), DriverKind::Legacy, shared).unwrap());
            let listener = monoio::net::TcpListener::from_std(listener).unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            let info = core.connections.borrow_mut().open(peer.ip());
            Conn::new(service, core, Transport::Plain(stream), peer, info.clone())
                .run()
                .await
                .unwrap();
            info.borrow().bytes_out
        });
        (client.join().unwrap(), served)
    }

    #[test]
    fn a_small_pipelined_response_before_a_large_body_is_answered_and_counted_exactly() {
        // `/api/openapi.json` is larger than `ZERO_COPY_MIN`, so it goes out as its own
        // write right behind the buffered `/api/version` answer.
        let (received, bytes_out) = serve_one(|mut s| {
            s.write_all(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\nGET /api/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap();
            all
        });
        let text = String::from_utf8_lossy(&received);
        assert_eq!(
            text.matches("HTTP/1.1 200 OK\r\n").count(),
            2,
            "both answered"
        );
        let big = text.split("HTTP/1.1 200 OK\r\n").nth(2).unwrap();
        let length: usize = big
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            length >= Response::ZERO_COPY_MIN,
            "the body went out separately"
        );
        assert_eq!(
            bytes_out,
            received.len() as u64,
            "every byte on the wire counted once"
        );
    }
}
