//! The chunk path: tier 1 → tier 2 → single-flight decode on the pool, then prefetch
//! of the next chunk at low priority. `ChunkService` is the shared part (tier 2, flights,
//! pool); tier 1 and the counters are the calling core's.

use super::error::ChunkError;
use super::events::{CacheEvent, CacheSink};
use super::flight::{Flight, FlightError, FlightResult, Flights, Role};
use super::stats::CoreChunkCounters;
use super::tier1::TierOneShard;
use super::tier2::{Admission, TierTwo};
use super::track::{TrackAudio, TrackAudioCache};
use super::{ChunkKey, Tier};
use crate::audio::decode::{DecodeError, measure_loudness};
use crate::audio::encode::{self, ChunkFormat};
use crate::audio::opus;
use crate::audio::pool::{DecodePool, Priority, QueueFull, Sessions};
use crate::audio::preset::{self, Preset};
use crate::library::store::LibraryReader;
use crate::library::{LibraryError, ops};
use bytes::Bytes;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The shared part of the chunk path. Crosses threads.
pub(crate) struct ChunkService {
    pub tier2: TierTwo,
    pub flights: Flights,
    pub pool: Arc<DecodePool>,
    /// Decode jobs run (requests and prefetches), for `/api/cache/stats`.
    pub decodes: AtomicU64,
    pub chunk_duration_s: f64,
    /// How long a client waits for a decode (`cache.decode_timeout_ms`).
    pub decode_timeout: std::time::Duration,
    /// Where clears and pressure are announced (set once at boot).
    events: std::sync::OnceLock<CacheSink>,
    /// Decode work measured: time spent and frames produced (the completion estimate).
    decode_micros: AtomicU64,
    decoded_frames: AtomicU64,
}

/// What `prefetch` did with a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefetch {
    /// Already in a tier.
    Cached,
    /// Being decoded already (a request or an earlier prefetch).
    InFlight,
    /// Queued for a decoder at low priority.
    Queued,
    /// The low-priority queue was full.
    Refused,
}

/// A decode job's link to the trace of the request (or prefetch) that queued it: its
/// wait in the pool's queue and the decode itself become INTERNAL child spans.
#[derive(Clone, Copy)]
struct Traced {
    parent: crate::trace::SpanContext,
    queued: std::time::Instant,
    priority: Priority,
}

impl Traced {
    /// On the submitting core: the span current there, if any.
    fn capture(priority: Priority) -> Option<Traced> {
        crate::trace::ambient::current().map(|parent| Traced {
            parent,
            queued: std::time::Instant::now(),
            priority,
        })
    }

    fn priority(self) -> &'static str {
        match self.priority {
            Priority::High => "high",
            Priority::Low => "low",
        }
    }

    /// On the decoder thread: records the queue wait, opens the decode's span.
    fn decoding(self, key: &ChunkKey) -> Option<crate::trace::Span> {
        use crate::trace::{Kind, child_of};
        if let Some(mut wait) = child_of(Some(self.parent), "decode queue wait", Kind::Internal) {
            wait.set("auralis.decode.priority", self.priority());
            wait.started_at(self.queued).end();
        }
        let mut span = child_of(Some(self.parent), "decode chunk", Kind::Internal)?;
        span.set("auralis.format", key.format.label());
        span.set("auralis.track_id", key.track);
        span.set("auralis.chunk_index", u64::from(key.index));
        span.set("auralis.decode.priority", self.priority());
        Some(span)
    }

    fn decoded(
        mut span: crate::trace::Span,
        started: std::time::Instant,
        result: &Result<Bytes, DecodeError>,
    ) {
        span.set(
            "auralis.decode_ms",
            started.elapsed().as_secs_f64() * 1000.0,
        );
        match result {
            Ok(body) => span.set("auralis.chunk_bytes", body.len() as u64),
            Err(e) => span.fail(e.to_string()),
        }
        span.end();
    }
}

/// Completes a flight even if the decode job panics, so no waiter hangs.
struct FlightGuard {
    svc: Arc<ChunkService>,
    key: ChunkKey,
    flight: Arc<Flight>,
    done: bool,
}

impl FlightGuard {
    fn complete(mut self, result: FlightResult) {
        self.done = true;
        self.svc.flights.complete(&self.key, &self.flight, result);
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if !self.done {
            self.svc.flights.complete(
                &self.key,
                &self.flight,
                Err(FlightError::Failed(DecodeError::Crashed)),
            );
        }
    }
}

