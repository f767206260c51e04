//! One packet in, interleaved f32 out: symphonia's decoders, or libopus for Opus
//! (symphonia 0.5 demuxes Ogg Opus but has no Opus decoder). Sources of more than two
//! channels come out downmixed to stereo ([`super::downmix`]).

use super::decode::DecodeError;
use super::downmix::Downmix;
use symphonia::core::audio::{Channels, SampleBuffer};
use symphonia::core::codecs::{CODEC_TYPE_OPUS, CodecParameters, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::Packet;

/// The longest Opus packet: 120 ms at 48 kHz.
const OPUS_MAX_FRAMES: usize = 5_760;

/// A packet decoder for one track.
pub(crate) enum Codec {
    Symphonia(Box<dyn Decoder>),
    Opus(OpusCodec),
}

/// libopus at 48 kHz for a mono or stereo Ogg Opus stream (channel mapping family 0,
/// or family 1 with one or two channels).
pub(crate) struct OpusCodec {
    decoder: opus::Decoder,
    layout: opus::Channels,
    channels: usize,
    /// OpusHead's output gain as a factor (RFC 7845 §5.1: Q7.8 dB).
    gain: f32,
    out: Vec<f32>,
}

/// What one packet decoded to.
pub(crate) enum Block {
    /// Interleaved samples of `Codec::channels()` channels (may be empty).
    Audio,
    /// The packet was corrupt and is skipped, as players do.
    Skipped,
}

impl OpusCodec {
    fn new(params: &CodecParameters) -> Result<Self, DecodeError> {
        let count = params.channels.map(|c| c.count()).unwrap_or(0);
        let layout = match count {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => {
                return Err(DecodeError::NoDecoder(format!(
                    "Opus with {n} channels (only mono and stereo Opus sources are decoded)"
                )));
            }
        };
        let decoder = opus::Decoder::new(48_000, layout)
            .map_err(|e| DecodeError::NoDecoder(e.to_string()))?;
        // OpusHead: magic (8), version, channels, pre-skip (2), rate (4), gain (2, LE).
        let gain_q8 = params
            .extra_data
            .as_deref()
            .filter(|h| h.len() >= 18 && h.starts_with(b"OpusHead"))
            .map_or(0, |h| i16::from_le_bytes([h[16], h[17]]));
        Ok(Self {
            decoder,
            layout,
            channels: count,
            gain: 10f32.powf(f32::from(gain_q8) / (20.0 * 256.0)),
            out: Vec::new(),
        })
    }

    fn decode(&mut self, packet: &Packet, into: &mut Vec<f32>) -> Result<Block, DecodeError> {
        self.out.resize(OPUS_MAX_FRAMES * self.channels, 0.0);
        let n = match self
            .decoder
            .decode_float(packet.buf(), &mut self.out, false)
        {
            Ok(n) => n,
            Err(_) => return Ok(Block::Skipped),
        };
        into.extend(self.out[..n * self.channels].iter().map(|s| s * self.gain));
        Ok(Block::Audio)
    }

    fn reset(&mut self) -> Result<(), DecodeError> {
        self.decoder = opus::Decoder::new(48_000, self.layout)
            .map_err(|e| DecodeError::NoDecoder(e.to_string()))?;
        Ok(())
    }
}

impl Codec {
    pub(crate) fn new(params: &CodecParameters) -> Result<Self, DecodeError> {
        if params.codec == CODEC_TYPE_OPUS {
            return Ok(Self::Opus(OpusCodec::new(params)?));
        }
        symphonia::default::get_codecs()
            .make(params, &DecoderOptions::default())
            .map(Self::Symphonia)
            .map_err(|e| DecodeError::NoDecoder(e.to_string().replace("unsupported feature: ", "")))
    }

    pub(crate) fn reset(&mut self) -> Result<(), DecodeError> {
        match self {
            Self::Symphonia(d) => {
                d.reset();
                Ok(())
            }
            Self::Opus(o) => o.reset(),
        }
    }

    /// Decodes `packet`, appending its samples (stereo when downmixed) to `into`.
    /// Returns the source layout seen (for the caller's downmix) with the block.
    pub(crate) fn decode(
        &mut self,
        packet: &Packet,
        into: &mut Vec<f32>,
    ) -> Result<(Block, Option<Channels>), DecodeError> {
        match self {
            Self::Opus(o) => Ok((o.decode(packet, into)?, None)),
            Self::Symphonia(d) => {
                let decoded = match d.decode(packet) {
                    Ok(d) => d,
                    Err(SymError::DecodeError(_)) => return Ok((Block::Skipped, None)),
                    Err(e) => return Err(DecodeError::Decode(e.to_string())),
                };
                let spec = *decoded.spec();
                if decoded.frames() > 0 {
                    let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
                    buf.copy_interleaved_ref(decoded);
                    into.extend_from_slice(buf.samples());
                }
                Ok((Block::Audio, Some(spec.channels)))
            }
        }
    }
}

/// Downmixes `block` when `layout` has more than two channels; the matrix is kept
/// in `cache` for the layout it was made for.
pub(crate) fn to_stereo(
    block: &mut Vec<f32>,
    layout: Option<Channels>,
    cache: &mut Option<(Channels, Downmix)>,
) {
    let Some(layout) = layout.filter(|l| l.count() > 2) else {
        return;
    };
    if cache.as_ref().is_none_or(|(l, _)| *l != layout) {
        *cache = Downmix::for_layout(layout).map(|d| (layout, d));
    }
    if let Some((_, d)) = cache {
        let mut out = Vec::with_capacity(block.len() / layout.count() * 2);
        d.apply(block, &mut out);
        *block = out;
    }
}
