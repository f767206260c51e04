//! The handler registry: each client message type maps to one handler. Dispatch applies
//! the priority rate limit first; a handler's `WsError` becomes an `error` reply with
//! the request's correlation id, and the connection stays open.

use super::connection::{MAX_SUBSCRIPTIONS, WsConn, violation};
use super::hub::{self, TOPICS};
use super::protocol::{self, Incoming, Priority, WsError, close, codes};
use crate::runtime::core_state::CoreState;
use serde_json::{Value, json};
use std::rc::Rc;

type HandlerFn = fn(&Rc<CoreState>, &Rc<WsConn>, &Incoming) -> Result<(), WsError>;

/// Type → handler. Every type of `protocol::CLIENT_TYPES` has exactly one entry.
pub const REGISTRY: &[(&str, HandlerFn)] = &[
    ("ping", ping),
    ("disconnect", disconnect),
    ("subscribe", subscribe),
    ("unsubscribe", unsubscribe),
    ("play", player_cmd),
    ("pause", player_cmd),
    ("stop", player_cmd),
    ("seek", player_cmd),
    ("next", player_cmd),
    ("previous", player_cmd),
    ("queue_add", player_cmd),
    ("queue_remove", player_cmd),
    ("queue_clear", player_cmd),
    ("queue_reorder", player_cmd),
    ("session_create", session_create),
    ("status_update", status_request),
    ("library_search", library_search),
    ("library_sync", library_sync),
    ("cache_status", cache_status),
    ("cache_stats", cache_stats),
    ("health_check", health_check),
    ("stream_start", super::stream::start),
    ("stream_stop", super::stream::stop),
    ("stream_ack", super::stream::ack),
];

/// The welcome message.
pub fn welcome(core: &CoreState, conn: &WsConn) {
    let ws = &core.shared.config.ws;
    let base = f64::from(ws.rate_base_per_minute);
    let limits: serde_json::Map<String, Value> = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ]
    .iter()
    .map(|p| (p.as_str().to_string(), json!(base * p.multiplier())))
    .collect();
    let id = conn.fresh_id();
    conn.send_msg(
        "connect",
        &id,
        &json!({
            "connection_id": conn.connection_id(),
            "core": core.id.0,
            "heartbeat_interval_ms": ws.heartbeat_interval_ms,
            "heartbeat_timeout_ms": ws.heartbeat_timeout_ms,
            "rate_limits": {"window_ms": 60000, "per_priority": limits},
            "retry": {"timeout_seconds": 30.0, "max_retries": 3},
            "max_message_bytes": ws.max_message_bytes,
            "server_version": env!("CARGO_PKG_VERSION"),
            "protocol_version": 1,
        }),
    );
}

/// Handles one parsed message; `false` when the connection must end.
pub fn dispatch(core: &Rc<CoreState>, conn: &Rc<WsConn>, msg: Incoming) -> bool {
    let started = std::time::Instant::now();
    crate::runtime::counters::bump(&core.counters.ws_messages);
    let kind = protocol::CLIENT_TYPES
        .iter()
        .find(|(k, _)| *k == msg.kind)
        .map_or("unknown", |(k, _)| k);
    let keep = dispatch_inner(core, conn, msg);
    core.metrics.borrow_mut().record(
        crate::monitor::recorder::SeriesKind::Ws,
        kind,
        started.elapsed().as_micros() as u64,
    );
    keep
}

