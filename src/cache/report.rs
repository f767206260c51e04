//! The cache's own reports, whichever transport shows them: statistics per core and
//! merged, and health against budgets and hit-rate thresholds.

use super::fetch::ChunkService;
use super::stats::{CacheGauge, TierStats};
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::Ordering;

/// The chunk hit rate over one window, labelled with it (`"10s"`, `"since_start"`):
/// every report that shows a hit rate shows these, so no two verdicts disagree
/// without saying why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HitRate {
    pub window: String,
    pub requests: u64,
    pub hits: u64,
    /// `None` before the first chunk request.
    pub value: Option<f64>,
}

impl HitRate {
    pub(crate) fn new(window: String, requests: u64, hits: u64) -> Self {
        Self {
            window,
            requests,
            hits,
            value: (requests > 0).then(|| hits as f64 / requests as f64),
        }
    }
}

/// Hit-rate thresholds and the evidence they need (the monitor's, `[monitor]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HitThresholds {
    pub warning: f64,
    pub critical: f64,
    pub min_requests: u64,
}

/// What the reports read: every core's published figures, the shared tier 2, and the
/// monitor's windowed hit rates (the alert window first).
pub(crate) struct CacheSources<'a> {
    pub gauges: &'a [CacheGauge],
    pub service: &'a ChunkService,
    pub tier1_budget: u64,
    pub hit_rates: Vec<HitRate>,
    pub thresholds: HitThresholds,
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

/// Answers and bytes per format: requests, where they were answered, body bytes
/// served, and the bytes each format holds in tier 2.
fn by_format(s: &CacheSources<'_>) -> serde_json::Value {
    let counters = super::stats::sum_formats(s.gauges);
    let held = s.service.tier2.bytes_by_format();
    let mut out = serde_json::Map::new();
    for (i, name) in crate::audio::encode::ChunkFormat::NAMES.iter().enumerate() {
        let c = counters[i];
        out.insert(
            (*name).to_string(),
            json!({
                "requests": c.requests,
                "tier1_hits": c.tier1_hits,
                "tier2_hits": c.tier2_hits,
                "decoded": c.decoded,
                "hit_rate": HitRate::new("since_start".into(), c.requests, c.tier1_hits + c.tier2_hits).value,
                "bytes_served": c.bytes_served,
                "tier2_bytes": held[i],
            }),
        );
    }
    serde_json::Value::Object(out)
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
            "hit_rate": HitRate::new("since_start".into(), m.requests, overall_hits),
        },
        "per_core": m.cores,
        "by_format": by_format(s),
        "decodes": s.service.decodes.load(Ordering::Relaxed),
        "prefetch": s.service.tier2.prefetch_stats(),
        "budgets": {
            "tier1_bytes_per_core": s.tier1_budget,
            "tier2_bytes": s.service.tier2.budget(),
            "tier2_probation_bytes": s.service.tier2.probation_budget(),
        },
    })
}

/// Cache health against budgets and hit-rate thresholds (`/api/cache/health`, WS
/// `cache_status`).
pub(crate) fn health(s: &CacheSources<'_>) -> serde_json::Value {
    let m = merged(s);
    let tier1_budget = s.tier1_budget;
    let tier2_budget = s.service.tier2.budget();
    let t = s.thresholds;
    // The verdict reads the same window as the monitor's `cache_hit_rate` alert (the
    // first of `hit_rates`), with the same thresholds and the same minimum evidence.
    let judged = s.hit_rates.first().filter(|h| h.requests >= t.min_requests);
    let t1_max = m.cores.iter().map(|c| c.tier1.bytes).max().unwrap_or(0);
    let over_budget = t1_max > tier1_budget || m.tier2.bytes > tier2_budget;
    let rate = judged.and_then(|h| h.value);
    let status = match rate {
        _ if over_budget => "critical",
        Some(r) if r < t.critical => "critical",
        Some(r) if r < t.warning => "warning",
        _ => "healthy",
    };
    let since_start = HitRate::new(
        "since_start".into(),
        m.requests,
        m.tier1.hits + m.tier2.hits,
    );
    let mut rates: Vec<&HitRate> = s
        .hit_rates
        .iter()
        .filter(|h| h.window != "since_start")
        .collect();
    rates.push(&since_start);
    json!({
        "status": status,
        "hit_rate": rates,
        "judged_window": judged.map(|h| h.window.as_str()),
        "requests": m.requests,
        "tier1": {"budget_bytes_per_core": tier1_budget, "max_core_bytes": t1_max,
                  "use": t1_max as f64 / tier1_budget.max(1) as f64},
        "tier2": {"budget_bytes": tier2_budget, "bytes": m.tier2.bytes,
                  "use": m.tier2.bytes as f64 / tier2_budget.max(1) as f64},
        "thresholds": {"hit_rate_warning": t.warning, "hit_rate_critical": t.critical,
                       "min_requests": t.min_requests},
    })
}