fn decode_chunk(
    sessions: &mut Sessions,
    audio: &Arc<TrackAudio>,
    key: &ChunkKey,
    chunk_frames: u64,
) -> Result<Bytes, DecodeError> {
    crate::faults::decode(&audio.path);
    let start = u64::from(key.index) * chunk_frames;
    // Opus encodes from a pre-roll before the chunk and reads past its end; the next
    // chunk's span starts inside this one, so that part stays buffered.
    let (span, opus_window) = match key.format {
        ChunkFormat::Opus { .. } => {
            let end = (start + chunk_frames).min(audio.frames);
            let w = opus::Window::new(start, end, audio.sample_rate);
            let next_end = (end + chunk_frames).min(audio.frames);
            let next = opus::Window::new(end, next_end.max(end), audio.sample_rate);
            ((w.src_start, w.src_frames, next.src_start), Some(w))
        }
        _ => ((start, chunk_frames, start + chunk_frames), None),
    };
    let pcm = sessions
        .decoder(audio.track, &audio.path)
        .and_then(|d| d.read_span(span.0, span.1, span.2));
    let mut pcm = match pcm {
        Ok(p) => p,
        Err(e) => {
            sessions.drop_track(audio.track);
            return Err(e);
        }
    };
    if pcm.samples.is_empty() {
        return Err(DecodeError::PastEnd(key.index));
    }
    let gain = match key.preset {
        Preset::Original => 1.0,
        Preset::Normalized => {
            preset::normalization_gain(audio.loudness_lufs.unwrap_or(f64::NAN), key.intensity())
        }
        Preset::NormalizedAlbum => {
            let lufs = audio.album_loudness_lufs.or(audio.loudness_lufs);
            preset::normalization_gain(lufs.unwrap_or(f64::NAN), key.intensity())
        }
    };
    preset::apply(&mut pcm.samples, key.preset, gain);
    let encoded = match (key.format, opus_window) {
        (ChunkFormat::Opus { kbps }, Some(w)) => {
            let serial = (key.track as u32) ^ key.index.rotate_left(16);
            opus::encode_chunk(
                &pcm.samples,
                pcm.channels,
                pcm.sample_rate,
                &w,
                kbps,
                serial,
            )
            .map_err(encode::EncodeError::from)
        }
        (format, _) => encode::encode(&pcm.samples, pcm.channels, pcm.sample_rate, format),
    };
    encoded
        .map(Bytes::from)
        .map_err(|e| encode_failure(key.format, e))
}

/// An encoder's failure as a decode result (shared by every waiter, so `Clone`).
fn encode_failure(format: ChunkFormat, e: encode::EncodeError) -> DecodeError {
    match e {
        encode::EncodeError::Opus(opus::OpusError::Channels(channels)) => DecodeError::Channels {
            format: format.as_str(),
            channels,
        },
        other => DecodeError::Encode {
            format: format.as_str(),
            reason: other.to_string(),
        },
    }
}

impl ChunkService {
    pub(crate) fn new(c: &crate::config::CacheConfig) -> std::io::Result<Arc<Self>> {
        let probation = (c.tier2_bytes as f64 * c.prefetch_fraction) as u64;
        Ok(Arc::new(Self {
            tier2: TierTwo::new(c.tier2_bytes, probation),
            flights: Flights::default(),
            pool: DecodePool::start(
                c.decode_threads,
                c.decode_queue,
                std::time::Duration::from_millis(c.decode_timeout_ms),
            )?,
            decode_timeout: std::time::Duration::from_millis(c.decode_timeout_ms),
            decodes: AtomicU64::new(0),
            chunk_duration_s: c.chunk_duration_s,
            events: std::sync::OnceLock::new(),
            decode_micros: AtomicU64::new(0),
            decoded_frames: AtomicU64::new(0),
        }))
    }