fn dispatch_inner(core: &Rc<CoreState>, conn: &Rc<WsConn>, msg: Incoming) -> bool {
    let Some(priority) = protocol::client_priority(&msg.kind) else {
        conn.send_error(
            &msg.correlation_id,
            &WsError::new(
                codes::UNKNOWN_TYPE,
                format!("unknown message type {:?}", msg.kind),
            ),
        );
        return violation(conn);
    };
    if let Err(wait) = conn.limiter.borrow_mut().admit(priority, core.now_ms()) {
        let mut e = WsError::new(
            codes::RATE_LIMIT_EXCEEDED,
            format!("rate limit for {} priority exceeded", priority.as_str()),
        );
        e.retry_after_ms = Some(wait);
        conn.send_error(&msg.correlation_id, &e);
        return true;
    }
    let Some((_, handler)) = REGISTRY.iter().find(|(k, _)| *k == msg.kind) else {
        conn.send_error(
            &msg.correlation_id,
            &WsError::new(codes::INTERNAL_ERROR, "no handler"),
        );
        return true;
    };
    match handler(core, conn, &msg) {
        Ok(()) => true,
        Err(e) => {
            conn.send_error(&msg.correlation_id, &e);
            if e.code == codes::INVALID_PAYLOAD {
                violation(conn)
            } else {
                true
            }
        }
    }
}

// --- payload helpers -------------------------------------------------------------

fn only(p: &Value, allowed: &[&str]) -> Result<(), WsError> {
    if let Some(obj) = p.as_object()
        && let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str()))
    {
        return Err(WsError::payload(format!("unknown payload field {k:?}")));
    }
    Ok(())
}

fn opt_u64(p: &Value, k: &str) -> Result<Option<u64>, WsError> {
    match p.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| WsError::payload(format!("{k} must be a non-negative integer"))),
    }
}

fn req_u64(p: &Value, k: &str) -> Result<u64, WsError> {
    opt_u64(p, k)?.ok_or_else(|| WsError::payload(format!("{k} is required")))
}

fn str_list(p: &Value, k: &str, max: usize) -> Result<Vec<String>, WsError> {
    let arr = p
        .get(k)
        .and_then(Value::as_array)
        .ok_or_else(|| WsError::payload(format!("{k} must be an array")))?;
    if arr.is_empty() || arr.len() > max {
        return Err(WsError::payload(format!("{k} must hold 1 to {max} items")));
    }
    arr.iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| WsError::payload(format!("{k} must hold strings")))
        })
        .collect()
}

// --- connection ------------------------------------------------------------------

fn ping(_core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    conn.send_msg("pong", &m.correlation_id, &m.payload);
    Ok(())
}

fn disconnect(_core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    conn.send_msg(
        "disconnect",
        &m.correlation_id,
        &json!({"reason": "client requested"}),
    );
    conn.close(close::NORMAL, "client requested");
    Ok(())
}

fn valid_topic(core: &CoreState, t: &str) -> Result<(), WsError> {
    if TOPICS.contains(&t) {
        return Ok(());
    }
    if let Some(id) = t.strip_prefix("session:") {
        return if core.shared.ws_sessions.pin().contains_key(id) {
            Ok(())
        } else {
            Err(WsError::new(codes::NOT_FOUND, format!("no session {id:?}")))
        };
    }
    Err(WsError::payload(format!(
        "unknown topic {t:?}; topics: {}, session:<id>",
        TOPICS.join(", ")
    )))
}

fn subscribe(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &["topics"])?;
    let topics = str_list(&m.payload, "topics", MAX_SUBSCRIPTIONS)?;
    for t in &topics {
        valid_topic(core, t)?;
    }
    if conn.subscriptions.borrow().len() + topics.len() > MAX_SUBSCRIPTIONS {
        return Err(WsError::payload(format!(
            "at most {MAX_SUBSCRIPTIONS} subscriptions per connection"
        )));
    }
    for t in &topics {
        core.ws.subscribe(conn, t);
    }
    conn.send_msg("subscribed", &m.correlation_id, &json!({"topics": topics}));
    Ok(())
}

fn unsubscribe(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &["topics"])?;
    let topics = str_list(&m.payload, "topics", MAX_SUBSCRIPTIONS)?;
    for t in &topics {
        core.ws.unsubscribe(conn, t);
    }
    conn.send_msg(
        "unsubscribed",
        &m.correlation_id,
        &json!({"topics": topics}),
    );
    Ok(())
}

