//! One WebSocket connection on its core: a read loop over our own frame reader (it holds
//! no buffer while idle: `reader.rs`) and a writer task draining the bounded outbound
//! queue through fastwebsockets' frame writer. RFC 6455 violations close with 1002, invalid UTF-8 with 1007,
//! oversized messages with 1009; bad messages get `error` replies and the connection
//! stays open (up to a number of violations).

use super::frame::{InFrame, Opcode};
use super::handlers;
use super::limiter::PriorityLimiter;
use super::outbound::{OutFrame, Outbound};
use super::player::Player;
use super::protocol::{self, close};
use super::reader::{FrameReader, ReadError};
use crate::config::WsTransport;
use crate::runtime::core_state::{CoreId, CoreState};
use crate::runtime::signal::{Latch, Notify};
use crate::runtime::transport::Transport;
use bytes::Bytes;
use monoio::io::Splitable;
use monoio_compat::StreamWrapper;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// Protocol violations (bad JSON, unknown types, bad payloads) tolerated per connection
/// before it is closed with 1008.
pub(crate) const MAX_VIOLATIONS: u32 = 20;
/// Bytes the compat wrapper reads per syscall on the WebSocket read side.
const READ_BUFFER: usize = 2048;
/// Bytes the compat wrapper buffers per write on the WebSocket write side.
const WRITE_BUFFER: usize = 4096;
/// Subscriptions one connection may hold.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 32;
/// A write waiting this long on the socket means the peer is not reading: on loopback
/// or a LAN a frame that fits the send buffer completes in microseconds.
const PEER_STALL: Duration = Duration::from_millis(10);

/// Everything the core knows about one WebSocket connection (docs/PROTOCOL.md "ConnectionInfo").
pub(crate) struct WsConn {
    pub id: u64,
    pub peer: SocketAddr,
    pub core: CoreId,
    pub connected_at: SystemTime,
    pub last_activity: Cell<Instant>,
    pub messages_in: Cell<u64>,
    pub messages_out: Cell<u64>,
    pub bytes_in: Cell<u64>,
    pub bytes_out: Cell<u64>,
    pub client_version: RefCell<Option<String>>,
    /// The principal of the token the upgrade carried (`None`: anonymous).
    pub principal: Option<crate::library::tokens::Principal>,
    pub subscriptions: RefCell<BTreeSet<String>>,
    /// The message budget of this connection's client, shared with its other sockets.
    pub limiter: Rc<RefCell<PriorityLimiter>>,
    /// Granted rights by its loopback address at the upgrade (no token; `http::site`
    /// found no web page behind it).
    pub address_trusted: bool,
    /// The upgrade's trace context: each message's span continues it unless the
    /// message carries its own `traceparent`.
    pub trace: Option<crate::trace::SpanContext>,
    pub out: RefCell<Outbound>,
    pub player: RefCell<Player>,
    pub violations: Cell<u32>,
    /// When the last server ping went out unanswered (None: nothing outstanding).
    pub ping_outstanding: Cell<Option<Instant>>,
    pub last_ping: Cell<Instant>,
    /// Set once a close frame is queued: the connection is going away.
    pub closing_since: Cell<Option<Instant>>,
    /// Since when the writer has waited on the socket (its send buffer is full): the
    /// peer is not reading as fast as we write. `None` while writes complete.
    pub write_blocked_since: Cell<Option<Instant>>,
    /// Per-connection id sequence for server-generated correlation ids.
    seq: Cell<u64>,
    pub streams: RefCell<super::stream::Streams>,
    /// Wakes the writer: frames are queued.
    writer_wake: Notify,
    /// The socket, for fan-out's direct send (`ws::direct`); `None` over TLS, whose
    /// records only the TLS layer may write.
    fd: Option<std::os::fd::RawFd>,
    /// The writer is parked with its queue empty and nothing buffered: a broadcast may
    /// be written straight to the socket (`ws::direct`'s contract).
    writer_idle: Cell<bool>,
    /// Set when the connection must end now: reader and writer both stop.
    killed: Latch,
}

