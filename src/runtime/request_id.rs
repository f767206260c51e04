//! A request's id, held inline: a client-sent `X-Request-ID` is at most
//! [`RequestId::MAX_LEN`] bytes, a minted one 22, so neither costs an allocation (a
//! `String` here was two per request: the id and its copy into the response header).

use std::fmt;

/// An id of at most [`RequestId::MAX_LEN`] printable ASCII bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; RequestId::MAX_LEN],
}

impl RequestId {
    /// Longest id held; longer client ids are refused by the caller (and replaced).
    pub const MAX_LEN: usize = 128;

    /// The id, when `s` fits and is printable ASCII (what is safe in a header and a log).
    pub fn new(s: &str) -> Option<Self> {
        if s.len() > Self::MAX_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut id = Self::empty();
        id.bytes[..s.len()].copy_from_slice(s.as_bytes());
        id.len = s.len() as u8;
        Some(id)
    }

    /// `{prefix:08x}-{core:02x}-{seq:010x}`, written without `format!` (which was a
    /// visible share of the tier-1 chunk path in `cargo bench --bench chunk_cache`).
    pub(crate) fn minted(prefix: u32, core: u8, seq: u64) -> Self {
        fn hex(out: &mut [u8], v: u64) {
            for (i, b) in out.iter_mut().rev().enumerate() {
                let d = ((v >> (i * 4)) & 0xf) as u8;
                *b = if d < 10 { b'0' + d } else { b'a' + d - 10 };
            }
        }
        let mut id = Self::empty();
        hex(&mut id.bytes[..8], u64::from(prefix));
        id.bytes[8] = b'-';
        hex(&mut id.bytes[9..11], u64::from(core));
        id.bytes[11] = b'-';
        hex(&mut id.bytes[12..22], seq);
        id.len = 22;
        id
    }

    fn empty() -> Self {
        Self {
            len: 0,
            bytes: [0; Self::MAX_LEN],
        }
    }

    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored (`new`, `minted`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_have_the_documented_shape() {
        let id = RequestId::minted(0x3eb9_562c, 0, 1);
        assert_eq!(id.as_str(), "3eb9562c-00-0000000001");
        let id = RequestId::minted(u32::MAX, 0xff, (1 << 40) - 1);
        assert_eq!(id.as_str(), "ffffffff-ff-ffffffffff");
    }

    #[test]
    fn only_short_printable_ids_are_held() {
        assert_eq!(RequestId::new("abc-1").unwrap().as_str(), "abc-1");
        let longest = "x".repeat(RequestId::MAX_LEN);
        assert_eq!(RequestId::new(&longest).unwrap().as_str(), longest);
        assert!(RequestId::new(&"x".repeat(RequestId::MAX_LEN + 1)).is_none());
        assert!(RequestId::new("a b").is_none());
        assert!(RequestId::new("é").is_none());
        assert!(RequestId::new("a\r\nb").is_none());
    }
}