    fn submit(
        self: &Arc<Self>,
        key: ChunkKey,
        audio: Arc<TrackAudio>,
        flight: Arc<Flight>,
        priority: Priority,
        admission: Admission,
    ) -> Result<(), QueueFull> {
        let svc = self.clone();
        let chunk_frames = audio.chunk_frames(self.chunk_duration_s);
        let guard_parts = (svc.clone(), key, flight.clone());
        let traced = Traced::capture(priority);
        let submitted = self.pool.submit(key.track, priority, move |sessions| {
            let guard = FlightGuard {
                svc: guard_parts.0,
                key: guard_parts.1,
                flight: guard_parts.2,
                done: false,
            };
            let span = traced.and_then(|t| t.decoding(&key));
            let started = std::time::Instant::now();
            let result = decode_chunk(sessions, &audio, &key, chunk_frames);
            if let Some(span) = span {
                Traced::decoded(span, started, &result);
            }
            svc.decodes.fetch_add(1, Ordering::Relaxed);
            if result.is_ok() {
                let micros = started.elapsed().as_micros() as u64;
                svc.decode_micros.fetch_add(micros, Ordering::Relaxed);
                svc.decoded_frames
                    .fetch_add(chunk_frames, Ordering::Relaxed);
            }
            if let Ok(body) = &result {
                svc.tier2.insert(key, body.clone(), admission);
            }
            guard.complete(result.map_err(FlightError::Failed));
        });
        if submitted.is_err() {
            self.flights
                .complete(&key, &flight, Err(FlightError::Dropped));
        }
        submitted
    }

    /// Measured decode speed of one decoder thread, in frames per second (`None`
    /// before the first decode). One track's chunks go to one thread, so this is
    /// also how fast one track's chunks are produced.
    pub(crate) fn decode_rate(&self) -> Option<f64> {
        let micros = self.decode_micros.load(Ordering::Relaxed);
        let frames = self.decoded_frames.load(Ordering::Relaxed);
        (micros > 0).then(|| frames as f64 * 1e6 / micros as f64)
    }

    /// Installs where cache events go; the first call wins.
    pub(crate) fn set_event_sink(&self, sink: CacheSink) {
        let _ = self.events.set(sink);
    }

    pub(crate) fn announce(&self, e: &CacheEvent) {
        if let Some(sink) = self.events.get() {
            sink(e);
        }
    }

    /// Measures a track's integrated loudness on the pool.
    pub(crate) async fn loudness(self: &Arc<Self>, audio: &TrackAudio) -> Result<f64, ChunkError> {
        let (tx, rx) = async_channel::bounded(1);
        let path = audio.path.clone();
        self.pool
            .submit(audio.track, Priority::High, move |_| {
                let _ = tx.try_send(measure_loudness(&path));
            })
            .map_err(|_| ChunkError::DecoderBusy)?;
        let answer = monoio::time::timeout(self.decode_timeout, rx.recv())
            .await
            .map_err(|_| ChunkError::TimedOut(self.decode_timeout))?;
        match answer {
            Ok(Ok((lufs, _peak))) => Ok(lufs),
            Ok(Err(reason)) => Err(ChunkError::Undecodable(reason)),
            Err(_) => Err(ChunkError::Lost),
        }
    }
}

/// A core's view of the chunk path — its tier 1, counters, track facts and library
/// reader plus the shared service: the one streaming service both transports use.
pub(crate) struct ChunkPath<'a> {
    pub tier1: &'a RefCell<TierOneShard>,
    pub counters: &'a RefCell<CoreChunkCounters>,
    pub service: &'a Arc<ChunkService>,
    pub tracks: &'a TrackAudioCache,
    pub library: Option<&'a LibraryReader>,
}

