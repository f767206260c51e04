//! Cache endpoints: statistics per core and merged, health against budgets, per-track
//! status, and clearing (tier 2 here; every core's tier 1 through its inbox).

use super::common::path_id;
use super::stream::track_audio;
use crate::cache::stats::TierStats;
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::runtime::core_state::CoreState;
use crate::runtime::mailbox::CoreMessage;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::atomic::Ordering;

/// Hit rate below which the cache is degraded, and critical (once warmed up).
pub const HIT_RATE_WARNING: f64 = 0.70;
pub const HIT_RATE_CRITICAL: f64 = 0.50;
/// Requests before hit-rate status means anything.
pub const WARM_REQUESTS: u64 = 100;

pub fn routes() -> Vec<Route> {
    use Handler::Sync;
    use Method::*;
    let api = RouteClass::Api;
    vec![
        Route::new(
            Get,
            "/api/cache/stats",
            api,
            "Hits, misses, entries, bytes, evictions per tier, per core and merged",
            Sync(stats),
        ),
        Route::new(
            Get,
            "/api/cache/health",
            api,
            "Budgets against use and hit-rate status",
            Sync(health),
        ),
        Route::new(
            Get,
            "/api/cache/track/{id}/status",
            api,
            "Chunks of a track cached, per preset",
            Sync(track_status),
        ),
        Route::new(
            Post,
            "/api/cache/clear",
            api,
            "Empty both tiers",
            Sync(clear),
        ),
        Route::new(
            Delete,
            "/api/cache/track/{id}",
            api,
            "Drop a track's chunks from both tiers",
            Sync(clear_track),
        ),
    ]
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

fn merged(core: &CoreState) -> Merged {
    core.publish_cache_stats();
    let shared = &core.shared;
    let cores: Vec<CoreCache> = shared
        .cache_gauges
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
    let t2 = &shared.chunks.tier2;
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

fn stats(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(stats_payload(core))?.into())
}

/// Cache statistics (also the WebSocket `cache_stats` payload).
pub fn stats_payload(core: &CoreState) -> serde_json::Value {
    let m = merged(core);
    let overall_hits = m.tier1.hits + m.tier2.hits;
    json!({
        "merged": {
            "tier1": m.tier1,
            "tier2": m.tier2,
            "requests": m.requests,
            "hit_rate": if m.requests == 0 { 0.0 } else { overall_hits as f64 / m.requests as f64 },
        },
        "per_core": m.cores,
        "decodes": core.shared.chunks.decodes.load(Ordering::Relaxed),
        "budgets": {
            "tier1_bytes_per_core": core.shared.config.cache.tier1_bytes_per_core,
            "tier2_bytes": core.shared.chunks.tier2.budget(),
        },
    })
}

fn health(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(health_payload(core))?.into())
}

/// Cache health (also the WebSocket `cache_status` payload).
pub fn health_payload(core: &CoreState) -> serde_json::Value {
    let m = merged(core);
    let cfg = &core.shared.config.cache;
    let hit_rate = if m.requests == 0 {
        0.0
    } else {
        (m.tier1.hits + m.tier2.hits) as f64 / m.requests as f64
    };
    let t1_max = m.cores.iter().map(|c| c.tier1.bytes).max().unwrap_or(0);
    let over_budget =
        t1_max > cfg.tier1_bytes_per_core || m.tier2.bytes > core.shared.chunks.tier2.budget();
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
        "tier1": {"budget_bytes_per_core": cfg.tier1_bytes_per_core, "max_core_bytes": t1_max,
                  "use": t1_max as f64 / cfg.tier1_bytes_per_core.max(1) as f64},
        "tier2": {"budget_bytes": core.shared.chunks.tier2.budget(), "bytes": m.tier2.bytes,
                  "use": m.tier2.bytes as f64 / core.shared.chunks.tier2.budget().max(1) as f64},
        "thresholds": {"hit_rate_warning": HIT_RATE_WARNING, "hit_rate_critical": HIT_RATE_CRITICAL},
    })
}

fn track_status(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let audio = track_audio(core, id)?;
    let total = audio.total_chunks(core.shared.chunks.chunk_duration_s);
    // Variant = preset/intensity/format; chunks cached in tier 2 or this core's tier 1.
    let mut variants: BTreeMap<String, (BTreeSet<u32>, BTreeSet<u32>)> = BTreeMap::new();
    let current = |k: &crate::cache::ChunkKey| k.revision == audio.revision;
    for k in core
        .shared
        .chunks
        .tier2
        .keys_of(id)
        .into_iter()
        .filter(current)
    {
        variants.entry(k.variant()).or_default().0.insert(k.index);
    }
    for k in core.tier1.borrow().keys_of(id).into_iter().filter(current) {
        variants.entry(k.variant()).or_default().1.insert(k.index);
    }
    let list: Vec<_> = variants
        .into_iter()
        .map(|(variant, (t2, t1))| {
            let all: BTreeSet<u32> = t2.union(&t1).copied().collect();
            json!({
                "variant": variant,
                "tier2_chunks": t2,
                "tier1_chunks_this_core": t1,
                "cached_chunks": all.len(),
                "completion_percent": if total == 0 { 0.0 } else { all.len() as f64 * 100.0 / f64::from(total) },
            })
        })
        .collect();
    Ok(Reply::ok(json!({"track_id": id, "total_chunks": total, "variants": list}))?.into())
}

fn broadcast_clear(core: &CoreState, track: Option<i64>) {
    core.tier1.borrow_mut().remove_track(track);
    core.publish_cache_stats();
    if let Some(m) = core.shared.mailboxes.get() {
        m.broadcast(CoreMessage::ClearCache { track });
    }
}

fn clear(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let (entries, bytes) = core.shared.chunks.tier2.remove_track(None);
    broadcast_clear(core, None);
    Ok(Reply::ok(json!({"tier2_entries_removed": entries, "tier2_bytes_removed": bytes, "tier1": "cleared on every core"}))?.into())
}

fn clear_track(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    track_audio(core, id)?;
    let (entries, bytes) = core.shared.chunks.tier2.remove_track(Some(id));
    broadcast_clear(core, Some(id));
    Ok(Reply::ok(
        json!({"track_id": id, "tier2_entries_removed": entries, "tier2_bytes_removed": bytes}),
    )?
    .into())
}
