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

/// A format parameter a client got wrong; `field` is the query or payload field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatParamError {
    #[error("must be {min}-{max}")]
    OutOfRange {
        field: &'static str,
        min: u16,
        max: u16,
    },
    #[error("applies to format={format} only")]
    WrongFormat {
        field: &'static str,
        format: &'static str,
    },
}

impl FormatParamError {
    pub fn field(&self) -> &'static str {
        match self {
            FormatParamError::OutOfRange { field, .. }
            | FormatParamError::WrongFormat { field, .. } => field,
        }
    }
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

    /// The format called `name` with its parameter (the default one when `None`),
    /// checked: each transport reports the error on the field it names. `None` for
    /// a name that is not in [`ChunkFormat::NAMES`].
    pub fn with_params(
        name: &str,
        level: Option<i64>,
        kbps: Option<i64>,
    ) -> Option<Result<ChunkFormat, FormatParamError>> {
        let format = match name {
            "wav" => ChunkFormat::Wav,
            "f32" => ChunkFormat::F32,
            "flac" => ChunkFormat::Flac {
                level: flac::DEFAULT_LEVEL,
            },
            "opus" => ChunkFormat::Opus {
                kbps: opus::DEFAULT_BITRATE,
            },
            _ => return None,
        };
        Some(format.checked(level, kbps))
    }

    fn checked(
        self,
        level: Option<i64>,
        kbps: Option<i64>,
    ) -> Result<ChunkFormat, FormatParamError> {
        let in_range = |field, v: i64, r: std::ops::RangeInclusive<u16>| {
            u16::try_from(v)
                .ok()
                .filter(|v| r.contains(v))
                .ok_or(FormatParamError::OutOfRange {
                    field,
                    min: *r.start(),
                    max: *r.end(),
                })
        };
        let levels = u16::from(*flac::LEVELS.start())..=u16::from(*flac::LEVELS.end());
        match (self, level, kbps) {
            (_, Some(_), _) if !matches!(self, ChunkFormat::Flac { .. }) => {
                Err(FormatParamError::WrongFormat {
                    field: "level",
                    format: "flac",
                })
            }
            (_, _, Some(_)) if !matches!(self, ChunkFormat::Opus { .. }) => {
                Err(FormatParamError::WrongFormat {
                    field: "bitrate",
                    format: "opus",
                })
            }
            (ChunkFormat::Flac { .. }, Some(l), _) => Ok(ChunkFormat::Flac {
                level: in_range("level", l, levels)? as u8,
            }),
            (ChunkFormat::Opus { .. }, _, Some(b)) => Ok(ChunkFormat::Opus {
                kbps: in_range("bitrate", b, opus::BITRATES)?,
            }),
            (format, _, _) => Ok(format),
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
