//! Streaming endpoints: track metadata for chunking, chunks from the two-tier cache,
//! and whole files with `Range`.

use super::common::{path_id, reader};
use crate::audio::encode::ChunkFormat;
use crate::audio::preset::Preset;
use crate::cache::ChunkKey;
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::response::{FileBody, Response};
use crate::http::router::{Handler, HandlerResult, LocalFuture, QueryParam, Route, RouteClass};
use crate::http::validate::QueryFields;
use crate::runtime::core_state::CoreState;
use serde::Serialize;
use std::rc::Rc;

const CHUNK_QUERY: &[QueryParam] = &[
    (
        "format",
        "string",
        "wav (PCM 16-bit WAV file, default) or f32 (raw interleaved little-endian float)",
    ),
    (
        "preset",
        "string",
        "original (default) or normalized (EBU R128 toward -14 LUFS, limited)",
    ),
    (
        "intensity",
        "number",
        "0.0-1.0, how far normalized moves (default 1.0; rounded to one decimal)",
    ),
];

pub(crate) fn routes() -> Vec<Route> {
    use Handler::{Async, Sync};
    use Method::Get;
    vec![
        Route::new(
            Get,
            "/api/stream/{track_id}/metadata",
            RouteClass::Api,
            "Sample rate, channels, duration and chunking of a track",
            Sync(metadata),
        ),
        Route::new(
            Get,
            "/api/stream/{track_id}/chunk/{index}",
            RouteClass::Stream,
            "One decoded chunk (from tier 1, tier 2 or a decode)",
            Async(chunk),
        )
        .query(CHUNK_QUERY),
        Route::new(
            Get,
            "/api/tracks/{id}/file",
            RouteClass::Stream,
            "The original file, with Range support",
            Sync(file),
        ),
    ]
}

#[derive(Serialize)]
struct StreamMetadata {
    track_id: i64,
    sample_rate: u32,
    channels: u32,
    frames: u64,
    duration_ms: u64,
    chunk_duration: f64,
    chunk_frames: u64,
    total_chunks: u32,
    formats: [&'static str; 2],
    presets: [&'static str; 2],
    loudness_lufs: Option<f64>,
}

fn metadata(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "track_id")?;
    let cached = core
        .library
        .as_ref()
        .is_some_and(|lib| core.tracks.holds(lib, id));
    let a = core.chunk_path().track(id)?;
    let d = core.shared.chunks.chunk_duration_s;
    let reply = Reply::ok(StreamMetadata {
        track_id: id,
        sample_rate: a.sample_rate,
        channels: a.channels,
        frames: a.frames,
        duration_ms: a.frames * 1000 / u64::from(a.sample_rate),
        chunk_duration: d,
        chunk_frames: a.chunk_frames(d),
        total_chunks: a.total_chunks(d),
        formats: ["wav", "f32"],
        presets: ["original", "normalized"],
        loudness_lufs: a.loudness_lufs,
    })?;
    Ok(if cached {
        reply.cache_source("memory")
    } else {
        reply
    }
    .into())
}

/// Which rendering of a track's chunks a request wants (`format`, `preset`,
/// `intensity`); the chunk and warm routes read it the same way.
pub(crate) struct Variant {
    pub format: ChunkFormat,
    pub preset: Preset,
    pub intensity: f64,
}

impl Variant {
    pub(crate) fn from_query(q: &mut QueryFields) -> Self {
        let format = q
            .choice("format", &["wav", "f32"])
            .and_then(ChunkFormat::parse)
            .unwrap_or(ChunkFormat::Wav);
        let preset = q
            .choice("preset", &["original", "normalized"])
            .and_then(Preset::parse)
            .unwrap_or(Preset::Original);
        let intensity = q.float("intensity", 0.0, 1.0).unwrap_or(1.0);
        Self {
            format,
            preset,
            intensity,
        }
    }
}

fn chunk(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "track_id")?;
        let index: u32 = cx.param("index").parse().map_err(|_| {
            ApiError::field("index", "type_error", "must be a non-negative integer")
        })?;
        let mut q = QueryFields::from_request(&req);
        let Variant {
            format,
            preset,
            intensity,
        } = Variant::from_query(&mut q);
        q.finish()?;
        let path = core.chunk_path();
        let mut audio = path.track(id)?;
        let total = audio.check_index(index, core.shared.chunks.chunk_duration_s)?;
        if preset == Preset::Normalized {
            audio = path.with_loudness(audio).await?;
        }
        let key = ChunkKey::for_request(id, audio.revision, preset, intensity, index, format);
        let (body, tier) = path.fetch(key, &audio).await?;
        if index + 1 < total {
            path.prefetch(
                key.with_index(index + 1),
                &audio,
                crate::cache::tier2::Admission::Prefetched,
            );
        }
        core.publish_cache_stats();
        let etag = format!(
            "\"{id}-{:x}-{}-{}-{index}-{}\"",
            audio.revision,
            preset.as_str(),
            key.intensity_tenths,
            format.as_str()
        );
        if req.header("if-none-match") == Some(etag.as_str()) {
            return Ok(Response::new(304)
                .header("ETag", etag)
                .header("X-Cache-Tier", tier.as_str())
                .into());
        }
        let elapsed = cx.started.elapsed();
        core.metrics.borrow_mut().record(
            crate::monitor::recorder::SeriesKind::Chunk,
            tier.as_str(),
            elapsed.as_micros() as u64,
        );
        let micros = elapsed.as_secs_f64() * 1000.0;
        let mut resp = Response::new(200)
            .header("Content-Type", format.content_type())
            .header("X-Cache-Tier", tier.as_str())
            .header("X-Chunk-Index", u64::from(index))
            .header("X-Sample-Rate", u64::from(audio.sample_rate))
            .header("X-Channels", u64::from(audio.channels))
            .header("ETag", etag)
            .header("Cache-Control", "public, max-age=3600")
            .header(
                "Server-Timing",
                format!("cache;desc=\"{}\";dur={micros:.3}", tier.as_str()),
            );
        resp.body = body;
        Ok(resp.into())
    })
}

