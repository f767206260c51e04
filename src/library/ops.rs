//! Write operations. Each runs on the writer's connection (inside a transaction the
//! caller owns), so one batch can chain them atomically.

use super::error::LibraryError;
use super::events::{LibraryEvent, Tx};
use super::model::now_ms;
use super::schema::sort_key;
use crate::validation::FieldError;
use rusqlite::{Connection, OptionalExtension, params};

/// Most entries one playlist may hold.
pub(crate) const MAX_PLAYLIST_ENTRIES: usize = 10_000;

fn track_exists(c: &Connection, id: i64) -> Result<bool, LibraryError> {
    Ok(
        c.query_row("SELECT 1 FROM tracks WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

/// Marks or unmarks a favorite: a listener's own (the `favorites` table), or, for a
/// request without a listener token, the shared flag on the track.
pub(crate) fn set_favorite(c: &Tx<'_>, track_id: i64, favorite: bool) -> Result<(), LibraryError> {
    if !track_exists(c, track_id)? {
        return Err(LibraryError::NotFound(format!(
            "track {track_id} not found"
        )));
    }
    match (c.owner().id(), favorite) {
        (Some(p), true) => c.execute(
            "INSERT OR IGNORE INTO favorites(principal_id, track_id, created_at) VALUES (?1, ?2, ?3)",
            params![p, track_id, now_ms()],
        )?,
        (Some(p), false) => c.execute(
            "DELETE FROM favorites WHERE principal_id = ?1 AND track_id = ?2",
            params![p, track_id],
        )?,
        (None, _) => c.execute(
            "UPDATE tracks SET favorite = ?1 WHERE id = ?2",
            params![favorite as i64, track_id],
        )?,
    };
    c.emit(LibraryEvent::FavoriteChanged {
        track_id,
        favorite,
        owner: c.owner().id(),
    });
    Ok(())
}

fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

pub(crate) fn create_playlist(
    c: &Tx<'_>,
    name: &str,
    description: Option<&str>,
) -> Result<i64, LibraryError> {
    let now = now_ms();
    match c.execute(
        "INSERT INTO playlists(name, description, name_key, created_at, updated_at, owner_id) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![name, description, sort_key(Some(name)), now, c.owner().id()],
    ) {
        Ok(_) => {
            let playlist_id = c.last_insert_rowid();
            c.emit(LibraryEvent::PlaylistCreated {
                playlist_id,
                owner: c.owner().id(),
            });
            Ok(playlist_id)
        }
        Err(e) if unique_violation(&e) => Err(LibraryError::stale(
            "name",
            format!("a playlist named {name:?} already exists"),
        )),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn update_playlist(
    c: &Tx<'_>,
    id: i64,
    name: Option<&str>,
    description: Option<Option<&str>>,
) -> Result<(), LibraryError> {
    ensure_playlist(c, id)?;
    if let Some(name) = name {
        match c.execute(
            "UPDATE playlists SET name = ?1, name_key = ?2 WHERE id = ?3",
            params![name, sort_key(Some(name)), id],
        ) {
            Ok(_) => {}
            Err(e) if unique_violation(&e) => {
                return Err(LibraryError::stale(
                    "name",
                    format!("a playlist named {name:?} already exists"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(desc) = description {
        c.execute(
            "UPDATE playlists SET description = ?1 WHERE id = ?2",
            params![desc, id],
        )?;
    }
    touch(c, id)
}

pub(crate) fn delete_playlist(c: &Tx<'_>, id: i64) -> Result<(), LibraryError> {
    let owner = ensure_playlist(c, id)?;
    c.execute("DELETE FROM playlists WHERE id = ?1", [id])?;
    c.emit(LibraryEvent::PlaylistDeleted {
        playlist_id: id,
        owner,
    });
    Ok(())
}

/// The playlist exists and the transaction's owner may touch it (another listener's
/// playlist is as good as absent: 404, not 403, so ids leak nothing). Returns whose
/// it is.
fn ensure_playlist(c: &Tx<'_>, id: i64) -> Result<Option<i64>, LibraryError> {
    let sql = format!(
        "SELECT owner_id FROM playlists WHERE id = ?1 AND {}",
        c.owner().visible("owner_id")
    );
    c.query_row(&sql, params![id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| LibraryError::NotFound(format!("playlist {id} not found")))
}

/// Marks a playlist changed: its `updated_at`, and the event.
fn touch(c: &Tx<'_>, id: i64) -> Result<(), LibraryError> {
    c.execute(
        "UPDATE playlists SET updated_at = ?1 WHERE id = ?2",
        params![now_ms(), id],
    )?;
    let owner = c.query_row("SELECT owner_id FROM playlists WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    c.emit(LibraryEvent::PlaylistChanged {
        playlist_id: id,
        owner,
    });
    Ok(())
}

fn entries(c: &Connection, id: i64) -> Result<Vec<i64>, LibraryError> {
    let mut st = c.prepare_cached(
        "SELECT track_id FROM playlist_entries WHERE playlist_id = ?1 ORDER BY position",
    )?;
    let rows = st.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<i64>, _>>()?)
}

/// Rewrites a playlist's entries as positions 0..n (playlists are bounded, so a rewrite
/// is cheap and keeps positions dense whatever was deleted underneath).
fn write_entries(c: &Tx<'_>, id: i64, tracks: &[i64]) -> Result<(), LibraryError> {
    c.execute("DELETE FROM playlist_entries WHERE playlist_id = ?1", [id])?;
    let mut st = c.prepare_cached(
        "INSERT INTO playlist_entries(playlist_id, position, track_id) VALUES (?1, ?2, ?3)",
    )?;
    for (pos, t) in tracks.iter().enumerate() {
        st.execute(params![id, pos as i64, t])?;
    }
    touch(c, id)
}

/// Every one of `track_ids` is in the library (409 naming those that are not).
fn all_exist(c: &Tx<'_>, track_ids: &[i64]) -> Result<(), LibraryError> {
    let missing: Vec<i64> = track_ids
        .iter()
        .copied()
        .filter(|t| !track_exists(c, *t).unwrap_or(false))
        .collect();
    if !missing.is_empty() {
        return Err(LibraryError::stale(
            "track_ids",
            format!("not in the library: {missing:?}"),
        ));
    }
    Ok(())
}

pub(crate) fn add_tracks(
    c: &Tx<'_>,
    id: i64,
    track_ids: &[i64],
    position: Option<i64>,
) -> Result<usize, LibraryError> {
    ensure_playlist(c, id)?;
    all_exist(c, track_ids)?;
    let mut list = entries(c, id)?;
    if list.len() + track_ids.len() > MAX_PLAYLIST_ENTRIES {
        return Err(LibraryError::stale(
            "track_ids",
            format!("a playlist holds at most {MAX_PLAYLIST_ENTRIES} tracks"),
        ));
    }
    let at = match position {
        None => list.len(),
        Some(p) if p >= 0 && p as usize <= list.len() => p as usize,
        Some(_) => {
            return Err(LibraryError::stale(
                "position",
                format!(
                    "must be between 0 and {} (the playlist's length)",
                    list.len()
                ),
            ));
        }
    };
    list.splice(at..at, track_ids.iter().copied());
    write_entries(c, id, &list)?;
    Ok(list.len())
}

/// Replaces a playlist's entries with `track_ids` (each must be in the library).
pub(crate) fn set_entries(c: &Tx<'_>, id: i64, track_ids: &[i64]) -> Result<(), LibraryError> {
    ensure_playlist(c, id)?;
    if track_ids.len() > MAX_PLAYLIST_ENTRIES {
        return Err(LibraryError::stale(
            "track_ids",
            format!("a playlist holds at most {MAX_PLAYLIST_ENTRIES} tracks"),
        ));
    }
    all_exist(c, track_ids)?;
    write_entries(c, id, track_ids)
}

/// Removes the entries at `positions` (indexes into the playlist as it is, so their
/// order and repeats do not matter); a position past the end is a 404 and removes
/// nothing.
pub(crate) fn remove_positions(c: &Tx<'_>, id: i64, positions: &[i64]) -> Result<(), LibraryError> {
    ensure_playlist(c, id)?;
    let list = entries(c, id)?;
    if let Some(p) = positions
        .iter()
        .find(|p| **p < 0 || **p as usize >= list.len())
    {
        return Err(LibraryError::NotFound(format!(
            "playlist {id} has no entry at position {p}"
        )));
    }
    let kept: Vec<i64> = list
        .iter()
        .enumerate()
        .filter(|(i, _)| !positions.contains(&(*i as i64)))
        .map(|(_, t)| *t)
        .collect();
    write_entries(c, id, &kept)
}

pub(crate) fn reorder(c: &Tx<'_>, id: i64, from: i64, to: i64) -> Result<(), LibraryError> {
    ensure_playlist(c, id)?;
    let mut list = entries(c, id)?;
    let n = list.len() as i64;
    if n == 0 {
        return Err(LibraryError::stale(
            "from",
            format!("playlist {id} is empty: there is nothing to reorder"),
        ));
    }
    let mut errs = Vec::new();
    if !(0..n).contains(&from) {
        errs.push(FieldError::new(
            "from",
            "state_conflict",
            format!("must be between 0 and {}", n - 1),
        ));
    }
    if !(0..n).contains(&to) {
        errs.push(FieldError::new(
            "to",
            "state_conflict",
            format!("must be between 0 and {}", n - 1),
        ));
    }
    if !errs.is_empty() {
        return Err(LibraryError::Stale(errs));
    }
    let t = list.remove(from as usize);
    list.insert(to as usize, t);
    write_entries(c, id, &list)
}

pub(crate) fn remove_at(c: &Tx<'_>, id: i64, position: i64) -> Result<(), LibraryError> {
    ensure_playlist(c, id)?;
    let mut list = entries(c, id)?;
    if position < 0 || position as usize >= list.len() {
        return Err(LibraryError::NotFound(format!(
            "playlist {id} has no entry at position {position}"
        )));
    }
    list.remove(position as usize);
    write_entries(c, id, &list)
}

/// Tag edits of `set_tags` (database only; files are never rewritten).
#[derive(Debug, Clone, Default)]
pub(crate) struct TagEdit {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i64>,
}

impl TagEdit {
    /// An edit must change something, and every value it sets must be a real one: no
    /// empty title, artist, album or genre, a year in 1..=9999.
    pub(crate) fn check(&self) -> Result<(), LibraryError> {
        let mut errs = Vec::new();
        for (name, v) in [
            ("title", &self.title),
            ("artist", &self.artist),
            ("album", &self.album),
            ("genre", &self.genre),
        ] {
            if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
                errs.push(FieldError::new(name, "value_error", "must not be empty"));
            }
        }
        if self.year.is_some_and(|y| !(1..=9999).contains(&y)) {
            errs.push(FieldError::new(
                "year",
                "value_error",
                "must be between 1 and 9999",
            ));
        }
        let nothing = self.title.is_none()
            && self.artist.is_none()
            && self.album.is_none()
            && self.genre.is_none()
            && self.year.is_none();
        if nothing {
            errs.push(FieldError::new(
                "tags",
                "missing",
                "give at least one of title, artist, album, genre, year",
            ));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(LibraryError::Invalid(errs))
        }
    }
}

/// Edits a track's tags. A new artist or album moves the track to that artist's and
/// album's rows (created when new; rows left without tracks are deleted), in the same
/// transaction, so listings by artist and album agree with the track.
pub(crate) fn set_tags(c: &Tx<'_>, track_id: i64, e: &TagEdit) -> Result<(), LibraryError> {
    e.check()?;
    if !track_exists(c, track_id)? {
        return Err(LibraryError::NotFound(format!(
            "track {track_id} not found"
        )));
    }
    if let Some(t) = &e.title {
        c.execute(
            "UPDATE tracks SET title = ?1, title_key = ?2 WHERE id = ?3",
            params![t, sort_key(Some(t)), track_id],
        )?;
    }
    if let Some(g) = &e.genre {
        c.execute(
            "UPDATE tracks SET genre = ?1 WHERE id = ?2",
            params![g, track_id],
        )?;
    }
    if let Some(y) = e.year {
        c.execute(
            "UPDATE tracks SET year = ?1, year_key = ?1 WHERE id = ?2",
            params![y, track_id],
        )?;
    }
    if e.artist.is_some() || e.album.is_some() {
        move_track(c, track_id, e)?;
    }
    c.emit(LibraryEvent::TagsChanged { track_id });
    Ok(())
}

/// Points a track at the artist and album rows its new tags name.
fn move_track(c: &Tx<'_>, track_id: i64, e: &TagEdit) -> Result<(), LibraryError> {
    let (artist, album, album_artist, year): (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    ) = c.query_row(
        "SELECT artist, album, album_artist, year FROM tracks WHERE id = ?1",
        [track_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let artist = e.artist.clone().or(artist);
    let album = e.album.clone().or(album);
    let artist_id = super::scan::artist_id(c, artist.as_deref())?;
    let album_artist_id = match album_artist.as_deref() {
        Some(aa) => super::scan::artist_id(c, Some(aa))?,
        None => artist_id,
    };
    let album_id = super::scan::album_id(c, album.as_deref(), album_artist_id, year)?;
    c.execute(
        "UPDATE tracks SET artist = ?1, artist_key = ?2, album = ?3, album_key = ?4,
         artist_id = ?5, album_id = ?6 WHERE id = ?7",
        params![
            artist,
            sort_key(artist.as_deref()),
            album,
            sort_key(album.as_deref()),
            artist_id,
            album_id,
            track_id
        ],
    )?;
    super::scan::prune_orphans(c)?;
    Ok(())
}

/// Marks a track whose file is gone (a rescan that finds it again clears the mark).
pub(crate) fn set_missing(c: &Connection, track_id: i64) -> Result<(), LibraryError> {
    c.execute(
        "UPDATE tracks SET missing = 1, missing_since = COALESCE(missing_since, ?2) WHERE id = ?1",
        rusqlite::params![track_id, super::model::now_ms()],
    )?;
    Ok(())
}

/// Stores a track's measured integrated loudness (`None`: silence, unmeasurable).
pub(crate) fn set_loudness(
    c: &Connection,
    track_id: i64,
    lufs: Option<f64>,
) -> Result<(), LibraryError> {
    c.execute(
        "UPDATE tracks SET loudness_lufs = ?1 WHERE id = ?2",
        params![lufs, track_id],
    )?;
    Ok(())
}

/// Counts a play of `track_id`: `play_count` + 1 and `last_played_at` now.
pub(crate) fn record_play(c: &Tx<'_>, track_id: i64) -> Result<(), LibraryError> {
    let n = c.execute(
        "UPDATE tracks SET play_count = play_count + 1, last_played_at = ?2 WHERE id = ?1",
        params![track_id, now_ms()],
    )?;
    if n == 0 {
        return Err(LibraryError::NotFound(format!(
            "track {track_id} not found"
        )));
    }
    Ok(())
}

/// An administrator's purge: deletes the tracks missing for at least `older_than_ms`
/// (0: every missing track) with their favorites and playlist entries, now instead of
/// after `library.missing_grace_days`. Returns how many went.
pub(crate) fn purge_missing(c: &Tx<'_>, older_than_ms: i64) -> Result<u64, LibraryError> {
    let cutoff = now_ms().saturating_sub(older_than_ms);
    let n = c.execute(
        "DELETE FROM tracks WHERE missing = 1 AND COALESCE(missing_since, 0) <= ?1",
        [cutoff],
    )? as u64;
    if n > 0 {
        super::scan::prune_orphans(c)?;
    }
    Ok(n)
}
