//! Fan-out's direct send: a broadcast frame written to an idle subscriber's socket from
//! the delivering loop itself, one non-blocking `sendmsg` (header + the shared payload),
//! instead of queueing it and waking that connection's writer task.
//!
//! Why: at thousands of subscribers the per-delivery cost was the wake, not the write
//! (a task switch, a `select!` and the writer's bookkeeping for each of them; issue 27
//! measured 5.8 µs of user time per delivery). uWebSockets' `publish` writes the same
//! way. The kernel's share is unchanged: one send per subscriber either way.
//!
//! Contract (single-threaded, on the connection's core): the caller may send only while
//! the connection's writer is parked with nothing buffered and its queue is empty
//! (`WsConn::writer_idle`), so bytes never interleave with a frame in flight, and the
//! writer holds the socket open for as long as it is parked, so the descriptor is
//! the connection's own. What the kernel did not take is queued as `OutFrame::Rest`
//! for the writer to finish before anything else.

use std::io::IoSlice;
use std::os::fd::RawFd;

/// What one direct send achieved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The whole frame is in the socket.
    All,
    /// The first `n` bytes (header and payload together) are.
    Part(usize),
    /// Nothing was sent (send buffer full, or an error the writer will meet and report).
    Nothing,
}

/// Frames up to this size are copied into one stack buffer and sent with `send(2)`:
/// cheaper in the kernel than `sendmsg`'s message header and iovec import.
const COPY_MAX: usize = 1024;

/// Sends `head` then `payload` on `fd` without blocking and without SIGPIPE.
pub(crate) fn send(fd: RawFd, head: &[u8], payload: &[u8]) -> Sent {
    let total = head.len() + payload.len();
    let n = if total <= COPY_MAX {
        let mut buf = [0u8; COPY_MAX];
        buf[..head.len()].copy_from_slice(head);
        buf[head.len()..total].copy_from_slice(payload);
        // SAFETY: `fd` is the caller's open socket (module contract); `buf` holds `total`.
        unsafe {
            libc::send(
                fd,
                buf.as_ptr().cast(),
                total,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        }
    } else {
        send_vectored(fd, head, payload)
    };
    match n {
        n if n < 0 => Sent::Nothing,
        n if n as usize == total => Sent::All,
        0 => Sent::Nothing,
        n => Sent::Part(n as usize),
    }
}

fn send_vectored(fd: RawFd, head: &[u8], payload: &[u8]) -> isize {
    let iov = [IoSlice::new(head), IoSlice::new(payload)];
    // SAFETY: an all-zero msghdr is valid; it is then pointed at `iov`, which outlives
    // the call (IoSlice is ABI-compatible with iovec on Unix).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: `fd` is the caller's open socket (see the module contract).
    unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_frame_is_sent_whole_when_it_fits() {
        let (a, mut b) = UnixStream::pair().unwrap();
        assert_eq!(send(a.as_raw_fd(), b"\x81\x02", b"hi"), Sent::All);
        let mut got = [0u8; 4];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"\x81\x02hi");
    }

    #[test]
    fn a_full_socket_takes_part_then_nothing_without_blocking() {
        let (a, _b) = UnixStream::pair().unwrap();
        let big = vec![0u8; 1 << 20];
        // A peer that never reads: the loop ends (no send blocks) within a few sends.
        let ended = (0..1000).any(|_| match send(a.as_raw_fd(), b"", &big) {
            Sent::Part(n) => {
                assert!(n > 0 && n < big.len());
                false
            }
            Sent::All => false,
            Sent::Nothing => true,
        });
        assert!(ended, "a full socket answers Nothing");
    }
}
