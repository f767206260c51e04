//! WebSocket-related REST endpoints: the plain `GET /ws` (upgrade required), the
//! connection table, and publishing a notification to every listener.

use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::http::validate::{BodyFields, QueryFields};
use crate::runtime::core_state::CoreState;
use crate::ws::{hub, protocol};
use serde_json::json;
use std::rc::Rc;
use std::sync::atomic::Ordering;

pub(crate) fn routes() -> Vec<Route> {
    use Handler::Sync;
    use Method::*;
    vec![
        Route::new(
            Get,
            "/ws",
            RouteClass::Api,
            "WebSocket endpoint (PROTOCOL.md); needs an Upgrade request",
            Sync(plain_ws),
        ),
        Route::new(
            Get,
            "/api/ws/connections",
            RouteClass::Api,
            "WebSocket connections per core, and this core's connection details",
            Sync(connections),
        )
        .query(&[
            ("limit", "integer", "details per page, 1-500 (default 50)"),
            ("offset", "integer", "details to skip"),
        ]),
        Route::new(
            Post,
            "/api/notifications",
            RouteClass::Api,
            "Publish a notification to the notifications topic on every core",
            Sync(notify),
        )
        .body("Notification"),
    ]
}

fn plain_ws(_core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Err(ApiError::BadRequest(
        "this endpoint speaks WebSocket: send an Upgrade: websocket request".into(),
    ))
}

fn connections(core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    let mut q = QueryFields::from_request(req);
    let limit = q.int("limit", 1, 500).unwrap_or(50) as usize;
    let offset = q.int("offset", 0, i64::MAX).unwrap_or(0) as usize;
    q.finish()?;
    let per_core: Vec<_> = core
        .shared
        .gauges
        .iter()
        .enumerate()
        .map(|(i, g)| json!({"core": i, "connections": g.ws_connections.load(Ordering::Relaxed)}))
        .collect();
    let all = core.ws.all();
    let now = core.now_ms();
    let details: Vec<_> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| c.info(now))
        .collect();
    let total = all.len();
    let meta = json!({"limit": limit, "offset": offset, "total": total,
                      "remaining": total.saturating_sub(offset + details.len()),
                      "has_more": offset + details.len() < total, "next_cursor": null});
    Ok(Reply::ok(json!({
        "per_core": per_core,
        "total": core.shared.gauges.iter().map(|g| g.ws_connections.load(Ordering::Relaxed)).sum::<u64>(),
        "details_core": core.id.0,
        "details": details,
    }))?
    .meta(meta)
    .into())
}

fn notify(core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    let mut b = BodyFields::from_request(req)?;
    let title = b.string("title", true, 200);
    let message = b.string("message", false, 2000);
    let level = b.string("level", false, 20);
    if let Some(l) = &level
        && !["info", "warning", "critical"].contains(&l.as_str())
    {
        b.error("level", "value_error", "must be info, warning or critical");
    }
    b.finish()?;
    let id = core.next_request_id();
    let payload = json!({"title": title, "message": message, "level": level.unwrap_or_else(|| "info".into()),
                         "published_at_us": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)});
    hub::publish(
        core,
        "notifications",
        protocol::encode("notification", &id, &payload),
        protocol::Priority::Low,
    )
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Reply::with_status(
        202,
        json!({"id": id, "topic": "notifications", "cores": core.shared.gauges.len()}),
    )?
    .into())
}
