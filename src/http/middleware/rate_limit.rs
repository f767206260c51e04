//! Per-client-IP rate limiting on this core's buckets, with `X-RateLimit-*` headers on
//! every limited response and `Retry-After` on 429.

use super::{Flow, Layer};
use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::limiter::ClientLimiter;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::router::RouteClass;
use crate::runtime::core_state::CoreState;
use std::cell::{Cell, RefCell};

/// The layer owns its core's buckets (one layer per core, built with the pipeline).
pub(crate) struct RateLimit {
    limiter: RefCell<ClientLimiter>,
    window_ms: u64,
    last_sweep_ms: Cell<u64>,
}

impl RateLimit {
    pub(crate) fn new(cfg: &crate::config::RateLimitConfig) -> Self {
        Self {
            limiter: RefCell::new(ClientLimiter::new(cfg.window_ms, cfg.max_clients_per_core)),
            window_ms: cfg.window_ms.max(1000),
            last_sweep_ms: Cell::new(0),
        }
    }

    /// Drops expired windows at most once per window, so idle clients cost nothing.
    fn sweep(&self, now_ms: u64) {
        if now_ms >= self.last_sweep_ms.get() + self.window_ms {
            self.last_sweep_ms.set(now_ms);
            self.limiter.borrow_mut().sweep(now_ms);
        }
    }
}

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
        // The request's arrival time, already read: one clock read fewer per request.
        let now_ms = core.ms_at(cx.started);
        self.sweep(now_ms);
        let client = crate::cidr::client_key(cx.peer.ip(), cfg.ipv6_prefix);
        let decision = self
            .limiter
            .borrow_mut()
            .check(client, cx.class, limit, now_ms);
        cx.rate = Some(decision);
        if decision.allowed {
            Ok(Flow::Continue)
        } else {
            let c = &core.counters;
            c.rate_limited.set(c.rate_limited.get() + 1);
            let mut clients = c.limited_clients.borrow_mut();
            if clients.len() < crate::runtime::counters::LIMITED_CLIENTS_CAP {
                clients.insert(client);
            }
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
