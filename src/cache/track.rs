//! A core's cache of what the chunk path needs to know about a track (its file, rate,
//! length, loudness), read from the library once and kept until the library's data
//! generation changes. Core-owned (`RefCell`), never shared.

use super::error::ChunkError;
use crate::audio::decode::DecodeError;
use crate::library::store::LibraryReader;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What decoding a chunk needs to know about its track.
#[derive(Debug, Clone)]
pub(crate) struct TrackAudio {
    pub track: i64,
    pub path: PathBuf,
    /// Changes when the file does: part of every chunk key.
    pub revision: i64,
    pub sample_rate: u32,
    pub channels: u32,
    pub frames: u64,
    pub loudness_lufs: Option<f64>,
    /// The album's loudness from its ReplayGain/R128 album gain, when tagged.
    pub album_loudness_lufs: Option<f64>,
}

impl TrackAudio {
    /// Frames per chunk for a chunk duration.
    pub(crate) fn chunk_frames(&self, chunk_duration_s: f64) -> u64 {
        ((chunk_duration_s * f64::from(self.sample_rate)).round() as u64).max(1)
    }

    pub(crate) fn total_chunks(&self, chunk_duration_s: f64) -> u32 {
        self.frames.div_ceil(self.chunk_frames(chunk_duration_s)) as u32
    }

    /// Checks that chunk `index` exists.
    pub(crate) fn check_index(&self, index: u32, chunk_duration_s: f64) -> Result<u32, ChunkError> {
        let total = self.total_chunks(chunk_duration_s);
        if index >= total {
            return Err(ChunkError::OutOfRange {
                track: self.track,
                index,
                total,
            });
        }
        Ok(total)
    }
}

/// Per-core track facts, valid for one library generation.
#[derive(Default)]
pub(crate) struct TrackAudioCache {
    entries: RefCell<(u64, HashMap<i64, Arc<TrackAudio>>)>,
    /// When each track's file was last found as scanned, so a cache hit stats the file
    /// at most once a second per track (a cached chunk of a deleted or rewritten file
    /// must not go on being served, under a `Cache-Control` that lets others keep it).
    checked: RefCell<HashMap<i64, std::time::Instant>>,
}

/// How long a file found unchanged is believed unchanged.
const FILE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl TrackAudioCache {
    /// `Ok` when `audio`'s file is still the one scanned (size aside, its mtime is the
    /// revision), checked at most once a second per track; gone or rewritten is
    /// `FileMissing` (404: rescan).
    pub(crate) fn file_current(&self, audio: &TrackAudio) -> Result<(), ChunkError> {
        let now = std::time::Instant::now();
        let fresh = self
            .checked
            .borrow()
            .get(&audio.track)
            .is_some_and(|t| now.duration_since(*t) < FILE_CHECK_EVERY);
        if fresh {
            return Ok(());
        }
        let mtime = std::fs::metadata(&audio.path)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64);
        let mut checked = self.checked.borrow_mut();
        if mtime != Some(audio.revision) {
            checked.remove(&audio.track);
            return Err(ChunkError::FileMissing { track: audio.track });
        }
        if checked.len() > 100_000 {
            checked.clear();
        }
        checked.insert(audio.track, now);
        Ok(())
    }

    /// The facts of track `id`, from this cache or the core's library reader.
    pub(crate) fn resolve(
        &self,
        lib: &LibraryReader,
        id: i64,
    ) -> Result<Arc<TrackAudio>, ChunkError> {
        let generation = lib.library.writer.generation();
        {
            let mut cache = self.entries.borrow_mut();
            if cache.0 != generation {
                cache.1.clear();
                cache.0 = generation;
            }
            if let Some(a) = cache.1.get(&id) {
                return Ok(a.clone());
            }
        }
        let f = lib.audio_facts(id)?;
        let sample_rate =
            f.sample_rate
                .filter(|r| *r > 0)
                .ok_or(ChunkError::Undecodable(DecodeError::UnknownRate))? as u32;
        let audio = Arc::new(TrackAudio {
            track: id,
            path: f.path.into(),
            revision: f.revision,
            sample_rate,
            // Chunks carry what the decoder hands out: more than two channels are
            // downmixed to stereo (`audio::downmix`); the library keeps the source's.
            channels: f.channels.unwrap_or(0).min(2) as u32,
            frames: f
                .frames
                .unwrap_or(f.duration_ms * i64::from(sample_rate) / 1000)
                .max(0) as u64,
            loudness_lufs: f.loudness_lufs,
            album_loudness_lufs: f.album_loudness_lufs,
        });
        self.entries.borrow_mut().1.insert(id, audio.clone());
        Ok(audio)
    }
}
