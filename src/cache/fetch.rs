//! The chunk path: tier 1 → tier 2 → single-flight decode on the pool, then prefetch
//! of the next chunk at low priority. `ChunkService` is the shared part (tier 2, flights,
//! pool); tier 1 and the counters are the calling core's.

use super::error::ChunkError;
use super::flight::{Flight, FlightError, FlightResult, Flights, Role};
use super::stats::CoreChunkCounters;
use super::tier1::TierOneShard;
use super::tier2::TierTwo;
use super::track::{TrackAudio, TrackAudioCache};
use super::{ChunkKey, Tier};
use crate::audio::decode::{DecodeError, measure_loudness};
use crate::audio::encode;
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
    let start = u64::from(key.index) * chunk_frames;
    let pcm = sessions
        .decoder(audio.track, &audio.path)
        .and_then(|d| d.read_range(start, chunk_frames));
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
    };
    preset::apply(&mut pcm.samples, key.preset, gain);
    Ok(Bytes::from(encode::encode(
        &pcm.samples,
        pcm.channels,
        pcm.sample_rate,
        key.format,
    )))
}

impl ChunkService {
    pub(crate) fn new(
        tier2_bytes: u64,
        decode_threads: usize,
        chunk_duration_s: f64,
    ) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            tier2: TierTwo::new(tier2_bytes),
            flights: Flights::default(),
            pool: DecodePool::start(decode_threads)?,
            decodes: AtomicU64::new(0),
            chunk_duration_s,
        }))
    }

    fn submit(
        self: &Arc<Self>,
        key: ChunkKey,
        audio: Arc<TrackAudio>,
        flight: Arc<Flight>,
        priority: Priority,
    ) -> Result<(), QueueFull> {
        let svc = self.clone();
        let chunk_frames = audio.chunk_frames(self.chunk_duration_s);
        let guard_parts = (svc.clone(), key, flight.clone());
        let submitted = self.pool.submit(key.track, priority, move |sessions| {
            let guard = FlightGuard {
                svc: guard_parts.0,
                key: guard_parts.1,
                flight: guard_parts.2,
                done: false,
            };
            let result = decode_chunk(sessions, &audio, &key, chunk_frames);
            svc.decodes.fetch_add(1, Ordering::Relaxed);
            if let Ok(body) = &result {
                svc.tier2.insert(key, body.clone());
            }
            guard.complete(result.map_err(FlightError::Failed));
        });
        if submitted.is_err() {
            self.flights
                .complete(&key, &flight, Err(FlightError::Dropped));
        }
        submitted
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
        match rx.recv().await {
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
        let lufs = self.service.loudness(&audio).await?;
        let (id, stored) = (audio.track, lufs.is_finite().then_some(lufs));
        lib.library
            .transact(move |c| ops::set_loudness(c, id, stored))
            .await?;
        Ok(Arc::new(TrackAudio {
            loudness_lufs: Some(lufs),
            ..(*audio).clone()
        }))
    }

    /// Serves a chunk from the nearest tier, decoding it (once, across cores) on a miss.
    pub(crate) async fn fetch(
        &self,
        key: ChunkKey,
        audio: &Arc<TrackAudio>,
    ) -> Result<(Bytes, Tier), ChunkError> {
        if let Some(body) = self.tier1.borrow_mut().get(&key) {
            return Ok((body, Tier::Tier1));
        }
        if let Some(body) = self.service.tier2.get(&key) {
            self.counters.borrow_mut().tier2_hits += 1;
            self.tier1.borrow_mut().insert(key, body.clone());
            return Ok((body, Tier::Tier2));
        }
        self.counters.borrow_mut().tier2_misses += 1;
        for _attempt in 0..3 {
            let rx = match self.service.flights.join(key) {
                Role::Leader(flight) => {
                    let rx = flight.wait();
                    self.service
                        .submit(key, audio.clone(), flight, Priority::High)
                        .map_err(|_| ChunkError::DecoderBusy)?;
                    rx
                }
                Role::Follower(flight) => flight.wait(),
            };
            match rx.recv().await {
                Ok(Ok(body)) => {
                    self.tier1.borrow_mut().insert(key, body.clone());
                    return Ok((body, Tier::Miss));
                }
                Ok(Err(FlightError::Dropped)) => continue,
                Ok(Err(FlightError::Failed(reason))) => {
                    return Err(ChunkError::Undecodable(reason));
                }
                Err(_) => return Err(ChunkError::Lost),
            }
        }
        Err(ChunkError::DecoderOverloaded)
    }

    /// Starts decoding `key` at low priority unless it is cached or being decoded.
    pub(crate) fn prefetch(&self, key: ChunkKey, audio: &Arc<TrackAudio>) {
        if self.tier1.borrow().contains(&key)
            || self.service.tier2.contains(&key)
            || self.service.flights.in_flight(&key)
        {
            return;
        }
        if let Role::Leader(flight) = self.service.flights.join(key) {
            let _ = self
                .service
                .submit(key, audio.clone(), flight, Priority::Low);
        }
    }
}
