//! Middleware as composable layers. The pipeline runs every layer's `before` outermost
//! first until one answers or fails, then the handler, then every layer's `after`
//! innermost first, on every response (short-circuited and error ones too), so headers
//! such as `X-Request-ID` and `X-RateLimit-*` are never missing.

pub(crate) mod access_log;
pub(crate) mod auth;
pub(crate) mod cors;
pub(crate) mod rate_limit;
pub(crate) mod request_id;
pub(crate) mod security;

use super::context::RequestCtx;
use super::error::ApiError;
use super::request::Request;
use super::response::Response;
use crate::runtime::core_state::CoreState;

/// What a layer decides before the handler runs.
pub(crate) enum Flow {
    Continue,
    /// Answer now with this response (e.g. a CORS preflight).
    Respond(Response),
}

/// One middleware layer. Runs on one core; must not block.
pub(crate) trait Layer {
    /// Inspect or annotate the request. `Err` becomes the error envelope.
    fn before(
        &self,
        _core: &CoreState,
        _cx: &mut RequestCtx,
        _req: &Request,
    ) -> Result<Flow, ApiError> {
        Ok(Flow::Continue)
    }
    /// Decorate the response.
    fn after(&self, _core: &CoreState, _cx: &RequestCtx, _resp: &mut Response) {}
}

/// The default stack, outermost first (docs/ARCHITECTURE.md §4). Error standardization is the
/// pipeline itself: it sits between the access log and CORS, turning every `ApiError`
/// and handler panic into the envelope before the outer layers see the response.
pub(crate) fn default_stack(config: &crate::config::Config) -> Vec<Box<dyn Layer>> {
    vec![
        Box::new(request_id::RequestId),
        Box::new(access_log::AccessLog),
        // Before CORS and auth: a preflight, a 401 or a 403 (each may cost a database
        // lookup) counts against the client's budget like any request.
        Box::new(rate_limit::RateLimit::new(&config.rate_limit)),
        Box::new(cors::Cors),
        Box::new(auth::Auth {
            site: crate::http::site::SiteNames::new(config),
        }),
        Box::new(security::SecurityHeaders),
    ]
}
