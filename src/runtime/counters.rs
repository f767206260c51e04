//! Plain per-core counters (`Cell`s: one core writes, the same core reads).

use std::cell::Cell;

/// Distinct 429'd clients a core remembers per second (more are not told apart).
pub(crate) const LIMITED_CLIENTS_CAP: usize = 4096;

/// Request counters of one core.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: Cell<u64>,
    /// Responses by status class: index 1..=5 for 1xx..5xx.
    pub by_class: [Cell<u64>; 6],
    pub bytes_out: Cell<u64>,
    pub rate_limited: Cell<u64>,
    /// Clients answered 429 since the last snapshot (at most [`LIMITED_CLIENTS_CAP`]):
    /// the `rate_limited` alert counts distinct clients, so one abusive address is
    /// not an incident.
    pub limited_clients: std::cell::RefCell<std::collections::HashSet<std::net::IpAddr>>,
    pub ws_messages: Cell<u64>,
    pub connections_opened: Cell<u64>,
    pub connections_closed: Cell<u64>,
    /// Observation requests (health probes, scrapes, dashboard): not in `requests`.
    pub observed: Cell<u64>,
    /// `low` WebSocket notifications shed, and messages refused by full outbound
    /// queues, of connections already closed (live ones are added at snapshot time).
    pub ws_dropped_low_closed: Cell<u64>,
    pub ws_refused_closed: Cell<u64>,
    /// TLS handshakes completed, and failed (bad client, wrong protocol, timeout).
    pub tls_handshakes: Cell<u64>,
    pub tls_handshake_failures: Cell<u64>,
    /// Plain-HTTP requests answered with a redirect to HTTPS (`tls.redirect_listen`).
    pub redirected: Cell<u64>,
    /// Connections closed for a missing or malformed PROXY header (`proxy_protocol`).
    pub proxy_refused: Cell<u64>,
    /// Proxied connections handed to their client's core, and those served here
    /// instead because that core's inbox was full.
    pub handed_off: Cell<u64>,
    pub handoffs_refused: Cell<u64>,
    /// Refused `session_join`s (unknown session, or no right to it).
    pub session_joins_refused: Cell<u64>,
    /// Connections refused because their client already held `http.max_connections_per_ip`.
    pub per_ip_refused: Cell<u64>,
    /// Connection tasks that panicked (caught: the connection closed, the core lives on).
    pub connection_panics: Cell<u64>,
}

/// `cell += 1`.
pub(crate) fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

impl Counters {
    pub(crate) fn record(&self, status: u16, body_bytes: u64) {
        self.requests.set(self.requests.get() + 1);
        let class = usize::from(status / 100).min(5);
        self.by_class[class].set(self.by_class[class].get() + 1);
        self.bytes_out.set(self.bytes_out.get() + body_bytes);
    }

    /// An observation request: counted apart from traffic.
    pub(crate) fn record_observation(&self, body_bytes: u64) {
        bump(&self.observed);
        self.bytes_out.set(self.bytes_out.get() + body_bytes);
    }
}
