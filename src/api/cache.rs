//! Cache endpoints: statistics per core and merged, health against budgets, per-track
//! status, and clearing (tier 2 here; every core's tier 1 through its inbox).

use super::common::path_id;
use crate::cache::ChunkKey;
use crate::cache::fetch::Prefetch;
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::request::{Method, Request};
use crate::http::router::LocalFuture;
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::http::validate::QueryFields;
use crate::runtime::core_state::CoreState;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

pub(crate) fn routes() -> Vec<Route> {
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
        )
        .data("CacheStats"),
        Route::new(
            Get,
            "/api/cache/health",
            api,
            "Budgets against use and hit-rate status",
            Sync(health),
        )
        .data("CacheHealth"),
        Route::new(
            Get,
            "/api/cache/track/{id}/status",
            api,
            "Chunks of a track cached, per preset",
            Sync(track_status),
        )
        .data("CacheTrackStatus"),
        Route::new(
            Post,
            "/api/cache/track/{id}/warm",
            api,
            "Decode a whole track into the cache at low priority (after client requests)",
            Handler::Async(warm),
        )
        .query(&super::stream::VARIANT)
        .data("CacheWarm")
        .success(202),
        Route::new(
            Post,
            "/api/cache/clear",
            api,
            "Empty both tiers",
            Sync(clear),
        )
        .data("CacheCleared"),
        Route::new(
            Delete,
            "/api/cache/track/{id}",
            api,
            "Drop a track's chunks from both tiers",
            Sync(clear_track),
        )
        .data("CacheTrackEvicted"),
    ]
}

fn stats(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(crate::cache::report::stats(&core.cache_sources()))?.into())
}

fn health(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(crate::cache::report::health(&core.cache_sources()))?.into())
}

fn track_status(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let audio = core.chunk_path().track(id)?;
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
    let rate = core.shared.chunks.decode_rate();
    let frames = audio.chunk_frames(core.shared.chunks.chunk_duration_s);
    let eta =
        |missing: u32| rate.map(|r| (f64::from(missing) * frames as f64 / r * 10.0).round() / 10.0);
    let list: Vec<_> = list
        .into_iter()
        .map(|mut v| {
            let cached = v["cached_chunks"].as_u64().unwrap_or(0) as u32;
            v["estimated_completion_s"] = json!(eta(total.saturating_sub(cached)));
            v
        })
        .collect();
    Ok(Reply::ok(json!({
        "track_id": id,
        "total_chunks": total,
        "variants": list,
        "decode_rate_frames_per_s": rate.map(f64::round),
        "estimated_completion_s": eta(total),
        "estimate": "chunks not cached × frames per chunk ÷ the measured decode rate of one decoder (a track's chunks are decoded by one); null before the first decode",
    }))?
    .into())
}

/// Queues every chunk of a track not cached yet, at low priority (client requests go
/// first); what the low-priority queue refuses is counted, never silently dropped.
fn warm(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        // The variant is chosen in the query, as for a chunk; a body would be ignored,
        // so any field in one is refused (422 naming it) rather than dropped silently.
        if !req.body.is_empty() {
            crate::http::validate::BodyFields::from_request(&req)?.finish()?;
        }
        let mut q = QueryFields::from_request(&req);
        let v = super::stream::Variant::from_query(&mut q, None)?;
        q.finish()?;
        let path = core.chunk_path();
        let mut audio = path.track(id)?;
        if v.preset.normalizes() {
            audio = path.with_loudness(audio).await?;
        }
        let d = core.shared.chunks.chunk_duration_s;
        let total = audio.total_chunks(d);
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for index in 0..total {
            let key =
                ChunkKey::for_request(id, audio.revision, v.preset, v.intensity, index, v.format);
            let what = match path.prefetch(key, &audio, crate::cache::tier2::Admission::Requested) {
                Prefetch::Cached => "cached",
                Prefetch::InFlight => "in_flight",
                Prefetch::Queued => "queued",
                Prefetch::Refused => "refused",
            };
            *counts.entry(what).or_default() += 1;
        }
        let queued = counts.get("queued").copied().unwrap_or(0);
        let eta =
            core.shared.chunks.decode_rate().map(|r| {
                (f64::from(queued) * audio.chunk_frames(d) as f64 / r * 10.0).round() / 10.0
            });
        Ok(Reply::with_status(
            202,
            json!({"track_id": id, "total_chunks": total, "chunks": counts, "estimated_completion_s": eta}),
        )?
        .message(if counts.contains_key("refused") {
            "some chunks were refused by the full low-priority queue: warm again later"
        } else {
            "warming"
        })
        .into())
    })
}

fn clear(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let (entries, bytes) = core.clear_cache(None)?;
    Ok(Reply::ok(json!({"tier2_entries_removed": entries, "tier2_bytes_removed": bytes, "tier1": "cleared on every core"}))?.into())
}

fn clear_track(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    core.chunk_path().track(id)?;
    let (entries, bytes) = core.clear_cache(Some(id))?;
    Ok(Reply::ok(
        json!({"track_id": id, "tier2_entries_removed": entries, "tier2_bytes_removed": bytes}),
    )?
    .into())
}
