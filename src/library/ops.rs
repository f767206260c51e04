//! Write operations. Each runs on the writer's connection (inside a transaction the
//! caller owns), so one batch can chain them atomically.

use super::model::now_ms;
use super::schema::sort_key;
use crate::http::error::ApiError;
use rusqlite::{Connection, OptionalExtension, params};

/// Most entries one playlist may hold.
pub const MAX_PLAYLIST_ENTRIES: usize = 10_000;

fn db(e: rusqlite::Error) -> ApiError {
    ApiError::Internal(format!("database: {e}"))
}

fn track_exists(c: &Connection, id: i64) -> Result<bool, ApiError> {
    c.query_row("SELECT 1 FROM tracks WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(db)
}

pub fn set_favorite(c: &Connection, track_id: i64, favorite: bool) -> Result<(), ApiError> {
    let n = c
        .execute(
            "UPDATE tracks SET favorite = ?1 WHERE id = ?2",
            params![favorite as i64, track_id],
        )
        .map_err(db)?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("track {track_id} not found")));
    }
    Ok(())
}

fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

pub fn create_playlist(
    c: &Connection,
    name: &str,
    description: Option<&str>,
) -> Result<i64, ApiError> {
    let now = now_ms();
    match c.execute(
        "INSERT INTO playlists(name, description, name_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![name, description, sort_key(Some(name)), now],
    ) {
        Ok(_) => Ok(c.last_insert_rowid()),
        Err(e) if unique_violation(&e) => Err(ApiError::Conflict(format!("a playlist named {name:?} already exists"))),
        Err(e) => Err(db(e)),
    }
}

pub fn update_playlist(
    c: &Connection,
    id: i64,
    name: Option<&str>,
    description: Option<Option<&str>>,
) -> Result<(), ApiError> {
    ensure_playlist(c, id)?;
    if let Some(name) = name {
        match c.execute(
            "UPDATE playlists SET name = ?1, name_key = ?2 WHERE id = ?3",
            params![name, sort_key(Some(name)), id],
        ) {
            Ok(_) => {}
            Err(e) if unique_violation(&e) => {
                return Err(ApiError::Conflict(format!(
                    "a playlist named {name:?} already exists"
                )));
            }
            Err(e) => return Err(db(e)),
        }
    }
    if let Some(desc) = description {
        c.execute(
            "UPDATE playlists SET description = ?1 WHERE id = ?2",
            params![desc, id],
        )
        .map_err(db)?;
    }
    touch(c, id)
}

pub fn delete_playlist(c: &Connection, id: i64) -> Result<(), ApiError> {
    let n = c
        .execute("DELETE FROM playlists WHERE id = ?1", [id])
        .map_err(db)?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("playlist {id} not found")));
    }
    Ok(())
}

fn ensure_playlist(c: &Connection, id: i64) -> Result<(), ApiError> {
    c.query_row("SELECT 1 FROM playlists WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .map_err(db)?
        .ok_or_else(|| ApiError::NotFound(format!("playlist {id} not found")))
}

fn touch(c: &Connection, id: i64) -> Result<(), ApiError> {
    c.execute(
        "UPDATE playlists SET updated_at = ?1 WHERE id = ?2",
        params![now_ms(), id],
    )
    .map_err(db)?;
    Ok(())
}

fn entries(c: &Connection, id: i64) -> Result<Vec<i64>, ApiError> {
    let mut st = c
        .prepare_cached(
            "SELECT track_id FROM playlist_entries WHERE playlist_id = ?1 ORDER BY position",
        )
        .map_err(db)?;
    let rows = st.query_map([id], |r| r.get(0)).map_err(db)?;
    rows.collect::<Result<Vec<i64>, _>>().map_err(db)
}

/// Rewrites a playlist's entries as positions 0..n (playlists are bounded, so a rewrite
/// is cheap and keeps positions dense whatever was deleted underneath).
fn write_entries(c: &Connection, id: i64, tracks: &[i64]) -> Result<(), ApiError> {
    c.execute("DELETE FROM playlist_entries WHERE playlist_id = ?1", [id])
        .map_err(db)?;
    let mut st = c
        .prepare_cached(
            "INSERT INTO playlist_entries(playlist_id, position, track_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(db)?;
    for (pos, t) in tracks.iter().enumerate() {
        st.execute(params![id, pos as i64, t]).map_err(db)?;
    }
    touch(c, id)
}

pub fn add_tracks(
    c: &Connection,
    id: i64,
    track_ids: &[i64],
    position: Option<i64>,
) -> Result<usize, ApiError> {
    ensure_playlist(c, id)?;
    let missing: Vec<i64> = track_ids
        .iter()
        .copied()
        .filter(|t| !track_exists(c, *t).unwrap_or(false))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::NotFound(format!("tracks not found: {missing:?}")));
    }
    let mut list = entries(c, id)?;
    if list.len() + track_ids.len() > MAX_PLAYLIST_ENTRIES {
        return Err(ApiError::field(
            "track_ids",
            "value_error",
            format!("a playlist holds at most {MAX_PLAYLIST_ENTRIES} tracks"),
        ));
    }
    let at = match position {
        None => list.len(),
        Some(p) if p >= 0 && p as usize <= list.len() => p as usize,
        Some(_) => {
            return Err(ApiError::field(
                "position",
                "value_error",
                format!("must be between 0 and {}", list.len()),
            ));
        }
    };
    list.splice(at..at, track_ids.iter().copied());
    write_entries(c, id, &list)?;
    Ok(list.len())
}

