//! Keyset pages over the library's sort keys, and the cursors that continue them.
//!
//! A cursor carries the sort key and id of the last row served, so the next page is
//! `WHERE (key, id) > (last_key, last_id)`: rows inserted between pages never shift it
//! (each pre-existing row is served exactly once), and page 1 000 costs what page 1
//! costs. Tokens are URL-safe base64 of a small JSON payload plus a keyed BLAKE3 tag, so
//! a tampered or foreign cursor is refused (field `cursor`), and a cursor issued for
//! another sort order or filter set is refused too. Transports only carry the token.

use super::error::LibraryError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

pub(crate) const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 500;
const TAG_LEN: usize = 12;

/// A sort-key value stored in a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysetPos {
    pub key: SortValue,
    pub id: i64,
}

/// Which page the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PageMode {
    Offset(i64),
    /// A cursor walk: `None` is its first page, `Some` the opaque token of the
    /// previous page's `next_cursor` (checked against the list's scope when used).
    Cursor(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageRequest {
    pub limit: i64,
    pub mode: PageMode,
}

impl PageRequest {
    /// Offset paging reports totals; cursor paging only `has_more` and the next cursor.
    pub(crate) fn offset_meta(&self) -> bool {
        matches!(self.mode, PageMode::Offset(_))
    }
}

/// `meta` of a list response.
#[derive(Debug, Serialize)]
pub(crate) struct PageMeta {
    pub limit: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub meta: PageMeta,
}

/// Why a cursor token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("cursor is not valid")]
    Malformed,
    #[error("cursor has been tampered with or was issued by another server")]
    Forged,
    #[error("cursor was issued for a different list, order or filter")]
    OtherList,
}

impl From<CursorError> for LibraryError {
    fn from(e: CursorError) -> Self {
        LibraryError::field("cursor", "value_error", e.to_string())
    }
}

/// A cursor scope: list name, order and a fingerprint of the filters, so a cursor only
/// continues the walk it came from.
pub(crate) fn scope(list: &str, order: &str, filters: &str) -> String {
    let h = blake3::hash(filters.as_bytes());
    format!("{list}|{order}|{}", &h.to_hex()[..12])
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Scope: list name + order + filter fingerprint.
    s: String,
    k: SortValue,
    i: i64,
}

/// Signs and checks cursors with a per-data-dir secret.
#[derive(Clone)]
pub struct CursorCodec {
    key: [u8; 32],
}

impl CursorCodec {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn encode(&self, scope: &str, pos: &KeysetPos) -> String {
        let payload = Payload {
            s: scope.to_string(),
            k: pos.key.clone(),
            i: pos.id,
        };
        let mut bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let tag = blake3::keyed_hash(&self.key, &bytes);
        bytes.extend_from_slice(&tag.as_bytes()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(&self, scope: &str, token: &str) -> Result<KeysetPos, CursorError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| CursorError::Malformed)?;
        if raw.len() <= TAG_LEN {
            return Err(CursorError::Malformed);
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_LEN);
        let expect = blake3::keyed_hash(&self.key, body);
        // Compare the truncated tag without short-circuiting (blake3's constant-time
        // equality covers only whole hashes).
        let diff = expect.as_bytes()[..TAG_LEN]
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(CursorError::Forged);
        }
        let p: Payload = serde_json::from_slice(body).map_err(|_| CursorError::Malformed)?;
        if p.s != scope {
            return Err(CursorError::OtherList);
        }
        Ok(KeysetPos { key: p.k, id: p.i })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_tamper_detection() {
        let codec = CursorCodec::new([7; 32]);
        let pos = KeysetPos {
            key: SortValue::Text("abc".into()),
            id: 42,
        };
        let tok = codec.encode("tracks|title", &pos);
        assert!(
            tok.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(codec.decode("tracks|title", &tok).unwrap(), pos);
        assert_eq!(
            codec.decode("tracks|year", &tok),
            Err(CursorError::OtherList)
        );
        let mut raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
        raw[5] ^= 1;
        assert_eq!(
            codec.decode("tracks|title", &URL_SAFE_NO_PAD.encode(raw)),
            Err(CursorError::Forged)
        );
        assert_eq!(
            CursorCodec::new([8; 32]).decode("tracks|title", &tok),
            Err(CursorError::Forged),
            "other key"
        );
        assert_eq!(
            codec.decode("tracks|title", "!!"),
            Err(CursorError::Malformed)
        );
    }
}
