//! Streaming audio over the socket (PROTOCOL.md "Streaming over the socket"): chunks come
//! from the same two-tier cache as the HTTP path; each goes out as an `audio_chunk_meta`
//! text frame followed by one binary frame of interleaved little-endian samples, never
//! more than `window` chunks ahead of the client's `stream_ack`.

use super::connection::WsConn;
use super::outbound::OutFrame;
use super::protocol::{Incoming, WsError, codes};
use crate::audio::encode::ChunkFormat;
use crate::audio::preset::Preset;
use crate::cache::ChunkKey;
use crate::runtime::core_state::CoreState;
use serde_json::{Value, json};
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

/// Largest ack window a client may ask for (chunks in flight).
pub const MAX_WINDOW: u64 = 8;
/// Streams one connection may run at once.
pub const MAX_STREAMS: usize = 4;

/// One running stream's controls.
pub struct StreamCtl {
    acked: Cell<u64>,
    stopped: Cell<bool>,
    wake: async_channel::Sender<()>,
}

/// A connection's streams by id.
#[derive(Default)]
pub struct Streams {
    next: u64,
    running: HashMap<String, Rc<StreamCtl>>,
    latest: Option<String>,
}

fn stream_id_of(conn: &WsConn, p: &Value) -> Result<(String, Rc<StreamCtl>), WsError> {
    let streams = conn.streams.borrow();
    let id = match p.get("stream_id") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => streams
            .latest
            .clone()
            .ok_or_else(|| WsError::new(codes::NOT_FOUND, "no stream is running"))?,
        Some(_) => return Err(WsError::payload("stream_id must be a string")),
    };
    let ctl = streams
        .running
        .get(&id)
        .cloned()
        .ok_or_else(|| WsError::new(codes::NOT_FOUND, format!("no stream {id:?}")))?;
    Ok((id, ctl))
}

pub fn ack(_core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let (_, ctl) = stream_id_of(conn, &m.payload)?;
    let seq = m
        .payload
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| WsError::payload("seq is required"))?;
    if seq + 1 > ctl.acked.get() {
        ctl.acked.set(seq + 1);
        let _ = ctl.wake.try_send(());
    }
    Ok(())
}

pub fn stop(_core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let (id, ctl) = stream_id_of(conn, &m.payload)?;
    ctl.stopped.set(true);
    let _ = ctl.wake.try_send(());
    conn.send_msg(
        "audio_stream_end",
        &m.correlation_id,
        &json!({"stream_id": id, "reason": "stopped"}),
    );
    Ok(())
}

/// Strips the 44-byte header of the PCM16 WAV chunks this server encodes.
fn pcm16_samples(wav: bytes::Bytes) -> Result<bytes::Bytes, String> {
    if wav.len() >= 44 && &wav[..4] == b"RIFF" && &wav[36..40] == b"data" {
        Ok(wav.slice(44..))
    } else {
        Err("unexpected chunk encoding".into())
    }
}

