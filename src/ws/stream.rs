//! Streaming audio over the socket (docs/PROTOCOL.md "Socket streaming"): chunks come
//! from the same two-tier cache as the HTTP path; each goes out as an `audio_chunk_meta`
//! text frame followed by one binary frame of interleaved little-endian samples, never
//! more than `window` chunks ahead of the client's `stream_ack`.

use super::connection::WsConn;
use super::outbound::OutFrame;
use super::payload;
use super::protocol::{Incoming, WsError, codes};
use crate::audio::encode::ChunkFormat;
use crate::audio::preset::Preset;
use crate::cache::track::TrackAudio;
use crate::cache::{ChunkKey, Tier};
use crate::runtime::core_state::CoreState;
use serde::Deserialize;
use serde_json::json;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// Largest ack window a client may ask for (chunks in flight).
pub(crate) const MAX_WINDOW: u64 = 8;
/// Streams one connection may run at once.
pub(crate) const MAX_STREAMS: usize = 4;

/// One running stream's controls.
pub(crate) struct StreamCtl {
    acked: Cell<u64>,
    stopped: Cell<bool>,
    wake: async_channel::Sender<()>,
}

/// A connection's streams by id.
#[derive(Default)]
pub(crate) struct Streams {
    next: u64,
    running: HashMap<String, Rc<StreamCtl>>,
    latest: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamRef {
    stream_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    stream_id: Option<String>,
    seq: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    track_id: i64,
    #[serde(default)]
    from_chunk: u64,
    #[serde(default)]
    preset: Option<String>,
    #[serde(default = "full_intensity")]
    intensity: f64,
    format: String,
    /// Opus kbit/s (format `opus`).
    #[serde(default)]
    bitrate: Option<u16>,
    /// FLAC compression level (format `flac`).
    #[serde(default)]
    level: Option<u8>,
    #[serde(default = "default_window")]
    window: u64,
}

fn full_intensity() -> f64 {
    1.0
}

fn default_window() -> u64 {
    2
}

/// A running stream by id (the latest one when none is named).
fn stream_of(conn: &WsConn, id: Option<String>) -> Result<(String, Rc<StreamCtl>), WsError> {
    let streams = conn.streams.borrow();
    let id = match id {
        Some(s) => s,
        None => streams
            .latest
            .clone()
            .ok_or_else(|| WsError::new(codes::NOT_FOUND, "no stream is running"))?,
    };
    let ctl = streams
        .running
        .get(&id)
        .cloned()
        .ok_or_else(|| WsError::new(codes::NOT_FOUND, format!("no stream {id:?}")))?;
    Ok((id, ctl))
}

pub(crate) fn ack(_core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let a: Ack = payload::parse(&m.payload)?;
    let (_, ctl) = stream_of(conn, a.stream_id)?;
    if a.seq + 1 > ctl.acked.get() {
        ctl.acked.set(a.seq + 1);
        let _ = ctl.wake.try_send(());
    }
    Ok(())
}

pub(crate) fn stop(_core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let r: StreamRef = payload::parse(&m.payload)?;
    let (id, ctl) = stream_of(conn, r.stream_id)?;
    if ctl.stopped.get() {
        // It already ended (completed, failed or stopped) and said so: one end per stream.
        return Err(WsError::new(
            codes::NOT_FOUND,
            format!("stream {id:?} has already ended"),
        ));
    }
    ctl.stopped.set(true);
    let _ = ctl.wake.try_send(());
    conn.send_msg(
        "audio_stream_end",
        &m.correlation_id,
        &json!({"stream_id": id, "reason": "stopped"}),
    );
    Ok(())
}

/// Strips the 44-byte header of the PCM16 WAV chunks this server encodes; `None` for
/// anything else.
fn pcm16_samples(wav: bytes::Bytes) -> Option<bytes::Bytes> {
    (wav.len() >= 44 && &wav[..4] == b"RIFF" && &wav[36..40] == b"data").then(|| wav.slice(44..))
}

/// The stream's format: raw samples (`f32`, `pcm16`) or whole encoded chunks
/// (`flac`, `opus`), with the encoder's parameter checked as HTTP checks it.
fn stream_format(p: &Start) -> Result<ChunkFormat, WsError> {
    // `pcm16` is the WAV chunk's samples without its header.
    let name = match p.format.as_str() {
        "pcm16" => "wav",
        "wav" => "",
        other => other,
    };
    match ChunkFormat::with_params(name, p.level.map(i64::from), p.bitrate.map(i64::from)) {
        Some(Ok(format)) => Ok(format),
        Some(Err(e)) => Err(WsError::field(e.field(), "value_error", e.to_string())),
        None => Err(WsError::field(
            "format",
            "value_error",
            "must be f32, pcm16, flac or opus",
        )),
    }
}

/// What a binary frame of a stream carries: the codec's name for `audio_chunk_meta`.
fn codec(format: ChunkFormat) -> &'static str {
    match format {
        ChunkFormat::F32 => "pcm_f32le",
        ChunkFormat::Wav => "pcm_s16le",
        ChunkFormat::Flac { .. } => "flac",
        ChunkFormat::Opus { .. } => "opus",
    }
}

