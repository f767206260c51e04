//! System endpoints: health (for load balancers and operators) and version.

use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::runtime::core_state::CoreState;
use crate::runtime::readiness::NotReady;
use serde::Serialize;
use std::rc::Rc;

use crate::runtime::health::VERSION;

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::Get,
            "/api/health",
            RouteClass::Unlimited,
            "Full health report (status, readiness, alerts, cores); 503 only when not ready",
            Handler::Sync(health),
        )
        .data("Health"),
        Route::new(
            Method::Get,
            "/api/health/live",
            RouteClass::Unlimited,
            "Liveness: 200 while this core answers requests",
            Handler::Sync(live),
        )
        .data("Live"),
        Route::new(
            Method::Get,
            "/api/health/ready",
            RouteClass::Unlimited,
            "Readiness: 200 when this node should get traffic, else 503 with the reasons",
            Handler::Sync(ready),
        )
        .data("Ready"),
        Route::new(
            Method::Get,
            "/api/version",
            RouteClass::Api,
            "Server name and version",
            Handler::Sync(version),
        )
        .data("Version"),
    ]
}

/// The full report; 200 whatever the alerts say unless this node is not ready (a
/// degraded or unhealthy node still serves, and taking it out would move its load).
fn health(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let (report, not_ready) = crate::runtime::health::report(core);
    if !not_ready.is_empty() {
        return Err(not_ready_error(&not_ready, report));
    }
    Ok(Reply::ok(report)?.into())
}

fn not_ready_error(reasons: &[NotReady], report: serde_json::Value) -> ApiError {
    let reasons = reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::NotReady { reasons, report }
}

#[derive(Serialize)]
struct Live {
    status: &'static str,
    core: u16,
    uptime_s: f64,
}

/// Answering at all is the liveness signal: a core that cannot run this cannot answer.
fn live(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(Live {
        status: "alive",
        core: core.id.0,
        uptime_s: core.shared.started.elapsed().as_secs_f64(),
    })?
    .into())
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
    core: u16,
    /// With a shared database (PostgreSQL): whether library writes would succeed now.
    /// Reads and streaming go on while it is down, so the node stays ready; a
    /// balancer that routes writes can send them nowhere else (every node shares the
    /// database) and may hold them back while it is `false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    writable: Option<bool>,
}

/// 200 when this node should get traffic; 503 `service_unavailable` with the reasons.
fn ready(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let not_ready = crate::runtime::readiness::check(core);
    if !not_ready.is_empty() {
        let details = serde_json::json!({ "not_ready": not_ready });
        return Err(not_ready_error(&not_ready, details));
    }
    let writable = core
        .shared
        .library
        .as_ref()
        .and_then(|l| l.writer.shared.as_ref())
        // Both links: the last write's and the listening one (a database that went
        // away shows on the listener first, before any write fails).
        .map(|d| d.healthy());
    Ok(Reply::ok(Ready {
        status: "ready",
        core: core.id.0,
        writable,
    })?
    .into())
}

#[derive(Serialize)]
struct Version {
    name: &'static str,
    version: &'static str,
}

fn version(_core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(Version {
        name: "auralis-server",
        version: VERSION,
    })?
    .into())
}
