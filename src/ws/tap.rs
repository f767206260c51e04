//! A read-side tap that follows RFC 6455 frame boundaries in the raw bytes and records
//! whether a client frame arrived unmasked. fastwebsockets (server role) accepts
//! unmasked frames silently; RFC 6455 §5.1 says the server must close the connection.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for byte 0 of a header.
    Head0,
    /// Waiting for byte 1 (mask bit and length code).
    Head1,
    /// Reading `left` more extended-length bytes into `len`.
    ExtLen { left: u8, len: u64, masked: bool },
    /// Skipping the masking key, then the payload.
    Skip { left: u64 },
}

/// Wraps a reader; `unmasked` turns true once an unmasked frame header passed.
pub(crate) struct MaskTap<R> {
    inner: R,
    state: State,
    pub unmasked: Rc<Cell<bool>>,
}

impl<R> MaskTap<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            state: State::Head0,
            unmasked: Rc::new(Cell::new(false)),
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.state = match self.state {
                State::Head0 => {
                    bytes = &bytes[1..];
                    State::Head1
                }
                State::Head1 => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    let masked = b & 0x80 != 0;
                    if !masked {
                        self.unmasked.set(true);
                    }
                    let mask_len = if masked { 4 } else { 0 };
                    match b & 0x7f {
                        126 => State::ExtLen {
                            left: 2,
                            len: 0,
                            masked,
                        },
                        127 => State::ExtLen {
                            left: 8,
                            len: 0,
                            masked,
                        },
                        n => State::Skip {
                            left: u64::from(n) + mask_len,
                        },
                    }
                }
                State::ExtLen { left, len, masked } => {
                    let len = (len << 8) | u64::from(bytes[0]);
                    bytes = &bytes[1..];
                    if left == 1 {
                        State::Skip {
                            left: len.saturating_add(if masked { 4 } else { 0 }),
                        }
                    } else {
                        State::ExtLen {
                            left: left - 1,
                            len,
                            masked,
                        }
                    }
                }
                State::Skip { left } => {
                    let n = (bytes.len() as u64).min(left);
                    bytes = &bytes[n as usize..];
                    if left == n {
                        State::Head0
                    } else {
                        State::Skip { left: left - n }
                    }
                }
            };
            if let State::Skip { left: 0 } = self.state {
                self.state = State::Head0;
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for MaskTap<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = buf.filled()[before..].to_vec();
            self.feed(&new);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_frames_and_spots_unmasked_headers() {
        let mut t = MaskTap::new(tokio::io::empty());
        // Masked text frame "hi" (len 2), masked 200-byte frame (ext len 126), in pieces.
        let mut wire = vec![
            0x81, 0x82, 1, 2, 3, 4, b'h', b'i', 0x82, 0xfe, 0, 200, 9, 9, 9, 9,
        ];
        wire.extend(std::iter::repeat_n(0u8, 200));
        for piece in wire.chunks(7) {
            t.feed(piece);
        }
        assert!(!t.unmasked.get());
        t.feed(&[0x81, 0x01, b'x']);
        assert!(t.unmasked.get());
    }
}
