//! Monitor endpoints: JSON reports, Prometheus text, and the live dashboard page. They
//! serve what the monitor thread last rendered (an `Arc` clone): no work per request.

use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::runtime::core_state::CoreState;
use std::rc::Rc;

/// The dashboard: one self-contained page (no CDN), drawing on canvases, fed by the
/// WebSocket `metrics` topic after loading `/api/monitor/history`.
const DASHBOARD: &str = include_str!("../../assets/dashboard.html");

pub(crate) fn routes() -> Vec<Route> {
    use Handler::Sync;
    use Method::Get;
    let u = RouteClass::Unlimited;
    vec![
        Route::new(
            Get,
            "/api/metrics",
            u,
            "Latest second, totals since start, health, alerts, trends",
            Sync(metrics),
        )
        .data("Metrics"),
        Route::new(
            Get,
            "/api/metrics/endpoints",
            u,
            "Latency per route, chunk tier and WebSocket message type",
            Sync(endpoints),
        )
        .data("Endpoints"),
        Route::new(
            Get,
            "/api/monitor/history",
            u,
            "The window of per-second summaries",
            Sync(history),
        )
        .data("History"),
        Route::new(
            Get,
            "/api/monitor/trends",
            u,
            "Trend per metric over the window",
            Sync(trends),
        )
        .data("Trends"),
        Route::new(Get, "/api/monitor/alerts", u, "Active alerts", Sync(alerts)).data("Alerts"),
        Route::new(
            Get,
            "/metrics",
            u,
            "Prometheus text exposition",
            Sync(prometheus),
        )
        .raw(&["text/plain; version=0.0.4"]),
        Route::new(
            Get,
            "/dashboard",
            u,
            "Live dashboard (HTML)",
            Sync(dashboard),
        )
        .raw(&["text/html"]),
    ]
}

fn metrics(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(&core.shared.monitor.reports().metrics)?.into())
}

fn endpoints(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(&core.shared.monitor.reports().endpoints)?.into())
}

fn history(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(&core.shared.monitor.reports().history)?.into())
}

fn trends(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(&core.shared.monitor.reports().trends)?.into())
}

fn alerts(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let r = core.shared.monitor.reports();
    Ok(Reply::ok(serde_json::json!({"health": r.health, "alerts": r.alerts}))?.into())
}

fn prometheus(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let mut r =
        Response::new(200).header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    let mut text = core.shared.monitor.reports().prometheus.clone();
    // Readiness as of this scrape (the probe's own checks), so an alert sees a node
    // that a balancer has taken out.
    let ready = u8::from(crate::runtime::readiness::check(core).is_empty());
    text.push_str("# HELP auralis_ready 1 while the readiness probe answers 200.\n# TYPE auralis_ready gauge\nauralis_ready ");
    text.push_str(if ready == 1 { "1\n" } else { "0\n" });
    r.body = text.into_bytes().into();
    Ok(r.into())
}

fn dashboard(_core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    super::common::html_page(DASHBOARD)
}
