//! CORS: preflight answers (204) and `Access-Control-Allow-Origin` on allowed origins.
//! A disallowed origin simply gets no CORS headers (the browser then refuses), except a
//! preflight, which gets 403 — with no allow headers — so the refusal is visible to
//! whoever debugs it.
//!
//! `*` in `allowed_origins` covers anonymous reads only: a change (any method but GET
//! and HEAD) or a request with credentials (`Authorization`, cookies) is allowed only
//! for origins listed by name, and then the origin is echoed, never `*`.

use super::{Flow, Layer};
use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::runtime::core_state::CoreState;

pub(crate) struct Cors;

/// What the request (or, for a preflight, the request it announces) would do.
struct Intent {
    changes: bool,
    credentials: bool,
}

impl Intent {
    fn of(req: &Request, preflight: bool) -> Self {
        let safe = |m: &str| m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("HEAD");
        if preflight {
            let method = req.header("access-control-request-method").unwrap_or("");
            let headers = req.header("access-control-request-headers").unwrap_or("");
            Intent {
                changes: !safe(method.trim()),
                credentials: headers
                    .split(',')
                    .any(|h| h.trim().eq_ignore_ascii_case("authorization")),
            }
        } else {
            Intent {
                changes: !matches!(req.method, Method::Get | Method::Head),
                credentials: req.header("authorization").is_some()
                    || req.header("cookie").is_some(),
            }
        }
    }
}

/// Whether `origin` may read what anonymous clients may (`*` or listed by name).
pub(crate) fn allows_reads(config: &crate::config::Config, origin: &str) -> bool {
    config
        .cors
        .allowed_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

fn allowed_origin(core: &CoreState, origin: &str, intent: &Intent) -> Option<String> {
    let cfg = &core.shared.config.cors;
    if cfg
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
    {
        Some(origin.to_string())
    } else if cfg.allowed_origins.iter().any(|o| o == "*") && !intent.changes && !intent.credentials
    {
        Some("*".to_string())
    } else {
        None
    }
}

impl Layer for Cors {
    fn before(
        &self,
        core: &CoreState,
        cx: &mut RequestCtx,
        req: &Request,
    ) -> Result<Flow, ApiError> {
        let Some(origin) = req.header("origin") else {
            return Ok(Flow::Continue);
        };
        let preflight =
            req.method == Method::Options && req.header("access-control-request-method").is_some();
        cx.cors_origin = allowed_origin(core, origin, &Intent::of(req, preflight));
        if !preflight {
            return Ok(Flow::Continue);
        }
        if cx.cors_origin.is_none() {
            return Err(ApiError::Forbidden(format!(
                "origin {origin} is not allowed"
            )));
        }
        let cfg = &core.shared.config.cors;
        let resp = Response::new(204)
            .header(
                "Access-Control-Allow-Methods",
                cfg.allowed_methods.join(", "),
            )
            .header(
                "Access-Control-Allow-Headers",
                cfg.allowed_headers.join(", "),
            )
            .header("Access-Control-Max-Age", cfg.max_age_s);
        Ok(Flow::Respond(resp))
    }

    fn after(&self, _core: &CoreState, cx: &RequestCtx, resp: &mut Response) {
        if let Some(origin) = &cx.cors_origin {
            resp.push_header("Access-Control-Allow-Origin", origin.clone());
            resp.push_header("Vary", "Origin");
            resp.push_header(
                "Access-Control-Expose-Headers",
                "X-Request-ID, X-Served-By, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Cache-Tier, X-Sample-Rate, X-Channels, X-Chunk-Index",
            );
        }
    }
}