/// The stream's format as `stream_start` names it.
fn wire_name(format: ChunkFormat) -> &'static str {
    match format {
        ChunkFormat::Wav => "pcm16",
        other => other.as_str(),
    }
}

/// A validated `stream_start`.
struct Request {
    track: i64,
    from: u64,
    preset: Preset,
    intensity: f64,
    format: ChunkFormat,
    window: u64,
}

impl Request {
    fn parse(payload: &serde_json::Value) -> Result<Self, WsError> {
        let p: Start = payload::parse(payload)?;
        if p.track_id < 1 {
            return Err(WsError::field(
                "track_id",
                "value_error",
                "must be a positive integer",
            ));
        }
        let preset = match p.preset.as_deref() {
            None => Preset::Original,
            Some(s) => Preset::parse(s).ok_or_else(|| {
                WsError::field(
                    "preset",
                    "value_error",
                    "must be original, normalized or normalized_album",
                )
            })?,
        };
        if !(0.0..=1.0).contains(&p.intensity) {
            return Err(WsError::field(
                "intensity",
                "value_error",
                "must be 0.0-1.0",
            ));
        }
        let format = stream_format(&p)?;
        if !(1..=MAX_WINDOW).contains(&p.window) {
            return Err(WsError::field(
                "window",
                "value_error",
                format!("must be 1-{MAX_WINDOW}"),
            ));
        }
        Ok(Self {
            track: p.track_id,
            from: p.from_chunk,
            preset,
            intensity: p.intensity,
            format,
            window: p.window,
        })
    }
}

pub(crate) fn start(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let req = Request::parse(&m.payload)?;
    let audio = core.chunk_path().track(req.track)?;
    let duration = core.shared.chunks.chunk_duration_s;
    let total = audio.total_chunks(duration);
    if req.from >= u64::from(total) {
        return Err(WsError::field(
            "from_chunk",
            "value_error",
            format!("from_chunk {} is out of range: {total} chunks", req.from),
        ));
    }
    if req.preset.normalizes() && audio.loudness_lufs.is_none() {
        return Err(WsError::payload(
            "normalized streaming needs the track's loudness: fetch one normalized chunk over HTTP first",
        ));
    }
    let (wake, wake_rx) = async_channel::bounded(1);
    let ctl = Rc::new(StreamCtl {
        acked: Cell::new(0),
        stopped: Cell::new(false),
        wake,
    });
    let stream_id = register(conn, ctl.clone())?;
    conn.send_msg(
        "audio_stream_start",
        &m.correlation_id,
        &json!({"stream_id": stream_id, "sample_rate": audio.sample_rate, "channels": audio.channels,
                "total_chunks": total, "chunk_duration": duration, "from_chunk": req.from, "window": req.window,
                "format": wire_name(req.format), "codec": codec(req.format)}),
    );
    let pump = Pump {
        core: core.clone(),
        conn: conn.clone(),
        ctl,
        wake: wake_rx,
        cid: m.correlation_id.clone(),
        stream_id,
        req,
        audio,
        total,
    };
    monoio::spawn(pump.run());
    Ok(())
}

