//! Revoked tokens reach open WebSockets: what a token granted at the upgrade lasts only
//! while the token does. Tokens are revoked by another process (`auralis-server token
//! revoke`) or, in a cluster, on another node whose write reaches this node's copy of
//! the library, so no event arrives here: once a second each core asks its own library
//! reader how many tokens were ever revoked (one indexed count), and only when that
//! moves re-checks the tokens of its connections, closing those revoked (1008).
//!
//! The first token ends loopback's rights by address for good (`auth.trust_loopback`),
//! so the same watch closes the sockets that held those rights (1008): what they
//! subscribed to then (`player`, every listener's `library` changes) is an admin's now.

use super::protocol::close;
use crate::runtime::core_state::CoreState;
use std::rc::Rc;
use std::time::Duration;

/// How often a core looks for new revocations.
const EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn watch(core: Rc<CoreState>) {
    let Some(reader) = &core.library else {
        return;
    };
    let mut seen = reader.revocations().unwrap_or(0);
    let mut tokens_existed = reader.tokens_ever_created().unwrap_or(false);
    loop {
        monoio::time::sleep(EVERY).await;
        if !tokens_existed && reader.tokens_ever_created().unwrap_or(false) {
            tokens_existed = true;
            end_address_rights(&core);
        }
        let Ok(now) = reader.revocations() else {
            continue;
        };
        if now == seen {
            continue;
        }
        seen = now;
        for conn in core.ws.all() {
            let Some(p) = &conn.principal else {
                continue;
            };
            // An API key acts as its user: either one revoked ends the socket.
            let active = reader
                .token_active(p.token_id)
                .and_then(|key| Ok(key && (p.token_id == p.id || reader.token_active(p.id)?)));
            if let Ok(false) = active {
                tracing::info!(core = core.id.0, conn = conn.id, token = %p.name, "token revoked; closing its WebSocket");
                conn.close(close::POLICY_VIOLATION, "token revoked");
            }
        }
    }
}

/// Closes the sockets that act with rights granted by their loopback address.
fn end_address_rights(core: &CoreState) {
    for conn in core.ws.all() {
        if conn.principal.is_none() && conn.address_trusted {
            tracing::info!(
                core = core.id.0,
                conn = conn.id,
                "the first token was created; closing a socket trusted by its address"
            );
            conn.close(
                close::POLICY_VIOLATION,
                "a token now exists: reconnect with one",
            );
        }
    }
}