// --- player ----------------------------------------------------------------------

fn status_payload(core: &CoreState, conn: &WsConn) -> Value {
    let p = conn.player.borrow();
    let track = p.current().and_then(|id| {
        crate::api::common::reader(core)
            .ok()
            .and_then(|r| r.track(id).ok())
    });
    json!({
        "seq": p.seq,
        "session_id": p.session_id,
        "state": p.state,
        "queue": p.queue,
        "index": p.index,
        "position_ms": p.position_ms,
        "track": track,
    })
}

/// Sends the player's state to the connection and, for a shared session, to every
/// listener on every core.
fn emit_status(core: &CoreState, conn: &WsConn, correlation_id: &str) {
    let payload = status_payload(core, conn);
    conn.send_msg("status_update", correlation_id, &payload);
    let session = conn.player.borrow().session_id.clone();
    if let Some(id) = session {
        let text = protocol::encode("status_update", correlation_id, &payload);
        hub::publish(core, &format!("session:{id}"), text, Priority::High);
    }
}

fn player_cmd(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let p = &m.payload;
    let bad = WsError::payload;
    let result = match m.kind.as_str() {
        "play" => {
            only(p, &["index"])?;
            let index = opt_u64(p, "index")?.map(|i| i as usize);
            conn.player.borrow_mut().play(index)
        }
        "pause" => {
            only(p, &[])?;
            conn.player.borrow_mut().pause()
        }
        "stop" => {
            only(p, &[])?;
            conn.player.borrow_mut().stop();
            Ok(())
        }
        "seek" => {
            only(p, &["position_ms"])?;
            let pos = req_u64(p, "position_ms")?;
            let current = conn.player.borrow().current();
            let duration = match current {
                Some(id) => crate::api::common::reader(core)
                    .and_then(|r| r.track(id))
                    .map(|t| t.duration_ms.max(0) as u64)
                    .map_err(|e| WsError::new(codes::NOT_FOUND, e.to_string()))?,
                None => 0,
            };
            conn.player.borrow_mut().seek(pos, duration)
        }
        "next" | "previous" => {
            only(p, &[])?;
            conn.player.borrow_mut().step(m.kind == "next")
        }
        "queue_add" => {
            only(p, &["track_ids", "position"])?;
            let ids: Vec<i64> = p
                .get("track_ids")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty() && a.len() <= 500)
                .ok_or_else(|| bad("track_ids must be an array of 1 to 500 ids"))?
                .iter()
                .map(|v| {
                    v.as_i64()
                        .filter(|i| *i > 0)
                        .ok_or_else(|| bad("track_ids must hold positive integers"))
                })
                .collect::<Result<_, _>>()?;
            let reader = crate::api::common::reader(core)
                .map_err(|e| WsError::new(codes::INTERNAL_ERROR, e.to_string()))?;
            if let Some(missing) = ids.iter().find(|id| reader.track(**id).is_err()) {
                return Err(WsError::new(
                    codes::NOT_FOUND,
                    format!("track {missing} not found"),
                ));
            }
            let position = opt_u64(p, "position")?.map(|x| x as usize);
            conn.player.borrow_mut().add(&ids, position)
        }
        "queue_remove" => {
            only(p, &["index"])?;
            let index = req_u64(p, "index")? as usize;
            conn.player.borrow_mut().remove(index)
        }
        "queue_clear" => {
            only(p, &[])?;
            conn.player.borrow_mut().clear();
            Ok(())
        }
        "queue_reorder" => {
            only(p, &["from", "to"])?;
            let (from, to) = (req_u64(p, "from")? as usize, req_u64(p, "to")? as usize);
            conn.player.borrow_mut().reorder(from, to)
        }
        other => Err(format!("{other} is not a player command")),
    };
    result.map_err(WsError::payload)?;
    emit_status(core, conn, &m.correlation_id);
    Ok(())
}

