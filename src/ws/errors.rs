//! Domain errors → WebSocket `error` messages, in one place (the HTTP edge has its own
//! mapping to envelopes).

use super::protocol::{WsError, codes};
use crate::cache::ChunkError;
use crate::library::LibraryError;
use crate::runtime::mailbox::InboxFull;

impl From<LibraryError> for WsError {
    fn from(e: LibraryError) -> Self {
        match e {
            LibraryError::NotFound(m) => WsError::new(codes::NOT_FOUND, m),
            LibraryError::Invalid(errors) | LibraryError::Stale(errors) => WsError::fields(errors),
            LibraryError::Conflict(m) => WsError::payload(m),
            LibraryError::Write(_) => WsError::new(codes::UNAVAILABLE, e.to_string()),
            LibraryError::Unconfigured => WsError::new(codes::NOT_FOUND, e.to_string()),
            _ if e.is_busy() => WsError::new(
                codes::UNAVAILABLE,
                "the database is locked by another process; retry shortly",
            ),
            LibraryError::Database(_) | LibraryError::Entropy(_) | LibraryError::Vault(_) => {
                tracing::error!(error = %e, "library operation failed");
                WsError::new(codes::INTERNAL_ERROR, "internal error")
            }
        }
    }
}

impl From<ChunkError> for WsError {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::Library(e) => e.into(),
            ChunkError::Undecodable(
                crate::audio::decode::DecodeError::Crashed
                | crate::audio::decode::DecodeError::Encode { .. },
            ) => WsError::new(codes::INTERNAL_ERROR, e.to_string()),
            ChunkError::Undecodable(crate::audio::decode::DecodeError::Channels { .. }) => {
                WsError::field("format", "unsupported", e.to_string())
            }
            ChunkError::Undecodable(_) => {
                WsError::field("track_id", "undecodable", "unsupported or corrupt audio")
            }
            ChunkError::FileMissing { .. } => WsError::new(codes::NOT_FOUND, e.to_string()),
            ChunkError::OutOfRange { .. } => WsError::payload(e.to_string()),
            ChunkError::DecoderBusy | ChunkError::DecoderOverloaded => {
                WsError::new(codes::UNAVAILABLE, e.to_string())
            }
            ChunkError::Lost => WsError::new(codes::INTERNAL_ERROR, e.to_string()),
            ChunkError::TimedOut(_) => WsError::new(codes::TIMEOUT, e.to_string()),
        }
    }
}

impl From<InboxFull> for WsError {
    fn from(e: InboxFull) -> Self {
        WsError::new(codes::UNAVAILABLE, e.to_string())
    }
}

impl From<crate::library::tokens::Denied> for WsError {
    fn from(e: crate::library::tokens::Denied) -> Self {
        let code = match e {
            crate::library::tokens::Denied::NeedsToken => codes::UNAUTHORIZED,
            _ => codes::FORBIDDEN,
        };
        WsError::new(code, e.to_string())
    }
}
