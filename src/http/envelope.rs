//! The JSON envelopes (docs/ARCHITECTURE.md §4): the only place that turns handler results
//! and `ApiError`s into response bodies.

use super::error::ApiError;
use super::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;
use std::time::Instant;

pub(crate) use crate::timestamp::timestamp_now;

#[derive(Serialize)]
struct Success<'a, T: Serialize, M: Serialize> {
    status: &'static str,
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<&'a M>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    timestamp: crate::timestamp::Stamp,
    request_id: &'a str,
    processing_time_ms: f64,
}

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
pub struct Reply {
    pub status: u16,
    /// Already-serialized data: serialized once, straight from the handler's type.
    pub data: Box<RawValue>,
    pub meta: Option<Box<RawValue>>,
    pub message: Option<String>,
    /// `Location` of a created resource (201).
    pub location: Option<String>,
}

impl Reply {
    pub fn ok<T: Serialize>(data: T) -> Result<Self, ApiError> {
        Self::with_status(200, data)
    }

    pub fn with_status<T: Serialize>(status: u16, data: T) -> Result<Self, ApiError> {
        let data = serde_json::value::to_raw_value(&data)
            .map_err(|e| ApiError::Internal(format!("serialize response: {e}")))?;
        Ok(Self {
            status,
            data,
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

    /// Encodes into a success envelope.
    pub fn into_response(self, request_id: &str, started: Instant) -> Response {
        let env = Success {
            status: "success",
            data: &self.data,
            meta: self.meta.as_ref(),
            message: self.message.as_deref(),
            timestamp: crate::timestamp::Stamp::now(),
            request_id,
            processing_time_ms: elapsed_ms(started),
        };
        // Sized for the whole envelope up front: growing from serde_json's default
        // capacity cost a reallocation or two per response.
        let mut body = Vec::with_capacity(self.data.get().len() + 192);
        match serde_json::to_writer(&mut body, &env) {
            Ok(()) => {
                let mut resp = Response::json(self.status, body);
                if let Some(location) = self.location {
                    resp.push_header("Location", location);
                }
                resp
            }
            Err(e) => error(
                &ApiError::Internal(format!("serialize envelope: {e}")),
                request_id,
                started,
            ),
        }
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