fn session_create(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &[])?;
    let existing = conn.player.borrow().session_id.clone();
    let id = match existing {
        Some(id) => id,
        None => {
            let id = format!(
                "{:08x}{}",
                core.shared.id_prefix,
                core.next_request_id().replace('-', "")
            );
            core.shared.ws_sessions.pin().insert(id.clone(), core.id.0);
            conn.player.borrow_mut().session_id = Some(id.clone());
            id
        }
    };
    conn.send_msg(
        "session_created",
        &m.correlation_id,
        &json!({"session_id": id, "topic": format!("session:{id}")}),
    );
    Ok(())
}

fn status_request(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &[])?;
    conn.send_msg(
        "status_update",
        &m.correlation_id,
        &status_payload(core, conn),
    );
    Ok(())
}

// --- library, cache, health --------------------------------------------------------

fn api_error(e: crate::http::error::ApiError) -> WsError {
    let code = match e.status() {
        404 => codes::NOT_FOUND,
        400 | 416 | 422 => codes::INVALID_PAYLOAD,
        429 => codes::RATE_LIMIT_EXCEEDED,
        _ => codes::INTERNAL_ERROR,
    };
    let message = match &e {
        crate::http::error::ApiError::Validation(errs) => errs
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.public_message(),
    };
    WsError::new(code, message)
}

fn library_search(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let p = &m.payload;
    only(p, &["query", "limit", "cursor"])?;
    let query = p
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| WsError::payload("query must be a string"))?;
    let limit = opt_u64(p, "limit")?;
    let cursor = match p.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c.as_str()),
        Some(_) => return Err(WsError::payload("cursor must be a string")),
    };
    let result = crate::api::library::search(core, query, limit, cursor).map_err(api_error)?;
    conn.send_msg("library_search", &m.correlation_id, &result);
    Ok(())
}

fn library_sync(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &[])?;
    let lib = crate::api::common::reader(core)
        .map_err(api_error)?
        .library
        .clone();
    let root = lib
        .root
        .clone()
        .ok_or_else(|| WsError::new(codes::NOT_FOUND, "no library folder is configured"))?;
    let started = lib.start_scan(root);
    let (core, conn, cid) = (core.clone(), conn.clone(), m.correlation_id.clone());
    monoio::spawn(async move {
        let mut last = String::new();
        loop {
            let p = lib.scan.lock().map(|p| p.clone()).unwrap_or_default();
            let v = json!({"started": started, "progress": p});
            let text = v.to_string();
            if text != last {
                conn.send_msg("library_sync", &cid, &v);
                last = text;
            }
            if p.state != crate::library::scan::ScanState::Running || conn.is_killed() {
                hub::publish(
                    &core,
                    "library",
                    protocol::encode("library_sync", &cid, &v),
                    Priority::Normal,
                );
                return;
            }
            monoio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    Ok(())
}

fn cache_status(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &[])?;
    conn.send_msg(
        "cache_status",
        &m.correlation_id,
        &crate::api::cache::health_payload(core),
    );
    Ok(())
}

fn cache_stats(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &[])?;
    conn.send_msg(
        "cache_stats",
        &m.correlation_id,
        &crate::api::cache::stats_payload(core),
    );
    Ok(())
}

fn health_check(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    only(&m.payload, &[])?;
    conn.send_msg(
        "health_check",
        &m.correlation_id,
        &crate::api::system::health_payload(core),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_client_type_has_exactly_one_handler() {
        for (kind, _) in super::protocol::CLIENT_TYPES {
            assert_eq!(
                super::REGISTRY.iter().filter(|(k, _)| k == kind).count(),
                1,
                "{kind}"
            );
        }
        assert_eq!(super::REGISTRY.len(), super::protocol::CLIENT_TYPES.len());
    }
}
