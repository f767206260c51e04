//! One sweep per core per tick over its WebSocket connections (no timer per
//! connection): server pings every `heartbeat_interval_ms`, connections whose pong is
//! later than `heartbeat_timeout_ms` are closed (1001), connections whose outbound queue
//! stays full past `slow_close_ms` are closed (1008), and closes that the peer never
//! answers are ended.

use super::outbound::OutFrame;
use super::protocol::close;
use crate::runtime::core_state::CoreState;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a queued close may wait for the peer before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

pub(crate) async fn sweep(core: Rc<CoreState>) {
    let ws = &core.shared.config.ws;
    let interval = Duration::from_millis(ws.heartbeat_interval_ms);
    let timeout = Duration::from_millis(ws.heartbeat_timeout_ms);
    let slow = Duration::from_millis(ws.slow_close_ms);
    let tick = (interval.min(timeout).min(slow) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        monoio::time::sleep(tick).await;
        let now = Instant::now();
        for conn in core.ws.all() {
            if let Some(t) = conn.closing_since.get() {
                if now - t > CLOSE_GRACE {
                    conn.kill();
                }
                continue;
            }
            if conn.out.borrow().full_since.is_some_and(|t| now - t > slow) {
                tracing::debug!(
                    core = core.id.0,
                    conn = conn.id,
                    "outbound queue full too long; closing"
                );
                conn.close(close::POLICY_VIOLATION, "too slow: outbound queue full");
                // Its socket is not draining: the close frame may never get out.
                conn.kill();
                continue;
            }
            match conn.ping_outstanding.get() {
                Some(sent) if now - sent > timeout => {
                    conn.close(close::GOING_AWAY, "heartbeat timeout");
                }
                Some(_) => {}
                None if now - conn.last_ping.get() >= interval => {
                    conn.last_ping.set(now);
                    conn.ping_outstanding.set(Some(now));
                    conn.send(OutFrame::Ping(b"hb".to_vec()));
                }
                None => {}
            }
        }
    }
}

/// Shutdown: tell every client (`disconnect`, then close 1001).
pub(crate) fn going_away(core: &CoreState) {
    for conn in core.ws.all() {
        let id = conn.fresh_id();
        conn.send_msg(
            "disconnect",
            &id,
            &serde_json::json!({"reason": "server shutting down"}),
        );
        conn.close(close::GOING_AWAY, "server shutting down");
    }
}