/// `ConnectionInfo` as the API shows it (built on the connection's core, sent across).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConnectionInfo {
    pub connection_id: String,
    pub peer: String,
    pub core: u16,
    pub connected_at: String,
    pub idle_ms: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub subscriptions: Vec<String>,
    pub state: &'static str,
    pub client_version: Option<String>,
    pub rate_limiter_utilization: f64,
    /// The name of the token the connection authenticated with.
    pub principal: Option<String>,
    pub outbound_queued: usize,
    /// `low` notifications shed because the queue was full.
    pub dropped_low: u64,
    /// Messages the full queue refused (each closes the connection with 1008).
    pub refused: u64,
    pub uptime_s: f64,
}

impl WsConn {
    pub(crate) fn connection_id(&self) -> String {
        format!("c{}-{}", self.core.0, self.id)
    }

    /// A fresh correlation id for messages the client did not number.
    pub(crate) fn fresh_id(&self) -> String {
        self.seq.set(self.seq.get() + 1);
        format!("s{}-{}-{}", self.core.0, self.id, self.seq.get())
    }

    /// Queues a frame for the writer; `false` if the queue refused it. Only `low`
    /// notifications are ever shed; anything else that cannot be queued (a reply, a
    /// normal-priority publish) closes the connection with 1008 saying why, so nothing
    /// is lost without a word.
    pub(crate) fn send(&self, frame: OutFrame) -> bool {
        let droppable = frame.droppable();
        let ok = self.out.borrow_mut().push(frame);
        self.writer_wake.notify();
        if !ok && !droppable {
            self.close(
                close::POLICY_VIOLATION,
                "outbound queue full: the client is not reading its messages",
            );
        }
        ok
    }

    /// Delivers a broadcast frame (`head` + the shared `text`): written straight to the
    /// socket when the writer is idle (`ws::direct`), queued otherwise. Returns whether
    /// the connection took it and whether it was queued (its writer has work).
    pub(crate) fn send_broadcast(
        &self,
        head: &super::writer::Head,
        text: &Bytes,
        priority: protocol::Priority,
    ) -> (bool, bool) {
        if let Some(fd) = self.fd.filter(|_| self.can_send_direct()) {
            let head = head.as_slice();
            let sent = super::direct::send(fd, head, text);
            if let super::direct::Sent::All | super::direct::Sent::Part(_) = sent {
                self.messages_out.set(self.messages_out.get() + 1);
                self.bytes_out.set(self.bytes_out.get() + text.len() as u64);
            }
            match sent {
                super::direct::Sent::All => return (true, false),
                super::direct::Sent::Part(n) => {
                    let rest = match n.checked_sub(head.len()) {
                        Some(k) => text.slice(k..),
                        None => {
                            let mut b = head[n..].to_vec();
                            b.extend_from_slice(text);
                            Bytes::from(b)
                        }
                    };
                    return (self.send(OutFrame::Rest(rest)), true);
                }
                super::direct::Sent::Nothing => {}
            }
        }
        (self.send(OutFrame::Text(text.clone(), priority)), true)
    }

    fn can_send_direct(&self) -> bool {
        self.writer_idle.get()
            && self.out.borrow().is_empty()
            && self.closing_since.get().is_none()
            && !self.killed.is_set()
    }

    /// Queues a protocol message.
    pub(crate) fn send_msg<P: Serialize>(
        &self,
        kind: &str,
        correlation_id: &str,
        payload: &P,
    ) -> bool {
        let text = protocol::encode(kind, correlation_id, payload);
        self.send(OutFrame::Text(
            Bytes::from(text),
            protocol::outbound_priority(kind),
        ))
    }

    /// Queues an `error` reply.
    pub(crate) fn send_error(&self, correlation_id: &str, err: &protocol::WsError) {
        let mut payload = serde_json::json!({"error": err.code, "message": err.message});
        if let Some(ms) = err.retry_after_ms {
            payload["retry_after_ms"] = ms.into();
        }
        if !err.errors.is_empty() {
            payload["errors"] = serde_json::json!(err.errors);
        }
        self.send_msg("error", correlation_id, &payload);
    }

