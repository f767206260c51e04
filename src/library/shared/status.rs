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

impl SharedStatus {
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
