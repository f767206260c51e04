//! Cache endpoints: statistics per core and merged, health against budgets, per-track
//! status, and clearing (tier 2 here; every core's tier 1 through its inbox).

use super::common::path_id;
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, HandlerResult, Route, RouteClass};
use crate::runtime::core_state::CoreState;
use crate::runtime::mailbox::CoreMessage;
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
    Ok(Reply::ok(json!({"track_id": id, "total_chunks": total, "variants": list}))?.into())
}

/// Clears tier 1 here and on every other core; 503 when a core's inbox refused it.
fn broadcast_clear(core: &CoreState, track: Option<i64>) -> Result<(), ApiError> {
    core.tier1.borrow_mut().remove_track(track);
    core.publish_cache_stats();
    let full = core
        .shared
        .mailboxes
        .get()
        .map_or(0, |m| m.broadcast(CoreMessage::ClearCache { track }));
    if full > 0 {
        return Err(ApiError::Unavailable(format!(
            "{full} core(s) are too busy to clear their tier 1; retry shortly"
        )));
    }
    Ok(())
}

fn clear(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let (entries, bytes) = core.shared.chunks.tier2.remove_track(None);
    broadcast_clear(core, None)?;
    Ok(Reply::ok(json!({"tier2_entries_removed": entries, "tier2_bytes_removed": bytes, "tier1": "cleared on every core"}))?.into())
}

fn clear_track(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    core.chunk_path().track(id)?;
    let (entries, bytes) = core.shared.chunks.tier2.remove_track(Some(id));
    broadcast_clear(core, Some(id))?;
    Ok(Reply::ok(
        json!({"track_id": id, "tier2_entries_removed": entries, "tier2_bytes_removed": bytes}),
    )?
    .into())
}
