//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent`
//! header's pure codec. A malformed header is a named error and the caller ignores it
//! (the request is served, a new trace may start); nothing here panics or allocates
//! when parsing.

use std::fmt;

/// Length of a version-00 `traceparent`: `00-` 32 hex `-` 16 hex `-` 2 hex.
pub(crate) const TRACEPARENT_LEN: usize = 55;
/// Longest `tracestate` kept (32 members of up to 256 bytes each is the spec's
/// ceiling; 512 is what vendors are told to expect to survive).
pub(crate) const MAX_TRACESTATE: usize = 512;

/// A trace's id (16 bytes, never all zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TraceId(pub [u8; 16]);

/// A span's id (8 bytes, never all zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SpanId(pub [u8; 8]);

/// What a child needs of its parent, and what crosses a process boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanContext {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The `sampled` trace flag: the caller records this trace.
    pub sampled: bool,
}

/// Why a `traceparent` was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TraceparentError {
    #[error("traceparent has {0} bytes; version 00 has 55")]
    Length(usize),
    #[error("traceparent fields must be lowercase hex separated by '-'")]
    Syntax,
    #[error("traceparent version ff is invalid")]
    Version,
    #[error("traceparent trace-id or parent-id is all zeros")]
    ZeroId,
}

fn hex_nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes lowercase hex into `out` (exactly twice its length).
fn unhex(src: &[u8], out: &mut [u8]) -> Result<(), TraceparentError> {
    for (i, pair) in src.chunks_exact(2).enumerate() {
        let hi = hex_nibble(pair[0]).ok_or(TraceparentError::Syntax)?;
        let lo = hex_nibble(pair[1]).ok_or(TraceparentError::Syntax)?;
        out[i] = hi << 4 | lo;
    }
    Ok(())
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl SpanContext {
    /// Parses a `traceparent` value. Versions above 00 are read as 00 (the spec's
    /// forward compatibility: their first four fields mean the same, anything after a
    /// further `-` is theirs); version `ff` and all-zero ids are invalid.
    pub(crate) fn parse(value: &str) -> Result<SpanContext, TraceparentError> {
        let b = value.trim_matches([' ', '\t']).as_bytes();
        if b.len() < TRACEPARENT_LEN {
            return Err(TraceparentError::Length(b.len()));
        }
        let mut version = [0u8; 1];
        unhex(&b[..2], &mut version)?;
        let longer_ok = version[0] != 0 && b.get(TRACEPARENT_LEN) == Some(&b'-');
        if b.len() != TRACEPARENT_LEN && !longer_ok {
            return Err(TraceparentError::Length(b.len()));
        }
        if version[0] == 0xff {
            return Err(TraceparentError::Version);
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(TraceparentError::Syntax);
        }
        let (mut trace, mut span, mut flags) = ([0u8; 16], [0u8; 8], [0u8; 1]);
        unhex(&b[3..35], &mut trace)?;
        unhex(&b[36..52], &mut span)?;
        unhex(&b[53..55], &mut flags)?;
        if trace == [0; 16] || span == [0; 8] {
            return Err(TraceparentError::ZeroId);
        }
        Ok(SpanContext {
            trace_id: TraceId(trace),
            span_id: SpanId(span),
            sampled: flags[0] & 1 == 1,
        })
    }

    /// This context as a version-00 `traceparent`.
    pub(crate) fn traceparent(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = u8::from(self.sampled);
        write!(f, "00-{}-{}-{flags:02x}", self.trace_id, self.span_id)
    }
}

/// A `tracestate` worth passing on: printable ASCII, within [`MAX_TRACESTATE`]
/// (longer or odd ones are dropped whole, as the spec allows, never cut mid-member).
pub(crate) fn acceptable_tracestate(value: &str) -> Option<&str> {
    let v = value.trim_matches([' ', '\t']);
    let printable = v.bytes().all(|b| (0x20..0x7f).contains(&b));
    (!v.is_empty() && v.len() <= MAX_TRACESTATE && printable).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn round_trips_the_spec_example() {
        let c = SpanContext::parse(GOOD).unwrap();
        assert!(c.sampled);
        assert_eq!(c.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(c.traceparent(), GOOD);
        let unsampled = SpanContext::parse(&GOOD.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn names_what_is_wrong() {
        use TraceparentError::*;
        let cases = [
            ("", Length(0)),
            (&GOOD[..54], Length(54)),
            (&format!("{GOOD}-x"), Length(57)),
            (&GOOD.replace("00-4b", "ff-4b"), Version),
            (&GOOD.to_uppercase(), Syntax),
            (&GOOD.replacen('-', "_", 1), Syntax),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ZeroId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ZeroId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
                Syntax,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(SpanContext::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_as_00_and_its_extra_fields_ignored() {
        let later = format!("{}-what-comes-next", GOOD.replacen("00", "01", 1));
        assert!(SpanContext::parse(&later).unwrap().sampled);
    }

    #[test]
    fn tracestate_is_kept_whole_or_dropped() {
        assert_eq!(
            acceptable_tracestate(" congo=t61rcWkgMzE "),
            Some("congo=t61rcWkgMzE")
        );
        assert_eq!(acceptable_tracestate(&"a".repeat(513)), None);
        assert_eq!(acceptable_tracestate("a=\u{7f}"), None);
        assert_eq!(acceptable_tracestate(""), None);
    }
}
