//! Shared listening sessions' latest states, process-wide (a papaya map in `Shared`):
//! written when a session's controller changes it on this node, and by the broker's
//! subscriber thread when another node publishes or stored one. `subscribe` and
//! `session_join` read it; it is never on the request path. With a broker, the same
//! state is stored under `auralis:session:<id>`, so it outlives the node that made it.

use super::player::Player;
use crate::runtime::core_state::Shared;

/// Records `state` for session `id` unless the map already holds a newer one (a
/// message from another node may arrive after a later local change).
pub(crate) fn record(shared: &Shared, id: &str, state: &Player) {
    shared
        .ws_sessions
        .pin()
        .compute(id.to_string(), |old| match old {
            Some((_, o)) if o.seq > state.seq => papaya::Operation::Abort(()),
            _ => papaya::Operation::Insert(state.clone()),
        });
}

/// Records the state a `status_update` text carries (from another node or the store).
pub(crate) fn record_text(shared: &Shared, id: &str, text: &[u8]) {
    if let Some(state) = Player::from_status_text(text) {
        record(shared, id, &state);
    }
}

/// The latest state of session `id`, if this node knows it.
pub(crate) fn latest(shared: &Shared, id: &str) -> Option<Player> {
    shared.ws_sessions.pin().get(id).cloned()
}

/// Session `id`'s state if it is newer than `seq` (cloned only then: a queue holds
/// up to 10 000 ids and every command of a controller asks).
pub(crate) fn newer_than(shared: &Shared, id: &str, seq: u64) -> Option<Player> {
    shared
        .ws_sessions
        .pin()
        .get(id)
        .filter(|s| s.seq > seq)
        .cloned()
}

pub(crate) fn exists(shared: &Shared, id: &str) -> bool {
    shared.ws_sessions.pin().contains_key(id)
}
