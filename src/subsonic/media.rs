//! Media: `stream` (the file as it is, or the whole track made from the chunk cache
//! as WAV, FLAC or Ogg Opus), `download` (the file) and `getCoverArt`.
//!
//! A transcoded stream is the track's cached chunks sent one after another as they
//! come from tier 1, tier 2 or the decode pool (the next one prefetched), never the
//! track whole in memory: WAV as one file (a header for the whole track, then each
//! chunk's samples; its exact length is known, so `Content-Length` is sent); FLAC as
//! one stream whose frames are encoded on the decode pool from the WAV chunks'
//! samples; Opus as a chained Ogg stream of the chunks (each chunk a complete Ogg Opus
//! stream with its own serial; decoders play the chain gaplessly). FLAC and Opus go
//! chunked.

use super::error::SubsonicError;
use super::shapes::{self, Id};
use super::{Answer, Call, MethodFuture, boxed};
use crate::audio::encode::ChunkFormat;
use crate::audio::preset::Preset;
use crate::cache::ChunkKey;
use crate::cache::track::TrackAudio;
use crate::http::response::{BodySource, Response, StreamBody};
use crate::runtime::core_state::CoreState;
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

/// What a `stream` request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rendering {
    /// The file as it is (with `Range`).
    Raw,
    Wav,
    Opus {
        kbps: u16,
    },
    Flac,
}

/// Which rendering a request asks for: `format` (`raw`, `wav`, `flac`, `opus`; other names,
/// `mp3` among them, are not made here and get the file, as Subsonic lets a server
/// do), and `maxBitRate` (kbit/s; 0: no limit): a file above it is sent as Opus at it.
fn rendering(call: &Call, file_kbps: i64) -> Result<Rendering, SubsonicError> {
    let max = call.params.int("maxBitRate", 0, 100_000)?.unwrap_or(0);
    let (lo, hi) = (
        i64::from(*crate::audio::opus::BITRATES.start()),
        i64::from(*crate::audio::opus::BITRATES.end()),
    );
    if call.params.get("format") == Some("opus") && max != 0 && !(lo..=hi).contains(&max) {
        return Err(SubsonicError::Invalid {
            name: "maxBitRate",
            why: format!("Opus is made at {lo} to {hi} kbit/s (0: the default, 128)"),
        });
    }
    let opus_at = |kbps: i64| {
        let (lo, hi) = (
            crate::audio::opus::BITRATES.start(),
            crate::audio::opus::BITRATES.end(),
        );
        Rendering::Opus {
            kbps: (kbps.clamp(i64::from(*lo), i64::from(*hi))) as u16,
        }
    };
    Ok(match call.params.get("format") {
        Some("raw") => Rendering::Raw,
        Some("wav") => Rendering::Wav,
        Some("flac") => Rendering::Flac,
        Some("opus") => opus_at(if max > 0 {
            max
        } else {
            i64::from(crate::audio::opus::DEFAULT_BITRATE)
        }),
        _ if max > 0 && file_kbps > max => opus_at(max),
        _ => Rendering::Raw,
    })
}

fn song_id(call: &Call) -> Result<i64, SubsonicError> {
    let raw = call.params.required("id")?;
    match Id::parse(raw) {
        Some(Id::Track(id)) => Ok(id),
        _ => Err(SubsonicError::NotFound(format!("no song {raw:?}"))),
    }
}

/// The file itself, with `Range`.
fn raw(call: &Call, id: i64) -> Result<Answer, SubsonicError> {
    let lib = call.reader()?;
    let track = lib.track(id)?;
    let path = lib.track_path(id)?;
    let (_, content_type) = shapes::file_type(&track);
    Ok(Answer::Raw(crate::http::file::serve(
        &call.cx,
        &call.req,
        id,
        &path,
        content_type,
    )?))
}

pub(crate) fn stream(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let id = song_id(&call)?;
        let track = call.reader()?.track(id)?;
        let file_kbps = match track.duration_ms {
            0 => 0,
            ms => track.file_size.saturating_mul(8) / ms,
        };
        let offset_s = call.params.int("timeOffset", 0, i64::MAX)?.unwrap_or(0);
        match rendering(&call, file_kbps)? {
            Rendering::Raw => raw(&call, id),
            r => transcoded(&call, id, r, offset_s as u64).await,
        }
    })
}

pub(crate) fn download(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let id = song_id(&call)?;
        raw(&call, id)
    })
}

/// `id`: a song (`tr-`) or an album (`al-`); an artist has no art here.
pub(crate) fn cover_art(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let raw = call.params.required("id")?;
        let size = call
            .params
            .int("size", 1, 100_000)?
            .map_or(0, |s| crate::library::cover::snap(s as u32));
        let lib = call.reader()?;
        let facts = match Id::parse(raw) {
            Some(Id::Track(id)) => lib.cover_of(id)?,
            Some(Id::Album(id)) => match lib.album_cover_track(id)? {
                Some(track) => lib.cover_of(track)?,
                None => None,
            },
            _ => return Err(SubsonicError::NotFound(format!("no cover art for {raw:?}"))),
        };
        let resp = crate::http::cover::serve(&call.core, &call.req, facts, size).await?;
        Ok(Answer::Raw(resp))
    })
}

