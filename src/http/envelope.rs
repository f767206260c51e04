//! The JSON envelopes of ARCHITECTURE.md §2: the only place that turns handler results
//! and `ApiError`s into response bodies.

use super::error::ApiError;
use super::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;

pub(crate) use crate::timestamp::timestamp_now;

#[derive(Serialize)]
struct Success<'a, T: Serialize, M: Serialize> {
    status: &'static str,
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<&'a M>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    timestamp: String,
    request_id: &'a str,
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
}

/// What a JSON handler returns: data plus optional pagination meta and message.
/// The request id is filled in by the pipeline, which owns it.
pub struct Reply {
    pub status: u16,
    /// Already-serialized data: serialized once, straight from the handler's type.
    pub data: Box<RawValue>,
    pub meta: Option<Box<RawValue>>,
    pub message: Option<String>,
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
        })
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
    pub fn into_response(self, request_id: &str) -> Response {
        success(
            self.status,
            &self.data,
            self.meta.as_ref(),
            self.message.as_deref(),
            request_id,
        )
    }
}

/// A success envelope around any serializable data.
pub(crate) fn success<T: Serialize, M: Serialize>(
    status: u16,
    data: &T,
    meta: Option<&M>,
    message: Option<&str>,
    request_id: &str,
) -> Response {
    let env = Success {
        status: "success",
        data,
        meta,
        message,
        timestamp: timestamp_now(),
        request_id,
    };
    match serde_json::to_vec(&env) {
        Ok(body) => Response::json(status, body),
        Err(e) => error(
            &ApiError::Internal(format!("serialize envelope: {e}")),
            request_id,
        ),
    }
}

/// An error envelope; logs internal causes so they are never lost nor leaked.
pub(crate) fn error(err: &ApiError, request_id: &str) -> Response {
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
    };
    // Serializing this fixed shape cannot fail; fall back to a literal just in case.
    let body = serde_json::to_vec(&env).unwrap_or_else(|_| {
        br#"{"status":"error","error":"internal_error","message":"internal error"}"#.to_vec()
    });
    let mut resp = Response::json(err.status(), body);
    match err {
        ApiError::MethodNotAllowed { allow, .. } => resp.push_header("Allow", allow.clone()),
        ApiError::RateLimited { retry_after_s } => resp.push_header("Retry-After", *retry_after_s),
        _ => {}
    }
    resp
}
