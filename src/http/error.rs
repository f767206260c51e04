//! `ApiError`: every way a request can fail, each with its envelope type and status.
//! Handlers and middleware return it; only the envelope layer turns it into bytes, and
//! internal causes are logged, never sent.

pub(crate) use crate::validation::FieldError;

/// The error types of the envelope (docs/ARCHITECTURE.md §4).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Syntactically malformed input (bad JSON, bad HTTP): 400.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input that fails typed validation: 422 with per-field errors.
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Forbidden(String),
    /// No valid bearer token where one is needed: 401 with `WWW-Authenticate: Bearer`.
    #[error("{message}")]
    Unauthorized {
        message: String,
        /// The token presented was unknown or revoked (RFC 6750 `invalid_token`).
        invalid_token: bool,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed here")]
    MethodNotAllowed { method: String, allow: String },
    #[error("{0}")]
    Conflict(String),
    /// Input valid on its own that the current state refuses: 409 with per-field
    /// errors (422 is for input no state would take).
    #[error("the request conflicts with the current state")]
    StateConflict(Vec<FieldError>),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// None of the media types `Accept` names can be produced: 406 with what can.
    #[error("none of the media types in Accept is available here")]
    NotAcceptable { available: Vec<&'static str> },
    #[error("request header section is larger than {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("request has more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    #[error("rate limit exceeded: retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// Something broke inside; the cause is logged, the client sees a generic message.
    #[error("internal error")]
    Internal(String),
    #[error("{0}")]
    Unavailable(String),
    /// This node should get no traffic now (readiness failed): 503 with the report.
    #[error("the server is not ready: {reasons}")]
    NotReady {
        reasons: String,
        report: serde_json::Value,
    },
    #[error("{0}")]
    Timeout(String),
    /// The `Host` does not name this server (DNS rebinding): 421.
    #[error("{0}")]
    Misdirected(String),
    /// A body whose `Content-Type` is not the JSON it must be: 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
}

impl ApiError {
    /// HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Validation(_) => 422,
            ApiError::Forbidden(_) => 403,
            ApiError::Unauthorized { .. } => 401,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict(_) | ApiError::StateConflict(_) => 409,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::RangeNotSatisfiable(_) => 416,
            ApiError::NotAcceptable { .. } => 406,
            ApiError::HeadersTooLarge { .. } | ApiError::TooManyHeaders { .. } => 431,
            ApiError::RateLimited { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) | ApiError::NotReady { .. } => 503,
            ApiError::Timeout(_) => 504,
            ApiError::Misdirected(_) => 421,
            ApiError::UnsupportedMediaType(_) => 415,
        }
    }

    /// The envelope's machine-readable `error` string.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) => "validation_error",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict(_) | ApiError::StateConflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RangeNotSatisfiable(_) => "range_not_satisfiable",
            ApiError::NotAcceptable { .. } => "not_acceptable",
            ApiError::HeadersTooLarge { .. } | ApiError::TooManyHeaders { .. } => {
                "request_header_fields_too_large"
            }
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::Internal(_) => "internal_error",
            ApiError::Unavailable(_) | ApiError::NotReady { .. } => "service_unavailable",
            ApiError::Timeout(_) => "timeout",
            ApiError::Misdirected(_) => "misdirected_request",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
        }
    }

    /// Text for the client: never the internal cause.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// `details` of the envelope, when there are any.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            ApiError::Validation(errors) | ApiError::StateConflict(errors) => {
                Some(serde_json::json!({ "errors": errors }))
            }
            ApiError::RateLimited { retry_after_s } => {
                Some(serde_json::json!({ "retry_after_s": retry_after_s }))
            }
            ApiError::MethodNotAllowed { allow, .. } => Some(serde_json::json!({ "allow": allow })),
            ApiError::NotReady { report, .. } => Some(report.clone()),
            ApiError::NotAcceptable { available } => {
                Some(serde_json::json!({ "available": available }))
            }
            _ => None,
        }
    }

    /// Shorthand for a single-field validation error.
    pub fn field(field: impl Into<String>, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, kind, message)])
    }
}
