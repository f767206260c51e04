//! What one node tells the others about a topic message, on the broker: the channel
//! names the topic (`auralis:t:<topic>`); the payload is a fixed 17-byte header — the
//! origin node's instance id (16 hex digits, so a node skips its own echo) and the
//! priority (one letter: `L N H C`) — then, when the letter is lowercase (`l n h c`),
//! the 55-byte W3C `traceparent` of the publishing span, then the message text exactly
//! as local subscribers get it. A pure codec: every malformed payload is a named
//! error, counted by the broker thread, never a panic; a malformed `traceparent` only
//! loses the trace (the message is delivered untraced).

use crate::trace::SpanContext;
use crate::trace::context::TRACEPARENT_LEN;
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
    /// The publishing span (on the way out: the span that caused the message).
    pub trace: Option<SpanContext>,
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
    #[error("payload of {0} bytes is shorter than its header and traceparent")]
    ShortTraced(usize),
}

fn letter(p: Priority) -> u8 {
    match p {
        Priority::Low => b'L',
        Priority::Normal => b'N',
        Priority::High => b'H',
        Priority::Critical => b'C',
    }
}

/// What a node does with a message, as OpenTelemetry's messaging conventions name it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operation {
    /// PRODUCER: the PUBLISH on the broker.
    Publish,
    /// CONSUMER: the delivery on a receiving node.
    Process,
}

impl Envelope {
    /// The span of `op` on this message, a child of the envelope's trace (the cause
    /// on the way out, the publishing span on the way in): one notification is one
    /// trace across nodes. `None` when the message is untraced.
    pub(crate) fn span(&self, op: Operation) -> Option<crate::trace::Span> {
        use crate::trace::Kind;
        let (name, kind, op_type) = match op {
            Operation::Publish => ("publish", Kind::Producer, "send"),
            Operation::Process => ("process", Kind::Consumer, "process"),
        };
        let mut span = crate::trace::child_of(self.trace, name, kind)?;
        span.rename(format!("{name} {}", self.topic));
        span.set("messaging.system", "redis");
        span.set("messaging.operation.type", op_type);
        span.set("messaging.destination.name", self.channel());
        span.set("messaging.message.body.size", self.text.len() as u64);
        Some(span)
    }

    /// The broker channel of this envelope's topic.
    pub(crate) fn channel(&self) -> String {
        format!("{CHANNEL_PREFIX}{}", self.topic)
    }

    /// The payload bytes (header, the traceparent when traced, text).
    pub(crate) fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + TRACEPARENT_LEN + self.text.len());
        out.extend_from_slice(format!("{:016x}", self.origin).as_bytes());
        match &self.trace {
            Some(t) => {
                out.push(letter(self.priority).to_ascii_lowercase());
                out.extend_from_slice(t.traceparent().as_bytes());
            }
            None => out.push(letter(self.priority)),
        }
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
        let priority = match payload[16].to_ascii_uppercase() {
            b'L' => Priority::Low,
            b'N' => Priority::Normal,
            b'H' => Priority::High,
            b'C' => Priority::Critical,
            _ => return Err(EnvelopeError::Priority(payload[16] as char)),
        };
        let (trace, text) = if payload[16].is_ascii_lowercase() {
            let end = HEADER + TRACEPARENT_LEN;
            let traceparent = payload
                .get(HEADER..end)
                .ok_or(EnvelopeError::ShortTraced(payload.len()))?;
            let trace = std::str::from_utf8(traceparent)
                .ok()
                .and_then(|t| SpanContext::parse(t).ok());
            (trace, &payload[end..])
        } else {
            (None, &payload[HEADER..])
        };
        Ok(Envelope {
            origin,
            topic: topic.to_string(),
            priority,
            text: Bytes::copy_from_slice(text),
            trace,
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
            trace: None,
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

    #[test]
    fn a_traced_message_carries_its_traceparent_and_a_bad_one_only_loses_the_trace() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let e = Envelope {
            origin: 7,
            topic: "notifications".into(),
            priority: Priority::Normal,
            text: Bytes::from_static(br#"{"type":"notification"}"#),
            trace: Some(SpanContext::parse(tp).unwrap()),
        };
        let p = e.payload();
        assert_eq!(p[16], b'n');
        assert_eq!(Envelope::decode(&e.channel(), &p), Ok(e.clone()));
        let mut bad = p.clone();
        bad[20] = b'Z';
        let got = Envelope::decode(&e.channel(), &bad).unwrap();
        assert_eq!((got.trace, got.text), (None, e.text.clone()));
        assert_eq!(
            Envelope::decode(&e.channel(), &p[..40]),
            Err(EnvelopeError::ShortTraced(40))
        );
    }
}