    /// Queues a close frame: the writer sends it and stops; the reader stops when the
    /// peer answers (or the sweep ends the connection a little later).
    pub(crate) fn close(&self, code: u16, reason: &str) {
        if self.closing_since.get().is_none() {
            self.closing_since.set(Some(Instant::now()));
            self.send(OutFrame::Close(code, reason.to_string()));
        }
    }

    /// Ends the connection now (both tasks), without waiting for the peer.
    pub(crate) fn kill(&self) {
        self.killed.set();
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.killed.is_set()
    }

    /// Whether this connection may do what `role` covers (the same rule as HTTP:
    /// its token's role, or — while no token exists — a loopback peer).
    pub(crate) fn permit(
        &self,
        core: &CoreState,
        role: crate::library::tokens::Role,
    ) -> Result<(), protocol::WsError> {
        let local = self.address_trusted;
        crate::library::tokens::permit(core.library.as_ref(), role, self.principal.as_ref(), local)
            .map_err(protocol::WsError::from)?
            .map_err(protocol::WsError::from)
    }

    /// Whether the peer takes bytes as fast as we write them: the writer has not been
    /// waiting on a full socket for longer than [`PEER_STALL`]. Fan-out waits for such
    /// a connection's queue to drain instead of shedding what it would have read.
    pub(crate) fn keeps_up(&self) -> bool {
        self.write_blocked_since
            .get()
            .is_none_or(|t| t.elapsed() < PEER_STALL)
    }

