//! Domain errors → envelope errors, in one place: the library, the chunk path and
//! the WebSocket hub know nothing of HTTP statuses; this file decides them.

use super::error::ApiError;
use crate::cache::ChunkError;
use crate::library::LibraryError;
use crate::library::writer::WriteError;

impl From<LibraryError> for ApiError {
    fn from(e: LibraryError) -> Self {
        match e {
            LibraryError::Unconfigured => ApiError::Unavailable(e.to_string()),
            LibraryError::NotFound(m) => ApiError::NotFound(m),
            LibraryError::Conflict(m) => ApiError::Conflict(m),
            LibraryError::Invalid(errors) => ApiError::Validation(errors),
            LibraryError::Stale(errors) => ApiError::StateConflict(errors),
            _ if e.is_busy() => ApiError::Unavailable(
                "the database is locked by another process; retry shortly".into(),
            ),
            LibraryError::Database(e) => ApiError::Internal(format!("database: {e}")),
            LibraryError::Write(WriteError::Busy | WriteError::Shared(_)) => {
                ApiError::Unavailable(e.to_string())
            }
            LibraryError::Write(WriteError::Stopped)
            | LibraryError::Entropy(_)
            | LibraryError::Vault(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ChunkError> for ApiError {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::Library(e) => e.into(),
            // A decoder panic may be corrupt input or our bug: we cannot tell, so it is
            // ours to own (500, logged by the pool), not the client's (422).
            // An encoder failing on decoded audio is ours too.
            ChunkError::Undecodable(
                crate::audio::decode::DecodeError::Crashed
                | crate::audio::decode::DecodeError::Encode { .. },
            ) => ApiError::Internal(e.to_string()),
            // The format cannot carry this track (Opus: at most two channels).
            ChunkError::Undecodable(crate::audio::decode::DecodeError::Channels { .. }) => {
                ApiError::field("format", "unsupported", e.to_string())
            }
            ChunkError::Undecodable(_) => {
                ApiError::field("track_id", "undecodable", "unsupported or corrupt audio")
            }
            ChunkError::FileMissing { .. } => ApiError::NotFound(e.to_string()),
            ChunkError::OutOfRange { .. } => ApiError::NotFound(e.to_string()),
            ChunkError::DecoderBusy | ChunkError::DecoderOverloaded => {
                ApiError::Unavailable(e.to_string())
            }
            ChunkError::Lost => ApiError::Internal(e.to_string()),
            ChunkError::TimedOut(_) => ApiError::Timeout(e.to_string()),
        }
    }
}

impl From<crate::runtime::mailbox::InboxFull> for ApiError {
    fn from(e: crate::runtime::mailbox::InboxFull) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}