pub fn start(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let p = &m.payload;
    if let Some(k) = p.as_object().and_then(|o| {
        o.keys().find(|k| {
            ![
                "track_id",
                "from_chunk",
                "preset",
                "intensity",
                "format",
                "window",
            ]
            .contains(&k.as_str())
        })
    }) {
        return Err(WsError::payload(format!("unknown payload field {k:?}")));
    }
    let track = p
        .get("track_id")
        .and_then(Value::as_i64)
        .filter(|t| *t > 0)
        .ok_or_else(|| WsError::payload("track_id is required"))?;
    let from = p
        .get("from_chunk")
        .map_or(Some(0), Value::as_u64)
        .ok_or_else(|| WsError::payload("from_chunk must be a non-negative integer"))?;
    let preset = match p.get("preset").and_then(Value::as_str) {
        None => Preset::Original,
        Some(s) => Preset::parse(s)
            .ok_or_else(|| WsError::payload("preset must be original or normalized"))?,
    };
    let intensity = p
        .get("intensity")
        .map_or(Some(1.0), Value::as_f64)
        .filter(|i| (0.0..=1.0).contains(i))
        .ok_or_else(|| WsError::payload("intensity must be 0.0-1.0"))?;
    let format = match p.get("format").and_then(Value::as_str) {
        Some("f32") => ChunkFormat::F32,
        Some("pcm16") => ChunkFormat::Wav,
        _ => return Err(WsError::payload("format must be f32 or pcm16")),
    };
    let window = p
        .get("window")
        .map_or(Some(2), Value::as_u64)
        .filter(|w| (1..=MAX_WINDOW).contains(w))
        .ok_or_else(|| WsError::payload(format!("window must be 1-{MAX_WINDOW}")))?;
    let audio = crate::api::stream::track_audio(core, track).map_err(|e| match e.status() {
        404 => WsError::new(codes::NOT_FOUND, e.public_message()),
        _ => WsError::new(codes::INVALID_PAYLOAD, "track cannot be streamed"),
    })?;
    let duration = core.shared.chunks.chunk_duration_s;
    let total = audio.total_chunks(duration);
    if from >= u64::from(total) {
        return Err(WsError::payload(format!(
            "from_chunk {from} is out of range: {total} chunks"
        )));
    }
    if preset == Preset::Normalized && audio.loudness_lufs.is_none() {
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
    let stream_id = {
        let mut s = conn.streams.borrow_mut();
        s.running.retain(|_, c| !c.stopped.get());
        if s.running.len() >= MAX_STREAMS {
            return Err(WsError::payload(format!(
                "at most {MAX_STREAMS} streams per connection"
            )));
        }
        s.next += 1;
        let id = format!("st{}", s.next);
        s.running.insert(id.clone(), ctl.clone());
        s.latest = Some(id.clone());
        id
    };
    let cid = m.correlation_id.clone();
    conn.send_msg(
        "audio_stream_start",
        &cid,
        &json!({"stream_id": stream_id, "sample_rate": audio.sample_rate, "channels": audio.channels,
                "total_chunks": total, "chunk_duration": duration, "from_chunk": from, "window": window,
                "format": if format == ChunkFormat::F32 { "f32" } else { "pcm16" }}),
    );
    let (core, conn) = (core.clone(), conn.clone());
    monoio::spawn(async move {
        let mut seq = 0u64;
        for index in from as u32..total {
            while seq >= ctl.acked.get() + window && !ctl.stopped.get() && !conn.is_killed() {
                let _ = wake_rx.recv().await;
            }
            if ctl.stopped.get() || conn.is_killed() {
                return;
            }
            let key =
                ChunkKey::for_request(track, audio.revision, preset, intensity, index, format);
            let fetched = core.chunk_path().fetch(key, &audio).await;
            let (body, tier) = match fetched.map_err(|e| e.public_message()).and_then(|(b, t)| {
                let b = if format == ChunkFormat::Wav {
                    pcm16_samples(b)?
                } else {
                    b
                };
                Ok((b, t))
            }) {
                Ok(v) => v,
                Err(reason) => {
                    conn.send_msg(
                        "audio_stream_error",
                        &cid,
                        &json!({"stream_id": stream_id, "chunk_index": index, "error": reason}),
                    );
                    ctl.stopped.set(true);
                    return;
                }
            };
            let bytes_per_sample = if format == ChunkFormat::F32 { 4 } else { 2 };
            conn.send_msg(
                "audio_chunk_meta",
                &cid,
                &json!({"stream_id": stream_id, "seq": seq, "chunk_index": index,
                        "sample_count": body.len() / bytes_per_sample, "cache_source": tier.as_str()}),
            );
            conn.send(OutFrame::Binary(body));
            core.publish_cache_stats();
            seq += 1;
        }
        conn.send_msg(
            "audio_stream_end",
            &cid,
            &json!({"stream_id": stream_id, "chunks": seq, "reason": "completed"}),
        );
        ctl.stopped.set(true);
    });
    Ok(())
}
