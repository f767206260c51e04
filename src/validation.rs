//! A field-level validation failure: the one shape both transports report (HTTP
//! `details.errors`, WebSocket `error` messages). Below the domain and the adapters, so
//! a library or cache check can name the field it refuses without knowing HTTP.

use serde::Serialize;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind,
            message: message.into(),
        }
    }
}

/// `field: message; …`, for transports that report one line.
pub(crate) fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}
