//! Dispatch: each client message type maps to one handler (an exhaustive `match`, so a
//! new type cannot lack one). The priority rate limit applies first; a handler's
//! `WsError` becomes an `error` reply with the request's correlation id, and the
//! connection stays open. Handlers are split by category, one file each.

mod library;
mod player;
mod status;
mod topics;

use super::connection::{WsConn, violation};
use super::protocol::{ClientType, Incoming, Priority, WsError, codes};
use crate::runtime::core_state::CoreState;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::rc::Rc;

type HandlerFn = fn(&Rc<CoreState>, &Rc<WsConn>, &Incoming) -> Result<(), WsError>;

/// The handler of a message type.
fn handler(t: ClientType) -> HandlerFn {
    use ClientType::*;
    match t {
        Ping => topics::ping,
        Disconnect => topics::disconnect,
        Subscribe => topics::subscribe,
        Unsubscribe => topics::unsubscribe,
        Play | Pause | Stop | Seek | Next | Previous | QueueAdd | QueueRemove | QueueClear
        | QueueReorder => player::command,
        SessionCreate => player::session_create,
        SessionJoin => player::session_join,
        StatusUpdate => player::status_request,
        LibrarySearch => library::search,
        LibrarySync => library::sync,
        CacheStatus => status::cache_status,
        CacheStats => status::cache_stats,
        HealthCheck => status::health_check,
        StreamStart => super::stream::start,
        StreamStop => super::stream::stop,
        StreamAck => super::stream::ack,
    }
}

/// The parts of the welcome message that are the same for every connection on a
/// core: built once (a `Value` tree per connection was a quarter of a broadcasting
/// core's user time while 5 000 listeners connected).
pub(crate) struct WelcomeParts {
    rate_limits: Box<RawValue>,
    categories: Box<RawValue>,
}

impl WelcomeParts {
    fn new(ws: &crate::config::WsConfig) -> Self {
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
        let raw = |v: &Value| serde_json::value::to_raw_value(v).expect("a Value serializes");
        Self {
            rate_limits: raw(&json!({"window_ms": 60000, "per_priority": limits,
                "budgets": "each priority its own"})),
            categories: raw(&Value::Object(categories())),
        }
    }
}

/// The `connect` payload (docs/PROTOCOL.md), fields in the order the `Value` it
/// replaced serialized them (sorted).
#[derive(Serialize)]
struct Connect<'a> {
    categories: &'a RawValue,
    connection_id: String,
    core: u16,
    heartbeat_interval_ms: u64,
    heartbeat_timeout_ms: u64,
    max_message_bytes: usize,
    protocol_version: u8,
    rate_limits: &'a RawValue,
    retry: Retry,
    server_version: &'static str,
}

#[derive(Serialize)]
struct Retry {
    max_retries: u32,
    timeout_seconds: f64,
}

/// The welcome message.
pub(crate) fn welcome(core: &CoreState, conn: &WsConn) {
    let ws = &core.shared.config.ws;
    let parts = core.ws.welcome.get_or_init(|| WelcomeParts::new(ws));
    let id = conn.fresh_id();
    let payload = Connect {
        categories: &parts.categories,
        connection_id: conn.connection_id(),
        core: core.id.0,
        heartbeat_interval_ms: ws.heartbeat_interval_ms,
        heartbeat_timeout_ms: ws.heartbeat_timeout_ms,
        max_message_bytes: ws.max_message_bytes,
        protocol_version: 1,
        rate_limits: &parts.rate_limits,
        retry: Retry {
            max_retries: ws.retry_max,
            timeout_seconds: ws.retry_timeout_s,
        },
        server_version: env!("CARGO_PKG_VERSION"),
    };
    conn.send_msg("connect", &id, &payload);
}

/// Every category with its message types (the `connect` message lists them).
fn categories() -> serde_json::Map<String, Value> {
    super::protocol::Category::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), json!(c.types())))
        .collect()
}

/// Handles one parsed message; `false` when the connection must end.
pub(crate) fn dispatch(core: &Rc<CoreState>, conn: &Rc<WsConn>, msg: Incoming) -> bool {
    let started = std::time::Instant::now();
    crate::runtime::counters::bump(&core.counters.ws_messages);
    let kind = ClientType::parse(&msg.kind);
    let mut span = super::trace::message_span(conn, &msg);
    let _current = crate::trace::ambient::enter(span.as_ref().map(crate::trace::Span::context));
    let (keep, outcome) = match kind {
        Some(t) => dispatch_known(core, conn, t, &msg),
        None => {
            conn.send_error(
                &msg.correlation_id,
                &WsError::new(
                    codes::UNKNOWN_TYPE,
                    format!("unknown message type {:?}", msg.kind),
                ),
            );
            (violation(conn), codes::UNKNOWN_TYPE)
        }
    };
    let type_name = kind.map_or("unknown", ClientType::as_str);
    if let Some(span) = span.take() {
        super::trace::end_message_span(span, core, conn, kind, type_name, outcome);
    }
    core.metrics.borrow_mut().record(
        crate::monitor::recorder::SeriesKind::Ws,
        type_name,
        started.elapsed().as_micros() as u64,
    );
    keep
}

/// Handles a message of a known type: `(keep the connection, outcome)`, the outcome
/// being `ok` or the error code answered.
fn dispatch_known(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    t: ClientType,
    msg: &Incoming,
) -> (bool, &'static str) {
    let priority = t.priority();
    if let Err(wait) = conn.limiter.borrow_mut().admit(priority, core.now_ms()) {
        let mut e = WsError::new(
            codes::RATE_LIMIT_EXCEEDED,
            format!("rate limit for {} priority exceeded", priority.as_str()),
        );
        e.retry_after_ms = Some(wait);
        conn.send_error(&msg.correlation_id, &e);
        return (true, codes::RATE_LIMIT_EXCEEDED);
    }
    match handler(t)(core, conn, msg) {
        Ok(()) => (true, "ok"),
        Err(e) => {
            conn.send_error(&msg.correlation_id, &e);
            (e.code != codes::INVALID_PAYLOAD || violation(conn), e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientType;

    #[test]
    fn every_client_type_round_trips_through_its_wire_name() {
        for (t, name, priority, category) in ClientType::ALL {
            assert_eq!(ClientType::parse(name), Some(t), "{name}");
            assert_eq!((t.as_str(), t.priority()), (name, priority));
            assert!(category.types().contains(&name));
        }
        assert_eq!(ClientType::parse("fly"), None);
    }
}
