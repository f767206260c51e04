//! The broker link's figures, written by its two threads and the cores' publishes
//! (relaxed atomics; the last error behind a mutex read only by `/api/health`).

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct BrokerStats {
    /// The publishing connection is up.
    pub out_up: AtomicBool,
    /// The subscribing connection is up.
    pub in_up: AtomicBool,
    /// Messages handed to the broker.
    pub forwarded: AtomicU64,
    /// Messages from other nodes delivered to this node's cores.
    pub received: AtomicU64,
    /// Messages not forwarded because the broker was unreachable (local subscribers
    /// still got them).
    pub not_forwarded: AtomicU64,
    /// Messages refused because the queue to the publishing thread was full.
    pub shed: AtomicU64,
    /// Broker messages that were not ours or were malformed.
    pub invalid: AtomicU64,
    /// Connections (re)established, both threads.
    pub connects: AtomicU64,
    /// Subscriptions (re)made by the subscribing thread: after a broker restart, this
    /// node hears other nodes again once it grew.
    pub subscribes: AtomicU64,
    pub last_error: super::last_error::LastError,
}

/// The link as `/api/health` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct BrokerReport {
    pub status: &'static str,
    pub publishing: bool,
    pub subscribed: bool,
    pub forwarded: u64,
    pub received: u64,
    pub not_forwarded: u64,
    pub shed: u64,
    pub invalid: u64,
    pub connects: u64,
    pub subscribes: u64,
    pub last_error: Option<String>,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl BrokerStats {
    pub(crate) fn failed(&self, what: &str, e: &dyn std::fmt::Display) {
        self.last_error.record("broker", what, e);
    }

    /// Both connections up.
    pub(crate) fn healthy(&self) -> bool {
        self.out_up.load(Ordering::Relaxed) && self.in_up.load(Ordering::Relaxed)
    }

    /// The link's Prometheus families (`auralis_cluster_broker_*`).
    pub(crate) fn prometheus(&self, out: &mut String) {
        use std::fmt::Write;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let up = u64::from(self.healthy());
        let _ = writeln!(
            out,
            "# HELP auralis_cluster_broker_up 1 while both broker connections (publishing, subscribed) are up.\n# TYPE auralis_cluster_broker_up gauge\nauralis_cluster_broker_up {up}"
        );
        for (name, help, v) in [
            (
                "published",
                "Topic messages handed to the broker.",
                n(&self.forwarded),
            ),
            (
                "received",
                "Topic messages from other nodes delivered here.",
                n(&self.received),
            ),
            (
                "not_forwarded",
                "Topic messages other nodes never got: the broker was unreachable (local subscribers got them).",
                n(&self.not_forwarded),
            ),
            (
                "shed",
                "Topic messages refused by the full queue to the publishing thread.",
                n(&self.shed),
            ),
            (
                "reconnects",
                "Broker connections (re)established, both threads.",
                n(&self.connects),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP auralis_cluster_broker_{name}_total {help}\n# TYPE auralis_cluster_broker_{name}_total counter\nauralis_cluster_broker_{name}_total {v}"
            );
        }
    }

    pub(crate) fn report(&self) -> BrokerReport {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BrokerReport {
            status: if self.healthy() { "up" } else { "down" },
            publishing: self.out_up.load(Ordering::Relaxed),
            subscribed: self.in_up.load(Ordering::Relaxed),
            forwarded: n(&self.forwarded),
            received: n(&self.received),
            not_forwarded: n(&self.not_forwarded),
            shed: n(&self.shed),
            invalid: n(&self.invalid),
            connects: n(&self.connects),
            subscribes: n(&self.subscribes),
            last_error: self.last_error.get(),
        }
    }
}
