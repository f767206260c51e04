//! Cache statistics. Each core counts in plain fields of its own, then publishes them
//! into its own padded slot (relaxed stores, one writer per slot), which any core reads
//! for `/api/cache/stats` without asking the others.

use super::tier1::TierOneShard;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tier-2 lookups counted by the core that made them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CoreChunkCounters {
    pub tier2_hits: u64,
    pub tier2_misses: u64,
}

/// One core's published cache figures. Written only by its core.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct CacheGauge {
    pub tier1_hits: AtomicU64,
    pub tier1_misses: AtomicU64,
    pub tier1_entries: AtomicU64,
    pub tier1_bytes: AtomicU64,
    pub tier1_evictions: AtomicU64,
    pub tier2_hits: AtomicU64,
    pub tier2_misses: AtomicU64,
}

impl CacheGauge {
    pub(crate) fn publish(&self, t1: &TierOneShard, c: &CoreChunkCounters) {
        let r = Ordering::Relaxed;
        self.tier1_hits.store(t1.hits, r);
        self.tier1_misses.store(t1.misses, r);
        self.tier1_entries.store(t1.len() as u64, r);
        self.tier1_bytes.store(t1.bytes(), r);
        self.tier1_evictions.store(t1.evictions, r);
        self.tier2_hits.store(c.tier2_hits, r);
        self.tier2_misses.store(c.tier2_misses, r);
    }

    pub(crate) fn read(&self) -> TierFigures {
        let r = Ordering::Relaxed;
        TierFigures {
            tier1: TierStats::new(
                self.tier1_hits.load(r),
                self.tier1_misses.load(r),
                self.tier1_entries.load(r),
                self.tier1_bytes.load(r),
                self.tier1_evictions.load(r),
            ),
            tier2_hits: self.tier2_hits.load(r),
            tier2_misses: self.tier2_misses.load(r),
        }
    }
}

/// Figures of one tier.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(crate) struct TierStats {
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
    pub entries: u64,
    pub bytes: u64,
    pub evictions: u64,
}

impl TierStats {
    pub(crate) fn new(hits: u64, misses: u64, entries: u64, bytes: u64, evictions: u64) -> Self {
        let total = hits + misses;
        Self {
            hits,
            misses,
            hit_rate: if total == 0 {
                0.0
            } else {
                hits as f64 / total as f64
            },
            entries,
            bytes,
            evictions,
        }
    }
}

/// One core's figures as read from its slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TierFigures {
    pub tier1: TierStats,
    pub tier2_hits: u64,
    pub tier2_misses: u64,
}
