//! Opus chunks as standalone Ogg Opus files (RFC 7845) that join without a gap.
//!
//! Opus runs at 48 kHz; a chunk `[start, end)` of the source maps to
//! `[to_48k(start), to_48k(end))`, so consecutive chunks tile the 48 kHz timeline exactly.
//! Each chunk but the first is encoded from 80 ms before its start (RFC 7845 §4.6's
//! recommended pre-roll), so the encoder has converged by the chunk's first sample;
//! the header's pre-skip (encoder lookahead + that pre-roll) makes a decoder drop
//! exactly the samples before it, and the last page's granule position trims the
//! padding after the end. Decoded one after another, chunks give the continuous signal.

use super::ogg_opus;
use super::resample;

/// Opus's sample rate.
pub const RATE: u32 = 48_000;
/// Frames of real audio encoded before a chunk's first sample (80 ms at 48 kHz).
const PREROLL: u64 = 3_840;
/// Samples per channel in one Opus packet (20 ms).
const FRAME: usize = 960;
/// 48 kHz frames read past a chunk's end: covers the encoder's lookahead (312 at
/// 48 kHz for libopus 1.3) and the last packet's padding.
const TAIL: u64 = 1_024 + FRAME as u64;

/// Bitrates a client may ask for, kbit/s.
pub const BITRATES: std::ops::RangeInclusive<u16> = 32..=256;
/// The default bitrate, kbit/s.
pub const DEFAULT_BITRATE: u16 = 128;

/// Why an Opus chunk could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OpusError {
    #[error("opus carries mono or stereo here, the track has {0} channels")]
    Channels(usize),
    #[error("opus encoder: {0}")]
    Codec(#[from] opus::Error),
    #[error(transparent)]
    Resample(#[from] resample::ResampleError),
    #[error("ogg: {0}")]
    Ogg(#[from] std::io::Error),
}

/// Where a chunk lies on the 48 kHz timeline and which source frames it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The chunk's first frame at 48 kHz.
    pub start: u64,
    /// The chunk's frames at 48 kHz.
    pub len: u64,
    /// Frames encoded before `start` (0 for the first chunk).
    pub preroll: u64,
    /// Source frames to decode: from `src_start`, `src_frames` of them (fewer may exist).
    pub src_start: u64,
    pub src_frames: u64,
}

impl Window {
    /// Chunk `[start, end)` of a track at `rate` Hz.
    pub fn new(start: u64, end: u64, rate: u32) -> Self {
        let start48 = resample::to_48k(start, rate);
        let end48 = resample::to_48k(end, rate);
        let preroll = PREROLL.min(start48);
        let (src_start, src_end) = resample::source_span(start48 - preroll, end48 + TAIL, rate);
        Self {
            start: start48,
            len: end48 - start48,
            preroll,
            src_start,
            src_frames: src_end - src_start,
        }
    }
}

/// Encodes one chunk. `source` is interleaved audio at `rate` Hz beginning at
/// `window.src_start` (shorter at the end of a track: the rest is silence).
pub fn encode_chunk(
    source: &[f32],
    channels: usize,
    rate: u32,
    window: &Window,
    kbps: u16,
    serial: u32,
) -> Result<Vec<u8>, OpusError> {
    let layout = match channels {
        1 => opus::Channels::Mono,
        2 => opus::Channels::Stereo,
        n => return Err(OpusError::Channels(n)),
    };
    let mut enc = opus::Encoder::new(RATE, layout, opus::Application::Audio)?;
    enc.set_bitrate(opus::Bitrate::Bits(i32::from(kbps) * 1000))?;
    let lookahead = u64::try_from(enc.get_lookahead()?).unwrap_or(0);
    let first = window.start - window.preroll;
    let wanted = window.preroll + window.len + lookahead;
    let frames = (wanted as usize).div_ceil(FRAME) * FRAME;
    let pcm = resample::span_48k(source, channels, rate, window.src_start, first, frames)?;
    let pre_skip = window.preroll + lookahead;
    let mut packets = Vec::with_capacity(frames / FRAME);
    let mut buf = vec![0u8; 4000];
    for frame in pcm.chunks_exact(FRAME * channels) {
        let n = enc.encode_float(frame, &mut buf)?;
        packets.push(buf[..n].to_vec());
    }
    let head = ogg_opus::Head {
        channels: channels as u8,
        pre_skip: pre_skip as u16,
        input_rate: rate,
    };
    Ok(ogg_opus::write(
        &head,
        &packets,
        FRAME as u64,
        pre_skip + window.len,
        serial,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standalone_chunk_decodes_to_its_own_length_and_three_channels_are_refused() {
        let frames = 44_100u64;
        let tone: Vec<f32> = (0..frames)
            .flat_map(|i| {
                let v = ((i as f32) * 0.05).sin() * 0.3;
                [v, v]
            })
            .collect();
        let w = Window::new(0, frames, 44_100);
        let ogg = encode_chunk(&tone, 2, 44_100, &w, 96, 7).unwrap();
        assert_eq!(&ogg[..4], b"OggS");
        // The last page's granule position: pre-skip + the chunk's 48 kHz frames.
        let last = ogg.windows(4).rposition(|x| x == b"OggS").unwrap();
        let granule = u64::from_le_bytes(ogg[last + 6..last + 14].try_into().unwrap());
        let pre_skip = u64::from(u16::from_le_bytes([ogg[28 + 10], ogg[28 + 11]]));
        assert_eq!(granule - pre_skip, 48_000);
        let three = vec![0.0f32; 3 * 4_410];
        let w3 = Window::new(0, 4_410, 44_100);
        assert!(matches!(
            encode_chunk(&three, 3, 44_100, &w3, 96, 7),
            Err(OpusError::Channels(3))
        ));
    }

    #[test]
    fn windows_tile_the_48k_timeline_and_preroll_from_the_second_chunk() {
        let rate = 44_100;
        let chunk = 441_000u64;
        let total = 3 * chunk + 1_234;
        let mut next = 0;
        for i in 0..4u64 {
            let w = Window::new(i * chunk, ((i + 1) * chunk).min(total), rate);
            assert_eq!(
                w.start,
                next,
                "chunk {i} starts where {} ended",
                i.max(1) - 1
            );
            next = w.start + w.len;
            assert_eq!(w.preroll, if i == 0 { 0 } else { PREROLL });
            // The source span is aligned so its first frame sits on the 48 kHz grid.
            assert_eq!(w.src_start * 48_000 % u64::from(rate), 0);
            assert!(w.src_start <= i * chunk);
        }
        assert_eq!(next, resample::to_48k(total, rate));
    }
}