pub fn reorder(c: &Connection, id: i64, from: i64, to: i64) -> Result<(), ApiError> {
    ensure_playlist(c, id)?;
    let mut list = entries(c, id)?;
    let n = list.len() as i64;
    let mut errs = Vec::new();
    if !(0..n).contains(&from) {
        errs.push(crate::http::error::FieldError::new(
            "from",
            "value_error",
            format!("must be between 0 and {}", n - 1),
        ));
    }
    if !(0..n).contains(&to) {
        errs.push(crate::http::error::FieldError::new(
            "to",
            "value_error",
            format!("must be between 0 and {}", n - 1),
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::Validation(errs));
    }
    let t = list.remove(from as usize);
    list.insert(to as usize, t);
    write_entries(c, id, &list)
}

pub fn remove_at(c: &Connection, id: i64, position: i64) -> Result<(), ApiError> {
    ensure_playlist(c, id)?;
    let mut list = entries(c, id)?;
    if position < 0 || position as usize >= list.len() {
        return Err(ApiError::NotFound(format!(
            "playlist {id} has no entry at position {position}"
        )));
    }
    list.remove(position as usize);
    write_entries(c, id, &list)
}

/// Tag edits of `set_tags` (database only; files are never rewritten).
#[derive(Debug, Clone, Default)]
pub struct TagEdit {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i64>,
}

pub fn set_tags(c: &Connection, track_id: i64, e: &TagEdit) -> Result<(), ApiError> {
    if !track_exists(c, track_id)? {
        return Err(ApiError::NotFound(format!("track {track_id} not found")));
    }
    if let Some(t) = &e.title {
        c.execute(
            "UPDATE tracks SET title = ?1, title_key = ?2 WHERE id = ?3",
            params![t, sort_key(Some(t)), track_id],
        )
        .map_err(db)?;
    }
    if let Some(a) = &e.artist {
        c.execute(
            "UPDATE tracks SET artist = ?1, artist_key = ?2 WHERE id = ?3",
            params![a, sort_key(Some(a)), track_id],
        )
        .map_err(db)?;
    }
    if let Some(a) = &e.album {
        c.execute(
            "UPDATE tracks SET album = ?1, album_key = ?2 WHERE id = ?3",
            params![a, sort_key(Some(a)), track_id],
        )
        .map_err(db)?;
    }
    if let Some(g) = &e.genre {
        c.execute(
            "UPDATE tracks SET genre = ?1 WHERE id = ?2",
            params![g, track_id],
        )
        .map_err(db)?;
    }
    if let Some(y) = e.year {
        c.execute(
            "UPDATE tracks SET year = ?1, year_key = ?1 WHERE id = ?2",
            params![y, track_id],
        )
        .map_err(db)?;
    }
    Ok(())
}
