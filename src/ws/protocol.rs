//! PROTOCOL.md v1: message types with their fixed priorities, the envelope, error codes
//! and outgoing message encoding.

use serde::Serialize;

/// A message's priority, fixed by its type (a client cannot raise it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    /// Multiplier of the per-connection base rate (PROTOCOL.md "Priorities").
    pub fn multiplier(self) -> f64 {
        match self {
            Priority::Critical => 10.0,
            Priority::High => 2.0,
            Priority::Normal => 1.0,
            Priority::Low => 0.5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// Client → server message types and their priorities.
pub const CLIENT_TYPES: &[(&str, Priority)] = &[
    ("ping", Priority::Critical),
    ("disconnect", Priority::Critical),
    ("play", Priority::High),
    ("pause", Priority::High),
    ("stop", Priority::High),
    ("seek", Priority::High),
    ("next", Priority::High),
    ("previous", Priority::High),
    ("subscribe", Priority::Normal),
    ("unsubscribe", Priority::Normal),
    ("session_create", Priority::Normal),
    ("queue_add", Priority::Normal),
    ("queue_remove", Priority::Normal),
    ("queue_clear", Priority::Normal),
    ("queue_reorder", Priority::Normal),
    ("library_search", Priority::Normal),
    ("library_sync", Priority::Normal),
    ("stream_start", Priority::Normal),
    ("stream_stop", Priority::Normal),
    ("stream_ack", Priority::Critical),
    ("cache_status", Priority::Low),
    ("cache_stats", Priority::Low),
    ("health_check", Priority::Low),
    ("status_update", Priority::Low),
];

/// Priority of a server → client type (what the outbound queue drops first).
pub fn outbound_priority(kind: &str) -> Priority {
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
pub mod codes {
    pub const INVALID_JSON: &str = "invalid_json";
    pub const UNKNOWN_TYPE: &str = "unknown_type";
    pub const INVALID_PAYLOAD: &str = "invalid_payload";
    pub const RATE_LIMIT_EXCEEDED: &str = "rate_limit_exceeded";
    pub const TOO_LARGE: &str = "too_large";
    pub const NOT_FOUND: &str = "not_found";
    pub const INTERNAL_ERROR: &str = "internal_error";
}

/// RFC 6455 §7.4.1 close codes used here.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

/// An incoming message, parsed.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub kind: String,
    pub correlation_id: String,
    pub payload: serde_json::Value,
}

/// A handler's failure: becomes an `error` message with the request's correlation id.
#[derive(Debug, Clone)]
pub struct WsError {
    pub code: &'static str,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl WsError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub fn payload(msg: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PAYLOAD, msg)
    }
}

#[derive(Serialize)]
struct Out<'a, P: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    correlation_id: &'a str,
    timestamp: String,
    priority: &'static str,
    payload: &'a P,
}

/// Encodes an outgoing message as JSON text.
pub fn encode<P: Serialize>(kind: &str, correlation_id: &str, payload: &P) -> String {
    let out = Out {
        kind,
        correlation_id,
        timestamp: crate::http::envelope::timestamp_now(),
        priority: outbound_priority(kind).as_str(),
        payload,
    };
    serde_json::to_string(&out).unwrap_or_else(|_| {
        format!(r#"{{"type":"error","correlation_id":"{correlation_id}","payload":{{"error":"internal_error"}}}}"#)
    })
}

/// Parses a text message. `Err` carries the error payload (and the correlation id
/// when one could be read).
pub fn parse(
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
    Ok(Incoming {
        kind,
        correlation_id,
        payload,
    })
}

/// Priority of a client message type; `None` for an unknown type.
pub fn client_priority(kind: &str) -> Option<Priority> {
    CLIENT_TYPES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
}
