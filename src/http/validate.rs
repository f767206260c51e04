//! Typed extraction of JSON bodies and query strings with per-field errors.
//!
//! Bodies are parsed with simd-json; a syntax error is a 400 naming the byte position.
//! Field checks collect every problem before failing, so a client sees all of its
//! mistakes in one 422 (`details.errors[{field, type, message}]`), and unknown fields
//! are errors too (a typo must not be silently ignored).

use super::error::{ApiError, FieldError};
use super::request::Request;
use simd_json::OwnedValue as Value;
use simd_json::prelude::*;
use std::collections::HashMap;

/// Parses a request body as a JSON value.
pub(crate) fn parse_json(req: &Request) -> Result<Value, ApiError> {
    if req.body.is_empty() {
        return Err(ApiError::BadRequest(
            "request body is empty; a JSON object is required".into(),
        ));
    }
    let mut bytes = req.body.to_vec();
    simd_json::to_owned_value(&mut bytes).map_err(|_| ApiError::BadRequest(json_problem(&req.body)))
}

/// Plain words for a body that is not JSON (simd-json's own errors are terse enum
/// names such as `Syntax` or `ExpectedNull`): serde_json re-reads the failed body
/// for a line and column, which only this error path pays for.
fn json_problem(body: &[u8]) -> String {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let rest = &body[start..];
    let json_like = matches!(rest.first(), Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9'))
        || [&b"true"[..], b"false", b"null"]
            .iter()
            .any(|w| rest.starts_with(w));
    if !json_like {
        return "the body is not JSON: expected a JSON object".into();
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(e) => format!("the body is not valid JSON: {e}"),
        Ok(_) => "the body is not valid JSON".into(),
    }
}

/// A JSON object being read field by field.
pub(crate) struct BodyFields {
    obj: HashMap<String, Value>,
    errors: Vec<FieldError>,
    /// Prepended to field names in errors (`items[3].data.`), for nested objects.
    prefix: String,
}

impl BodyFields {
    /// Parses the body; it must be a JSON object.
    pub(crate) fn from_request(req: &Request) -> Result<Self, ApiError> {
        match parse_json(req)? {
            Value::Object(map) => Ok(Self {
                obj: map.into_iter().collect(),
                errors: Vec::new(),
                prefix: String::new(),
            }),
            _ => Err(ApiError::field(
                "body",
                "type_error",
                "body must be a JSON object",
            )),
        }
    }

    /// Reads a nested JSON object; errors name fields as `prefix` + name.
    pub(crate) fn from_value(value: Value, prefix: &str) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self {
                obj: map.into_iter().collect(),
                errors: Vec::new(),
                prefix: prefix.to_string(),
            }),
            _ => Err(FieldError::new(
                prefix.trim_end_matches('.'),
                "type_error",
                "must be an object",
            )),
        }
    }

    /// Like [`finish`](Self::finish) but returns the errors instead of an `ApiError`.
    pub(crate) fn into_errors(mut self) -> Vec<FieldError> {
        let mut unknown: Vec<_> = self.obj.keys().cloned().collect();
        unknown.sort();
        for k in unknown {
            let f = format!("{}{k}", self.prefix);
            self.errors
                .push(FieldError::new(f, "unknown_field", "unknown field"));
        }
        self.errors
    }

    fn take(&mut self, name: &str, required: bool) -> Option<Value> {
        match self.obj.remove(name) {
            Some(Value::Static(simd_json::StaticNode::Null)) if !required => None,
            Some(v) => Some(v),
            None => {
                if required {
                    self.errors.push(FieldError::new(
                        format!("{}{name}", self.prefix),
                        "missing",
                        "field is required",
                    ));
                }
                None
            }
        }
    }

    /// A string of 1..=max_len characters (after trimming).
    pub(crate) fn string(&mut self, name: &str, required: bool, max_len: usize) -> Option<String> {
        let v = self.take(name, required)?;
        match v.as_str() {
            Some(s) if s.trim().is_empty() && required => {
                self.errors.push(FieldError::new(
                    format!("{}{name}", self.prefix),
                    "value_error",
                    "must not be empty",
                ));
                None
            }
            Some(s) if s.chars().count() > max_len => {
                self.errors.push(FieldError::new(
                    format!("{}{name}", self.prefix),
                    "value_error",
                    format!("at most {max_len} characters"),
                ));
                None
            }
            Some(s) => Some(s.trim().to_string()),
            None => {
                self.errors.push(FieldError::new(
                    format!("{}{name}", self.prefix),
                    "type_error",
                    "must be a string",
                ));
                None
            }
        }
    }

    /// An integer within `min..=max`.
    pub(crate) fn int(&mut self, name: &str, required: bool, min: i64, max: i64) -> Option<i64> {
        let v = self.take(name, required)?;
        match integer(&v) {
            Some(n) if n < i128::from(min) || n > i128::from(max) => {
                self.errors.push(FieldError::new(
                    format!("{}{name}", self.prefix),
                    "value_error",
                    format!("must be between {min} and {max}"),
                ));
                None
            }
            // In range, so it fits.
            Some(n) => Some(n as i64),
            None => {
                self.errors.push(FieldError::new(
                    format!("{}{name}", self.prefix),
                    "type_error",
                    "must be an integer",
                ));
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, name: &str, required: bool) -> Option<bool> {
        let v = self.take(name, required)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                self.errors.push(FieldError::new(
                    format!("{}{name}", self.prefix),
                    "type_error",
                    "must be a boolean",
                ));
                None
            }
        }
    }

    /// An array of 1..=max_items integers ≥ 1 (ids).
    pub(crate) fn id_list(
        &mut self,
        name: &str,
        required: bool,
        max_items: usize,
    ) -> Option<Vec<i64>> {
        let v = self.take(name, required)?;
        let Some(items) = v.as_array() else {
            self.errors.push(FieldError::new(
                name,
                "type_error",
                "must be an array of ids",
            ));
            return None;
        };
        if items.is_empty() || items.len() > max_items {
            self.errors.push(FieldError::new(
                name,
                "value_error",
                format!("must hold 1 to {max_items} ids"),
            ));
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match integer(item) {
                Some(n) if n >= 1 && n <= i128::from(i64::MAX) => out.push(n as i64),
                _ => {
                    self.errors.push(FieldError::new(
                        format!("{name}[{i}]"),
                        "type_error",
                        "must be a positive integer id",
                    ));
                    return None;
                }
            }
        }
        Some(out)
    }

    /// Whether a field is present (any value, null included), without taking it.
    pub(crate) fn raw_peek(&self, name: &str) -> Option<bool> {
        Some(self.obj.contains_key(name))
    }

    /// Takes a field as a raw value (for nested objects handled by the caller).
    pub(crate) fn raw(&mut self, name: &str, required: bool) -> Option<Value> {
        self.take(name, required)
    }

    /// Adds a caller-found error.
    pub(crate) fn error(
        &mut self,
        field: impl Into<String>,
        kind: &'static str,
        message: impl Into<String>,
    ) {
        let field = format!("{}{}", self.prefix, field.into());
        self.errors.push(FieldError::new(field, kind, message));
    }

    /// Fails with every collected error, plus one per unknown field.
    pub(crate) fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<_> = self.obj.keys().cloned().collect();
        unknown.sort();
        for k in unknown {
            self.errors
                .push(FieldError::new(k, "unknown_field", "unknown field"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// An integer as JSON Schema counts one: `3` or `3.0` (JSON does not tell them apart,
/// and some serializers write every number as a float). Wider than `i64` so that a
/// range check, not a type check, refuses `2^64` or `1e30`.
pub(crate) fn integer(v: &Value) -> Option<i128> {
    if let Some(n) = v.as_i64() {
        return Some(i128::from(n));
    }
    if let Some(n) = v.as_u64() {
        return Some(i128::from(n));
    }
    // `as` saturates at i128's bounds, far outside any range a field allows.
    v.as_f64()
        .filter(|f| f.is_finite() && f.fract() == 0.0)
        .map(|f| f as i128)
}

/// Query parameters being read one by one, with the same error collection.
pub(crate) struct QueryFields {
    pairs: HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl QueryFields {
    pub(crate) fn from_request(req: &Request) -> Self {
        let mut errors = Vec::new();
        let mut pairs = HashMap::new();
        for (k, v) in req.query_pairs() {
            if pairs.insert(k.clone(), v).is_some() {
                errors.push(FieldError::new(k, "value_error", "given more than once"));
            }
        }
        Self { pairs, errors }
    }

    pub(crate) fn string(&mut self, name: &str, max_len: usize) -> Option<String> {
        let v = self.pairs.remove(name)?;
        if v.chars().count() > max_len {
            self.errors.push(FieldError::new(
                name,
                "value_error",
                format!("at most {max_len} characters"),
            ));
            return None;
        }
        Some(v)
    }

    pub(crate) fn int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        self.ranged(name, min, max, "must be an integer")
    }

    pub(crate) fn float(&mut self, name: &str, min: f64, max: f64) -> Option<f64> {
        self.ranged(name, min, max, "must be a number")
    }

    /// A number in `min..=max`; `not_a_number` is the type error's message.
    fn ranged<T>(&mut self, name: &str, min: T, max: T, not_a_number: &str) -> Option<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let v = self.pairs.remove(name)?;
        match v.parse::<T>() {
            Ok(n) if n >= min && n <= max => Some(n),
            Ok(_) => {
                self.errors.push(FieldError::new(
                    name,
                    "value_error",
                    format!("must be between {min} and {max}"),
                ));
                None
            }
            Err(_) => {
                self.errors
                    .push(FieldError::new(name, "type_error", not_a_number));
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        let v = self.pairs.remove(name)?;
        match v.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                self.errors
                    .push(FieldError::new(name, "type_error", "must be true or false"));
                None
            }
        }
    }

    /// One of a fixed set of values.
    /// Whether the query names `name` (still unread).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.pairs.contains_key(name)
    }

    pub(crate) fn choice(&mut self, name: &str, allowed: &[&'static str]) -> Option<&'static str> {
        let v = self.pairs.remove(name)?;
        match allowed.iter().find(|a| **a == v) {
            Some(a) => Some(a),
            None => {
                self.errors.push(FieldError::new(
                    name,
                    "value_error",
                    format!("must be one of {}", allowed.join(", ")),
                ));
                None
            }
        }
    }

    pub(crate) fn error(
        &mut self,
        field: impl Into<String>,
        kind: &'static str,
        message: impl Into<String>,
    ) {
        self.errors.push(FieldError::new(field, kind, message));
    }

    pub(crate) fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<_> = self.pairs.keys().cloned().collect();
        unknown.sort();
        for k in unknown {
            self.errors.push(FieldError::new(
                k,
                "unknown_field",
                "unknown query parameter",
            ));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::Method;

    fn req(body: &str, query: Option<&str>) -> Request {
        let target = query.map_or("/x".to_string(), |q| format!("/x?{q}"));
        Request::build(Method::Post, &target, &[], body.as_bytes())
    }

    #[test]
    fn invalid_json_is_told_in_plain_words() {
        let err = BodyFields::from_request(&req("{\"a\": tru}", None))
            .err()
            .unwrap();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("line 1 column"), "{err}");
        let form = BodyFields::from_request(&req("name=x&y=2", None))
            .err()
            .unwrap();
        assert_eq!(
            form.to_string(),
            "the body is not JSON: expected a JSON object"
        );
    }

    #[test]
    fn collects_every_field_error() {
        let mut b =
            BodyFields::from_request(&req(r#"{"name": 5, "n": 900, "extra": 1}"#, None)).unwrap();
        assert_eq!(b.string("name", true, 10), None);
        assert_eq!(b.int("n", true, 0, 10), None);
        assert_eq!(b.string("missing", true, 10), None);
        let ApiError::Validation(errs) = b.finish().unwrap_err() else {
            panic!()
        };
        let fields: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.kind)).collect();
        assert_eq!(
            fields,
            vec![
                ("name", "type_error"),
                ("n", "value_error"),
                ("missing", "missing"),
                ("extra", "unknown_field")
            ]
        );
    }

    #[test]
    fn query_fields() {
        let mut q = QueryFields::from_request(&req("", Some("limit=900&offset=2&x=y")));
        assert_eq!(q.int("offset", 0, i64::MAX), Some(2));
        assert_eq!(q.int("limit", 1, 500), None);
        assert_eq!(q.finish().unwrap_err().status(), 422);
    }
}
