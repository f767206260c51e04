//! docs/PROTOCOL.md v1: message types with their fixed priorities, the envelope, error codes
//! and outgoing message encoding.

use crate::validation::FieldError;
use serde::Serialize;

/// A message's priority, fixed by its type (a client cannot raise it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    /// Every priority, highest first.
    pub(crate) const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// Multiplier of the per-connection base rate (docs/PROTOCOL.md "Priorities and rate limits").
    pub(crate) fn multiplier(self) -> f64 {
        match self {
            Priority::Critical => 10.0,
            Priority::High => 2.0,
            Priority::Normal => 1.0,
            Priority::Low => 0.5,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// What a message type is about (docs/PROTOCOL.md groups its tables by these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Category {
    Connection,
    Playback,
    Queue,
    Library,
    Streaming,
    Status,
}

impl Category {
    pub(crate) const ALL: [Category; 6] = [
        Category::Connection,
        Category::Playback,
        Category::Queue,
        Category::Library,
        Category::Streaming,
        Category::Status,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Category::Connection => "connection",
            Category::Playback => "playback",
            Category::Queue => "queue",
            Category::Library => "library",
            Category::Streaming => "streaming",
            Category::Status => "status",
        }
    }

    /// The client → server types of this category, in table order.
    pub(crate) fn types(self) -> Vec<&'static str> {
        ClientType::ALL
            .iter()
            .filter(|e| e.3 == self)
            .map(|e| e.1)
            .collect()
    }
}

/// A client → server message type. Parsed once per message; its priority is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientType {
    Ping,
    Disconnect,
    Play,
    Pause,
    Stop,
    Seek,
    Next,
    Previous,
    Subscribe,
    Unsubscribe,
    SessionCreate,
    SessionJoin,
    QueueAdd,
    QueueRemove,
    QueueClear,
    QueueReorder,
    LibrarySearch,
    LibrarySync,
    StreamStart,
    StreamStop,
    StreamAck,
    CacheStatus,
    CacheStats,
    HealthCheck,
    StatusUpdate,
}

impl ClientType {
    /// Every type, with its wire name and priority (docs/PROTOCOL.md "Priorities and rate limits").
    pub(crate) const ALL: [(ClientType, &'static str, Priority, Category); 25] = [
        (
            ClientType::Ping,
            "ping",
            Priority::Critical,
            Category::Connection,
        ),
        (
            ClientType::Disconnect,
            "disconnect",
            Priority::Critical,
            Category::Connection,
        ),
        (ClientType::Play, "play", Priority::High, Category::Playback),
        (
            ClientType::Pause,
            "pause",
            Priority::High,
            Category::Playback,
        ),
        (ClientType::Stop, "stop", Priority::High, Category::Playback),
        (ClientType::Seek, "seek", Priority::High, Category::Playback),
        (ClientType::Next, "next", Priority::High, Category::Playback),
        (
            ClientType::Previous,
            "previous",
            Priority::High,
            Category::Playback,
        ),
        (
            ClientType::Subscribe,
            "subscribe",
            Priority::Normal,
            Category::Connection,
        ),
        (
            ClientType::Unsubscribe,
            "unsubscribe",
            Priority::Normal,
            Category::Connection,
        ),
        (
            ClientType::SessionCreate,
            "session_create",
            Priority::Normal,
            Category::Playback,
        ),
        (
            ClientType::SessionJoin,
            "session_join",
            Priority::Normal,
            Category::Playback,
        ),
        (
            ClientType::QueueAdd,
            "queue_add",
            Priority::Normal,
            Category::Queue,
        ),
        (
            ClientType::QueueRemove,
            "queue_remove",
            Priority::Normal,
            Category::Queue,
        ),
        (
            ClientType::QueueClear,
            "queue_clear",
            Priority::Normal,
            Category::Queue,
        ),
        (
            ClientType::QueueReorder,
            "queue_reorder",
            Priority::Normal,
            Category::Queue,
        ),
        (
            ClientType::LibrarySearch,
            "library_search",
            Priority::Normal,
            Category::Library,
        ),
        (
            ClientType::LibrarySync,
            "library_sync",
            Priority::Normal,
            Category::Library,
        ),
        (
            ClientType::StreamStart,
            "stream_start",
            Priority::Normal,
            Category::Streaming,
        ),
        (
            ClientType::StreamStop,
            "stream_stop",
            Priority::Normal,
            Category::Streaming,
        ),
        (
            ClientType::StreamAck,
            "stream_ack",
            Priority::Critical,
            Category::Streaming,
        ),
        (
            ClientType::CacheStatus,
            "cache_status",
            Priority::Low,
            Category::Status,
        ),
        (
            ClientType::CacheStats,
            "cache_stats",
            Priority::Low,
            Category::Status,
        ),
        (
            ClientType::HealthCheck,
            "health_check",
            Priority::Low,
            Category::Status,
        ),
        (
            ClientType::StatusUpdate,
            "status_update",
            Priority::Low,
            Category::Playback,
        ),
    ];

    /// The type named `name`; `None` for an unknown type.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, n, _, _)| *n == name)
            .map(|(t, _, _, _)| *t)
    }

