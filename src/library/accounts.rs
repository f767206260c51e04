//! Named users with passwords: the principals Subsonic apps log in as.
//!
//! A user is a row of `tokens` (so its id is a principal id like any token's: its
//! playlists, favorites, ratings and play queue are keyed by it) with a `password`:
//! the password sealed with AES-256-GCM under the data dir's `account.key`. It is
//! sealed, not hashed, because Subsonic's token login sends `md5(password + salt)` with
//! a fresh salt each time: the server must recompute that from the password itself
//! (Navidrome stores passwords the same way for the same reason). Whoever holds both
//! `library.db` and `account.key` can read every user's password; the key file is
//! created 0600 and never leaves the data dir (in a cluster, PostgreSQL's
//! `cluster_secrets` carries it like the token key).
//!
//! A user's row also gets an unguessable token secret that is never shown (the column
//! is unique and required); API keys for the user are ordinary tokens whose `parent_id`
//! names it: presented as a bearer token or as Subsonic's `apiKey`, they act as the user.

use super::error::LibraryError;
use super::store::LibraryReader;
use super::tokens::{Principal, Role};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// Longest password accepted (a sealed one is this plus 28 bytes).
pub const MAX_PASSWORD: usize = 256;

/// Why a password could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the system's random source failed")]
    Random,
    #[error(
        "a stored password does not open with account.key (the key file was replaced, or the row was copied from another server)"
    )]
    Open,
}

/// Seals and opens passwords under one 256-bit key.
pub(crate) struct Vault {
    key: LessSafeKey,
}

impl Vault {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key is exactly what AES-256 takes: this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key");
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// `nonce ‖ ciphertext ‖ tag`, bound to the user's name (a sealed password copied
    /// onto another user's row does not open).
    pub(crate) fn seal(&self, name: &str, password: &str) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::random::fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let mut out = password.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut out,
            )
            .map_err(|_| VaultError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Ok(sealed)
    }

    pub(crate) fn open(&self, name: &str, sealed: &[u8]) -> Result<String, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Open)?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut buf)
            .map_err(|_| VaultError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Open)
    }
}

/// A user as `user list` shows it (never the password).
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    /// API keys (tokens acting as this user) not revoked.
    pub api_keys: i64,
}

fn check_password(password: &str) -> Result<(), LibraryError> {
    if password.is_empty() || password.len() > MAX_PASSWORD {
        return Err(LibraryError::field(
            "password",
            "value_error",
            format!("1-{MAX_PASSWORD} bytes"),
        ));
    }
    Ok(())
}

/// Creates a user; its id is a principal id.
pub(crate) fn create(
    c: &Connection,
    keys: (&[u8; 32], &Vault),
    name: &str,
    role: Role,
    password: &str,
) -> Result<Principal, LibraryError> {
    check_password(password)?;
    let (principal, _never_shown) = super::tokens::create(c, keys.0, name, role)?;
    let sealed = keys.1.seal(&principal.name, password)?;
    c.execute(
        "UPDATE tokens SET password = ?1 WHERE id = ?2",
        params![sealed, principal.id],
    )?;
    Ok(principal)
}

/// The id of the active user named `name`.
fn user_id(c: &Connection, name: &str) -> Result<i64, LibraryError> {
    c.query_row(
        "SELECT id FROM tokens WHERE name = ?1 AND password IS NOT NULL AND revoked_at IS NULL",
        [name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| LibraryError::NotFound(format!("no user {name:?}")))
}

/// Replaces a user's password.
pub(crate) fn set_password(
    c: &Connection,
    vault: &Vault,
    name: &str,
    password: &str,
) -> Result<(), LibraryError> {
    check_password(password)?;
    let id = user_id(c, name)?;
    let sealed = vault.seal(name, password)?;
    c.execute(
        "UPDATE tokens SET password = ?1 WHERE id = ?2",
        params![sealed, id],
    )?;
    Ok(())
}

/// Deletes a user: its password is erased, it and its API keys are revoked, and its
/// name is free again (the row stays, renamed, so a principal id is never given to
/// someone else).
pub(crate) fn delete(c: &Connection, name: &str) -> Result<(), LibraryError> {
    let id = user_id(c, name)?;
    let now = super::model::now_ms();
    // The row stays (its id is never given again) under a name that frees the old one
    // for a new user.
    c.execute(
        "UPDATE tokens SET revoked_at = ?2, password = NULL, name = name || ' (deleted user ' || id || ')' WHERE id = ?1",
        params![id, now],
    )?;
    c.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE parent_id = ?1 AND revoked_at IS NULL",
        params![id, now],
    )?;
    Ok(())
}

/// Creates an API key acting as the user `name`: a token whose secret is shown once.
pub(crate) fn create_api_key(
    c: &Connection,
    key: &[u8; 32],
    user: &str,
    name: &str,
) -> Result<(Principal, String), LibraryError> {
    let parent = user_id(c, user)?;
    let role: String = c.query_row("SELECT role FROM tokens WHERE id = ?1", [parent], |r| {
        r.get(0)
    })?;
    let role = Role::parse(&role).unwrap_or(Role::Listener);
    let (token, secret) = super::tokens::create(c, key, name, role)?;
    c.execute(
        "UPDATE tokens SET parent_id = ?1 WHERE id = ?2",
        params![parent, token.id],
    )?;
    Ok((token, secret))
}

/// Every active user.
pub(crate) fn list(c: &Connection) -> Result<Vec<UserInfo>, LibraryError> {
    let mut st = c.prepare(
        "SELECT u.id, u.name, u.role, u.created_at, \
         (SELECT COUNT(*) FROM tokens k WHERE k.parent_id = u.id AND k.revoked_at IS NULL) \
         FROM tokens u WHERE u.password IS NOT NULL AND u.revoked_at IS NULL ORDER BY u.id",
    )?;
    let rows = st.query_map([], |r| {
        let role: String = r.get(2)?;
        Ok(UserInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            role: Role::parse(&role).unwrap_or(Role::Listener),
            created_at: super::model::rfc3339_ms(r.get(3)?),
            api_keys: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A user found by name, with its password opened (for Subsonic's logins).
pub(crate) struct Account {
    pub principal: Principal,
    pub password: String,
}

impl LibraryReader {
    /// The active user named `name` and its password; `None`: no such user.
    pub(crate) fn account(&self, name: &str) -> Result<Option<Account>, LibraryError> {
        let row: Option<(i64, String, String, Vec<u8>)> = self
            .conn()
            .prepare_cached(
                "SELECT id, name, role, password FROM tokens \
                 WHERE name = ?1 AND password IS NOT NULL AND revoked_at IS NULL",
            )?
            .query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((id, name, role, sealed)) = row else {
            return Ok(None);
        };
        let password = self.library.vault.open(&name, &sealed)?;
        Ok(Some(Account {
            principal: Principal {
                id,
                name,
                role: Role::parse(&role).unwrap_or(Role::Listener),
                token_id: id,
            },
            password,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_password_opens_only_under_its_key_and_name() {
        let vault = Vault::new(&[7; 32]);
        let sealed = vault.seal("alice", "s3cret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "not in clear");
        assert_eq!(vault.open("alice", &sealed).unwrap(), "s3cret");
        assert!(vault.open("bob", &sealed).is_err(), "bound to the name");
        assert!(Vault::new(&[8; 32]).open("alice", &sealed).is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(vault.open("alice", &flipped).is_err(), "tampering shows");
        assert!(vault.open("alice", &sealed[..5]).is_err(), "short input");
        assert_ne!(
            vault.seal("alice", "s3cret").unwrap(),
            sealed,
            "fresh nonce"
        );
    }
}
