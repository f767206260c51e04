//! System endpoints: health (for load balancers and operators) and version.

use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::runtime::core_state::{CoreState, DriverKind};
use serde::Serialize;
use std::rc::Rc;
use std::sync::atomic::Ordering;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::Get,
            "/api/health",
            RouteClass::Unlimited,
            "Server health: status, driver, pinning, connections per core",
            Handler::Sync(health),
        ),
        Route::new(
            Method::Get,
            "/api/version",
            RouteClass::Api,
            "Server name and version",
            Handler::Sync(version),
        ),
    ]
}

#[derive(Serialize)]
struct CoreHealth {
    core: usize,
    connections: u64,
    accepted: u64,
    ws_connections: u64,
    driver: Option<DriverKind>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    alerts: serde_json::Value,
    version: &'static str,
    uptime_s: f64,
    driver: DriverKind,
    pinning: crate::runtime::core_state::PinningMode,
    cores: Vec<CoreHealth>,
    connections: u64,
    served_by: u16,
}

/// 200 while healthy or degraded, 503 while unhealthy (load balancers read the status).
fn health(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let payload = health_payload(core);
    if payload["status"] == "unhealthy" {
        return Err(crate::http::error::ApiError::Unhealthy(payload));
    }
    Ok(Reply::ok(payload)?.into())
}

/// The health report (also the WebSocket `health_check` payload).
pub fn health_payload(core: &CoreState) -> serde_json::Value {
    let shared = &core.shared;
    let cores: Vec<CoreHealth> = shared
        .gauges
        .iter()
        .enumerate()
        .map(|(i, g)| CoreHealth {
            core: i,
            connections: g.connections.load(Ordering::Relaxed),
            accepted: g.accepted.load(Ordering::Relaxed),
            ws_connections: g.ws_connections.load(Ordering::Relaxed),
            driver: match g.driver.load(Ordering::Relaxed) {
                1 => Some(DriverKind::IoUring),
                2 => Some(DriverKind::Legacy),
                _ => None,
            },
        })
        .collect();
    let reports = shared.monitor.reports();
    let status = match reports.health {
        crate::monitor::alerts::Health::Healthy => "healthy",
        crate::monitor::alerts::Health::Degraded => "degraded",
        crate::monitor::alerts::Health::Unhealthy => "unhealthy",
    };
    serde_json::to_value(Health {
        status,
        alerts: reports.alerts.clone(),
        version: VERSION,
        uptime_s: shared.started.elapsed().as_secs_f64(),
        driver: core.driver,
        pinning: shared.pinning,
        connections: cores.iter().map(|c| c.connections).sum(),
        cores,
        served_by: core.id.0,
    })
    .unwrap_or_default()
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
