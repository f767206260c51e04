//! Offset and cursor paging as query parameters: `limit`, `offset`, `cursor` become the
//! library's [`PageRequest`]. The keyset and cursor logic itself is the library's
//! (`library::page`); HTTP only carries the token in the URL.

use super::validate::QueryFields;
use crate::library::page::{DEFAULT_LIMIT, MAX_LIMIT, PageMode, PageRequest};

/// Reads `limit`, `offset`, `cursor` from the query (errors are collected in `q`).
pub(crate) fn page_request(q: &mut QueryFields) -> PageRequest {
    let limit = q.int("limit", 1, MAX_LIMIT).unwrap_or(DEFAULT_LIMIT);
    let offset = q.int("offset", 0, i64::MAX);
    let cursor = q.string("cursor", 4096);
    let mode = match (offset, cursor) {
        (Some(_), Some(_)) => {
            q.error(
                "cursor",
                "value_error",
                "use either offset or cursor, not both",
            );
            PageMode::Offset(0)
        }
        (Some(o), None) => PageMode::Offset(o),
        (None, c) => PageMode::Cursor(c),
    };
    PageRequest { limit, mode }
}
