//! The incoming half of RFC 6455 framing as a pure function over bytes: given what has
//! arrived, either one whole client frame (unmasked, owned) and how many bytes it used,
//! or "not yet". Every rule a server must enforce on a single frame is checked here,
//! before any payload is copied: reserved bits and opcodes, masking (§5.1), control
//! frames unfragmented and at most 125 bytes (§5.5), the message size limit, and close
//! payloads (§5.5.1, §7.4). Rules that span frames (continuations, UTF-8 of a whole
//! text message) belong to the connection's read loop.

use super::protocol::close;

/// What a frame carries (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Result<Self, FrameError> {
        Ok(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(FrameError::ReservedOpcode(other)),
        })
    }

    fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// One client frame, its payload unmasked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InFrame {
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: Vec<u8>,
}

/// Why a frame is refused; each maps to the close code RFC 6455 §7.4.1 names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    #[error("client frames must be masked")]
    Unmasked,
    #[error("control frames must not be fragmented")]
    FragmentedControl,
    #[error("control frames carry at most 125 bytes")]
    LongControl,
    #[error("message too large")]
    TooLarge,
    #[error("a 64-bit payload length must have its top bit clear")]
    LengthTopBit,
    #[error("a close payload of one byte has no room for its code")]
    CloseTooShort,
    #[error("close code {0} may not be sent")]
    CloseCode(u16),
    #[error("invalid UTF-8 in a close reason")]
    CloseReasonUtf8,
}

impl FrameError {
    /// The close code to answer with.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            Self::TooLarge => close::TOO_BIG,
            Self::CloseReasonUtf8 => close::INVALID_DATA,
            _ => close::PROTOCOL_ERROR,
        }
    }
}

/// The longest client header: 2 bytes, 8 of extended length, 4 of mask.
pub(crate) const MAX_HEAD: usize = 14;

/// A parsed header: where the payload starts and how long it is.
#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    head_len: usize,
    payload_len: usize,
}

/// Parses the header at the start of `buf`; `None` until all of it has arrived.
/// `max_payload` bounds one frame (a frame of exactly `max_payload` is allowed).
fn head(buf: &[u8], max_payload: usize) -> Result<Option<Head>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0F)?;
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let code = b1 & 0x7F;
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::FragmentedControl);
        }
        if code > 125 {
            return Err(FrameError::LongControl);
        }
    }
    let ext = match code {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let head_len = 2 + ext + 4;
    let Some(rest) = buf.get(2..head_len) else {
        return Ok(None);
    };
    let (len_bytes, mask) = rest.split_at(ext);
    let len = if ext == 0 {
        u64::from(code)
    } else {
        len_bytes.iter().fold(0, |acc, &b| acc << 8 | u64::from(b))
    };
    if len >> 63 != 0 {
        return Err(FrameError::LengthTopBit);
    }
    let payload_len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= max_payload)
        .ok_or(FrameError::TooLarge)?;
    Ok(Some(Head {
        fin,
        opcode,
        mask: [mask[0], mask[1], mask[2], mask[3]],
        head_len,
        payload_len,
    }))
}

/// Bytes the frame starting at `buf` needs in all, once its header is known: a reader
/// sizes its buffer once instead of growing it read by read.
pub(crate) fn frame_len(buf: &[u8], max_payload: usize) -> Result<Option<usize>, FrameError> {
    Ok(head(buf, max_payload)?.map(|h| h.head_len + h.payload_len))
}

/// Takes the whole frame at the start of `buf`: the frame and the bytes it used, or
/// `None` while it is incomplete.
pub(crate) fn take(buf: &[u8], max_payload: usize) -> Result<Option<(InFrame, usize)>, FrameError> {
    let Some(h) = head(buf, max_payload)? else {
        return Ok(None);
    };
    let end = h.head_len + h.payload_len;
    let Some(masked) = buf.get(h.head_len..end) else {
        return Ok(None);
    };
    let payload = unmask(masked, h.mask);
    if h.opcode == Opcode::Close {
        check_close(&payload)?;
    }
    let frame = InFrame {
        fin: h.fin,
        opcode: h.opcode,
        payload,
    };
    Ok(Some((frame, end)))
}

fn unmask(masked: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let word = u32::from_ne_bytes(mask);
    let mut out = Vec::with_capacity(masked.len());
    let mut words = masked.chunks_exact(4);
    for w in &mut words {
        let v = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) ^ word;
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out.extend(words.remainder().iter().zip(mask).map(|(b, m)| b ^ m));
    out
}

