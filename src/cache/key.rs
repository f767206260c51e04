//! `ChunkKey`: what identifies a decoded, processed, encoded chunk.

use crate::audio::encode::ChunkFormat;
use crate::audio::preset::Preset;

/// Identity of one cached chunk. `revision` is the file's mtime when it was scanned, so a
/// changed file never serves stale chunks (old ones age out of the LRU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    pub track: i64,
    pub revision: i64,
    pub preset: Preset,
    /// Intensity rounded to one decimal, as tenths (0..=10).
    pub intensity_tenths: u8,
    pub index: u32,
    pub format: ChunkFormat,
}

impl ChunkKey {
    /// The key of a request: intensity rounded to one decimal, and irrelevant (kept at
    /// 1.0) for `original`, so equivalent requests share one cache entry.
    pub fn for_request(
        track: i64,
        revision: i64,
        preset: Preset,
        intensity: f64,
        index: u32,
        format: ChunkFormat,
    ) -> ChunkKey {
        let intensity_tenths = match preset {
            Preset::Original => 10,
            Preset::Normalized | Preset::NormalizedAlbum => {
                (intensity.clamp(0.0, 1.0) * 10.0).round() as u8
            }
        };
        ChunkKey {
            track,
            revision,
            preset,
            intensity_tenths,
            index,
            format,
        }
    }

    /// The variant label (`preset@intensity/format`) reports group chunks by.
    pub fn variant(&self) -> String {
        format!(
            "{}@{:.1}/{}",
            self.preset.as_str(),
            self.intensity(),
            self.format.label()
        )
    }

    pub fn with_index(self, index: u32) -> ChunkKey {
        ChunkKey { index, ..self }
    }

    /// Intensity as the preset uses it.
    pub fn intensity(&self) -> f64 {
        f64::from(self.intensity_tenths) / 10.0
    }
}
