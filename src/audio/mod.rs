//! Audio: decoding ranges (symphonia), presets, chunk encodings, the decode pool, and
//! the WAV/FLAC writers shared by the demo library and the chunk path.

pub mod aiff_length;
pub(crate) mod codec;
pub mod decode;
pub mod downmix;
pub mod encode;
pub mod flac;
pub mod mp4_gapless;
pub mod ogg_end;
pub mod ogg_opus;
pub mod opus;
pub(crate) mod pool;
pub mod preset;
pub mod regular;
pub mod resample;
pub mod timeline;
pub mod wav;

/// Text tags written into generated files (and read back by the scanner).
#[derive(Debug, Clone, Default)]
pub struct Tags {
    pub title: String,
    pub artist: String,
    pub album: String,
    pub album_artist: Option<String>,
    pub track_number: u32,
    pub year: u32,
    pub genre: String,
}
