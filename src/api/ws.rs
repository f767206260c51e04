//! WebSocket-related REST endpoints: the plain `GET /ws` (upgrade required), the
//! connection table, and publishing a notification to every listener.

use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::router::{Access, Handler, HandlerResult, LocalFuture, Param, Route, RouteClass};
use crate::http::validate::{BodyFields, QueryFields};
use crate::runtime::core_state::CoreState;
use crate::runtime::mailbox::CoreMessage;
use crate::ws::connection::ConnectionInfo;
use crate::ws::{hub, protocol};
use serde_json::json;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub(crate) fn routes() -> Vec<Route> {
    use Handler::Sync;
    use Method::*;
    vec![
        Route::new(
            Get,
            "/ws",
            RouteClass::Api,
            "WebSocket endpoint (docs/PROTOCOL.md); needs an Upgrade request",
            Sync(plain_ws),
        )
        .upgrade(),
        Route::new(
            Get,
            "/api/ws/connections",
            RouteClass::Api,
            "WebSocket connections of every core, with their details, paginated",
            Handler::Async(connections),
        )
        // Peers' addresses and activity: an operator's view.
        .access(Access::Admin)
        .query(&[
            (
                "limit",
                Param::Int(1, 500),
                "details per page, 1-500 (default 50)",
            ),
            ("offset", Param::Int(0, i64::MAX), "details to skip"),
        ])
        .data("WsConnections"),
        Route::new(
            Post,
            "/api/notifications",
            RouteClass::Api,
            "Publish a notification to the notifications topic on every core",
            Sync(notify),
        )
        .body("Notification")
        .data("NotificationQueued")
        .success(202),
    ]
}

fn plain_ws(_core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Err(ApiError::BadRequest(
        "this endpoint speaks WebSocket: send an Upgrade: websocket request".into(),
    ))
}

/// How long `/api/ws/connections` waits for the other cores' answers.
const GATHER_TIMEOUT: Duration = Duration::from_millis(1000);

/// Every core's connections, asked through the core inboxes (this core's too: its
/// inbox task answers while this handler waits). Sorted by core, then connection.
fn connections(core: Rc<CoreState>, _cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let mut q = QueryFields::from_request(&req);
        let limit = q.int("limit", 1, 500).unwrap_or(50) as usize;
        let offset = q.int("offset", 0, i64::MAX).unwrap_or(0) as usize;
        q.finish()?;
        let cores = core.shared.gauges.len();
        let (tx, rx) = async_channel::bounded(cores);
        let refused = match core.shared.mailboxes.get() {
            Some(m) => m.broadcast(CoreMessage::WsConnections(tx)),
            None => cores,
        };
        let mut by_core: Vec<(u16, Vec<ConnectionInfo>)> = Vec::with_capacity(cores);
        let deadline = Instant::now() + GATHER_TIMEOUT;
        while by_core.len() + refused < cores {
            let left = deadline.saturating_duration_since(Instant::now());
            match monoio::time::timeout(left, rx.recv()).await {
                Ok(Ok(answer)) => by_core.push(answer),
                _ => break,
            }
        }
        by_core.sort_by_key(|(c, _)| *c);
        let answered: Vec<u16> = by_core.iter().map(|(c, _)| *c).collect();
        let missing: Vec<usize> = (0..cores)
            .filter(|c| !answered.contains(&(*c as u16)))
            .collect();
        let per_core: Vec<_> = by_core
            .iter()
            .map(|(c, list)| json!({"core": c, "connections": list.len()}))
            .collect();
        let all: Vec<ConnectionInfo> = by_core.into_iter().flat_map(|(_, list)| list).collect();
        let total = all.len();
        let details: Vec<&ConnectionInfo> = all.iter().skip(offset).take(limit).collect();
        let meta = json!({"limit": limit, "offset": offset, "total": total,
                          "remaining": total.saturating_sub(offset + details.len()),
                          "has_more": offset + details.len() < total, "next_cursor": null});
        Ok(Reply::ok(json!({
            "per_core": per_core,
            "total": total,
            "cores_missing": missing,
            "details": details,
        }))?
        .meta(meta)
        .into())
    })
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
        protocol::encode_on("notification", &id, "notifications", &payload),
        protocol::Priority::Low,
    )
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Reply::with_status(
        202,
        json!({"id": id.as_str(), "topic": "notifications", "cores": core.shared.gauges.len()}),
    )?
    .into())
}
