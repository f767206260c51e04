//! Reads client frames without holding a buffer while the connection is idle.
//!
//! A subscribed listener mostly waits: a read buffer per connection (fastwebsockets keeps
//! 8 KiB for each, from the handshake on) is most of what an idle connection costs. Here
//! the socket is read, on readiness, into one scratch buffer per core; a whole frame is
//! taken straight from it, and only the bytes of an unfinished frame are copied into the
//! connection's own buffer, which is given back as soon as it drains.
//!
//! Concurrency contract: the scratch buffer is borrowed only inside one synchronous
//! `poll_read` and released before `poll_next` returns, so no two connections of a core
//! ever see it at once. All progress lives in `FrameReader`, so dropping a pending
//! `next()` (a `select!` on the kill signal) loses nothing: the reader is cancel-safe.

use super::frame::{self, FrameError, InFrame};
use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes one read may take from the socket.
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// Why no frame came.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the peer closed the connection")]
    Eof,
    #[error("reading the socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Client frames from `inner`, each at most `max_payload` bytes.
pub(crate) struct FrameReader<R> {
    inner: R,
    /// An unfinished frame (or frames read past the one returned); empty and
    /// unallocated while idle.
    pending: Vec<u8>,
    max_payload: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, max_payload: usize) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            max_payload,
        }
    }

    /// The next frame. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Result<InFrame, ReadError> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<InFrame, ReadError>> {
        loop {
            if let Some(frame) = self.take_pending()? {
                return Poll::Ready(Ok(frame));
            }
            let read = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let mut buf = ReadBuf::new(&mut scratch[..]);
                match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Err(ReadError::Io(e))),
                    Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                        Poll::Ready(Err(ReadError::Eof))
                    }
                    Poll::Ready(Ok(())) => Poll::Ready(self.absorb(buf.filled())),
                }
            });
            match read {
                Poll::Ready(Ok(Some(frame))) => return Poll::Ready(Ok(frame)),
                Poll::Ready(Ok(None)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// A whole frame from what is already buffered, giving the buffer back when it drains.
    fn take_pending(&mut self) -> Result<Option<InFrame>, FrameError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let Some((frame, used)) = frame::take(&self.pending, self.max_payload)? else {
            return Ok(None);
        };
        if used == self.pending.len() {
            self.pending = Vec::new();
        } else {
            self.pending.drain(..used);
        }
        Ok(Some(frame))
    }

    /// Takes freshly read bytes: a whole frame straight from them when nothing is
    /// pending, keeping only the rest.
    fn absorb(&mut self, fresh: &[u8]) -> Result<Option<InFrame>, ReadError> {
        if !self.pending.is_empty() {
            self.pending.extend_from_slice(fresh);
            return Ok(None);
        }
        if let Some((frame, used)) = frame::take(fresh, self.max_payload)? {
            self.pending.extend_from_slice(&fresh[used..]);
            return Ok(Some(frame));
        }
        let whole = frame::frame_len(fresh, self.max_payload)?.unwrap_or(frame::MAX_HEAD);
        self.pending.reserve_exact(whole.max(fresh.len()));
        self.pending.extend_from_slice(fresh);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::Opcode;

    /// Hands out its bytes a few at a time, `Pending` between pieces.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        ready: bool,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if !self.ready {
                self.ready = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.ready = false;
            let end = (self.at + self.step.min(buf.remaining())).min(self.data.len());
            buf.put_slice(&self.data[self.at..end]);
            self.at = end;
            Poll::Ready(Ok(()))
        }
    }

    fn masked(op: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0xA1, 0xB2, 0xC3, 0xD4];
        let mut v = vec![0x80 | op];
        if payload.len() < 126 {
            v.push(0x80 | payload.len() as u8);
        } else {
            v.push(0x80 | 126);
            v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    fn read_all(step: usize) -> (Vec<InFrame>, ReadError, usize) {
        let big = vec![b'z'; 40_000];
        let mut data = masked(0x1, b"hello");
        data.extend(masked(0x9, b"hb"));
        data.extend(masked(0x1, &big));
        data.extend(masked(0x1, b"tail"));
        let mut reader = FrameReader::new(
            Trickle {
                data,
                at: 0,
                step,
                ready: false,
            },
            1 << 16,
        );
        let mut frames = Vec::new();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        let end = rt.block_on(async {
            loop {
                match reader.next().await {
                    Ok(f) => frames.push(f),
                    Err(e) => return e,
                }
            }
        });
        (frames, end, reader.pending.capacity())
    }

    #[test]
    fn frames_come_whole_whatever_the_read_sizes_and_the_buffer_is_given_back() {
        for step in [1, 3, 14, 1000, 100_000] {
            let (frames, end, held) = read_all(step);
            let got: Vec<(Opcode, usize)> =
                frames.iter().map(|f| (f.opcode, f.payload.len())).collect();
            assert_eq!(
                got,
                [
                    (Opcode::Text, 5),
                    (Opcode::Ping, 2),
                    (Opcode::Text, 40_000),
                    (Opcode::Text, 4)
                ],
                "step {step}"
            );
            assert_eq!(frames[0].payload, b"hello");
            assert!(frames[2].payload.iter().all(|&b| b == b'z'));
            assert!(matches!(end, ReadError::Eof), "step {step}: {end}");
            assert_eq!(held, 0, "step {step}: a drained reader holds no buffer");
        }
    }
}