    fn entry(self) -> &'static (ClientType, &'static str, Priority, Category) {
        // `ALL` is in declaration order (the round-trip test checks it): an index, not
        // a search, per message.
        &Self::ALL[self as usize]
    }

    pub(crate) fn as_str(self) -> &'static str {
        self.entry().1
    }

    pub(crate) fn priority(self) -> Priority {
        self.entry().2
    }
}

/// Priority of a server → client type (what the outbound queue drops first).
pub(crate) fn outbound_priority(kind: &str) -> Priority {
    match kind {
        "pong" | "disconnect" | "error" | "connect" => Priority::Critical,
        "status_update" | "session_created" | "audio_chunk_meta" | "audio_stream_start"
        | "audio_stream_end" | "audio_stream_error" => Priority::High,
        "notification" | "metrics" | "cache_status" | "cache_stats" | "health_check" => {
            Priority::Low
        }
        _ => Priority::Normal,
    }
}

/// Machine-readable `payload.error` values.
pub(crate) mod codes {
    pub(crate) const INVALID_JSON: &str = "invalid_json";
    pub(crate) const UNKNOWN_TYPE: &str = "unknown_type";
    pub(crate) const INVALID_PAYLOAD: &str = "invalid_payload";
    pub(crate) const RATE_LIMIT_EXCEEDED: &str = "rate_limit_exceeded";
    pub(crate) const NOT_FOUND: &str = "not_found";
    pub(crate) const INTERNAL_ERROR: &str = "internal_error";
    /// The server could not take the request now (a core's inbox was full): retry.
    pub(crate) const UNAVAILABLE: &str = "unavailable";
    /// A chunk's decode did not finish within `cache.decode_timeout_ms`.
    pub(crate) const TIMEOUT: &str = "timeout";
    /// The connection's principal (or, without a token, its address) may not do this.
    pub(crate) const FORBIDDEN: &str = "forbidden";
    /// This needs a token and the upgrade carried none.
    pub(crate) const UNAUTHORIZED: &str = "unauthorized";
}

/// RFC 6455 §7.4.1 close codes used here.
pub(crate) mod close {
    pub(crate) const NORMAL: u16 = 1000;
    pub(crate) const GOING_AWAY: u16 = 1001;
    pub(crate) const PROTOCOL_ERROR: u16 = 1002;
    pub(crate) const INVALID_DATA: u16 = 1007;
    pub(crate) const POLICY_VIOLATION: u16 = 1008;
    pub(crate) const TOO_BIG: u16 = 1009;
}

/// An incoming message, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub kind: String,
    pub correlation_id: String,
    pub payload: serde_json::Value,
    /// The message's own W3C `traceparent` (a malformed one is ignored: `None`).
    pub traceparent: Option<crate::trace::SpanContext>,
}

/// A handler's failure: becomes an `error` message with the request's correlation id.
#[derive(Debug, Clone)]
pub(crate) struct WsError {
    pub code: &'static str,
    pub message: String,
    pub retry_after_ms: Option<u64>,
    /// Per-field failures, in the shape HTTP validation reports (`errors`).
    pub errors: Vec<FieldError>,
}

impl WsError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
            errors: Vec::new(),
        }
    }

    pub(crate) fn payload(msg: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PAYLOAD, msg)
    }

    /// An invalid payload, by field.
    pub(crate) fn fields(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::payload(String::new())
        }
        .with_summary()
    }

    /// One invalid field.
    pub(crate) fn field(field: &str, kind: &'static str, message: impl Into<String>) -> Self {
        Self::fields(vec![FieldError::new(field, kind, message)])
    }

    fn with_summary(mut self) -> Self {
        self.message = crate::validation::summary(&self.errors);
        self
    }
}

