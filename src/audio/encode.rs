//! Chunk encodings: a complete WAV file (PCM 16-bit), raw interleaved f32 LE, a complete
//! FLAC file (lossless, the WAV chunk's samples) or an Ogg Opus file (`opus.rs`).

use super::{flac, opus, wav};

/// Wire format of a chunk with its parameters (part of the cache key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkFormat {
    Wav,
    F32,
    /// FLAC at a compression level (`flac::LEVELS`).
    Flac {
        level: u8,
    },
    /// Ogg Opus at a bitrate in kbit/s (`opus::BITRATES`).
    Opus {
        kbps: u16,
    },
}

/// Why a chunk could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Flac(#[from] flac::FlacError),
    #[error(transparent)]
    Opus(#[from] opus::OpusError),
}

impl ChunkFormat {
    /// Every format's name, as `format=` takes it.
    pub const NAMES: [&'static str; 4] = ["wav", "f32", "flac", "opus"];

    /// The format called `name`, with its parameter or the default one.
    pub fn new(name: &str, flac_level: Option<u8>, opus_kbps: Option<u16>) -> Option<ChunkFormat> {
        match name {
            "wav" => Some(ChunkFormat::Wav),
            "f32" => Some(ChunkFormat::F32),
            "flac" => Some(ChunkFormat::Flac {
                level: flac_level.unwrap_or(flac::DEFAULT_LEVEL),
            }),
            "opus" => Some(ChunkFormat::Opus {
                kbps: opus_kbps.unwrap_or(opus::DEFAULT_BITRATE),
            }),
            _ => None,
        }
    }

    /// Position of the format's name in [`ChunkFormat::NAMES`]: stats index by it.
    pub fn index(self) -> usize {
        match self {
            ChunkFormat::Wav => 0,
            ChunkFormat::F32 => 1,
            ChunkFormat::Flac { .. } => 2,
            ChunkFormat::Opus { .. } => 3,
        }
    }

    /// The format's name (its codec), what stats group by.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkFormat::Wav => "wav",
            ChunkFormat::F32 => "f32",
            ChunkFormat::Flac { .. } => "flac",
            ChunkFormat::Opus { .. } => "opus",
        }
    }

    /// Name and parameter, as cache reports and ETags tell variants apart.
    pub fn label(self) -> String {
        match self {
            ChunkFormat::Flac { level } => format!("flac-l{level}"),
            ChunkFormat::Opus { kbps } => format!("opus-{kbps}k"),
            other => other.as_str().to_string(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ChunkFormat::Wav => "audio/wav",
            ChunkFormat::F32 => "application/octet-stream",
            ChunkFormat::Flac { .. } => "audio/flac",
            ChunkFormat::Opus { .. } => "audio/ogg; codecs=opus",
        }
    }
}

/// f32 → i16 with rounding and saturation.
pub fn to_pcm16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Encodes one chunk's samples. For Opus this is a standalone file of exactly these
/// samples; chunks meant to join gaplessly come from `opus::encode_chunk`, which also
/// reads the audio around the chunk.
pub fn encode(
    samples: &[f32],
    channels: usize,
    sample_rate: u32,
    format: ChunkFormat,
) -> Result<Vec<u8>, EncodeError> {
    Ok(match format {
        ChunkFormat::Wav => {
            let pcm: Vec<i16> = samples.iter().map(|&s| to_pcm16(s)).collect();
            wav::encode_pcm16(&pcm, channels as u16, sample_rate, None)
        }
        ChunkFormat::F32 => {
            let mut out = Vec::with_capacity(samples.len() * 4);
            for s in samples {
                out.extend_from_slice(&s.to_le_bytes());
            }
            out
        }
        ChunkFormat::Flac { level } => {
            let pcm: Vec<i16> = samples.iter().map(|&s| to_pcm16(s)).collect();
            flac::encode_chunk(&pcm, channels as u16, sample_rate, level)?
        }
        ChunkFormat::Opus { kbps } => {
            let frames = (samples.len() / channels.max(1)) as u64;
            let window = opus::Window::new(0, frames, sample_rate);
            opus::encode_chunk(samples, channels, sample_rate, &window, kbps, 0)?
        }
    })
}