    pub(crate) fn info(&self, now_ms: u64) -> ConnectionInfo {
        let state = if self.closing_since.get().is_some() {
            "closing"
        } else {
            "open"
        };
        ConnectionInfo {
            connection_id: self.connection_id(),
            peer: self.peer.to_string(),
            core: self.core.0,
            connected_at: humantime::format_rfc3339_millis(self.connected_at).to_string(),
            idle_ms: self.last_activity.get().elapsed().as_millis() as u64,
            messages_in: self.messages_in.get(),
            messages_out: self.messages_out.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            subscriptions: self.subscriptions.borrow().iter().cloned().collect(),
            state,
            client_version: self.client_version.borrow().clone(),
            rate_limiter_utilization: self.limiter.borrow_mut().utilization(now_ms),
            principal: self.principal.as_ref().map(|p| p.name.clone()),
            outbound_queued: self.out.borrow().len(),
            dropped_low: self.out.borrow().dropped_low,
            refused: self.out.borrow().refused,
            uptime_s: self
                .connected_at
                .elapsed()
                .map_or(0.0, |d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
        }
    }
}

/// A connection after the 101 was written, as one future that runs it until it ends.
///
/// A plain function returning the future boxed and sized for the one transport the
/// connection got: the task under each idle listener then holds a pointer, where an
/// `async fn` here held room for every transport's state machine and copies of its
/// arguments (4.7 KB per connection, against 1.9 KB for the poll-io one alone).
pub(crate) fn run(
    core: Rc<CoreState>,
    stream: Transport,
    peer: SocketAddr,
    client: super::upgrade::Client,
) -> Pin<Box<dyn Future<Output = ()>>> {
    let cfg = core.shared.config.ws.clone();
    if cfg.send_buffer_bytes > 0 {
        set_send_buffer(stream.raw_fd(), cfg.send_buffer_bytes);
    }
    let fd = match &stream {
        Transport::Plain(s) => Some(std::os::fd::AsRawFd::as_raw_fd(s)),
        Transport::Tls { .. } => None,
    };
    match (stream, cfg.transport) {
        (Transport::Plain(stream), WsTransport::PollIo) => match stream.try_into_poll_io() {
            Ok(poll) => {
                let (r, w) = tokio::io::split(poll);
                Box::pin(serve(core, peer, client, cfg, fd, r, w))
            }
            Err((e, _)) => {
                tracing::warn!(error = %e, "cannot switch the socket to poll-io; closing");
                Box::pin(std::future::ready(()))
            }
        },
        (Transport::Plain(stream), WsTransport::Compat) => {
            let (r, w) = stream.into_split();
            Box::pin(serve_compat(core, peer, client, cfg, fd, r, w))
        }
        // TLS records are read and written by rustls over rent-style IO: always the
        // compat adapter (poll-io would bypass the TLS layer).
        (Transport::Tls { stream, .. }, _) => {
            let (r, w) = monoio::io::Splitable::into_split(*stream);
            Box::pin(serve_compat(core, peer, client, cfg, fd, r, w))
        }
    }
}

/// Serves over monoio-compat's adapter from rent-style halves.
async fn serve_compat<R, W>(
    core: Rc<CoreState>,
    peer: SocketAddr,
    client: super::upgrade::Client,
    cfg: crate::config::WsConfig,
    fd: Option<std::os::fd::RawFd>,
    r: R,
    w: W,
) where
    R: monoio::io::AsyncReadRent + Unpin + 'static,
    W: monoio::io::AsyncWriteRent + Unpin + 'static,
{
    // Small compat buffers: an idle listener should cost little (measured with
    // tuning/ws-scale.py); large audio frames just take more writes.
    let r = StreamWrapper::new_with_buffer_size(r, READ_BUFFER, 0);
    let w = StreamWrapper::new_with_buffer_size(w, 0, WRITE_BUFFER);
    serve(core, peer, client, cfg, fd, r, w).await;
}

fn set_send_buffer(fd: std::os::fd::RawFd, bytes: usize) {
    let size = bytes.min(libc::c_int::MAX as usize) as libc::c_int;
    // SAFETY: setsockopt on the connection's own fd with an int-sized value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

async fn serve<R, W>(
    core: Rc<CoreState>,
    peer: SocketAddr,
    client: super::upgrade::Client,
    cfg: crate::config::WsConfig,
    fd: Option<std::os::fd::RawFd>,
    r: R,
    w: W,
) where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin + 'static,
{
    // Client frames are read by our own reader, which holds no buffer while idle; the
    // read half fastwebsockets builds beside the writer is dropped at once. Frames of
    // exactly max_message_bytes are allowed.
    let mut rd = FrameReader::new(r, cfg.max_message_bytes);
    let wr = super::writer::FrameWriter::new(w);

    let now = Instant::now();
    let conn = Rc::new(WsConn {
        id: core.ws.next_id(),
        peer,
        core: core.id,
        connected_at: SystemTime::now(),
        last_activity: Cell::new(now),
        messages_in: Cell::new(0),
        messages_out: Cell::new(0),
        bytes_in: Cell::new(0),
        bytes_out: Cell::new(0),
        client_version: RefCell::new(client.version),
        principal: client.principal,
        subscriptions: RefCell::new(BTreeSet::new()),
        limiter: core.ws.budgets.borrow_mut().of(
            crate::cidr::client_key(peer.ip(), core.shared.config.rate_limit.ipv6_prefix),
            cfg.rate_base_per_minute,
            60_000,
            core.now_ms(),
        ),
        address_trusted: client.address_trusted,
        trace: client.trace,
        out: RefCell::new(Outbound::new(cfg.outbound_queue)),
        player: RefCell::new(Player::default()),
        violations: Cell::new(0),
        ping_outstanding: Cell::new(None),
        last_ping: Cell::new(now),
        closing_since: Cell::new(None),
        write_blocked_since: Cell::new(None),
        seq: Cell::new(0),
        streams: RefCell::new(Default::default()),
        writer_wake: Notify::default(),
        fd,
        writer_idle: Cell::new(false),
        killed: Latch::default(),
    });
    core.ws.register(&core, conn.clone());
    handlers::welcome(&core, &conn);

    let writer_task = monoio::spawn(write_loop(conn.clone(), wr));
    read_loop(&core, &conn, &mut rd).await;
    // Let the writer send what is queued (a close frame at least), bounded in time.
    if conn.closing_since.get().is_none() {
        conn.close(close::NORMAL, "");
    }
    let deadline = monoio::time::sleep(Duration::from_millis(500));
    monoio::select! {
        _ = writer_task => {},
        _ = deadline => conn.kill(),
    }
    conn.kill();
    core.ws.unregister(&core, &conn);
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    conn: Rc<WsConn>,
    mut wr: super::writer::FrameWriter<W>,
) {
    loop {
        let next = conn.out.borrow_mut().pop();
        let Some(frame) = next else {
            // Everything written and flushed: fan-out may write directly until woken.
            conn.writer_idle.set(true);
            let killed = monoio::select! {
                _ = conn.writer_wake.notified() => false,
                _ = conn.killed.wait() => true,
            };
            conn.writer_idle.set(false);
            if killed {
                return;
            }
            continue;
        };
        let is_close = matches!(frame, OutFrame::Close(..));
        let len = match &frame {
            OutFrame::Text(b, _) | OutFrame::Binary(b) => b.len(),
            _ => 0,
        };
        let write = std::pin::pin!(async {
            wr.write(&frame).await?;
            if is_close || conn.out.borrow().is_empty() {
                wr.flush().await?;
            }
            Ok::<(), std::io::Error>(())
        });
        let waited = PendingSince {
            fut: write,
            since: &conn.write_blocked_since,
        };
        let ok = monoio::select! {
            r = waited => r.is_ok(),
            _ = conn.killed.wait() => false,
        };
        if !ok {
            conn.kill();
            return;
        }
        if len > 0 {
            conn.messages_out.set(conn.messages_out.get() + 1);
            conn.bytes_out.set(conn.bytes_out.get() + len as u64);
        }
        if is_close {
            return;
        }
    }
}

/// Records in `since` when `fut` first returned `Pending` and clears it when it
/// completes: for the writer, how long it has waited on the socket.
struct PendingSince<'a, F> {
    fut: std::pin::Pin<&'a mut F>,
    since: &'a Cell<Option<Instant>>,
}

impl<F: std::future::Future> std::future::Future for PendingSince<'_, F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        match self.fut.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                self.since.set(None);
                std::task::Poll::Ready(v)
            }
            std::task::Poll::Pending => {
                if self.since.get().is_none() {
                    self.since.set(Some(Instant::now()));
                }
                std::task::Poll::Pending
            }
        }
    }
}

