//! Access tokens: principals with a role, kept in the library database as keyed hashes
//! only (BLAKE3 keyed by a secret per data dir, `token.key`). A token is shown once,
//! when created; a presented token is hashed with the key and its hash compared in
//! constant time (`blake3::Hash`'s `==`) with the stored one.

use super::error::LibraryError;
use super::store::LibraryReader;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read, stream, its own playlists and favorites.
    Listener,
    /// Everything: library scans and tags, cache control, notifications, views of the
    /// configuration and connections.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "listener" => Some(Role::Listener),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Listener => "listener",
            Role::Admin => "admin",
        }
    }
}

/// Who is asking: a token's identity and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The token row that let it in: its own id, or an API key's (which acts as the
    /// user `id`), so revoking just that key ends what it opened.
    #[serde(skip)]
    pub token_id: i64,
}

/// A token as `token list` shows it (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// The prefix of every token (so one is recognisable in a leak scanner).
const PREFIX: &str = "aur_";

fn hash(key: &[u8; 32], secret: &str) -> blake3::Hash {
    blake3::keyed_hash(key, secret.as_bytes())
}

/// A fresh secret: 32 bytes from the OS, URL-safe base64.
fn fresh_secret() -> std::io::Result<String> {
    use base64::Engine;
    let mut buf = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut buf)?;
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    ))
}

/// Creates a token; returns the principal and the secret (shown once, never stored).
pub(crate) fn create(
    c: &Connection,
    key: &[u8; 32],
    name: &str,
    role: Role,
) -> Result<(Principal, String), LibraryError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(LibraryError::field(
            "name",
            "value_error",
            "1-100 characters",
        ));
    }
    let secret = fresh_secret().map_err(LibraryError::Entropy)?;
    let h = hash(key, &secret);
    let inserted = c.execute(
        "INSERT INTO tokens(name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            name,
            role.as_str(),
            h.as_bytes().as_slice(),
            super::model::now_ms()
        ],
    );
    match inserted {
        Ok(_) => Ok((
            Principal {
                id: c.last_insert_rowid(),
                name: name.to_string(),
                role,
                token_id: c.last_insert_rowid(),
            },
            secret,
        )),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Err(LibraryError::Conflict(format!(
                "a token or user named {name:?} already exists"
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// Revokes the token named (or numbered) `which`; `NotFound` if none is active.
pub(crate) fn revoke(c: &Connection, which: &str) -> Result<(), LibraryError> {
    let n = c.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE (name = ?1 OR CAST(id AS TEXT) = ?1) AND revoked_at IS NULL AND password IS NULL",
        params![which, super::model::now_ms()],
    )?;
    if n == 0 {
        return Err(LibraryError::NotFound(format!(
            "no active token {which:?} (a user is removed with `user delete`)"
        )));
    }
    Ok(())
}

/// Every token, active and revoked.
pub(crate) fn list(c: &Connection) -> Result<Vec<TokenInfo>, LibraryError> {
    // Users are principals in the same table, listed by `user list`.
    let mut st = c.prepare(
        "SELECT id, name, role, created_at, revoked_at FROM tokens WHERE password IS NULL AND name NOT LIKE '% (deleted user %)' ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        let role: String = r.get(2)?;
        Ok(TokenInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            role: Role::parse(&role).unwrap_or(Role::Listener),
            created_at: super::model::rfc3339_ms(r.get(3)?),
            revoked_at: r.get::<_, Option<i64>>(4)?.map(super::model::rfc3339_ms),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whose playlists and favorites a request sees and acts on: a listener its own, an
/// admin everyone's, a request without a token only what belongs to no one.
pub(crate) fn owner_of(principal: Option<&Principal>) -> super::events::Owner {
    match principal {
        Some(p) if p.role == Role::Listener => super::events::Owner::Principal(p.id),
        Some(_) => super::events::Owner::Anyone,
        None => super::events::Owner::Nobody,
    }
}

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this needs the {} role; token {name:?} has the {} role", needed.as_str(), has.as_str())]
    Role {
        needed: Role,
        name: String,
        has: Role,
    },
    #[error(
        "changes are open to loopback clients only until the first token is created: create one with `auralis-server token create --role admin --name <you>` and send `Authorization: Bearer <token>`"
    )]
    NoTokenYet,
    #[error("this needs a token: send `Authorization: Bearer <token>`")]
    NeedsToken,
}

/// Whether `principal` (or, without one, a peer on `loopback` or not) may do what
/// `needed` covers. Safe default: while no token exists, changes are allowed only on
/// loopback; once one exists, every change needs one.
pub(crate) fn permit(
    reader: Option<&LibraryReader>,
    needed: Role,
    principal: Option<&Principal>,
    loopback: bool,
) -> Result<Result<(), Denied>, LibraryError> {
    Ok(match principal {
        Some(p) if p.role >= needed => Ok(()),
        Some(p) => Err(Denied::Role {
            needed,
            name: p.name.clone(),
            has: p.role,
        }),
        None => {
            let tokens = match reader {
                Some(r) => r.tokens_ever_created()?,
                None => false,
            };
            match (tokens, loopback) {
                (false, true) => Ok(()),
                (false, false) => Err(Denied::NoTokenYet),
                (true, _) => Err(Denied::NeedsToken),
            }
        }
    })
}

impl LibraryReader {
    /// Whether a token was ever created, revoked or not. Loopback trust ends with the
    /// first token for good: revoking the last one must not hand admin rights back to
    /// every local process and every web page the local user opens.
    pub(crate) fn tokens_ever_created(&self) -> Result<bool, LibraryError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM tokens)")?
            .query_row([], |r| r.get(0))?)
    }

    /// How many tokens were ever revoked: it moves with every revocation, so a core can
    /// notice one without an event (`ws::revocation`).
    pub(crate) fn revocations(&self) -> Result<i64, LibraryError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM tokens WHERE revoked_at IS NOT NULL")?
            .query_row([], |r| r.get(0))?)
    }

    /// Whether the token with this id exists and is not revoked.
    pub(crate) fn token_active(&self, id: i64) -> Result<bool, LibraryError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM tokens WHERE id = ?1 AND revoked_at IS NULL)",
            )?
            .query_row([id], |r| r.get(0))?)
    }

    /// The principal a presented secret belongs to (`None`: unknown or revoked). An API
    /// key (`parent_id` set) is its user: the user's id, name and role, while the user
    /// itself is active.
    pub(crate) fn principal(&self, secret: &str) -> Result<Option<Principal>, LibraryError> {
        let h = hash(&self.library.token_key, secret);
        let row: Option<(i64, String, String, Vec<u8>, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(u.id, t.id), COALESCE(u.name, t.name), COALESCE(u.role, t.role), t.hash, t.id \
                 FROM tokens t LEFT JOIN tokens u ON u.id = t.parent_id \
                 WHERE t.hash = ?1 AND t.revoked_at IS NULL \
                 AND (t.parent_id IS NULL OR (u.revoked_at IS NULL AND u.password IS NOT NULL))",
            )?
            .query_row([h.as_bytes().as_slice()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        Ok(row.and_then(|(id, name, role, stored, token_id)| {
            // The lookup found it by hash; confirm in constant time all the same.
            let stored: [u8; 32] = stored.try_into().ok()?;
            (blake3::Hash::from(stored) == h).then_some(())?;
            Some(Principal {
                id,
                name,
                role: Role::parse(&role)?,
                token_id,
            })
        }))
    }
}