/// Registers a new stream on the connection; refuses past [`MAX_STREAMS`].
fn register(conn: &WsConn, ctl: Rc<StreamCtl>) -> Result<String, WsError> {
    let mut s = conn.streams.borrow_mut();
    s.running.retain(|_, c| !c.stopped.get());
    if s.running.len() >= MAX_STREAMS {
        return Err(WsError::payload(format!(
            "at most {MAX_STREAMS} streams per connection"
        )));
    }
    s.next += 1;
    let id = format!("st{}", s.next);
    s.running.insert(id.clone(), ctl);
    s.latest = Some(id.clone());
    Ok(id)
}

/// One running stream: sends chunks in order, at most `window` ahead of the acks.
struct Pump {
    core: Rc<CoreState>,
    conn: Rc<WsConn>,
    ctl: Rc<StreamCtl>,
    wake: async_channel::Receiver<()>,
    cid: String,
    stream_id: String,
    req: Request,
    audio: Arc<TrackAudio>,
    total: u32,
}

impl Pump {
    fn ended(&self) -> bool {
        self.ctl.stopped.get() || self.conn.is_killed()
    }

    async fn run(self) {
        let mut seq = 0u64;
        for index in self.req.from as u32..self.total {
            while seq >= self.ctl.acked.get() + self.req.window && !self.ended() {
                let _ = self.wake.recv().await;
            }
            if self.ended() {
                return;
            }
            let (body, tier) = match self.chunk(index).await {
                Ok(v) => v,
                Err(e) => {
                    self.conn.send_msg(
                        "audio_stream_error",
                        &self.cid,
                        &json!({"stream_id": self.stream_id, "chunk_index": index,
                                "error": e.message, "code": e.code}),
                    );
                    self.ctl.stopped.set(true);
                    return;
                }
            };
            self.conn.send_msg(
                "audio_chunk_meta",
                &self.cid,
                &json!({"stream_id": self.stream_id, "seq": seq, "chunk_index": index,
                        "sample_count": self.samples_in(index), "codec": codec(self.req.format),
                        "byte_length": body.len(), "cache_source": tier.as_str()}),
            );
            self.conn.send(OutFrame::Binary(body));
            self.core.publish_cache_stats();
            seq += 1;
        }
        // A client's `stream_stop` already answered with the end of this stream.
        if !self.ended() {
            self.conn.send_msg(
                "audio_stream_end",
                &self.cid,
                &json!({"stream_id": self.stream_id, "chunks": seq, "reason": "completed"}),
            );
        }
        self.ctl.stopped.set(true);
    }

    /// Interleaved samples chunk `index` holds at the track's rate.
    fn samples_in(&self, index: u32) -> u64 {
        let frames = self
            .audio
            .chunk_frames(self.core.shared.chunks.chunk_duration_s);
        let start = u64::from(index) * frames;
        (start + frames)
            .min(self.audio.frames)
            .saturating_sub(start)
            * u64::from(self.audio.channels)
    }

    /// Chunk `index` from the two-tier cache: raw samples, or the whole encoded file;
    /// `Err` is what the client is told.
    async fn chunk(&self, index: u32) -> Result<(bytes::Bytes, Tier), WsError> {
        let r = &self.req;
        let key = ChunkKey::for_request(
            r.track,
            self.audio.revision,
            r.preset,
            r.intensity,
            index,
            r.format,
        );
        let (body, tier) = self.core.chunk_path().fetch(key, &self.audio).await?;
        let body = match r.format {
            ChunkFormat::Wav => pcm16_samples(body)
                .ok_or_else(|| WsError::new(codes::INTERNAL_ERROR, "unexpected chunk encoding"))?,
            ChunkFormat::F32 | ChunkFormat::Flac { .. } | ChunkFormat::Opus { .. } => body,
        };
        Ok((body, tier))
    }
}
