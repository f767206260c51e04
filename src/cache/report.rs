//! The cache's own reports, whichever transport shows them: statistics per core and
//! merged, and health against budgets and hit-rate thresholds.

use super::fetch::ChunkService;
use super::stats::{CacheGauge, TierStats};
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::Ordering;

/// Hit rate below which the cache is degraded, and critical (once warmed up).
pub(crate) const HIT_RATE_WARNING: f64 = 0.70;
pub(crate) const HIT_RATE_CRITICAL: f64 = 0.50;
/// Requests before hit-rate status means anything.
pub(crate) const WARM_REQUESTS: u64 = 100;

/// What the reports read: every core's published figures and the shared tier 2.
pub(crate) struct CacheSources<'a> {
    pub gauges: &'a [CacheGauge],
    pub service: &'a ChunkService,
    pub tier1_budget: u64,
}

#[derive(Serialize)]
struct CoreCache {
    core: usize,
    tier1: TierStats,
    tier2_hits: u64,
    tier2_misses: u64,
}

struct Merged {
    cores: Vec<CoreCache>,
    tier1: TierStats,
    tier2: TierStats,
    requests: u64,
}

fn merged(s: &CacheSources<'_>) -> Merged {
    let cores: Vec<CoreCache> = s
        .gauges
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let f = g.read();
            CoreCache {
                core: i,
                tier1: f.tier1,
                tier2_hits: f.tier2_hits,
                tier2_misses: f.tier2_misses,
            }
        })
        .collect();
    let sum = |f: fn(&CoreCache) -> u64| cores.iter().map(f).sum::<u64>();
    let tier1 = TierStats::new(
        sum(|c| c.tier1.hits),
        sum(|c| c.tier1.misses),
        sum(|c| c.tier1.entries),
        sum(|c| c.tier1.bytes),
        sum(|c| c.tier1.evictions),
    );
    let t2 = &s.service.tier2;
    let tier2 = TierStats::new(
        sum(|c| c.tier2_hits),
        sum(|c| c.tier2_misses),
        t2.len() as u64,
        t2.bytes(),
        t2.evictions(),
    );
    Merged {
        requests: tier1.hits + tier1.misses,
        cores,
        tier1,
        tier2,
    }
}

/// Cache statistics, per core and merged (`/api/cache/stats`, WS `cache_stats`).
pub(crate) fn stats(s: &CacheSources<'_>) -> serde_json::Value {
    let m = merged(s);
    let overall_hits = m.tier1.hits + m.tier2.hits;
    json!({
        "merged": {
            "tier1": m.tier1,
            "tier2": m.tier2,
            "requests": m.requests,
            "hit_rate": if m.requests == 0 { 0.0 } else { overall_hits as f64 / m.requests as f64 },
        },
        "per_core": m.cores,
        "decodes": s.service.decodes.load(Ordering::Relaxed),
        "budgets": {
            "tier1_bytes_per_core": s.tier1_budget,
            "tier2_bytes": s.service.tier2.budget(),
        },
    })
}

/// Cache health against budgets and hit-rate thresholds (`/api/cache/health`, WS
/// `cache_status`).
pub(crate) fn health(s: &CacheSources<'_>) -> serde_json::Value {
    let m = merged(s);
    let tier1_budget = s.tier1_budget;
    let tier2_budget = s.service.tier2.budget();
    let hit_rate = if m.requests == 0 {
        0.0
    } else {
        (m.tier1.hits + m.tier2.hits) as f64 / m.requests as f64
    };
    let t1_max = m.cores.iter().map(|c| c.tier1.bytes).max().unwrap_or(0);
    let over_budget = t1_max > tier1_budget || m.tier2.bytes > tier2_budget;
    let status = if over_budget {
        "critical"
    } else if m.requests < WARM_REQUESTS {
        "healthy"
    } else if hit_rate < HIT_RATE_CRITICAL {
        "critical"
    } else if hit_rate < HIT_RATE_WARNING {
        "warning"
    } else {
        "healthy"
    };
    json!({
        "status": status,
        "hit_rate": hit_rate,
        "requests": m.requests,
        "warmed_up": m.requests >= WARM_REQUESTS,
        "tier1": {"budget_bytes_per_core": tier1_budget, "max_core_bytes": t1_max,
                  "use": t1_max as f64 / tier1_budget.max(1) as f64},
        "tier2": {"budget_bytes": tier2_budget, "bytes": m.tier2.bytes,
                  "use": m.tier2.bytes as f64 / tier2_budget.max(1) as f64},
        "thresholds": {"hit_rate_warning": HIT_RATE_WARNING, "hit_rate_critical": HIT_RATE_CRITICAL},
    })
}
