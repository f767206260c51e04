//! What one node tells the others about a topic message, on the broker: the channel
//! names the topic (`auralis:t:<topic>`); the payload is a fixed 17-byte header — the
//! origin node's instance id (16 hex digits, so a node skips its own echo) and the
//! priority (one letter) — followed by the message text exactly as local subscribers
//! get it. A pure codec: every malformed payload is a named error, counted by the
//! broker thread, never a panic.

use crate::ws::protocol::Priority;
use bytes::Bytes;

/// Prefix of every topic channel.
pub(crate) const CHANNEL_PREFIX: &str = "auralis:t:";

/// Length of the origin + priority header.
const HEADER: usize = 17;

/// One topic message crossing nodes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    /// The publishing node's instance id (random per process).
    pub origin: u64,
    pub topic: String,
    pub priority: Priority,
    pub text: Bytes,
}

/// Why a broker message is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EnvelopeError {
    #[error("channel {0:?} is not an auralis topic channel")]
    Channel(String),
    #[error("payload of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("origin is not 16 hex digits")]
    Origin,
    #[error("unknown priority letter {0:?}")]
    Priority(char),
}

fn letter(p: Priority) -> u8 {
    match p {
        Priority::Low => b'L',
        Priority::Normal => b'N',
        Priority::High => b'H',
        Priority::Critical => b'C',
    }
}

impl Envelope {
    /// The broker channel of this envelope's topic.
    pub(crate) fn channel(&self) -> String {
        format!("{CHANNEL_PREFIX}{}", self.topic)
    }

    /// The payload bytes (header + text).
    pub(crate) fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.text.len());
        out.extend_from_slice(format!("{:016x}", self.origin).as_bytes());
        out.push(letter(self.priority));
        out.extend_from_slice(&self.text);
        out
    }

    /// Parses a message received on `channel`.
    pub(crate) fn decode(channel: &str, payload: &[u8]) -> Result<Envelope, EnvelopeError> {
        let topic = channel
            .strip_prefix(CHANNEL_PREFIX)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| EnvelopeError::Channel(channel.to_string()))?;
        if payload.len() < HEADER {
            return Err(EnvelopeError::Short(payload.len()));
        }
        let origin = std::str::from_utf8(&payload[..16])
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or(EnvelopeError::Origin)?;
        let priority = match payload[16] {
            b'L' => Priority::Low,
            b'N' => Priority::Normal,
            b'H' => Priority::High,
            b'C' => Priority::Critical,
            other => return Err(EnvelopeError::Priority(other as char)),
        };
        Ok(Envelope {
            origin,
            topic: topic.to_string(),
            priority,
            text: Bytes::copy_from_slice(&payload[HEADER..]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_what_is_wrong() {
        let e = Envelope {
            origin: 0xdead_beef_0000_0001,
            topic: "session:ab12".into(),
            priority: Priority::High,
            text: Bytes::from_static(br#"{"type":"status_update"}"#),
        };
        assert_eq!(Envelope::decode(&e.channel(), &e.payload()), Ok(e.clone()));
        let p = e.payload();
        assert_eq!(
            Envelope::decode("other:x", &p),
            Err(EnvelopeError::Channel("other:x".into()))
        );
        assert_eq!(
            Envelope::decode("auralis:t:", &p),
            Err(EnvelopeError::Channel("auralis:t:".into()))
        );
        assert_eq!(
            Envelope::decode(&e.channel(), &p[..10]),
            Err(EnvelopeError::Short(10))
        );
        let mut bad = p.clone();
        bad[3] = b'x';
        assert_eq!(
            Envelope::decode(&e.channel(), &bad),
            Err(EnvelopeError::Origin)
        );
        let mut bad = p;
        bad[16] = b'Z';
        assert_eq!(
            Envelope::decode(&e.channel(), &bad),
            Err(EnvelopeError::Priority('Z'))
        );
    }
}
