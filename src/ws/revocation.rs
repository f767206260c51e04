//! Revoked tokens reach open WebSockets: what a token granted at the upgrade lasts only
//! while the token does. Tokens are revoked by another process (`auralis-server token
//! revoke`) or, in a cluster, on another node whose write reaches this node's copy of
//! the library, so no event arrives here: once a second each core asks its own library
//! reader how many tokens were ever revoked (one indexed count), and only when that
//! moves re-checks the tokens of its connections, closing those revoked (1008).

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
    loop {
        monoio::time::sleep(EVERY).await;
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
            if let Ok(false) = reader.token_active(p.id) {
                tracing::info!(core = core.id.0, conn = conn.id, token = %p.name, "token revoked; closing its WebSocket");
                conn.close(close::POLICY_VIOLATION, "token revoked");
            }
        }
    }
}
