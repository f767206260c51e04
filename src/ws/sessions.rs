//! Shared listening sessions' latest states, process-wide (a papaya map in `Shared`):
//! written when a session's controller changes it on this node, and by the broker's
//! subscriber thread when another node publishes or stored one. `subscribe` and
//! `session_join` read it; it is never on the request path. With a broker, the same
//! state is stored under `auralis:session:<id>`, so it outlives the node that made it.

use super::player::Player;
use crate::runtime::core_state::Shared;

/// A fresh session id: 128 random bits, hex (ids made from request-id prefixes and a
/// counter were found in 90 guesses).
pub(crate) fn fresh_id() -> std::io::Result<String> {
    let mut buf = [0u8; 16];
    crate::random::fill(&mut buf)?;
    Ok(hex(&buf))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret that lets its holder join session `id`: a keyed hash of the id, so every
/// node with the same key (a cluster shares the library's token key) can check it
/// without storing it, and it cannot be derived from the id.
pub(crate) fn join_secret(key: &[u8; 32], id: &str) -> String {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"auralis session join\0");
    h.update(id.as_bytes());
    hex(&h.finalize().as_bytes()[..16])
}

/// Whether `secret` is session `id`'s join secret (compared in constant time).
pub(crate) fn secret_matches(key: &[u8; 32], id: &str, secret: &str) -> bool {
    let want = join_secret(key, id);
    want.len() == secret.len()
        && want
            .bytes()
            .zip(secret.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

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
