//! Chunk encodings: a complete WAV file (PCM 16-bit) or raw interleaved f32 LE.

use super::wav;

/// Wire format of a chunk (part of the cache key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkFormat {
    Wav,
    F32,
}

impl ChunkFormat {
    pub fn parse(s: &str) -> Option<ChunkFormat> {
        match s {
            "wav" => Some(ChunkFormat::Wav),
            "f32" => Some(ChunkFormat::F32),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChunkFormat::Wav => "wav",
            ChunkFormat::F32 => "f32",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ChunkFormat::Wav => "audio/wav",
            ChunkFormat::F32 => "application/octet-stream",
        }
    }
}

/// f32 → i16 with rounding and saturation.
pub fn to_pcm16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

pub fn encode(samples: &[f32], channels: usize, sample_rate: u32, format: ChunkFormat) -> Vec<u8> {
    match format {
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
    }
}