/// Parses a single `Range: bytes=` spec against a file size. `Ok(None)`: serve whole
/// (no header, several ranges, or syntax we ignore per RFC 9110 §14.2); `Err`: 416.
/// A range bound: digits only; a number past `u64` saturates, so an overlong end or
/// suffix is clamped to the file like any other overshoot (RFC 9110 §14.1.2).
fn range_number(s: &str) -> Result<u64, ()> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(s.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n = range_number(b)?;
            if n == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, _) => {
            let start = range_number(a)?;
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                range_number(b)?
            };
            if start >= size || end < start {
                return Err(());
            }
            (start, end.min(size - 1))
        }
        (true, true) => return Err(()),
    };
    Ok(Some(range))
}

fn file(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let lib = reader(core)?;
    let path = lib.track_path(id)?;
    let track = lib.track(id)?;
    let size = std::fs::metadata(&path)
        .map_err(|e| ApiError::NotFound(format!("the file of track {id} is gone: {e}")))?
        .len();
    let content_type = match track.format.as_str() {
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "m4a" => "audio/mp4",
        _ => "application/octet-stream",
    };
    let (status, offset, len, range_header) = match parse_range(req.header("range"), size) {
        Ok(None) => (200, 0, size, None),
        Ok(Some((a, b))) => (206, a, b - a + 1, Some(format!("bytes {a}-{b}/{size}"))),
        Err(()) => {
            let mut resp = crate::http::envelope::error(
                &ApiError::RangeNotSatisfiable(format!("the file has {size} bytes")),
                &cx.request_id,
                cx.started,
            );
            resp.push_header("Content-Range", format!("bytes */{size}"));
            return Ok(resp.into());
        }
    };
    let mut resp = Response::new(status)
        .header("Content-Type", content_type)
        .header("Accept-Ranges", "bytes")
        .header("Cache-Control", "public, max-age=3600");
    if let Some(cr) = range_header {
        resp.push_header("Content-Range", cr);
    }
    resp.file = Some(FileBody {
        path: path.into(),
        offset,
        len,
    });
    Ok(resp.into())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-99"), 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range(Some("bytes=900-"), 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range(Some("bytes=-100"), 1000), Ok(Some((900, 999))));
        assert_eq!(
            parse_range(Some("bytes=990-2000"), 1000),
            Ok(Some((990, 999)))
        );
        assert_eq!(parse_range(Some("bytes=1000-"), 1000), Err(()));
        assert_eq!(parse_range(Some("bytes=5-1"), 1000), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 1000), Ok(None));
        assert_eq!(parse_range(None, 1000), Ok(None));
    }
}