/// A whole-track stream from the chunk cache, from `offset_s` seconds in. Its first
/// chunk is fetched before the answer starts, so a file gone or undecodable is a
/// Subsonic error (70 / 0), not a 200 cut short.
async fn transcoded(
    call: &Call,
    id: i64,
    r: Rendering,
    offset_s: u64,
) -> Result<Answer, SubsonicError> {
    let core = call.core.clone();
    let audio = core.chunk_path().track(id)?;
    let chunk_s = core.shared.chunks.chunk_duration_s;
    let chunk_frames = audio.chunk_frames(chunk_s);
    let start = offset_s
        .saturating_mul(u64::from(audio.sample_rate))
        .min(audio.frames);
    let (format, content_type) = match r {
        // FLAC is made from the cached WAV chunks' samples (see `FlacRuns`).
        Rendering::Wav | Rendering::Flac => (ChunkFormat::Wav, "audio/wav"),
        Rendering::Opus { kbps } => (ChunkFormat::Opus { kbps }, "audio/ogg; codecs=opus"),
        Rendering::Raw => unreachable!("raw is served from the file"),
    };
    let total = audio.total_chunks(chunk_s);
    // An offset at or past the end starts after the last chunk: an empty track.
    let first = match start >= audio.frames {
        true => total,
        false => (start / chunk_frames) as u32,
    };
    let key = ChunkKey::for_request(id, audio.revision, Preset::Original, 1.0, first, format);
    if first < total {
        // Into the cache, where the body's first fetch finds it.
        core.chunk_path().fetch(key, &audio).await?;
    }
    let source = Chunks {
        core,
        key,
        total,
        skip: 0,
        header: None,
        audio: audio.clone(),
    };
    let (len, source) = body(r, source, start, chunk_frames)?;
    let mut resp = Response::new(200)
        .header("Accept-Ranges", "none")
        .header("Cache-Control", "no-store");
    let content_type = match r {
        Rendering::Flac => "audio/flac",
        _ => content_type,
    };
    resp.push_header("Content-Type", content_type);
    resp.stream = Some(StreamBody::new(len, source));
    Ok(Answer::Raw(resp))
}

/// The body of a transcoded stream over `source` (its chunks from the first one on),
/// from frame `start`: its length when known, and what makes it.
fn body(
    r: Rendering,
    source: Chunks,
    start: u64,
    chunk_frames: u64,
) -> Result<(Option<u64>, Box<dyn BodySource>), SubsonicError> {
    let audio = source.audio.clone();
    let first = source.key.index;
    let format = source.key.format;
    Ok(match (r, format) {
        (Rendering::Flac, _) => {
            // Whole runs of frames from the first chunk: a time offset starts at its chunk.
            let head = crate::audio::flac::stream_head(
                audio.channels as u16,
                audio.sample_rate,
                audio.frames.saturating_sub(u64::from(first) * chunk_frames),
            )
            .map_err(|e| SubsonicError::Generic(format!("flac: {e}")))?;
            let runs = FlacRuns {
                chunks: Chunks {
                    header: Some(Bytes::from(head)),
                    ..source
                },
                carry: Vec::new(),
                next_frame: 0,
            };
            (None, Box::new(runs))
        }
        (_, ChunkFormat::Wav) => {
            let frames = audio.frames - start;
            let block = u64::from(audio.channels) * 2;
            let header = wav_header(audio.channels as u16, audio.sample_rate, frames * block);
            let len = header.len() as u64 + frames * block;
            let skip = (start.saturating_sub(u64::from(first) * chunk_frames) * block) as usize;
            let chunks = Chunks {
                skip,
                header: Some(header),
                ..source
            };
            (Some(len), Box::new(chunks))
        }
        _ => (None, Box::new(source)),
    })
}

/// A 16-bit PCM WAV header for `data_len` bytes of samples (saturating at the
/// format's 4 GiB limit: a longer track still plays, its length read as unknown).
fn wav_header(channels: u16, rate: u32, data_len: u64) -> Bytes {
    let data = u32::try_from(data_len).unwrap_or(u32::MAX);
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&rate.saturating_mul(u32::from(channels) * 2).to_le_bytes());
    h.extend_from_slice(&(channels * 2).to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    Bytes::from(h)
}

/// The samples of a WAV chunk (what follows its `data` chunk header).
fn wav_samples(chunk: &Bytes) -> Option<Bytes> {
    let mut at = 12;
    while at + 8 <= chunk.len() {
        let size = u32::from_le_bytes(chunk[at + 4..at + 8].try_into().ok()?) as usize;
        if &chunk[at..at + 4] == b"data" {
            let end = (at + 8).saturating_add(size).min(chunk.len());
            return Some(chunk.slice(at + 8..end));
        }
        at = at + 8 + size + (size & 1);
    }
    None
}

