//! What fetching a chunk can fail with, whichever transport asked for it.

use crate::audio::decode::DecodeError;
use crate::library::LibraryError;

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The track could not be looked up (unknown, no library, database).
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// The file cannot be decoded; the decoder's reason (logged, not shown: clients
    /// get "unsupported or corrupt audio").
    #[error("{0}")]
    Undecodable(DecodeError),
    /// The track's file is gone (moved or deleted since the last scan).
    #[error("the file of track {track} is missing; rescan the library")]
    FileMissing { track: i64 },
    #[error("chunk {index} is out of range: track {track} has {total} chunks")]
    OutOfRange { track: i64, index: u32, total: u32 },
    /// The decode pool's queue refused the job.
    #[error("the decoder queue is full; retry shortly")]
    DecoderBusy,
    /// A decode was dropped from a full queue on every attempt.
    #[error("the decoder is overloaded; retry shortly")]
    DecoderOverloaded,
    /// A decode job ended without answering (its channel closed).
    #[error("the decode result was lost")]
    Lost,
    #[error("the chunk was not decoded within {0:?} (cache.decode_timeout_ms); retry shortly")]
    TimedOut(std::time::Duration),
}
