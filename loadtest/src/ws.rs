//! The harness's WebSocket client: its own upgrade handshake (`httparse` reads the
//! answer, the accept key is checked), then fastwebsockets' client role for frames
//! (masking, fragments, close handshake). Pings are answered here rather than by
//! fastwebsockets so the listeners can count them.

use crate::stream::Stream;
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role, WebSocket};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

/// RFC 6455's sample key and the accept value a server must answer it with (§1.3).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub struct WsClient {
    ws: FragmentCollector<Compat<Prefixed>>,
    /// Pings answered so far (the server's heartbeat).
    pub pings: u64,
}

/// A server message: opcode (1 text, 2 binary) and payload.
pub struct WsFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl WsClient {
    /// Performs the upgrade on a connected stream.
    pub async fn handshake(mut stream: Stream, host: &str) -> io::Result<WsClient> {
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
            crate::client::authorization()
        );
        stream.write_all(req.as_bytes()).await?;
        stream.flush().await?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&buf).map_err(io::Error::other)? {
                httparse::Status::Partial if buf.len() > 16 * 1024 => {
                    return Err(io::Error::other("upgrade answer head too large"));
                }
                httparse::Status::Partial => continue,
                httparse::Status::Complete(head) => {
                    if resp.code != Some(101) {
                        return Err(io::Error::other(format!(
                            "upgrade refused: status {:?}",
                            resp.code
                        )));
                    }
                    let accept = resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"));
                    if accept.is_none_or(|h| h.value != ACCEPT) {
                        return Err(io::Error::other("wrong Sec-WebSocket-Accept"));
                    }
                    // Frames the server sent right behind its answer are read first.
                    let rest = buf.split_off(head);
                    let stream = Prefixed {
                        head: rest,
                        pos: 0,
                        inner: stream,
                    };
                    let mut ws = WebSocket::after_handshake(stream.compat(), Role::Client);
                    ws.set_auto_pong(false);
                    return Ok(WsClient {
                        ws: FragmentCollector::new(ws),
                        pings: 0,
                    });
                }
            }
        }
    }

    /// Sends a (masked) text message.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        let frame = Frame::text(Payload::Borrowed(text.as_bytes()));
        self.ws.write_frame(frame).await.map_err(io::Error::other)
    }

    /// Sends a close frame (1000, normal closure); the caller then drops the client.
    pub async fn close(&mut self) -> io::Result<()> {
        self.ws
            .write_frame(Frame::close(1000, b""))
            .await
            .map_err(io::Error::other)
    }

    /// Next data message (pings answered, pongs skipped); `None` when closed.
    pub async fn next(&mut self) -> io::Result<Option<WsFrame>> {
        loop {
            let frame = match self.ws.read_frame().await {
                Ok(f) => f,
                Err(fastwebsockets::WebSocketError::ConnectionClosed)
                | Err(fastwebsockets::WebSocketError::UnexpectedEOF) => return Ok(None),
                Err(e) => return Err(io::Error::other(e)),
            };
            match frame.opcode {
                OpCode::Close => return Ok(None),
                OpCode::Ping => {
                    self.pings += 1;
                    let payload = frame.payload.to_vec();
                    self.ws
                        .write_frame(Frame::pong(Payload::Owned(payload)))
                        .await
                        .map_err(io::Error::other)?;
                }
                OpCode::Pong => {}
                OpCode::Text | OpCode::Binary => {
                    let opcode = if frame.opcode == OpCode::Text { 1 } else { 2 };
                    return Ok(Some(WsFrame {
                        opcode,
                        payload: frame.payload.to_vec(),
                    }));
                }
                OpCode::Continuation => {} // the collector hands over whole messages
            }
        }
    }
}

/// The socket, reading first the bytes that arrived behind the upgrade answer.
pub struct Prefixed {
    head: Vec<u8>,
    pos: usize,
    inner: Stream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.pos < self.head.len() {
            let n = (self.head.len() - self.pos).min(buf.len());
            let from = self.pos;
            buf[..n].copy_from_slice(&self.head[from..from + n]);
            self.pos += n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        // fastwebsockets' collector never flushes, and TLS keeps the records the socket
        // did not take yet: push them now (plain TCP: a no-op). If the socket pushes
        // back, the next write pushes them again.
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// `"published_at_us":<digits>` from a notification's JSON, without a full parse.
pub fn published_at_us(text: &[u8]) -> Option<u64> {
    let key = b"\"published_at_us\":";
    let i = text.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = text[i..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_publish_stamp() {
        assert_eq!(
            super::published_at_us(br#"{"a":1,"published_at_us":1234567,"b":2}"#),
            Some(1_234_567)
        );
        assert_eq!(super::published_at_us(b"{}"), None);
    }
}
