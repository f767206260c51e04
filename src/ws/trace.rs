//! One span per WebSocket message handled: it continues the message's own
//! `traceparent` when it carries one, else the upgrade's, else starts a trace at the
//! configured ratio (PROTOCOL.md, "Tracing").

use super::connection::WsConn;
use super::protocol::{ClientType, Incoming};
use crate::runtime::core_state::CoreState;
use crate::trace::{self, Kind, Span};

/// The message's span, or `None` when nothing is recorded.
pub(crate) fn message_span(conn: &WsConn, msg: &Incoming) -> Option<Span> {
    trace::tracer()?;
    trace::start("WS message", Kind::Server, msg.traceparent.or(conn.trace))
}

/// Names the span after the message type and ends it with the outcome (`ok` or the
/// error code answered).
pub(crate) fn end_message_span(
    mut span: Span,
    core: &CoreState,
    conn: &WsConn,
    kind: Option<ClientType>,
    type_name: &'static str,
    outcome: &'static str,
) {
    span.rename(format!("WS {type_name}"));
    span.set("auralis.ws.type", type_name);
    if let Some(t) = kind {
        span.set("auralis.ws.priority", t.priority().as_str());
    }
    span.set("auralis.ws.outcome", outcome);
    span.set("auralis.ws.connection_id", conn.connection_id());
    span.set("client.address", conn.peer.ip().to_string());
    span.set("auralis.core", core.id.0);
    if outcome == super::protocol::codes::INTERNAL_ERROR {
        span.fail(outcome);
    }
    span.end();
}