/// A close payload is empty, or a code a peer may send followed by UTF-8 (§5.5.1, §7.4).
fn check_close(payload: &[u8]) -> Result<(), FrameError> {
    match payload {
        [] => Ok(()),
        [_] => Err(FrameError::CloseTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !sendable {
                return Err(FrameError::CloseCode(code));
            }
            std::str::from_utf8(reason).map_err(|_| FrameError::CloseReasonUtf8)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a browser sends it.
    fn client_frame(fin: bool, op: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut v = vec![(u8::from(fin) << 7) | op];
        match payload.len() {
            n if n < 126 => v.push(0x80 | n as u8),
            n if n < 65_536 => {
                v.push(0x80 | 126);
                v.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                v.push(0x80 | 127);
                v.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    #[test]
    fn takes_frames_of_every_length_form_and_waits_for_the_rest() {
        for len in [0usize, 5, 125, 126, 65_535, 65_536, 70_001] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let bytes = client_frame(true, 0x2, &payload, [0x12, 0x34, 0x56, 0x78]);
            for cut in [0, 1, 2, bytes.len() / 2, bytes.len() - 1] {
                if cut < bytes.len() {
                    assert_eq!(
                        take(&bytes[..cut], 1 << 20),
                        Ok(None),
                        "len {len} cut {cut}"
                    );
                }
            }
            let mut twice = bytes.clone();
            twice.extend_from_slice(&bytes);
            let (frame, used) = take(&twice, 1 << 20).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(frame_len(&bytes, 1 << 20), Ok(Some(bytes.len())));
            assert_eq!(
                frame,
                InFrame {
                    fin: true,
                    opcode: Opcode::Binary,
                    payload
                }
            );
        }
    }

    #[test]
    fn refuses_what_rfc6455_forbids_with_its_close_code() {
        let m = [1, 2, 3, 4];
        let cases: [(Vec<u8>, FrameError, u16); 9] = [
            (vec![0x81, 0x01, b'x'], FrameError::Unmasked, 1002),
            (
                client_frame(true, 0x3, b"x", m),
                FrameError::ReservedOpcode(3),
                1002,
            ),
            (
                {
                    let mut f = client_frame(true, 0x1, b"x", m);
                    f[0] |= 0x40;
                    f
                },
                FrameError::ReservedBits,
                1002,
            ),
            (
                client_frame(false, 0x9, b"x", m),
                FrameError::FragmentedControl,
                1002,
            ),
            (
                client_frame(true, 0x9, &[0; 126], m),
                FrameError::LongControl,
                1002,
            ),
            (
                client_frame(true, 0x1, &[b'a'; 101], m),
                FrameError::TooLarge,
                1009,
            ),
            (
                client_frame(true, 0x8, &[3], m),
                FrameError::CloseTooShort,
                1002,
            ),
            (
                client_frame(true, 0x8, &1005u16.to_be_bytes(), m),
                FrameError::CloseCode(1005),
                1002,
            ),
            (
                client_frame(true, 0x8, &[0x03, 0xE8, 0xff], m),
                FrameError::CloseReasonUtf8,
                1007,
            ),
        ];
        for (bytes, want, code) in cases {
            let got = take(&bytes, 100).unwrap_err();
            assert_eq!(got, want);
            assert_eq!(got.close_code(), code, "{want}");
        }
        // Exactly the limit is allowed; a 64-bit length with the top bit set is too large.
        assert!(
            take(&client_frame(true, 0x1, &[b'a'; 100], m), 100)
                .unwrap()
                .is_some()
        );
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&m);
        assert_eq!(
            take(&huge, usize::MAX).unwrap_err(),
            FrameError::LengthTopBit
        );
        huge[2] = 0x7F;
        assert_eq!(take(&huge, 1 << 40).unwrap_err(), FrameError::TooLarge);
    }

    #[test]
    fn a_close_with_a_sendable_code_and_utf8_reason_is_taken() {
        let mut p = 4000u16.to_be_bytes().to_vec();
        p.extend_from_slice("bye ✓".as_bytes());
        let bytes = client_frame(true, 0x8, &p, [9, 8, 7, 6]);
        let (f, _) = take(&bytes, 100).unwrap().unwrap();
        assert_eq!((f.opcode, f.payload), (Opcode::Close, p));
    }
}