/// The chunks of one track in one format, fetched one at a time as the connection
/// sends them (and the next one prefetched).
struct Chunks {
    core: Rc<CoreState>,
    audio: Arc<TrackAudio>,
    /// The next chunk to send.
    key: ChunkKey,
    total: u32,
    /// WAV: bytes of the first chunk's samples before the time offset.
    skip: usize,
    /// WAV: the whole track's header, sent first.
    header: Option<Bytes>,
}

impl Chunks {
    async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        if let Some(h) = self.header.take() {
            return Some(Ok(h));
        }
        if self.key.index >= self.total {
            return None;
        }
        let key = self.key;
        self.key = key.with_index(key.index + 1);
        let path = self.core.chunk_path();
        if self.key.index < self.total {
            path.prefetch(
                self.key,
                &self.audio,
                crate::cache::tier2::Admission::Prefetched,
            );
        }
        let body = match path.fetch(key, &self.audio).await {
            Ok((body, _tier)) => body,
            Err(e) => {
                tracing::warn!(track = self.audio.track, chunk = key.index, error = %e, "subsonic stream cut: a chunk failed");
                return Some(Err(std::io::Error::other(e.to_string())));
            }
        };
        match key.format {
            ChunkFormat::Wav => {
                let samples = wav_samples(&body)?;
                let skip = std::mem::take(&mut self.skip).min(samples.len());
                Some(Ok(samples.slice(skip..)))
            }
            _ => Some(Ok(body)),
        }
    }
}

impl BodySource for Chunks {
    fn next_piece(&mut self) -> Pin<Box<dyn Future<Output = Option<std::io::Result<Bytes>>> + '_>> {
        Box::pin(self.next())
    }
}

/// A whole-track FLAC stream from the cached WAV chunks: each chunk's samples (with
/// what the previous chunk left over) become whole frames, encoded on the decode pool
/// (10 s of FLAC is tens of milliseconds of work: never on a core), numbered on from
/// the previous run so the runs join into one stream.
struct FlacRuns {
    chunks: Chunks,
    /// Samples of the previous chunk that did not fill a frame.
    carry: Vec<u8>,
    next_frame: usize,
}

impl FlacRuns {
    async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        if let Some(h) = self.chunks.header.take() {
            return Some(Ok(h));
        }
        let last = self.chunks.key.index + 1 >= self.chunks.total;
        let samples = match self.chunks.next().await? {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let mut run = std::mem::take(&mut self.carry);
        run.extend_from_slice(&samples);
        let (channels, rate) = (
            self.chunks.audio.channels as u16,
            self.chunks.audio.sample_rate,
        );
        let block = crate::audio::flac::STREAM_BLOCK * usize::from(channels) * 2;
        if !last {
            self.carry = run.split_off(run.len() / block * block);
        }
        let first = self.next_frame;
        self.next_frame += run.len().div_ceil(block);
        Some(self.encode(run, channels, rate, first).await)
    }

    async fn encode(
        &self,
        run: Vec<u8>,
        channels: u16,
        rate: u32,
        first: usize,
    ) -> std::io::Result<Bytes> {
        let service = &self.chunks.core.shared.chunks;
        let (tx, rx) = async_channel::bounded(1);
        service
            .pool
            .submit(
                self.chunks.audio.track,
                crate::audio::pool::Priority::High,
                move |_| {
                    let made = crate::audio::flac::stream_frames(&run, channels, rate, first, 5);
                    let _ = tx.try_send(made.map_err(|e| e.to_string()));
                },
            )
            .map_err(|_| std::io::Error::other("the decoders are busy"))?;
        match monoio::time::timeout(service.decode_timeout, rx.recv()).await {
            Ok(Ok(Ok(frames))) => Ok(Bytes::from(frames)),
            Ok(Ok(Err(e))) => Err(std::io::Error::other(e)),
            Ok(Err(_)) => Err(std::io::Error::other("the encode job was lost")),
            Err(_) => Err(std::io::Error::other("the encode took too long")),
        }
    }
}

impl BodySource for FlacRuns {
    fn next_piece(&mut self) -> Pin<Box<dyn Future<Output = Option<std::io::Result<Bytes>>> + '_>> {
        Box::pin(self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_of_a_chunk_are_found_past_any_chunk_before_data() {
        let pcm: Vec<i16> = (0..100).collect();
        let tags = crate::audio::Tags::default();
        let file = Bytes::from(crate::audio::wav::encode_pcm16(
            &pcm,
            2,
            44_100,
            Some(&tags),
        ));
        let samples = wav_samples(&file).unwrap();
        assert_eq!(samples.len(), 200);
        assert_eq!(&samples[..4], &[0, 0, 1, 0]);
        assert!(
            wav_samples(&Bytes::from_static(b"RIFF\0\0\0\0WAVEjunk\xff\xff\xff\xff")).is_none()
        );
        let h = wav_header(2, 44_100, 400);
        assert_eq!(h.len(), 44);
        assert_eq!(&h[40..44], &400u32.to_le_bytes());
        assert_eq!(
            &wav_header(2, 44_100, u64::MAX)[40..44],
            &u32::MAX.to_le_bytes()
        );
    }
}
