//! The HTTP/1.1 connection loop of one core: read, parse every complete (pipelined)
//! request, answer them in order, write once, repeat. Enforces the header-read,
//! body-read and keep-alive timeouts and the per-core connection limit. Never blocks.

use super::error::ApiError;
use super::parse::{self, Limits, ParseError, Parsed};
use crate::runtime::connections::ConnHandle;
use crate::runtime::core_state::CoreState;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncWriteRentExt, CancelableAsyncReadRent, CancelableAsyncWriteRent};
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

/// Entry point for an accepted connection: admission (per-core connection limit), then
/// the request loop, then bookkeeping.
pub async fn accept(core: Rc<CoreState>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let max = core.shared.config.http.max_connections_per_core;
    if core.connections.borrow().len() >= max {
        refuse(&core, stream, peer).await;
        return;
    }
    let info = core.connections.borrow_mut().open(peer);
    let id = info.borrow().id;
    core.gauge().connections.fetch_add(1, Ordering::Relaxed);
    crate::runtime::counters::bump(&core.counters.connections_opened);
    match serve(&core, stream, peer, &info).await {
        Ok(None) => {}
        // Upgraded: the WebSocket runs in a task of its own, so this task (sized for the
        // whole HTTP request path) is freed instead of idling under every listener. The
        // connection keeps its table entry (and its place under the per-core limit).
        Ok(Some((stream, version))) => {
            monoio::spawn(async move {
                crate::ws::connection::run(core.clone(), stream, peer, version).await;
                core.connections.borrow_mut().close(id);
                core.gauge().connections.fetch_sub(1, Ordering::Relaxed);
                crate::runtime::counters::bump(&core.counters.connections_closed);
            });
            return;
        }
        Err(e) => {
            tracing::debug!(core = core.id.0, %peer, error = %e, "connection ended with an error")
        }
    }
    core.connections.borrow_mut().close(id);
    core.gauge().connections.fetch_sub(1, Ordering::Relaxed);
    crate::runtime::counters::bump(&core.counters.connections_closed);
}

/// A connection upgraded to WebSocket: its socket and the client's version string.
type Upgraded = (TcpStream, Option<String>);

/// Over the connection limit: a 503 envelope and close, without reading the request.
async fn refuse(core: &CoreState, mut stream: TcpStream, peer: SocketAddr) {
    let resp = core.service.reject(
        core,
        peer,
        ApiError::Unavailable("too many connections on this core; retry later".into()),
    );
    let mut out = Vec::with_capacity(512);
    resp.encode(false, 1, &mut out);
    let _ = monoio::time::timeout(Duration::from_secs(1), stream.write_all(out)).await;
}

fn parse_error_to_api(err: ParseError, limits: &Limits) -> ApiError {
    match err {
        ParseError::HeadersTooLarge => ApiError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        },
        ParseError::BodyTooLarge => ApiError::PayloadTooLarge(format!(
            "request body is larger than {} bytes",
            limits.max_body_bytes
        )),
        ParseError::Malformed(m) => ApiError::BadRequest(m),
    }
}

