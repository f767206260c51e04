//! Cache statistics. Each core counts in plain fields of its own, then publishes them
//! into its own padded slot (relaxed stores, one writer per slot), which any core reads
//! for `/api/cache/stats` without asking the others.

use super::Tier;
use super::tier1::TierOneShard;
use crate::audio::encode::ChunkFormat;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Chunk requests of one format, counted by the core that answered them.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub(crate) struct FormatCounters {
    pub requests: u64,
    pub tier1_hits: u64,
    pub tier2_hits: u64,
    /// Answered by a decode (this request's or one it joined).
    pub decoded: u64,
    /// Body bytes handed out.
    pub bytes_served: u64,
}

impl FormatCounters {
    fn add(&mut self, o: &FormatCounters) {
        self.requests += o.requests;
        self.tier1_hits += o.tier1_hits;
        self.tier2_hits += o.tier2_hits;
        self.decoded += o.decoded;
        self.bytes_served += o.bytes_served;
    }
}

/// Tier-2 lookups and per-format answers, counted by the core that made them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CoreChunkCounters {
    pub tier2_hits: u64,
    pub tier2_misses: u64,
    /// Indexed by `ChunkFormat::index`.
    pub formats: [FormatCounters; 4],
}

impl CoreChunkCounters {
    /// One chunk answered in `format` from `tier` with `bytes` of body.
    pub(crate) fn answered(&mut self, format: ChunkFormat, tier: Tier, bytes: usize) {
        let f = &mut self.formats[format.index()];
        f.requests += 1;
        f.bytes_served += bytes as u64;
        match tier {
            Tier::Tier1 => f.tier1_hits += 1,
            Tier::Tier2 => f.tier2_hits += 1,
            Tier::Miss => f.decoded += 1,
        }
    }
}

/// One format's counters as published (relaxed, one writer per slot).
#[derive(Debug, Default)]
pub(crate) struct FormatGauge {
    requests: AtomicU64,
    tier1_hits: AtomicU64,
    tier2_hits: AtomicU64,
    decoded: AtomicU64,
    bytes_served: AtomicU64,
}

impl FormatGauge {
    fn publish(&self, f: &FormatCounters) {
        let r = Ordering::Relaxed;
        self.requests.store(f.requests, r);
        self.tier1_hits.store(f.tier1_hits, r);
        self.tier2_hits.store(f.tier2_hits, r);
        self.decoded.store(f.decoded, r);
        self.bytes_served.store(f.bytes_served, r);
    }

    fn read(&self) -> FormatCounters {
        let r = Ordering::Relaxed;
        FormatCounters {
            requests: self.requests.load(r),
            tier1_hits: self.tier1_hits.load(r),
            tier2_hits: self.tier2_hits.load(r),
            decoded: self.decoded.load(r),
            bytes_served: self.bytes_served.load(r),
        }
    }
}

/// Per-format counters summed over cores, in `ChunkFormat::NAMES` order.
pub(crate) fn sum_formats(gauges: &[CacheGauge]) -> [FormatCounters; 4] {
    let mut total = [FormatCounters::default(); 4];
    for g in gauges {
        for (t, f) in total.iter_mut().zip(&g.formats) {
            t.add(&f.read());
        }
    }
    total
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
    pub formats: [FormatGauge; 4],
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
        for (g, f) in self.formats.iter().zip(&c.formats) {
            g.publish(f);
        }
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