impl ChunkPath<'_> {
    /// The audio facts of track `id`.
    pub(crate) fn track(&self, id: i64) -> Result<Arc<TrackAudio>, ChunkError> {
        let lib = self.library.ok_or(LibraryError::Unconfigured)?;
        self.tracks.resolve(lib, id)
    }

    /// `audio` with its loudness known: measured once on the pool and stored in the
    /// library, for the normalized preset.
    pub(crate) async fn with_loudness(
        &self,
        audio: Arc<TrackAudio>,
    ) -> Result<Arc<TrackAudio>, ChunkError> {
        if audio.loudness_lufs.is_some() {
            return Ok(audio);
        }
        let lib = self.library.ok_or(LibraryError::Unconfigured)?;
        let lufs = match self.service.loudness(&audio).await {
            Err(ChunkError::Undecodable(reason)) => {
                return Err(self.decode_failed(&audio, reason).await);
            }
            r => r?,
        };
        let (id, stored) = (audio.track, lufs.is_finite().then_some(lufs));
        lib.library
            .transact(move |c| ops::set_loudness(c, id, stored))
            .await?;
        Ok(Arc::new(TrackAudio {
            loudness_lufs: Some(lufs),
            ..(*audio).clone()
        }))
    }

    /// What a failed decode means for the client: a file that is gone is `FileMissing`
    /// (and the track is marked missing until a rescan finds it), anything else is
    /// `Undecodable`, its reason logged.
    pub(crate) async fn decode_failed(
        &self,
        audio: &TrackAudio,
        reason: DecodeError,
    ) -> ChunkError {
        if !audio.path.exists() {
            if let Some(lib) = self.library {
                let id = audio.track;
                if let Err(e) = lib.library.transact(move |c| ops::set_missing(c, id)).await {
                    tracing::warn!(track = id, error = %e, "cannot mark the track missing");
                }
            }
            return ChunkError::FileMissing { track: audio.track };
        }
        tracing::warn!(track = audio.track, path = %audio.path.display(), error = %reason, "cannot decode");
        ChunkError::Undecodable(reason)
    }

    /// Serves a chunk from the nearest tier, decoding it (once, across cores) on a miss,
    /// and counts the answer under its format.
    pub(crate) async fn fetch(
        &self,
        key: ChunkKey,
        audio: &Arc<TrackAudio>,
    ) -> Result<(Bytes, Tier), ChunkError> {
        let answer = self.lookup(key, audio).await?;
        self.counters
            .borrow_mut()
            .answered(key.format, answer.1, answer.0.len());
        Ok(answer)
    }

    async fn lookup(
        &self,
        key: ChunkKey,
        audio: &Arc<TrackAudio>,
    ) -> Result<(Bytes, Tier), ChunkError> {
        if let Some(body) = self.tier1.borrow_mut().get(&key) {
            self.tracks.file_current(audio)?;
            return Ok((body, Tier::Tier1));
        }
        if let Some(body) = self.service.tier2.get(&key) {
            self.tracks.file_current(audio)?;
            self.counters.borrow_mut().tier2_hits += 1;
            self.tier1.borrow_mut().insert(key, body.clone());
            return Ok((body, Tier::Tier2));
        }
        self.counters.borrow_mut().tier2_misses += 1;
        let mut joined = None;
        for _attempt in 0..3 {
            let rx = match self.service.flights.join(key) {
                Role::Leader(flight) => {
                    let rx = flight.wait();
                    self.service
                        .submit(
                            key,
                            audio.clone(),
                            flight,
                            Priority::High,
                            Admission::Requested,
                        )
                        .map_err(|_| ChunkError::DecoderBusy)?;
                    rx
                }
                Role::Follower(flight) => {
                    joined =
                        crate::trace::child("single-flight wait", crate::trace::Kind::Internal);
                    flight.wait()
                }
            };
            // A decode that hangs (a hung file system) costs this client a 504, never
            // a request that waits forever.
            let wait = self.service.decode_timeout;
            let answer = monoio::time::timeout(wait, rx.recv()).await;
            if let Some(span) = joined.take() {
                span.end();
            }
            let answer = answer.map_err(|_| ChunkError::TimedOut(wait))?;
            match answer {
                Ok(Ok(body)) => {
                    // Joined a prefetch's decode: that chunk was asked for after all.
                    self.service.tier2.promote(&key);
                    self.tier1.borrow_mut().insert(key, body.clone());
                    return Ok((body, Tier::Miss));
                }
                Ok(Err(FlightError::Dropped)) => continue,
                Ok(Err(FlightError::Failed(reason))) => {
                    return Err(self.decode_failed(audio, reason).await);
                }
                Err(_) => return Err(ChunkError::Lost),
            }
        }
        Err(ChunkError::DecoderOverloaded)
    }

    /// Starts decoding `key` at low priority unless it is cached or being decoded.
    /// `admission`: `Prefetched` ahead of a listener, `Requested` when an admin warms.
    pub(crate) fn prefetch(
        &self,
        key: ChunkKey,
        audio: &Arc<TrackAudio>,
        admission: Admission,
    ) -> Prefetch {
        if self.tier1.borrow().contains(&key) || self.service.tier2.contains(&key) {
            return Prefetch::Cached;
        }
        if self.service.flights.in_flight(&key) {
            return Prefetch::InFlight;
        }
        match self.service.flights.join(key) {
            Role::Leader(flight) => {
                match self
                    .service
                    .submit(key, audio.clone(), flight, Priority::Low, admission)
                {
                    Ok(()) => Prefetch::Queued,
                    Err(_) => Prefetch::Refused,
                }
            }
            Role::Follower(_) => Prefetch::InFlight,
        }
    }
}
