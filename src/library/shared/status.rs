//! The shared store's link as `/api/health` shows it: written by the writer and the
//! listener threads (relaxed atomics and the last error).

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct SharedStatus {
    /// The listener's connection is up (other nodes' commits arrive).
    pub listening: AtomicBool,
    /// The writer's last use of its connection succeeded.
    pub writable: AtomicBool,
    /// The newest commit of the feed this node's copy includes.
    pub applied_seq: AtomicI64,
    /// Other nodes' commits applied to this node's copy.
    pub remote_commits: AtomicU64,
    /// Whole copies made (at start, or after falling behind the feed).
    pub full_copies: AtomicU64,
    /// Writes refused because the shared database was unreachable or refused them.
    pub refused_writes: AtomicU64,
    pub last_error: crate::cluster::last_error::LastError,
    /// The newest commit of the feed this node knows of (notified, polled or its own).
    pub head_seq: AtomicI64,
    /// When (Unix ms) this copy first fell behind `head_seq`; 0 while caught up.
    pub behind_since_ms: AtomicU64,
}

#[derive(Debug, Serialize)]
pub(crate) struct SharedReport {
    pub status: &'static str,
    pub listening: bool,
    pub writable: bool,
    pub applied_seq: i64,
    pub remote_commits: u64,
    pub full_copies: u64,
    pub refused_writes: u64,
    pub last_error: Option<String>,
}

/// How far this node's copy trails the shared database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lag {
    pub commits: i64,
    pub seconds: f64,
}

impl SharedStatus {
    /// The feed's newest commit is at least `seq` (a notification, a poll).
    pub(crate) fn saw_head(&self, seq: i64, now_ms: u64) {
        let head = self.head_seq.fetch_max(seq, Ordering::Relaxed).max(seq);
        if head > self.applied_seq.load(Ordering::Relaxed) {
            let _ = self.behind_since_ms.compare_exchange(
                0,
                now_ms.max(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// This copy now includes every commit up to `seq`.
    pub(crate) fn applied(&self, seq: i64) {
        self.applied_seq.store(seq, Ordering::Relaxed);
        let head = self.head_seq.fetch_max(seq, Ordering::Relaxed).max(seq);
        if seq >= head {
            self.behind_since_ms.store(0, Ordering::Relaxed);
        }
    }

    /// Commits known but not applied, and for how long the oldest has waited.
    pub(crate) fn lag(&self, now_ms: u64) -> Lag {
        let commits = (self.head_seq.load(Ordering::Relaxed)
            - self.applied_seq.load(Ordering::Relaxed))
        .max(0);
        let since = self.behind_since_ms.load(Ordering::Relaxed);
        let seconds = if commits > 0 && since > 0 {
            now_ms.saturating_sub(since) as f64 / 1000.0
        } else {
            0.0
        };
        Lag { commits, seconds }
    }

    pub(crate) fn failed(&self, what: &str, e: &dyn std::fmt::Display) {
        self.last_error.record("database", what, e);
    }

    pub(crate) fn healthy(&self) -> bool {
        self.listening.load(Ordering::Relaxed) && self.writable.load(Ordering::Relaxed)
    }

    pub(crate) fn report(&self) -> SharedReport {
        SharedReport {
            status: if self.healthy() { "up" } else { "down" },
            listening: self.listening.load(Ordering::Relaxed),
            writable: self.writable.load(Ordering::Relaxed),
            applied_seq: self.applied_seq.load(Ordering::Relaxed),
            remote_commits: self.remote_commits.load(Ordering::Relaxed),
            full_copies: self.full_copies.load(Ordering::Relaxed),
            refused_writes: self.refused_writes.load(Ordering::Relaxed),
            last_error: self.last_error.get(),
        }
    }
}

impl SharedStatus {
    /// The shared library's Prometheus families (`auralis_library_*`).
    pub(crate) fn prometheus(&self, now_ms: u64, out: &mut String) {
        use std::fmt::Write;
        let lag = self.lag(now_ms);
        let up = u8::from(self.healthy());
        let refused = self.refused_writes.load(Ordering::Relaxed);
        let copies = self.full_copies.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP auralis_library_database_up 1 while the shared library database is listened to and writable.\n# TYPE auralis_library_database_up gauge\nauralis_library_database_up {up}\n# HELP auralis_library_replication_lag_commits Commits of the shared library this node has not applied yet.\n# TYPE auralis_library_replication_lag_commits gauge\nauralis_library_replication_lag_commits {}\n# HELP auralis_library_replication_lag_seconds How long the oldest unapplied commit has waited (0 when caught up).\n# TYPE auralis_library_replication_lag_seconds gauge\nauralis_library_replication_lag_seconds {}\n# HELP auralis_library_writes_refused_total Library writes refused because the shared database was away or refused them.\n# TYPE auralis_library_writes_refused_total counter\nauralis_library_writes_refused_total {refused}\n# HELP auralis_library_full_copies_total Whole copies of the shared library made (at start, or after falling behind the feed).\n# TYPE auralis_library_full_copies_total counter\nauralis_library_full_copies_total {copies}",
            lag.commits, lag.seconds
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_commits_known_but_not_applied_and_since_when() {
        let s = SharedStatus::default();
        s.applied(10);
        assert_eq!(
            s.lag(5_000),
            Lag {
                commits: 0,
                seconds: 0.0
            }
        );
        s.saw_head(13, 1_000);
        s.saw_head(12, 2_000);
        assert_eq!(
            s.lag(4_500),
            Lag {
                commits: 3,
                seconds: 3.5
            }
        );
        s.applied(13);
        assert_eq!(
            s.lag(9_000),
            Lag {
                commits: 0,
                seconds: 0.0
            }
        );
        s.saw_head(14, 10_000);
        assert_eq!(
            s.lag(10_250),
            Lag {
                commits: 1,
                seconds: 0.25
            }
        );
    }
}
