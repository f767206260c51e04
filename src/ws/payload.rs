//! Typed message payloads: each handler's payload is a `#[serde(deny_unknown_fields)]`
//! struct, and a payload that does not fit is reported by field, in the shape HTTP
//! validation uses (`field`, `type`, `message`).

use super::protocol::WsError;
use crate::validation::FieldError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A payload with no fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

/// Parses a payload into `T`; a mismatch names the field (`invalid_payload`).
pub(crate) fn parse<T: DeserializeOwned>(payload: &serde_json::Value) -> Result<T, WsError> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        WsError::fields(vec![field_error(&path, &inner)])
    })
}

/// Names the field of a serde error: its path, or the field a message quotes
/// (serde reports unknown and missing fields at the enclosing object).
fn field_error(path: &str, message: &str) -> FieldError {
    let quoted = message.split('`').nth(1).filter(|_| path == ".");
    let (kind, field) = if message.starts_with("unknown field") {
        ("extra_forbidden", quoted.unwrap_or(path))
    } else if message.starts_with("missing field") {
        ("missing", quoted.unwrap_or(path))
    } else {
        ("type_error", path)
    };
    let message = message.split(", expected one of").next().unwrap_or(message);
    FieldError::new(field, kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Seek {
        #[allow(dead_code)]
        position_ms: u64,
    }

    fn only_error(v: serde_json::Value) -> FieldError {
        let e = parse::<Seek>(&v).unwrap_err();
        assert_eq!(e.code, super::super::protocol::codes::INVALID_PAYLOAD);
        assert_eq!(e.errors.len(), 1);
        e.errors[0].clone()
    }

    #[test]
    fn mismatches_name_their_field_like_http_validation() {
        let e = only_error(json!({"position_ms": "soon"}));
        assert_eq!((e.field.as_str(), e.kind), ("position_ms", "type_error"));
        let e = only_error(json!({}));
        assert_eq!((e.field.as_str(), e.kind), ("position_ms", "missing"));
        let e = only_error(json!({"position_ms": 1, "extra": 2}));
        assert_eq!((e.field.as_str(), e.kind), ("extra", "extra_forbidden"));
        assert!(parse::<Seek>(&json!({"position_ms": 5})).is_ok());
    }
}
