//! `X-Request-ID`: echo a sane client-sent id, else mint one; every response carries it.

use super::Layer;
use crate::http::context::RequestCtx;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::runtime::core_state::CoreState;
use crate::runtime::request_id::RequestId as Id;

pub(crate) struct RequestId;

/// Whether a client-sent id is safe to echo into headers and logs.
pub(crate) fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= Id::MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The id of a request: the client's `X-Request-ID` when acceptable, else a fresh one.
pub(crate) fn for_request(core: &CoreState, req: &Request) -> Id {
    req.header("x-request-id")
        .filter(|id| acceptable(id))
        .and_then(Id::new)
        .unwrap_or_else(|| core.next_request_id())
}

impl Layer for RequestId {
    fn after(&self, _core: &CoreState, cx: &RequestCtx, resp: &mut Response) {
        resp.push_header_str("X-Request-ID", &cx.request_id);
    }
}
