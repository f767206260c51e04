//! A connection's byte stream: plain TCP, or TLS over it (rustls through
//! monoio-rustls, on the core's own ring).
//!
//! Deadlines differ by kind. A plain socket's reads and writes are io_uring operations
//! the core's deadline sweep cancels through the connection's `CancelHandle` (no timer
//! per operation). A TLS read or write is several socket operations inside
//! monoio-rustls that no handle reaches, so it runs under a timer of its own; when that
//! timer fires the stream is in an unknown state and the connection must close (every
//! caller does: a passed deadline always ends the connection).

use crate::tls::Tls;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent,
    CancelableAsyncWriteRent,
};
use monoio::net::TcpStream;
use monoio_rustls::ServerTlsStream;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// An accepted connection's stream.
pub(crate) enum Transport {
    Plain(TcpStream),
    /// Boxed: a TLS session is kilobytes, the plain variant a file descriptor.
    Tls {
        stream: Box<ServerTlsStream<TcpStream>>,
        fd: RawFd,
    },
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("TLS handshake: {0}")]
    Failed(#[from] monoio_rustls::TlsError),
    #[error("TLS handshake not finished within {0:?}")]
    TimedOut(Duration),
}

/// What an operation under a deadline came to.
pub(crate) enum Step<B> {
    /// It completed (or failed) and the buffer is back.
    Done(io::Result<usize>, B),
    /// A TLS operation's own timer fired: the buffer is gone and the stream unusable.
    Expired,
}

impl Transport {
    /// Wraps an accepted socket: as is, or after a TLS handshake that must finish
    /// within `wait` (a client that stalls it holds no more than a header read would).
    pub(crate) async fn accept(
        tls: Option<&Tls>,
        stream: TcpStream,
        wait: Duration,
    ) -> Result<Transport, HandshakeError> {
        let Some(tls) = tls else {
            return Ok(Transport::Plain(stream));
        };
        let fd = stream.as_raw_fd();
        match monoio::time::timeout(wait, tls.acceptor().accept(stream)).await {
            Ok(Ok(stream)) => Ok(Transport::Tls {
                stream: Box::new(stream),
                fd,
            }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(HandshakeError::TimedOut(wait)),
        }
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            Transport::Plain(s) => s.as_raw_fd(),
            Transport::Tls { fd, .. } => *fd,
        }
    }

    /// One read into `buf`: cancelled by the sweep through `handle` (plain) or after
    /// `wait` (TLS).
    pub(crate) async fn read_within<B: IoBufMut + 'static>(
        &mut self,
        buf: B,
        handle: CancelHandle,
        wait: Duration,
    ) -> Step<B> {
        match self {
            Transport::Plain(s) => {
                let (r, b) = s.cancelable_read(buf, handle).await;
                Step::Done(r, b)
            }
            Transport::Tls { stream, .. } => timed(wait, stream.read(buf)).await,
        }
    }

    /// One write of `buf`, under the same rules as [`Transport::read_within`].
    pub(crate) async fn write_within<B: IoBuf + 'static>(
        &mut self,
        buf: B,
        handle: CancelHandle,
        wait: Duration,
    ) -> Step<B> {
        match self {
            Transport::Plain(s) => {
                let (r, b) = s.cancelable_write(buf, handle).await;
                Step::Done(r, b)
            }
            Transport::Tls { stream, .. } => timed(wait, stream.write(buf)).await,
        }
    }

    /// Writes all of `buf` with no deadline of its own (callers bound it).
    pub(crate) async fn write_all(&mut self, buf: Vec<u8>) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.write_all(buf).await.0.map(drop),
            Transport::Tls { stream, .. } => {
                let r = stream.write_all(buf).await.0;
                // rustls buffers; flush puts the records on the wire.
                r.and(stream.flush().await)
            }
        }
    }

    /// Reads into `buf` with no deadline of its own (callers bound it).
    pub(crate) async fn read(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        match self {
            Transport::Plain(s) => s.read(buf).await,
            Transport::Tls { stream, .. } => stream.read(buf).await,
        }
    }

    /// Half-closes the sending side (TLS: `close_notify`, then the TCP FIN).
    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.shutdown().await,
            Transport::Tls { stream, .. } => stream.shutdown().await,
        }
    }
}

/// A TLS operation under its own timer.
async fn timed<B>(
    wait: Duration,
    op: impl std::future::Future<Output = monoio::BufResult<usize, B>>,
) -> Step<B> {
    match monoio::time::timeout(wait, op).await {
        Ok((r, b)) => Step::Done(r, b),
        Err(_) => Step::Expired,
    }
}
