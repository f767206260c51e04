//! Helpers every resource handler uses: the core's library reader and path ids.

use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::router::HandlerResult;
use crate::library::LibraryError;
use crate::library::store::LibraryReader;
use crate::runtime::core_state::CoreState;

/// This core's library reader (503 when the server runs without a library).
pub(crate) fn reader(core: &CoreState) -> Result<&LibraryReader, ApiError> {
    Ok(core.library.as_ref().ok_or(LibraryError::Unconfigured)?)
}

/// A positive integer path parameter.
pub(crate) fn path_id(cx: &RequestCtx, name: &str) -> Result<i64, ApiError> {
    cx.param(name)
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::field(name, "type_error", "must be a positive integer"))
}

/// A self-contained HTML page (the dashboard, the player), never cached stale.
pub(crate) fn html_page(page: &'static str) -> HandlerResult {
    let mut r = crate::http::response::Response::new(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-cache");
    r.body = page.into();
    Ok(r.into())
}
