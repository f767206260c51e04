//! Readiness: should this node get traffic now? Apart from health (which judges how
//! well it serves) so that a load balancer takes a node out only when sending it
//! requests would fail: it is shutting down, a core stopped answering its mailbox,
//! the decode pool is refusing client jobs, or the library database does not answer.
//! A slow p99 or a cold cache makes a node degraded, never unready.

use super::core_state::CoreState;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A core is silent once it has not answered for this many monitor intervals.
const SILENT_INTERVALS: u64 = 3;
/// A refused decode job keeps the node unready this long (so one probe sees it).
const REFUSAL_HOLD: Duration = Duration::from_secs(2);

/// Why this node should get no traffic now.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub(crate) enum NotReady {
    #[error("shutting down")]
    ShuttingDown,
    #[error("core {core} died: {panic}; the server is stopping")]
    CoreDied { core: usize, panic: String },
    #[error("core {core} has not answered its mailbox for {silent_ms} ms")]
    CoreSilent { core: usize, silent_ms: u64 },
    #[error(
        "the decode pool is saturated ({queued} of {capacity} queued, {refused} jobs refused since start)"
    )]
    DecodeSaturated {
        queued: usize,
        capacity: usize,
        refused: u64,
    },
    #[error("{wedged} decode worker(s) have every thread stuck past cache.decode_timeout_ms")]
    DecodeWedged { wedged: usize, stuck_threads: usize },
    #[error("the library database does not answer: {error}")]
    Database { error: String },
}

/// Every reason this node is not ready; empty when it is.
pub(crate) fn check(core: &CoreState) -> Vec<NotReady> {
    let mut out = Vec::new();
    if core.shutting_down.get() {
        out.push(NotReady::ShuttingDown);
    }
    if let Some((core, panic)) = core.shared.core_died.get() {
        out.push(NotReady::CoreDied {
            core: *core,
            panic: panic.clone(),
        });
    }
    out.extend(silent_cores(core));
    let load = core.shared.chunks.pool.load();
    if load.saturated(REFUSAL_HOLD) {
        out.push(NotReady::DecodeSaturated {
            queued: load.queued_max,
            capacity: load.capacity,
            refused: load.refused,
        });
    }
    if load.wedged_workers > 0 {
        out.push(NotReady::DecodeWedged {
            wedged: load.wedged_workers,
            stuck_threads: load.stuck_threads,
        });
    }
    if let Some(reader) = &core.library
        && let Err(e) = reader.ping()
    {
        out.push(NotReady::Database {
            error: e.to_string(),
        });
    }
    out
}

/// Cores whose last inbox answer is older than a few monitor intervals (judged only
/// once the process has run that long: at start no core has been asked yet).
fn silent_cores(core: &CoreState) -> impl Iterator<Item = NotReady> + '_ {
    let shared = &core.shared;
    let interval = shared.config.monitor.interval_ms.max(1);
    let limit = (SILENT_INTERVALS * interval).max(3000);
    let now = shared.started.elapsed().as_millis() as u64 + 1;
    shared.gauges.iter().enumerate().filter_map(move |(i, g)| {
        let answered = g.answered_ms.load(Ordering::Relaxed);
        let silent_ms = now.saturating_sub(answered.max(1));
        (now > limit + interval && silent_ms > limit)
            .then_some(NotReady::CoreSilent { core: i, silent_ms })
    })
}