#[derive(Serialize)]
struct Out<'a, P: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    correlation_id: &'a str,
    /// The topic a published message came through (absent on direct replies).
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<&'a str>,
    timestamp: String,
    priority: &'static str,
    payload: &'a P,
}

/// Encodes an outgoing message as JSON text.
pub(crate) fn encode<P: Serialize>(kind: &str, correlation_id: &str, payload: &P) -> String {
    encode_out(kind, correlation_id, None, payload)
}

/// Encodes a message published on `topic` (which it names, so a client subscribed to
/// several topics knows which one delivered it).
pub(crate) fn encode_on<P: Serialize>(
    kind: &str,
    correlation_id: &str,
    topic: &str,
    payload: &P,
) -> String {
    encode_out(kind, correlation_id, Some(topic), payload)
}

fn encode_out<P: Serialize>(
    kind: &str,
    correlation_id: &str,
    topic: Option<&str>,
    payload: &P,
) -> String {
    let out = Out {
        kind,
        correlation_id,
        topic,
        timestamp: crate::timestamp::timestamp_now(),
        priority: outbound_priority(kind).as_str(),
        payload,
    };
    serde_json::to_string(&out).unwrap_or_else(|_| {
        format!(r#"{{"type":"error","correlation_id":"{correlation_id}","payload":{{"error":"internal_error"}}}}"#)
    })
}

/// Parses a text message. `Err` carries the error payload (and the correlation id
/// when one could be read).
pub(crate) fn parse(
    text: &mut [u8],
    fresh_id: impl FnOnce() -> String,
) -> Result<Incoming, (String, WsError)> {
    let value: serde_json::Value = match simd_json::serde::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            return Err((
                fresh_id(),
                WsError::new(
                    codes::INVALID_JSON,
                    format!("invalid JSON at byte {}", e.index()),
                ),
            ));
        }
    };
    let correlation_id = match value.get("correlation_id") {
        Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 128 => s.clone(),
        _ => fresh_id(),
    };
    let serde_json::Value::Object(mut map) = value else {
        return Err((
            correlation_id,
            WsError::payload("a message must be a JSON object"),
        ));
    };
    let kind = match map.remove("type") {
        Some(serde_json::Value::String(s)) => s,
        _ => {
            return Err((
                correlation_id,
                WsError::payload("`type` is required and must be a string"),
            ));
        }
    };
    let payload = map
        .remove("payload")
        .unwrap_or(serde_json::Value::Object(Default::default()));
    if !payload.is_object() {
        return Err((
            correlation_id,
            WsError::payload("`payload` must be an object"),
        ));
    }
    let traceparent = match map.remove("traceparent") {
        Some(serde_json::Value::String(t)) => crate::trace::SpanContext::parse(&t).ok(),
        _ => None,
    };
    Ok(Incoming {
        kind,
        correlation_id,
        payload,
        traceparent,
    })
}

#[cfg(test)]
mod traceparent_tests {
    use super::parse;

    fn traceparent_of(json: &str) -> Option<crate::trace::SpanContext> {
        let mut text = json.as_bytes().to_vec();
        parse(&mut text, || "fresh".into())
            .unwrap_or_else(|(_, e)| panic!("{json}: {e:?}"))
            .traceparent
    }

    /// A message's own `traceparent` is a client's word: anything but a well-formed
    /// W3C value is ignored and the message itself still parses.
    #[test]
    fn a_forged_message_traceparent_is_ignored_and_the_message_served() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ok = traceparent_of(&format!(
            r#"{{"type":"ping","payload":{{}},"traceparent":"{good}"}}"#
        ));
        assert_eq!(ok.map(|c| c.traceparent()).as_deref(), Some(good));
        let long = format!("\"{}\"", "0".repeat(1 << 16));
        for forged in [
            "42",
            "null",
            "{}",
            "\"00-00000000000000000000000000000000-00f067aa0ba902b7-01\"",
            "\"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\"",
            "\"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"",
            "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra\"",
            long.as_str(),
        ] {
            let json = format!(r#"{{"type":"ping","payload":{{}},"traceparent":{forged}}}"#);
            assert!(traceparent_of(&json).is_none(), "{forged:.60}");
        }
    }
}
