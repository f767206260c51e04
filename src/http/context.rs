//! Per-request context: what middleware learned about a request (id, client, route,
//! rate-limit decision, CORS origin) and what handlers may read.

use super::router::RouteClass;
use crate::runtime::core_state::CoreId;
use std::net::SocketAddr;
use std::time::Instant;

/// The rate-limit state of this request's client, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct RateDecision {
    pub limit: u32,
    pub remaining: u32,
    pub reset_s: u64,
    pub allowed: bool,
}

/// Context of one request on one core.
#[derive(Debug)]
pub struct RequestCtx {
    pub request_id: crate::runtime::request_id::RequestId,
    pub core: CoreId,
    pub peer: SocketAddr,
    pub started: Instant,
    pub method: &'static str,
    /// The route template matched (`/api/tracks/{id}`), or `"unmatched"`.
    pub route: &'static str,
    pub class: RouteClass,
    pub params: Vec<(&'static str, String)>,
    pub rate: Option<RateDecision>,
    /// The request's `Origin` when the CORS policy allows it.
    pub cors_origin: Option<String>,
    /// Who may call the matched route.
    pub access: crate::http::router::Access,
    /// The bearer token's principal, when one was presented (and valid).
    pub principal: Option<crate::library::tokens::Principal>,
    /// The request's span, when it is traced (the parent of what it causes).
    pub(crate) trace: Option<crate::trace::SpanContext>,
}

impl RequestCtx {
    /// A path parameter by name (the router guarantees declared ones exist).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}
