//! The JSON envelopes (docs/ARCHITECTURE.md §4): the only place that turns handler results
//! and `ApiError`s into response bodies.

use super::error::ApiError;
use super::recycle::Recycled;
use super::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;
use std::time::Instant;

pub(crate) use crate::timestamp::timestamp_now;

#[derive(Serialize)]
struct Failure<'a> {
    status: &'static str,
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
    timestamp: String,
    request_id: &'a str,
    processing_time_ms: f64,
}

/// Milliseconds since `started`, to the microsecond.
fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// What a JSON handler returns: data plus optional pagination meta and message.
/// The request id is filled in by the pipeline, which owns it.
///
/// The data is serialized once, straight from the handler's type into the envelope's
/// own buffer (`{"status":"success","data":…`); the pipeline appends the fields after
/// it. One buffer for the whole body, recycled per core (no allocation once warm),
/// where a `RawValue` for the data and a second buffer for the envelope cost three.
pub struct Reply {
    pub status: u16,
    body: Recycled<Vec<u8>>,
    meta: Option<Box<RawValue>>,
    message: Option<String>,
    /// `Location` of a created resource (201).
    location: Option<String>,
}

/// The envelope's opening, before the data.
const OPENING: &[u8] = br#"{"status":"success","data":"#;

/// Room for the envelope's fields after the data (timestamp, request id up to 128
/// bytes, processing time) and a small datum, so a typical reply never grows.
const INITIAL_BODY: usize = 384;

impl Reply {
    pub fn ok<T: Serialize>(data: T) -> Result<Self, ApiError> {
        Self::with_status(200, data)
    }

    pub fn with_status<T: Serialize>(status: u16, data: T) -> Result<Self, ApiError> {
        let mut body = Recycled::<Vec<u8>>::take();
        body.reserve(INITIAL_BODY);
        body.extend_from_slice(OPENING);
        serde_json::to_writer(&mut *body, &data)
            .map_err(|e| ApiError::Internal(format!("serialize response: {e}")))?;
        Ok(Self {
            status,
            body,
            meta: None,
            message: None,
            location: None,
        })
    }

    /// Names the created resource (`Location`).
    pub(crate) fn location(mut self, path: String) -> Self {
        self.location = Some(path);
        self
    }

    pub fn meta<M: Serialize>(mut self, meta: M) -> Self {
        self.meta = serde_json::value::to_raw_value(&meta).ok();
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Completes the success envelope: `meta`, `message`, `timestamp`, `request_id`,
    /// `processing_time_ms`, in that order (the order `Failure` and the schema use).
    pub fn into_response(mut self, request_id: &str, started: Instant) -> Response {
        let body: &mut Vec<u8> = &mut self.body;
        if let Some(meta) = &self.meta {
            body.extend_from_slice(br#","meta":"#);
            body.extend_from_slice(meta.get().as_bytes());
        }
        // Strings and numbers into a Vec cannot fail to serialize.
        if let Some(message) = &self.message {
            body.extend_from_slice(br#","message":"#);
            let _ = serde_json::to_writer(&mut *body, message);
        }
        body.extend_from_slice(br#","timestamp":""#);
        body.extend_from_slice(crate::timestamp::Stamp::now().as_str().as_bytes());
        body.extend_from_slice(br#"","request_id":"#);
        let _ = serde_json::to_writer(&mut *body, request_id);
        body.extend_from_slice(br#","processing_time_ms":"#);
        let _ = serde_json::to_writer(&mut *body, &elapsed_ms(started));
        body.push(b'}');
        let mut resp = Response::json(self.status, self.body);
        if let Some(location) = self.location {
            resp.push_header("Location", location);
        }
        resp
    }
}

/// An error envelope; logs internal causes so they are never lost nor leaked.
pub(crate) fn error(err: &ApiError, request_id: &str, started: Instant) -> Response {
    if let ApiError::Internal(cause) = err {
        tracing::error!(request_id, cause = %cause, "internal error");
    }
    let env = Failure {
        status: "error",
        error: err.kind(),
        message: err.public_message(),
        details: err.details(),
        timestamp: timestamp_now(),
        request_id,
        processing_time_ms: elapsed_ms(started),
    };
    // Serializing this fixed shape cannot fail; fall back to a literal just in case.
    let body = serde_json::to_vec(&env).unwrap_or_else(|_| {
        br#"{"status":"error","error":"internal_error","message":"internal error"}"#.to_vec()
    });
    let mut resp = Response::json(err.status(), body);
    match err {
        ApiError::MethodNotAllowed { allow, .. } => resp.push_header("Allow", allow.clone()),
        ApiError::RateLimited { retry_after_s } => resp.push_header("Retry-After", *retry_after_s),
        // A full queue or inbox, or the connection cap: worth another try in a second.
        ApiError::Unavailable(_) => resp.push_header("Retry-After", 1),
        ApiError::Unauthorized { invalid_token, .. } => resp.push_header(
            "WWW-Authenticate",
            if *invalid_token {
                r#"Bearer realm="auralis-server", error="invalid_token""#
            } else {
                r#"Bearer realm="auralis-server""#
            },
        ),
        _ => {}
    }
    resp
}
