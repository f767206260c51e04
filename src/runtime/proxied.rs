//! Connections that come through a load balancer speaking the PROXY protocol
//! (`[server] proxy_protocol`, HAProxy's `send-proxy-v2`): the header is read before
//! anything else, and the client it names — not the balancer — is the connection's
//! peer for rate limits, logs, loopback trust and pinning. The kernel's socket filter
//! could only see the balancer's address, so a connection accepted on another core
//! than its client's is handed to that core (its file descriptor through the core's
//! mailbox): each client IP still lands on one core, its rate-limit bucket exact.

use super::core_state::CoreState;
use super::counters::bump;
use super::mailbox::{CoreMessage, Handoff};
use super::pipeline::{Pipeline, Port};
use super::proxy_header::{self, Header, ProxyHeaderError};
use crate::config::ProxyProtocol;
use monoio::net::TcpStream;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a proxied connection was closed before its first request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxiedError {
    #[error(transparent)]
    Header(#[from] ProxyHeaderError),
    #[error("no PROXY header within {0:?}")]
    TimedOut(Duration),
    #[error("closed before its PROXY header")]
    Closed,
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

fn recv(fd: i32, buf: &mut [u8], flags: i32) -> std::io::Result<usize> {
    // SAFETY: recv(2) into our own buffer of the given length, on the connection's fd.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads the PROXY header within `wait`. `None`: a LOCAL/UNKNOWN header (the peer
/// stands).
///
/// Peeks, and consumes exactly the header's bytes, so what follows is the HTTP
/// request's. When the bytes so far can only be a header (`required`, or 12 bytes:
/// longer than both signatures, shorter than any header), an incomplete one is consumed
/// as it comes: bytes left unread keep the socket readable, so the wait for the rest
/// would return at once forever (a half-sent header spun its core and hid the peer's
/// close). Fewer bytes in `optional` mode may still be a direct client's request, so
/// they stay unread and the wait is a sleep that doubles from 5 to 160 ms (1 500 sockets
/// holding one byte cost 88 % of a core at a fixed 5 ms), with the peer's close asked
/// of the kernel. The deadline is checked on its own: a timeout around a ready future
/// never fires.
pub(crate) async fn client_of(
    stream: &TcpStream,
    wait: Duration,
    required: bool,
) -> Result<Option<SocketAddr>, ProxiedError> {
    let deadline = Instant::now() + wait;
    let fd = stream.as_raw_fd();
    let mut header = vec![0u8; proxy_header::V2_MAX];
    let mut have = 0;
    let mut nap = Duration::from_millis(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxiedError::TimedOut(wait));
        }
        match monoio::time::timeout(left, stream.readable(false)).await {
            Err(_) => return Err(ProxiedError::TimedOut(wait)),
            Ok(r) => r?,
        }
        let n = match recv(fd, &mut header[have..], libc::MSG_PEEK) {
            Ok(0) => return Err(ProxiedError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        match proxy_header::parse(&header[..have + n])? {
            Header::Complete { len, client } => {
                consume(fd, &mut header[have..len])?;
                return Ok(client);
            }
            Header::Incomplete if required || have + n >= proxy_header::UNAMBIGUOUS => {
                consume(fd, &mut header[have..have + n])?;
                have += n;
            }
            Header::Incomplete if peer_closed(fd) => return Err(ProxiedError::Closed),
            Header::Incomplete => {
                monoio::time::sleep(nap).await;
                nap = (nap * 2).min(Duration::from_millis(160));
            }
        }
    }
}

/// Whether the peer has shut down its side (POLLRDHUP), even with bytes still unread.
fn peer_closed(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: poll(2) on one pollfd we own, without waiting.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}

/// Takes bytes a peek showed are there into `buf`, its whole length.
fn consume(fd: i32, buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match recv(fd, &mut buf[done..], 0)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}

/// The core a client's connections belong on (as the socket filter would pick for a
/// direct connection), or this one when connections are not pinned.
fn owner(core: &CoreState, client: SocketAddr) -> usize {
    let cores = core.shared.gauges.len() as u32;
    if !core.shared.config.server.pin_by_client_ip || cores < 2 {
        return core.id.0 as usize;
    }
    (match crate::cidr::canonical(client.ip()) {
        std::net::IpAddr::V4(ip) => super::listener::core_for_ipv4(ip, cores),
        std::net::IpAddr::V6(ip) => super::listener::core_for_ipv6(ip, cores),
    }) as usize
}

/// Serves a connection accepted on the main port with the PROXY protocol on: reads
/// its header, then serves it here or hands it to its client's core.
pub(crate) async fn serve(
    core: Rc<CoreState>,
    pipeline: Rc<dyn Pipeline>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let config = &core.shared.config;
    let optional = config.server.proxy_protocol == ProxyProtocol::Optional;
    let trusted = config
        .server
        .trusted_proxies
        .iter()
        .any(|c| c.contains(peer.ip()));
    if !trusted {
        if optional {
            // Served as the peer it is: a header it sends is a malformed request (400).
            return pipeline.serve(core, stream, peer, Port::Main).await;
        }
        bump(&core.counters.proxy_refused);
        tracing::debug!(core = core.id.0, %peer, "PROXY header required from a peer not in server.trusted_proxies; closed");
        return;
    }
    let wait = Duration::from_millis(config.http.header_read_timeout_ms);
    // Held in the table while its header is read, so header-less sockets count against
    // the connection cap like any other.
    let cap = config.http.max_connections_per_core;
    if core.connections.borrow().len() >= cap {
        bump(&core.counters.proxy_refused);
        return;
    }
    let entry = core.connections.borrow_mut().open(peer.ip());
    let id = entry.borrow().id;
    drop(entry);
    let read = client_of(&stream, wait, !optional).await;
    core.connections.borrow_mut().close(id);
    let client = match read {
        Ok(client) => client.unwrap_or(peer),
        // A direct connection (a probe, an operator): served as itself, where the
        // socket filter put it.
        Err(ProxiedError::Header(ProxyHeaderError::Missing)) if optional => {
            return pipeline.serve(core, stream, peer, Port::Main).await;
        }
        Err(e) => {
            bump(&core.counters.proxy_refused);
            tracing::debug!(core = core.id.0, %peer, error = %e, "proxied connection refused");
            return;
        }
    };
    let to = owner(&core, client);
    let Some(mailboxes) = core
        .shared
        .mailboxes
        .get()
        .filter(|_| to != core.id.0 as usize)
    else {
        return pipeline.serve(core, stream, client, Port::Main).await;
    };
    // SAFETY: the descriptor leaves monoio (`into_raw_fd`, deregistered) and is owned by
    // the std stream from here on.
    let std = unsafe { std::net::TcpStream::from_raw_fd(stream.into_raw_fd()) };
    let handoff = Arc::new(Handoff::new(std, client));
    match mailboxes.send_to(to, CoreMessage::Adopt(handoff)) {
        Ok(()) => bump(&core.counters.handed_off),
        Err(back) => serve_here_after_all(core, pipeline, back).await,
    }
}

/// The owner's inbox was full: the connection is served here rather than dropped
/// (counted).
async fn serve_here_after_all(core: Rc<CoreState>, pipeline: Rc<dyn Pipeline>, back: CoreMessage) {
    bump(&core.counters.handoffs_refused);
    if let CoreMessage::Adopt(h) = back
        && let Some((std, client)) = Handoff::take(h)
        && let Ok(stream) = TcpStream::from_std(std)
    {
        pipeline.serve(core, stream, client, Port::Main).await;
    }
}
