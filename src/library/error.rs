//! What a library operation can fail with. The HTTP edge maps these to envelopes
//! (`http/domain_errors.rs`), the WebSocket edge to error messages: the library itself
//! knows neither.

use super::writer::WriteError;
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The server runs without a library.
    #[error("no library is configured")]
    Unconfigured,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Well-formed input the library refuses, by field.
    #[error("request validation failed")]
    Invalid(Vec<FieldError>),
    /// Input valid on its own that the library as it is now refuses, by field: ids of
    /// tracks it does not hold, a position past a playlist's end, a full playlist.
    #[error("the request conflicts with the library's current state")]
    Stale(Vec<FieldError>),
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The OS gave no randomness for a new token.
    #[error("no randomness for a new token: {0}")]
    Entropy(std::io::Error),
    /// A password could not be sealed or a stored one opened (`library::accounts`).
    #[error(transparent)]
    Vault(#[from] super::accounts::VaultError),
}

impl LibraryError {
    /// The database was locked by another process past the busy timeout.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            LibraryError::Database(rusqlite::Error::SqliteFailure(f, _))
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    /// A single-field refusal by the current state.
    pub fn stale(field: &str, message: impl Into<String>) -> Self {
        LibraryError::Stale(vec![FieldError::new(field, "state_conflict", message)])
    }

    /// A single-field refusal.
    pub fn field(field: &str, kind: &'static str, message: impl Into<String>) -> Self {
        LibraryError::Invalid(vec![FieldError::new(field, kind, message)])
    }
}