async fn serve(
    core: &Rc<CoreState>,
    mut stream: TcpStream,
    peer: SocketAddr,
    info: &ConnHandle,
) -> std::io::Result<Option<Upgraded>> {
    let cfg = &core.shared.config.http;
    let limits = Limits {
        max_header_bytes: cfg.max_header_bytes,
        max_headers: cfg.max_headers,
        max_body_bytes: cfg.max_body_bytes,
    };
    // Chunked framing can exceed the decoded size; cap what one request may buffer.
    let max_buffered = cfg.max_header_bytes + 2 * cfg.max_body_bytes + READ_CHUNK;
    let header_timeout = Duration::from_millis(cfg.header_read_timeout_ms);
    let body_timeout = Duration::from_millis(cfg.body_read_timeout_ms);
    let idle_timeout = Duration::from_millis(cfg.keep_alive_timeout_ms);
    let write_timeout = Duration::from_millis(cfg.write_timeout_ms);

    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut wbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut start = 0usize;
    let mut served = 0u64;
    let mut head_deadline: Option<Instant> = None;
    let mut body_deadline: Option<Instant> = None;
    let mut continue_sent = false;

    loop {
        let mut close = false;
        while start < rbuf.len() {
            match parse::parse_request(&rbuf[start..], &limits) {
                Ok(Parsed::Complete { request, consumed })
                    if crate::ws::upgrade::wants_upgrade(&request) =>
                {
                    start += consumed;
                    match crate::ws::upgrade::validate(&request) {
                        Ok(accept) => {
                            let id = match request.header("x-request-id") {
                                Some(id) if super::middleware::request_id::acceptable(id) => {
                                    id.to_string()
                                }
                                _ => core.next_request_id(),
                            };
                            wbuf.extend_from_slice(&crate::ws::upgrade::switching_protocols(
                                &accept, &id, core.id.0,
                            ));
                            write_all(&mut stream, wbuf, info, write_timeout).await?;
                            info.borrow_mut().busy = false;
                            let version = request
                                .header("x-client-version")
                                .map(|v| v.chars().take(64).collect());
                            // Clients must wait for the 101 before sending frames
                            // (RFC 6455 §4.1); anything pipelined behind the upgrade is dropped.
                            return Ok(Some((stream, version)));
                        }
                        Err(why) => {
                            core.service
                                .reject(core, peer, ApiError::BadRequest(why))
                                .encode(false, 1, &mut wbuf);
                            close = true;
                            break;
                        }
                    }
                }
                Ok(Parsed::Complete { request, consumed }) => {
                    start += consumed;
                    head_deadline = None;
                    body_deadline = None;
                    continue_sent = false;
                    served += 1;
                    let max_req = cfg.max_requests_per_connection;
                    let keep = request.wants_keep_alive()
                        && !core.shutting_down.get()
                        && (max_req == 0 || served < max_req);
                    let version = request.version;
                    let resp = core.service.handle(core, peer, request).await;
                    let before = wbuf.len();
                    if resp.body_separate() {
                        resp.encode_head(keep, version, &mut wbuf);
                        wbuf = write_all(&mut stream, wbuf, info, write_timeout).await?;
                        // The shared body itself: a refcount, not a copy of the audio.
                        write_all(&mut stream, resp.body.clone(), info, write_timeout).await?;
                        info.borrow_mut().bytes_out += resp.body.len() as u64;
                    } else {
                        resp.encode(keep, version, &mut wbuf);
                    }
                    if let (Some(file), false) = (&resp.file, resp.omit_body) {
                        wbuf = write_all(&mut stream, wbuf, info, write_timeout).await?;
                        send_file(&mut stream, file, info, write_timeout).await?;
                    }
                    {
                        let mut i = info.borrow_mut();
                        i.requests += 1;
                        i.bytes_out += (wbuf.len() - before) as u64;
                    }
                    if !keep {
                        close = true;
                        break;
                    }
                    if wbuf.len() >= FLUSH_AT {
                        wbuf = write_all(&mut stream, wbuf, info, write_timeout).await?;
                    }
                }
                Ok(Parsed::Partial {
                    head_done,
                    expect_continue,
                }) => {
                    if head_done && body_deadline.is_none() {
                        body_deadline = Some(Instant::now() + body_timeout);
                    }
                    if expect_continue && !continue_sent {
                        wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continue_sent = true;
                    }
                    if rbuf.len() - start > max_buffered {
                        let err = ApiError::PayloadTooLarge(
                            "request framing exceeds the buffer limit".into(),
                        );
                        core.service
                            .reject(core, peer, err)
                            .encode(false, 1, &mut wbuf);
                        close = true;
                    }
                    break;
                }
                Err(e) => {
                    let resp = core
                        .service
                        .reject(core, peer, parse_error_to_api(e, &limits));
                    resp.encode(false, 1, &mut wbuf);
                    close = true;
                    break;
                }
            }
        }

        // Keep unconsumed bytes at the front; most of the time the buffer is empty.
        if start == rbuf.len() {
            rbuf.clear();
            start = 0;
        } else if start > 0 {
            rbuf.drain(..start);
            start = 0;
        }
        let pending = !rbuf.is_empty();
        if !wbuf.is_empty() {
            wbuf = write_all(&mut stream, wbuf, info, write_timeout).await?;
        }
        // Only now is the answer on the wire: graceful shutdown waits on this flag.
        info.borrow_mut().busy = pending;
        if close || (core.shutting_down.get() && !pending) {
            return Ok(None);
        }

        let wait = match (pending, body_deadline.or(head_deadline)) {
            (true, Some(deadline)) => deadline.saturating_duration_since(Instant::now()),
            // A new connection must send its first request within the header timeout;
            // between requests, the keep-alive idle timeout applies.
            _ if served == 0 => header_timeout,
            _ => idle_timeout,
        };
        if rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK.max(rbuf.len()));
        }
        let len = rbuf.len();
        let cap = rbuf.capacity();
        let handle = {
            let mut i = info.borrow_mut();
            i.deadline = Some(Instant::now() + wait);
            i.canceller.handle()
        };
        let (res, slice) = stream
            .cancelable_read(rbuf.slice_mut(len..cap), handle)
            .await;
        rbuf = slice.into_inner();
        let timed_out = {
            let mut i = info.borrow_mut();
            i.deadline = None;
            i.timed_out
        };
        if timed_out {
            tracing::debug!(core = core.id.0, %peer, pending, "read deadline passed; closing");
            return Ok(None);
        }
        let n = res?;
        if n == 0 {
            return Ok(None);
        }
        if !pending {
            head_deadline = Some(Instant::now() + header_timeout);
            info.borrow_mut().busy = true;
        }
        let mut i = info.borrow_mut();
        i.bytes_in += n as u64;
        i.last_activity = Instant::now();
    }
}

/// A buffer the connection loop writes and gets back for reuse.
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

/// Writes the whole buffer under the connection's write deadline; returns it reset.
async fn write_all<B: Reusable>(
    stream: &mut TcpStream,
    mut buf: B,
    info: &ConnHandle,
    timeout: Duration,
) -> std::io::Result<B> {
    let mut written = 0;
    while written < buf.bytes_init() {
        let handle = {
            let mut i = info.borrow_mut();
            i.deadline = Some(Instant::now() + timeout);
            i.canceller.handle()
        };
        let (res, slice) = stream.cancelable_write(buf.slice(written..), handle).await;
        buf = slice.into_inner();
        let mut i = info.borrow_mut();
        i.deadline = None;
        if i.timed_out {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write deadline passed",
            ));
        }
        match res? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => written += n,
        }
    }
    buf.reset();
    Ok(buf)
}

/// Piece size for streamed files.
const FILE_PIECE: usize = 256 * 1024;

/// Streams a file range after its headers, one bounded piece at a time.
async fn send_file(
    stream: &mut TcpStream,
    file: &super::response::FileBody,
    info: &ConnHandle,
    timeout: Duration,
) -> std::io::Result<()> {
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
        buf = write_all(stream, buf, info, timeout).await?;
        info.borrow_mut().bytes_out += n as u64;
    }
    Ok(())
}
