//! Player commands, shared sessions and status updates.

use super::super::connection::WsConn;
use super::super::hub;
use super::super::payload::{self, Empty};
use super::super::player::PlayerError;
use super::super::protocol::{self, ClientType, Incoming, Priority, WsError, codes};
use super::super::sessions;
use crate::library::LibraryError;
use crate::library::tokens::Role;
use crate::runtime::core_state::CoreState;
use serde::Deserialize;
use serde_json::{Value, json};
use std::rc::Rc;

/// Most track ids one `queue_add` may carry.
const MAX_ADD: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Play {
    index: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seek {
    position_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueAdd {
    track_ids: Vec<i64>,
    position: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueRemove {
    index: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueReorder {
    from: usize,
    to: usize,
}

impl From<PlayerError> for WsError {
    fn from(e: PlayerError) -> Self {
        WsError::payload(e.to_string())
    }
}

fn status_payload(core: &CoreState, conn: &WsConn) -> Value {
    let now = unix_ms();
    let p = conn.player.borrow();
    let track = p
        .current()
        .and_then(|id| core.library.as_ref().and_then(|r| r.track(id).ok()));
    json!({
        "seq": p.seq,
        "session_id": p.session_id,
        "owner": p.owner,
        "state": p.state,
        "queue": p.queue,
        "index": p.index,
        "position_ms": p.position(now, track.as_ref().map(|t| t.duration_ms.max(0) as u64)),
        "position_updated_at_ms": now,
        "track": track,
    })
}

/// Sends the player's state to the connection and, for a shared session, records it
/// and publishes it to every listener of `session:<id>` and of the `player` topic on
/// every core (and node).
fn emit_status(core: &CoreState, conn: &WsConn, correlation_id: &str) {
    let payload = status_payload(core, conn);
    conn.send_msg("status_update", correlation_id, &payload);
    let session = conn.player.borrow().session_id.clone();
    if let Some(id) = session {
        sessions::record(&core.shared, &id, &conn.player.borrow());
        let session = format!("session:{id}");
        let text = protocol::encode_on("status_update", correlation_id, &session, &payload);
        let to_player = protocol::encode_on("status_update", correlation_id, "player", &payload);
        // One copy per connection: `player` subscribers that also follow this session
        // got it through `session:<id>` (hub::deliver reads the exception).
        let published = hub::publish(core, &session, text, Priority::High)
            .and_then(|()| hub::publish(core, &hub::except(&session), to_player, Priority::Normal));
        if let Err(e) = published {
            conn.send_error(correlation_id, &e.into());
        }
    }
}

/// A session's controller first takes the state another controller (on any core or
/// node) gave it since, so a command applies to the session's latest state.
fn follow_session(core: &CoreState, conn: &WsConn) {
    let newer = {
        let p = conn.player.borrow();
        let id = p.session_id.as_deref();
        id.and_then(|id| sessions::newer_than(&core.shared, id, p.seq))
    };
    if let Some(state) = newer {
        conn.player.borrow_mut().follow(state);
    }
}

/// The track ids of a `queue_add`, each checked against the library.
fn tracks_to_add(core: &CoreState, p: &QueueAdd) -> Result<(), WsError> {
    if p.track_ids.is_empty() || p.track_ids.len() > MAX_ADD {
        return Err(WsError::field(
            "track_ids",
            "value_error",
            format!("must hold 1 to {MAX_ADD} ids"),
        ));
    }
    if p.track_ids.iter().any(|id| *id < 1) {
        return Err(WsError::field(
            "track_ids",
            "value_error",
            "must hold positive integers",
        ));
    }
    let reader = core.library.as_ref().ok_or(LibraryError::Unconfigured)?;
    if let Some(missing) = p.track_ids.iter().find(|id| reader.track(**id).is_err()) {
        return Err(WsError::new(
            codes::NOT_FOUND,
            format!("track {missing} not found"),
        ));
    }
    Ok(())
}

/// The current track's duration (0 with none), for `seek`.
fn current_duration(core: &CoreState, conn: &WsConn) -> Result<u64, WsError> {
    let current = conn.player.borrow().current();
    let Some(id) = current else {
        return Ok(0);
    };
    let reader = core.library.as_ref().ok_or(LibraryError::Unconfigured)?;
    Ok(reader.track(id)?.duration_ms.max(0) as u64)
}

/// Applies one player command; its state goes to the client (and session) after.
pub(super) fn command(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    let kind = ClientType::parse(&m.kind);
    follow_session(core, conn);
    let now = unix_ms();
    conn.player.borrow_mut().anchor(now);
    apply(core, conn, kind, m)?;
    conn.player.borrow_mut().anchor(now);
    emit_status(core, conn, &m.correlation_id);
    Ok(())
}

/// The wall clock in ms: positions are compared across nodes.
fn unix_ms() -> u64 {
    crate::library::model::now_ms().max(0) as u64
}

fn apply(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    kind: Option<ClientType>,
    m: &Incoming,
) -> Result<(), WsError> {
    let p = &m.payload;
    match kind {
        Some(ClientType::Play) => {
            let index = payload::parse::<Play>(p)?.index;
            conn.player.borrow_mut().play(index)?;
        }
        Some(ClientType::Pause) => {
            payload::parse::<Empty>(p)?;
            conn.player.borrow_mut().pause()?;
        }
        Some(ClientType::Stop) => {
            payload::parse::<Empty>(p)?;
            conn.player.borrow_mut().stop();
        }
        Some(ClientType::Seek) => {
            let pos = payload::parse::<Seek>(p)?.position_ms;
            let duration = current_duration(core, conn)?;
            conn.player.borrow_mut().seek(pos, duration)?;
        }
        Some(t @ (ClientType::Next | ClientType::Previous)) => {
            payload::parse::<Empty>(p)?;
            conn.player.borrow_mut().step(t == ClientType::Next)?;
        }
        Some(ClientType::QueueAdd) => {
            let add: QueueAdd = payload::parse(p)?;
            tracks_to_add(core, &add)?;
            conn.player.borrow_mut().add(&add.track_ids, add.position)?;
        }
        Some(ClientType::QueueRemove) => {
            let index = payload::parse::<QueueRemove>(p)?.index;
            conn.player.borrow_mut().remove(index)?;
        }
        Some(ClientType::QueueClear) => {
            payload::parse::<Empty>(p)?;
            conn.player.borrow_mut().clear();
        }
        Some(ClientType::QueueReorder) => {
            let r: QueueReorder = payload::parse(p)?;
            conn.player.borrow_mut().reorder(r.from, r.to)?;
        }
        _ => {
            return Err(WsError::payload(format!(
                "{} is not a player command",
                m.kind
            )));
        }
    }
    Ok(())
}

pub(super) fn session_create(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    payload::parse::<Empty>(&m.payload)?;
    let existing = conn.player.borrow().session_id.clone();
    let id = match existing {
        Some(id) => id,
        None => {
            let id = sessions::fresh_id()
                .map_err(|e| WsError::new(codes::INTERNAL_ERROR, format!("no entropy: {e}")))?;
            {
                let mut p = conn.player.borrow_mut();
                p.session_id = Some(id.clone());
                p.owner = conn.principal.as_ref().map(|p| p.id);
            }
            sessions::record(&core.shared, &id, &conn.player.borrow());
            // Announced on its own topic (no listener yet), so other nodes and the
            // broker's store know the session from its start.
            let topic = format!("session:{id}");
            let text = protocol::encode_on(
                "status_update",
                &m.correlation_id,
                &topic,
                &status_payload(core, conn),
            );
            hub::publish(core, &topic, text, Priority::High)?;
            id
        }
    };
    let join_secret = sessions::join_secret(&core.shared.session_key, &id);
    conn.send_msg(
        "session_created",
        &m.correlation_id,
        &json!({"session_id": id, "topic": format!("session:{id}"), "join_secret": join_secret}),
    );
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionJoin {
    session_id: String,
    /// What `session_created` gave the creator to hand out.
    #[serde(default)]
    join_secret: Option<String>,
}

/// Takes control of a shared session made by any connection on any node (its latest
/// state, also after its creator is gone): this connection's player becomes the
/// session's and its commands change the session. Like the creator, it hears other
/// controllers' changes by subscribing to `session:<id>`.
pub(super) fn session_join(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    let SessionJoin {
        session_id: id,
        join_secret,
    } = payload::parse::<SessionJoin>(&m.payload)?;
    let state = sessions::latest(&core.shared, &id);
    // Unknown and refused look alike, so a guess learns nothing; both are counted and
    // each is a protocol violation (a client guessing is closed after a few).
    let allowed = state.as_ref().is_some_and(|s| {
        let owner = s.owner.is_some() && s.owner == conn.principal.as_ref().map(|p| p.id);
        let secret = join_secret
            .as_deref()
            .is_some_and(|j| sessions::secret_matches(&core.shared.session_key, &id, j));
        owner || secret || conn.permit(core, Role::Admin).is_ok()
    });
    let Some(state) = state.filter(|_| allowed) else {
        crate::runtime::counters::bump(&core.counters.session_joins_refused);
        crate::ws::connection::violation(conn);
        return Err(WsError::new(
            codes::NOT_FOUND,
            format!("no session {id:?} that this connection may join"),
        ));
    };
    *conn.player.borrow_mut() = state;
    conn.player.borrow_mut().session_id = Some(id);
    conn.send_msg(
        "status_update",
        &m.correlation_id,
        &status_payload(core, conn),
    );
    Ok(())
}

pub(super) fn status_request(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    payload::parse::<Empty>(&m.payload)?;
    // A session participant reports the session as it is now, whoever changed it.
    follow_session(core, conn);
    conn.send_msg(
        "status_update",
        &m.correlation_id,
        &status_payload(core, conn),
    );
    Ok(())
}
