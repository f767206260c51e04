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
    pub fn with_index(self, index: u32) -> ChunkKey {
        ChunkKey { index, ..self }
    }

    /// Intensity as the preset uses it.
    pub fn intensity(&self) -> f64 {
        f64::from(self.intensity_tenths) / 10.0
    }
}