/// Reads frames and assembles messages until the connection ends. The reader is
/// cancel-safe, so the kill signal may interrupt it anywhere.
async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    rd: &mut FrameReader<R>,
) {
    let mut message = Assembly::new(core.shared.config.ws.max_message_bytes);
    loop {
        if !room_for_replies(core, conn).await {
            return;
        }
        let read = monoio::select! {
            r = rd.next() => r,
            _ = conn.killed.wait() => return,
        };
        let frame = match read {
            Ok(f) => f,
            Err(ReadError::Frame(e)) => {
                conn.close(e.close_code(), &e.to_string());
                return;
            }
            Err(ReadError::Eof | ReadError::Io(_)) => return,
        };
        conn.last_activity.set(Instant::now());
        conn.ping_outstanding.set(None);
        conn.bytes_in
            .set(conn.bytes_in.get() + frame.payload.len() as u64);
        match frame.opcode {
            Opcode::Close => {
                answer_close(conn, &frame.payload);
                return;
            }
            Opcode::Ping => {
                conn.send(OutFrame::Pong(frame.payload));
            }
            Opcode::Pong => {}
            _ => match message.push(frame) {
                Ok(None) => {}
                Ok(Some((op, data))) => {
                    if !self::message(core, conn, op, data) {
                        return;
                    }
                }
                Err((code, reason)) => {
                    conn.close(code, reason);
                    return;
                }
            },
        }
    }
}

/// Echoes a client's close (RFC 6455 §5.5.1) with its code, or 1000 when it gave none.
fn answer_close(conn: &WsConn, payload: &[u8]) {
    let code = payload
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .unwrap_or(close::NORMAL);
    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[])).into_owned();
    conn.closing_since.set(Some(Instant::now()));
    conn.send(OutFrame::Close(code, reason));
}

/// A message being assembled from its frames (RFC 6455 §5.4): control frames may come
/// between fragments; a new message may not begin inside one.
struct Assembly {
    partial: Option<(Opcode, Vec<u8>)>,
    max: usize,
}

impl Assembly {
    fn new(max: usize) -> Self {
        Self { partial: None, max }
    }

