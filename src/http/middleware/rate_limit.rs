//! Per-client-IP rate limiting on this core's buckets, with `X-RateLimit-*` headers on
//! every limited response and `Retry-After` on 429.

use super::{Flow, Layer};
use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::router::RouteClass;
use crate::runtime::core_state::CoreState;

pub struct RateLimit;

impl Layer for RateLimit {
    fn before(
        &self,
        core: &CoreState,
        cx: &mut RequestCtx,
        _req: &Request,
    ) -> Result<Flow, ApiError> {
        let cfg = &core.shared.config.rate_limit;
        let limit = match cx.class {
            _ if !cfg.enabled => return Ok(Flow::Continue),
            RouteClass::Unlimited => return Ok(Flow::Continue),
            RouteClass::Api => cfg.requests_per_minute,
            RouteClass::Stream => cfg.stream_requests_per_minute,
        };
        let now_ms = core.now_ms();
        let decision = core
            .limiter
            .borrow_mut()
            .check(cx.peer.ip(), cx.class, limit, now_ms);
        cx.rate = Some(decision);
        if decision.allowed {
            Ok(Flow::Continue)
        } else {
            core.counters
                .rate_limited
                .set(core.counters.rate_limited.get() + 1);
            Err(ApiError::RateLimited {
                retry_after_s: decision.reset_s,
            })
        }
    }

    fn after(&self, _core: &CoreState, cx: &RequestCtx, resp: &mut Response) {
        if let Some(d) = cx.rate {
            resp.push_header("X-RateLimit-Limit", u64::from(d.limit));
            resp.push_header("X-RateLimit-Remaining", u64::from(d.remaining));
            resp.push_header("X-RateLimit-Reset", d.reset_s);
        }
    }
}
