//! Writing frames to a WebSocket peer. Headers are formatted by fastwebsockets'
//! `Frame::fmt_head`; the bytes are written here, so that one encoding serves both the
//! connection's writer task and fan-out's direct send (`direct.rs`), and a frame the
//! direct send wrote only in part is finished verbatim by the writer
//! (`OutFrame::Rest`), which a codec owning the stream could not do.

use super::outbound::OutFrame;
use fastwebsockets::{Frame, OpCode, Payload};
use std::borrow::Cow;
use std::io;
use std::io::IoSlice;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The longest server frame header: 2 bytes + an 8-byte length (servers never mask).
const MAX_HEAD: usize = 10;

/// Payloads up to this size are copied behind their header and written in one call;
/// larger ones (audio chunks) go out as header + payload, vectored, without a copy.
const COPY_MAX: usize = 1024;

/// A server frame's header (RFC 6455 §5.2, unmasked).
#[derive(Clone, Copy)]
pub(crate) struct Head {
    bytes: [u8; MAX_HEAD],
    len: u8,
}

impl Head {
    pub(crate) fn of(opcode: OpCode, payload: &[u8]) -> Head {
        let mut bytes = [0; MAX_HEAD];
        let len = Frame::new(true, opcode, None, Payload::Borrowed(payload)).fmt_head(&mut bytes);
        Head {
            bytes,
            len: len as u8,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The writer task's side: frames out to one peer, through a small reusable buffer.
pub(crate) struct FrameWriter<W> {
    io: W,
    /// Header + payload of a small frame, reused (about `COPY_MAX` bytes at most).
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub(crate) fn new(io: W) -> Self {
        Self {
            io,
            buf: Vec::new(),
        }
    }

    /// Writes one queued frame (not flushed: see [`Self::flush`]).
    pub(crate) async fn write(&mut self, frame: &OutFrame) -> io::Result<()> {
        let (opcode, payload) = match frame {
            // The end of a frame the direct send began: written verbatim.
            OutFrame::Rest(rest) => return self.io.write_all(rest).await,
            OutFrame::Text(b, _) => (OpCode::Text, Cow::Borrowed(&b[..])),
            OutFrame::Binary(b) => (OpCode::Binary, Cow::Borrowed(&b[..])),
            OutFrame::Ping(p) => (OpCode::Ping, Cow::Borrowed(&p[..])),
            OutFrame::Pong(p) => (OpCode::Pong, Cow::Borrowed(&p[..])),
            OutFrame::Close(code, reason) => {
                let mut p = Vec::with_capacity(2 + reason.len());
                p.extend_from_slice(&code.to_be_bytes());
                p.extend_from_slice(reason.as_bytes());
                (OpCode::Close, Cow::Owned(p))
            }
        };
        let head = Head::of(opcode, &payload);
        if payload.len() <= COPY_MAX {
            self.buf.clear();
            self.buf.extend_from_slice(head.as_slice());
            self.buf.extend_from_slice(&payload);
            return self.io.write_all(&self.buf).await;
        }
        write_both(&mut self.io, head.as_slice(), &payload).await
    }

    /// Flushes what a buffering transport (the compat adapter, TLS) holds.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        self.io.flush().await
    }
}

/// Writes `a` then `b`, vectored while both remain.
async fn write_both<W: AsyncWrite + Unpin>(w: &mut W, a: &[u8], b: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < a.len() {
        let n = w
            .write_vectored(&[IoSlice::new(&a[done..]), IoSlice::new(b)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        done += n;
    }
    w.write_all(&b[done - a.len()..]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn written(frames: &[OutFrame]) -> Vec<u8> {
        let mut w = FrameWriter::new(Vec::new());
        crate::http::service::poll_once(async {
            for f in frames {
                w.write(f).await.unwrap();
            }
        })
        .unwrap();
        w.io
    }

    #[test]
    fn frames_are_unmasked_with_the_shortest_length_field() {
        let p = super::super::protocol::Priority::Normal;
        let small = written(&[OutFrame::Text(Bytes::from_static(b"hi"), p)]);
        assert_eq!(small, b"\x81\x02hi");
        let mid = written(&[OutFrame::Binary(Bytes::from(vec![7u8; 300]))]);
        assert_eq!(&mid[..4], &[0x82, 126, 1, 44]);
        assert_eq!(mid.len(), 4 + 300);
        let big = written(&[OutFrame::Binary(Bytes::from(vec![1u8; 70_000]))]);
        assert_eq!(&big[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
        assert_eq!(big.len(), 10 + 70_000);
    }

    #[test]
    fn close_carries_its_code_then_reason_and_rest_is_verbatim() {
        let out = written(&[
            OutFrame::Rest(Bytes::from_static(b"tail")),
            OutFrame::Close(1008, "slow".into()),
        ]);
        assert_eq!(out, b"tail\x88\x06\x03\xf0slow");
    }
}
