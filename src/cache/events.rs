//! Cache events: clears, track invalidations and tier pressure, announced on the
//! WebSocket `cache` topic by the sink the runtime installs at boot (whichever
//! transport cleared the cache; pressure is noticed by the monitor once a second).

use serde::Serialize;

/// Something every `cache` subscriber should know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum CacheEvent {
    /// Every tier emptied (`track: None`) or one track's chunks dropped.
    Cleared {
        track_id: Option<i64>,
        tier2_entries: u64,
        tier2_bytes: u64,
    },
    /// Tier 2 evicted chunks to stay within its budget during the last interval.
    Pressure {
        tier: &'static str,
        evictions: u64,
        bytes: u64,
        budget_bytes: u64,
    },
}

/// Where cache events go (set once at boot).
pub(crate) type CacheSink = Box<dyn Fn(&CacheEvent) + Send + Sync>;