    /// Adds a data frame; a whole message once its last frame came, or the close code
    /// and reason that end the connection.
    #[allow(clippy::type_complexity)]
    fn push(&mut self, frame: InFrame) -> Result<Option<(Opcode, Vec<u8>)>, (u16, &'static str)> {
        if frame.opcode == Opcode::Continuation {
            let Some((_, buf)) = self.partial.as_mut() else {
                return Err((
                    close::PROTOCOL_ERROR,
                    "continuation frame without a message",
                ));
            };
            if buf.len() + frame.payload.len() > self.max {
                return Err((close::TOO_BIG, "message too large"));
            }
            buf.extend_from_slice(&frame.payload);
            return Ok(if frame.fin { self.partial.take() } else { None });
        }
        if self.partial.is_some() {
            return Err((
                close::PROTOCOL_ERROR,
                "a new message began inside a fragmented one",
            ));
        }
        if frame.fin {
            return Ok(Some((frame.opcode, frame.payload)));
        }
        self.partial = Some((frame.opcode, frame.payload));
        Ok(None)
    }
}

/// Before reading the next message, waits until the writer has room for its reply: a
/// client that sends faster than it reads is slowed down by TCP instead of losing
/// replies. Bounded by `slow_close_ms`; a queue still backlogged then closes with
/// 1008 (`false`).
async fn room_for_replies(core: &CoreState, conn: &WsConn) -> bool {
    if !conn.out.borrow().backlogged() {
        return true;
    }
    let limit = Instant::now() + Duration::from_millis(core.shared.config.ws.slow_close_ms);
    while conn.out.borrow().backlogged() {
        if conn.is_killed() {
            return false;
        }
        if Instant::now() >= limit {
            conn.close(
                close::POLICY_VIOLATION,
                "outbound queue full: the client is not reading its replies",
            );
            return false;
        }
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// Handles one complete message; `false` when the connection must end.
fn message(core: &Rc<CoreState>, conn: &Rc<WsConn>, op: Opcode, mut data: Vec<u8>) -> bool {
    conn.messages_in.set(conn.messages_in.get() + 1);
    if data.len() > core.shared.config.ws.max_message_bytes {
        conn.close(close::TOO_BIG, "message too large");
        return false;
    }
    if op == Opcode::Binary {
        let id = conn.fresh_id();
        conn.send_error(
            &id,
            &protocol::WsError::payload("binary messages are not accepted from clients"),
        );
        return violation(conn);
    }
    if std::str::from_utf8(&data).is_err() {
        conn.close(close::INVALID_DATA, "invalid UTF-8 in a text message");
        return false;
    }
    match protocol::parse(&mut data, || conn.fresh_id()) {
        Ok(msg) => dispatch_guarded(core, conn, msg),
        Err((cid, err)) => {
            conn.send_error(&cid, &err);
            violation(conn)
        }
    }
}

/// Dispatches one message with its handler's panics caught: a bug in one handler costs
/// that message an `internal_error` reply (logged with its correlation id), never the
/// core's thread and every other connection on it.
fn dispatch_guarded(core: &Rc<CoreState>, conn: &Rc<WsConn>, msg: protocol::Incoming) -> bool {
    let cid = msg.correlation_id.clone();
    let kind = msg.kind.clone();
    let run = std::panic::AssertUnwindSafe(|| {
        crate::faults::ws_handler(&msg.kind);
        handlers::dispatch(core, conn, msg)
    });
    match std::panic::catch_unwind(run) {
        Ok(keep) => keep,
        Err(panic) => {
            let what = crate::panics::message(&*panic);
            tracing::error!(correlation_id = %cid, kind = %kind, panic = %what, "WebSocket handler panicked");
            conn.send_error(
                &cid,
                &protocol::WsError::new(protocol::codes::INTERNAL_ERROR, "internal error"),
            );
            true
        }
    }
}

/// Counts a protocol violation; `false` (and a 1008 close) past the limit.
pub(crate) fn violation(conn: &WsConn) -> bool {
    conn.violations.set(conn.violations.get() + 1);
    if conn.violations.get() > MAX_VIOLATIONS {
        conn.close(close::POLICY_VIOLATION, "too many protocol violations");
        return false;
    }
    true
}
