//! Streaming endpoints: track metadata for chunking, chunks from the two-tier cache,
//! and whole files with `Range`.

use super::common::{path_id, reader};
use crate::audio::encode::ChunkFormat;
use crate::audio::preset::Preset;
use crate::cache::ChunkKey;
use crate::http::accept::Offer;
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::{ApiError, FieldError};
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::router::{
    Handler, HandlerResult, LocalFuture, Param, QueryParam, Route, RouteClass,
};
use crate::http::validate::QueryFields;
use crate::runtime::core_state::CoreState;
use serde::Serialize;
use std::rc::Rc;

/// What a chunk can be, by format.
const CHUNK_TYPES: &[&str] = &[
    "audio/wav",
    "application/octet-stream",
    "audio/flac",
    "audio/ogg; codecs=opus",
];

const CHUNK_QUERY: &[QueryParam] = &[
    (
        "rev",
        Param::Int(i64::MIN, i64::MAX),
        "the track's revision from its metadata: with it the chunk is cacheable for a year \
         (immutable); a revision the file no longer has is 409 (the file changed: fetch the \
         metadata again); without it, caches must revalidate (ETag)",
    ),
    (
        "format",
        Param::OneOf(&ChunkFormat::NAMES),
        "wav (PCM 16-bit WAV file), f32 (raw interleaved little-endian float), flac (lossless, \
         the WAV chunk's samples) or opus (Ogg Opus at 48 kHz, chunks join gaplessly). \
         Without it the Accept header chooses (audio/wav, audio/flac, audio/ogg; codecs=opus, \
         application/octet-stream); without either, wav",
    ),
    VARIANT[1],
    VARIANT[2],
    VARIANT[3],
    VARIANT[4],
];

/// The variant parameters a chunk and a cache warm share (format first).
pub(crate) const VARIANT: [QueryParam; 5] = [
    (
        "format",
        Param::OneOf(&ChunkFormat::NAMES),
        "wav (default), f32, flac or opus",
    ),
    (
        "level",
        Param::Int(0, 8),
        "FLAC compression level 0 (fastest) to 8 (smallest), default 5; format=flac only",
    ),
    (
        "bitrate",
        Param::Int(32, 256),
        "Opus bitrate in kbit/s, 32 to 256, default 128; format=opus only",
    ),
    (
        "preset",
        Param::OneOf(&Preset::NAMES),
        "original (default), normalized (EBU R128 toward -14 LUFS, limited) or \
         normalized_album (the album's loudness)",
    ),
    (
        "intensity",
        Param::Num(0.0, 1.0),
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
        )
        .data("StreamMetadata"),
        Route::new(
            Get,
            "/api/stream/{track_id}/chunk/{index}",
            RouteClass::Stream,
            "One decoded chunk (from tier 1, tier 2 or a decode)",
            Async(chunk),
        )
        .query(CHUNK_QUERY)
        .raw(CHUNK_TYPES)
        .also(&[304, 406, 409, 504]),
        Route::new(
            Get,
            "/api/tracks/{id}/file",
            RouteClass::Stream,
            "The original file, with Range support",
            Sync(file),
        )
        .raw(&[
            "audio/wav",
            "audio/flac",
            "audio/mpeg",
            "audio/ogg",
            "audio/mp4",
            "application/octet-stream",
        ])
        .also(&[206, 304, 416]),
        Route::new(
            Get,
            "/player",
            RouteClass::Api,
            "Web player (HTML): a track's chunks in a chosen format, scheduled gaplessly with Web Audio",
            Sync(player),
        )
        .query(PLAYER_QUERY)
        .raw(&["text/html"]),
    ]
}

/// Read by the page's script, not the server: a link can open it ready to play.
const PLAYER_QUERY: &[QueryParam] = &[
    ("track", Param::Int(1, i64::MAX), "track id to select"),
    (
        "format",
        Param::OneOf(&["opus", "flac", "wav"]),
        "opus (default), flac or wav",
    ),
    (
        "autoplay",
        Param::Str(64),
        "any value: start playing on load",
    ),
    ("session", Param::Str(128), "a shared session id to join"),
];

/// The player: one self-contained page (no CDN) that fetches chunks, decodes them with
/// `decodeAudioData` and schedules them back to back on one Web Audio clock.
const PLAYER: &str = include_str!("../../assets/player.html");

/// The page, once its query holds only what the page's script understands (a link
/// with a typo is told so, not opened as if it had worked).
fn player(_core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    let mut q = QueryFields::from_request(req);
    q.int("track", 1, i64::MAX);
    q.choice("format", &["opus", "flac", "wav"]);
    q.string("autoplay", 64);
    q.string("session", 128);
    q.finish()?;
    super::common::html_page(PLAYER)
}

