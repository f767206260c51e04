//! System endpoints: health (for load balancers and operators) and version.

use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::runtime::core_state::CoreState;
use serde::Serialize;
use std::rc::Rc;

use crate::runtime::health::VERSION;

pub(crate) fn routes() -> Vec<Route> {
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

/// 200 while healthy or degraded, 503 while unhealthy (load balancers read the status).
fn health(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let payload = crate::runtime::health::report(core);
    if payload["status"] == "unhealthy" {
        return Err(crate::http::error::ApiError::Unhealthy(payload));
    }
    Ok(Reply::ok(payload)?.into())
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
