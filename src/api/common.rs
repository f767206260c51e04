//! Helpers every resource handler uses: the core's library reader, path ids, mapping
//! writer failures, cursor scopes.

use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::library::store::LibraryReader;
use crate::library::writer::WriteError;
use crate::runtime::core_state::CoreState;

/// This core's library reader.
pub fn reader(core: &CoreState) -> Result<&LibraryReader, ApiError> {
    core.library
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("no library is configured".into()))
}

/// A positive integer path parameter.
pub fn path_id(cx: &RequestCtx, name: &str) -> Result<i64, ApiError> {
    cx.param(name)
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::field(name, "type_error", "must be a positive integer"))
}

pub fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::Busy => ApiError::Unavailable(e.to_string()),
        WriteError::Stopped => ApiError::Internal(e.to_string()),
    }
}

/// A cursor scope: list name, order and a fingerprint of the filters, so a cursor only
/// continues the walk it came from.
pub fn scope(list: &str, order: &str, filters: &str) -> String {
    let h = blake3::hash(filters.as_bytes());
    format!("{list}|{order}|{}", &h.to_hex()[..12])
}

/// `LIKE` pattern for a substring, with wildcards in the input escaped.
pub fn like_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
