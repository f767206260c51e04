//! Subsonic's errors: a code and a message inside an otherwise ordinary response
//! (HTTP 200, `status="failed"`), as every Subsonic client expects.

use crate::http::error::ApiError;
use crate::library::LibraryError;

/// A Subsonic error; the number is the protocol's code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubsonicError {
    #[error("{0}")]
    Generic(String),
    #[error("required parameter is missing: {0}")]
    Missing(&'static str),
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("too many failed logins; retry in {0} s")]
    Throttled(u64),
    #[error("multiple conflicting authentication mechanisms provided")]
    ConflictingMechanisms,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("user is not authorized for the given operation: {0}")]
    NotAuthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("invalid value for {name}: {why}")]
    Invalid { name: &'static str, why: String },
}

impl SubsonicError {
    pub(crate) fn code(&self) -> i64 {
        match self {
            SubsonicError::Generic(_) | SubsonicError::Invalid { .. } => 0,
            SubsonicError::Missing(_) => 10,
            SubsonicError::WrongCredentials | SubsonicError::Throttled(_) => 40,
            SubsonicError::ConflictingMechanisms => 43,
            SubsonicError::InvalidApiKey => 44,
            SubsonicError::NotAuthorized(_) => 50,
            SubsonicError::NotFound(_) => 70,
        }
    }
}

impl From<LibraryError> for SubsonicError {
    fn from(e: LibraryError) -> Self {
        match e {
            LibraryError::NotFound(m) => SubsonicError::NotFound(m),
            LibraryError::Invalid(fields) | LibraryError::Stale(fields) => {
                let why = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                SubsonicError::Generic(why)
            }
            LibraryError::Conflict(m) => SubsonicError::Generic(m),
            other => {
                tracing::error!(error = %other, "subsonic: library operation failed");
                SubsonicError::Generic("internal error".into())
            }
        }
    }
}

impl From<ApiError> for SubsonicError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(m) => SubsonicError::NotFound(m),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "subsonic: internal error");
                SubsonicError::Generic("internal error".into())
            }
            other => SubsonicError::Generic(other.to_string()),
        }
    }
}

impl From<crate::cache::ChunkError> for SubsonicError {
    fn from(e: crate::cache::ChunkError) -> Self {
        ApiError::from(e).into()
    }
}