/// A query parameter's range and default, as metadata shows it.
#[derive(Serialize)]
struct ParamRange {
    min: u16,
    max: u16,
    default: u16,
    unit: &'static str,
}

/// Each format's content type and parameters (`GET /api/stream/{id}`).
#[derive(Serialize)]
struct FormatParameters {
    wav: FormatInfo,
    f32: FormatInfo,
    flac: FormatInfo,
    opus: FormatInfo,
}

#[derive(Serialize)]
struct FormatInfo {
    content_type: &'static str,
    /// The rate the chunk's audio is at: `track` (the track's own) or 48000 (Opus).
    sample_rate: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<ParamRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bitrate: Option<ParamRange>,
}

impl Default for FormatParameters {
    fn default() -> Self {
        let plain = |f: ChunkFormat| FormatInfo {
            content_type: f.content_type(),
            sample_rate: "track",
            level: None,
            bitrate: None,
        };
        let flac = crate::audio::flac::LEVELS;
        let opus = crate::audio::opus::BITRATES;
        Self {
            wav: plain(ChunkFormat::Wav),
            f32: plain(ChunkFormat::F32),
            flac: FormatInfo {
                level: Some(ParamRange {
                    min: u16::from(*flac.start()),
                    max: u16::from(*flac.end()),
                    default: u16::from(crate::audio::flac::DEFAULT_LEVEL),
                    unit: "level",
                }),
                ..plain(ChunkFormat::Flac { level: 0 })
            },
            opus: FormatInfo {
                sample_rate: "48000",
                bitrate: Some(ParamRange {
                    min: *opus.start(),
                    max: *opus.end(),
                    default: crate::audio::opus::DEFAULT_BITRATE,
                    unit: "kbit/s",
                }),
                ..plain(ChunkFormat::Opus { kbps: 0 })
            },
        }
    }
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
    formats: [&'static str; 4],
    format_parameters: FormatParameters,
    presets: [&'static str; 3],
    loudness_lufs: Option<f64>,
    /// Changes when the file changes: chunk URLs carrying it (`?rev=`) never go stale.
    /// A decimal string: it is the file's mtime in nanoseconds, past JavaScript's 2^53.
    revision: String,
}

fn metadata(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "track_id")?;
    let a = core.chunk_path().track(id)?;
    let d = core.shared.chunks.chunk_duration_s;
    Ok(Reply::ok(StreamMetadata {
        track_id: id,
        sample_rate: a.sample_rate,
        channels: a.channels,
        frames: a.frames,
        duration_ms: a.frames * 1000 / u64::from(a.sample_rate),
        chunk_duration: d,
        chunk_frames: a.chunk_frames(d),
        total_chunks: a.total_chunks(d),
        formats: ChunkFormat::NAMES,
        format_parameters: FormatParameters::default(),
        presets: Preset::NAMES,
        loudness_lufs: a.loudness_lufs,
        revision: a.revision.to_string(),
    })?
    .into())
}

/// A chunk's sample rate: the track's, except Opus, always 48 kHz (RFC 7845 §5.1).
fn chunk_rate(format: ChunkFormat, audio: &crate::cache::track::TrackAudio) -> u32 {
    match format {
        ChunkFormat::Opus { .. } => crate::audio::opus::RATE,
        _ => audio.sample_rate,
    }
}

/// A chunk URL's `rev` (when given) must be the file's current revision.
fn check_revision(id: i64, asked: Option<i64>, current: i64) -> Result<(), ApiError> {
    match asked {
        Some(r) if r != current => Err(ApiError::StateConflict(vec![FieldError::new(
            "rev",
            "state_conflict",
            format!(
                "track {id} changed: its revision is now {current} (fetch /api/stream/{id}/metadata again)"
            ),
        )])),
        _ => Ok(()),
    }
}

/// A track's first chunk served (not a 304: a client revalidating its cache is not
/// starting the track) counts a play. Written in the background, so the chunk's
/// latency never waits for the library writer; a failed write is logged.
fn count_play(core: &Rc<CoreState>, id: i64) {
    let Some(lib) = core.library.as_ref().map(|l| l.library.clone()) else {
        return;
    };
    monoio::spawn(async move {
        let owner = crate::library::events::Owner::Nobody;
        if let Err(e) = lib
            .transact_as(owner, move |c| crate::library::ops::record_play(c, id))
            .await
        {
            tracing::warn!(track = id, error = %e, "could not count a play");
        }
    });
}

/// A chunk URL with `?rev=` names one version of the file forever; one without it
/// may name different audio tomorrow (the file rewritten), so caches revalidate.
fn chunk_cache_control(pinned: bool) -> &'static str {
    if pinned {
        "public, max-age=31536000, immutable"
    } else {
        "public, no-cache"
    }
}

