//! Timing and the access log: one `tracing` event per request inside the request's
//! span, plus the core's counters. Costs one branch when the access target is disabled.

use super::Layer;
use crate::http::context::RequestCtx;
use crate::http::response::Response;
use crate::runtime::core_state::CoreState;

pub(crate) struct AccessLog;

impl Layer for AccessLog {
    fn after(&self, core: &CoreState, cx: &RequestCtx, resp: &mut Response) {
        let micros = cx.started.elapsed().as_micros() as u64;
        core.counters.record(resp.status, resp.body.len() as u64);
        // Unlimited routes (probes, scrapes, dashboard) stay out of the SLO latency.
        let kind = if cx.class == crate::http::router::RouteClass::Unlimited {
            crate::monitor::recorder::SeriesKind::Internal
        } else {
            crate::monitor::recorder::SeriesKind::Route
        };
        core.metrics.borrow_mut().record(kind, cx.route, micros);
        tracing::info!(
            target: "auralis::access",
            request_id = %cx.request_id,
            core = cx.core.0,
            method = cx.method,
            route = cx.route,
            status = resp.status,
            bytes = resp.body.len(),
            us = micros,
            "request"
        );
    }
}
