//! Timing and the access log: one `tracing` event per request inside the request's
//! span, plus the core's counters. Costs one branch when the access target is disabled.

use super::Layer;
use crate::http::context::RequestCtx;
use crate::http::response::Response;
use crate::http::router::RouteClass;
use crate::monitor::recorder::SeriesKind;
use crate::runtime::core_state::CoreState;

pub(crate) struct AccessLog;

impl Layer for AccessLog {
    fn after(&self, core: &CoreState, cx: &RequestCtx, resp: &mut Response) {
        let micros = cx.started.elapsed().as_micros() as u64;
        // A HEAD answer sends no body: log and count what went out, a streamed file's
        // range included (the biggest bandwidth there is must not read as 0).
        let file_bytes = resp.file.as_ref().map_or(0, |f| f.len as usize);
        let body_bytes = if resp.omit_body {
            0
        } else {
            resp.body.len() + file_bytes
        };
        // Observation (probes, scrapes, dashboard: the unlimited routes) is not traffic:
        // counted apart, so a probe's own 503s cannot feed the error-rate alert and its
        // latency stays out of the SLOs.
        let kind = match cx.class {
            RouteClass::Unlimited => SeriesKind::Internal,
            RouteClass::Stream => SeriesKind::Stream,
            RouteClass::Api => SeriesKind::Route,
        };
        if kind == SeriesKind::Internal {
            core.counters.record_observation(body_bytes as u64);
        } else {
            core.counters.record(resp.status, body_bytes as u64);
        }
        let mut metrics = core.metrics.borrow_mut();
        metrics.record(kind, cx.route, micros);
        metrics.record_status(kind, cx.route, resp.status);
        drop(metrics);
        tracing::info!(
            target: "auralis::access",
            request_id = %cx.request_id,
            core = cx.core.0,
            method = cx.method,
            route = cx.route,
            status = resp.status,
            bytes = body_bytes,
            us = micros,
            "request"
        );
    }
}