/// What `Accept` may ask for, in the server's order of preference.
const OFFERS: [Offer; 8] = [
    Offer::new("audio/wav", &[], "wav"),
    Offer::new("audio/wave", &[], "wav"),
    Offer::new("audio/x-wav", &[], "wav"),
    Offer::new("audio/flac", &[], "flac"),
    Offer::new("audio/x-flac", &[], "flac"),
    Offer::new("audio/ogg", &[("codecs", "opus")], "opus"),
    Offer::new("audio/opus", &[], "opus"),
    Offer::new("application/octet-stream", &[], "f32"),
];

/// Which rendering of a track's chunks a request wants (`format` and its parameter,
/// `preset`, `intensity`); the chunk and warm routes read it the same way.
pub(crate) struct Variant {
    pub format: ChunkFormat,
    pub preset: Preset,
    pub intensity: f64,
}

impl Variant {
    /// Reads the variant; `accept` (the request's `Accept`) picks the format when the
    /// query names none. Field errors go to `q`; nothing acceptable is a 406.
    pub(crate) fn from_query(q: &mut QueryFields, accept: Option<&str>) -> Result<Self, ApiError> {
        let named = q.has("format");
        let name = match q.choice("format", &ChunkFormat::NAMES) {
            Some(name) => name,
            None if named => "wav",
            None => negotiate(accept)?,
        };
        // Types here, ranges and which format takes which parameter in the domain.
        let level = q.int("level", i64::MIN, i64::MAX);
        let kbps = q.int("bitrate", i64::MIN, i64::MAX);
        let format = match ChunkFormat::with_params(name, level, kbps) {
            Some(Ok(format)) => format,
            Some(Err(e)) => {
                q.error(e.field(), "value_error", e.to_string());
                ChunkFormat::Wav
            }
            None => ChunkFormat::Wav,
        };
        let preset = q
            .choice("preset", &Preset::NAMES)
            .and_then(Preset::parse)
            .unwrap_or(Preset::Original);
        let intensity = q.float("intensity", 0.0, 1.0).unwrap_or(1.0);
        Ok(Self {
            format,
            preset,
            intensity,
        })
    }
}

/// The format `Accept` prefers (wav when there is no header).
fn negotiate(accept: Option<&str>) -> Result<&'static str, ApiError> {
    let Some(header) = accept else {
        return Ok("wav");
    };
    crate::http::accept::choose(header, &OFFERS)
        .map(|o| o.name)
        .ok_or_else(|| ApiError::NotAcceptable {
            available: ChunkFormat::NAMES
                .iter()
                .filter_map(|n| ChunkFormat::with_params(n, None, None)?.ok())
                .map(|f| f.content_type())
                .collect(),
        })
}

fn chunk(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "track_id")?;
        let index: u32 = cx.param("index").parse().map_err(|_| {
            ApiError::field("index", "type_error", "must be a non-negative integer")
        })?;
        let mut q = QueryFields::from_request(&req);
        let named_format = req
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("format=")));
        let Variant {
            format,
            preset,
            intensity,
        } = Variant::from_query(&mut q, req.header("accept"))?;
        let rev = q.int("rev", i64::MIN, i64::MAX);
        q.finish()?;
        let path = core.chunk_path();
        let mut audio = path.track(id)?;
        check_revision(id, rev, audio.revision)?;
        let total = audio.check_index(index, core.shared.chunks.chunk_duration_s)?;
        if preset.normalizes() {
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
            format.label()
        );
        if req.header("if-none-match") == Some(etag.as_str()) {
            return Ok(Response::new(304)
                .header("ETag", etag)
                .header("X-Cache-Tier", tier.as_str())
                .into());
        }
        if index == 0 {
            count_play(&core, id);
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
            .header("X-Sample-Rate", u64::from(chunk_rate(format, &audio)))
            .header("X-Channels", u64::from(audio.channels))
            .header("ETag", etag)
            .header("Cache-Control", chunk_cache_control(rev.is_some()))
            .header(
                "Server-Timing",
                format!("cache;desc=\"{}\";dur={micros:.3}", tier.as_str()),
            );
        if !named_format {
            // The format came from Accept: a cache must key this answer on it too.
            resp.push_header("Vary", "Accept");
        }
        resp.body = body.into();
        Ok(resp.into())
    })
}

fn file(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let lib = reader(core)?;
    let path = lib.track_path(id)?;
    let track = lib.track(id)?;
    let content_type = match track.format.as_str() {
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "m4a" => "audio/mp4",
        _ => "application/octet-stream",
    };
    Ok(crate::http::file::serve(cx, req, id, &path, content_type)?.into())
}

#[cfg(test)]
mod tests {
    use crate::http::file::parse_range;

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
