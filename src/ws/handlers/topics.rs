//! Connection-level messages: ping, disconnect, topic subscriptions.

use super::super::connection::{MAX_SUBSCRIPTIONS, WsConn};
use super::super::hub::TOPICS;
use super::super::payload::{self, Empty};
use super::super::protocol::{Incoming, WsError, close, codes};
use crate::library::tokens::Role;
use crate::runtime::core_state::CoreState;
use serde::Deserialize;
use serde_json::json;
use std::rc::Rc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Topics {
    topics: Vec<String>,
}

impl Topics {
    fn parse(m: &Incoming) -> Result<Vec<String>, WsError> {
        let t: Topics = payload::parse(&m.payload)?;
        if t.topics.is_empty() || t.topics.len() > MAX_SUBSCRIPTIONS {
            return Err(WsError::field(
                "topics",
                "value_error",
                format!("must hold 1 to {MAX_SUBSCRIPTIONS} items"),
            ));
        }
        Ok(t.topics)
    }
}

pub(super) fn ping(_core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    conn.send_msg("pong", &m.correlation_id, &m.payload);
    Ok(())
}

pub(super) fn disconnect(
    _core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    payload::parse::<Empty>(&m.payload)?;
    conn.send_msg(
        "disconnect",
        &m.correlation_id,
        &json!({"reason": "client requested"}),
    );
    conn.close(close::NORMAL, "client requested");
    Ok(())
}

/// Whether this connection may hear `t`. Every session's queue goes to `player`, so it
/// is an admin's (or, before the first token, the local user's) view; a session's own
/// topic is for its members: the connection that created or joined it, its creator's
/// token, or an admin.
fn valid_topic(core: &CoreState, conn: &WsConn, t: &str) -> Result<(), WsError> {
    let admin = || conn.permit(core, Role::Admin).is_ok();
    if t == "player" && !admin() {
        return Err(WsError::new(
            codes::FORBIDDEN,
            "`player` carries every session's state: it needs an admin token",
        ));
    }
    if TOPICS.contains(&t) {
        return Ok(());
    }
    if let Some(id) = t.strip_prefix("session:") {
        let state = crate::ws::sessions::latest(&core.shared, id);
        let member = conn.player.borrow().session_id.as_deref() == Some(id);
        let owner = state
            .as_ref()
            .is_some_and(|s| s.owner.is_some() && s.owner == conn.principal.as_ref().map(|p| p.id));
        return if state.is_some() && (member || owner || admin()) {
            Ok(())
        } else {
            // Unknown and not yours look alike: the answer tells a guesser nothing.
            Err(WsError::new(
                codes::NOT_FOUND,
                format!("no session {id:?} that this connection may hear"),
            ))
        };
    }
    Err(WsError::field(
        "topics",
        "value_error",
        format!(
            "unknown topic {t:?}; topics: {}, session:<id>",
            TOPICS.join(", ")
        ),
    ))
}

/// The topic of owned library changes this socket may hear with `library`: an
/// admin's (or the local user's before the first token) every listener's, a
/// listener's its own, an anonymous socket none.
fn owned_library_topic(core: &CoreState, conn: &WsConn) -> Option<String> {
    let topic = match &conn.principal {
        Some(p) if p.role == Role::Listener => crate::ws::hub::library_topic_of(Some(p.id)),
        _ if conn.permit(core, Role::Admin).is_ok() => crate::ws::hub::library_topic_of(None),
        _ => return None,
    };
    Some(topic.to_string())
}

pub(super) fn subscribe(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    let topics = Topics::parse(m)?;
    for t in &topics {
        valid_topic(core, conn, t)?;
    }
    if conn.subscriptions.borrow().len() + topics.len() > MAX_SUBSCRIPTIONS {
        return Err(WsError::field(
            "topics",
            "value_error",
            format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
        ));
    }
    for t in &topics {
        core.ws.subscribe(conn, t);
        if t == "library"
            && let Some(own) = owned_library_topic(core, conn)
        {
            core.ws.subscribe(conn, &own);
        }
    }
    conn.send_msg("subscribed", &m.correlation_id, &json!({"topics": topics}));
    Ok(())
}

pub(super) fn unsubscribe(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    let topics = Topics::parse(m)?;
    for t in &topics {
        core.ws.unsubscribe(conn, t);
        if t == "library"
            && let Some(own) = owned_library_topic(core, conn)
        {
            core.ws.unsubscribe(conn, &own);
        }
    }
    conn.send_msg(
        "unsubscribed",
        &m.correlation_id,
        &json!({"topics": topics}),
    );
    Ok(())
}
