//! What one user keeps beside its playlists and favorites: ratings and a saved play
//! queue (the queue an app restores on another device). Written on the writer inside
//! a transaction acting for the user; read on a core's connection.

use super::error::LibraryError;
use super::events::Tx;
use super::model::now_ms;
use super::store::LibraryReader;
use rusqlite::{OptionalExtension, params};

/// Most tracks one saved play queue holds.
pub(crate) const MAX_QUEUE: usize = 10_000;

fn owner_id(c: &Tx<'_>) -> Result<i64, LibraryError> {
    c.owner()
        .id()
        .ok_or_else(|| LibraryError::field("user", "value_error", "needs a user"))
}

fn ensure_track(c: &Tx<'_>, id: i64) -> Result<(), LibraryError> {
    c.query_row("SELECT 1 FROM tracks WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .ok_or_else(|| LibraryError::NotFound(format!("track {id} not found")))
}

/// Rates a track 1-5 for the acting user; 0 removes the rating.
pub(crate) fn set_rating(c: &Tx<'_>, track_id: i64, rating: i64) -> Result<(), LibraryError> {
    let p = owner_id(c)?;
    if !(0..=5).contains(&rating) {
        return Err(LibraryError::field("rating", "value_error", "0 to 5"));
    }
    ensure_track(c, track_id)?;
    if rating == 0 {
        c.execute(
            "DELETE FROM ratings WHERE principal_id = ?1 AND track_id = ?2",
            params![p, track_id],
        )?;
    } else {
        c.execute(
            "INSERT INTO ratings(principal_id, track_id, rating) VALUES (?1, ?2, ?3) \
             ON CONFLICT(principal_id, track_id) DO UPDATE SET rating = excluded.rating",
            params![p, track_id, rating],
        )?;
    }
    Ok(())
}

/// Counts a play at `at_ms` (a scrobble may report a listen made earlier, offline).
pub(crate) fn record_play_at(c: &Tx<'_>, track_id: i64, at_ms: i64) -> Result<(), LibraryError> {
    let n = c.execute(
        "UPDATE tracks SET play_count = play_count + 1, last_played_at = MAX(last_played_at, ?2) WHERE id = ?1",
        params![track_id, at_ms.clamp(0, now_ms())],
    )?;
    if n == 0 {
        return Err(LibraryError::NotFound(format!(
            "track {track_id} not found"
        )));
    }
    Ok(())
}

/// A saved play queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlayQueue {
    pub tracks: Vec<i64>,
    pub current: Option<i64>,
    pub position_ms: i64,
    pub changed_at: i64,
    /// The app that saved it (Subsonic's `c`).
    pub changed_by: String,
}

/// Replaces the acting user's play queue (an empty list clears it).
pub(crate) fn save_play_queue(c: &Tx<'_>, q: &PlayQueue) -> Result<(), LibraryError> {
    let p = owner_id(c)?;
    if q.tracks.len() > MAX_QUEUE {
        return Err(LibraryError::field(
            "id",
            "value_error",
            format!("at most {MAX_QUEUE} tracks"),
        ));
    }
    for &t in &q.tracks {
        ensure_track(c, t)?;
    }
    if q.tracks.is_empty() {
        c.execute("DELETE FROM play_queues WHERE principal_id = ?1", [p])?;
        return Ok(());
    }
    let ids = q
        .tracks
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    c.execute(
        "INSERT INTO play_queues(principal_id, track_ids, current_id, position_ms, changed_at, changed_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(principal_id) DO UPDATE SET \
         track_ids = excluded.track_ids, current_id = excluded.current_id, position_ms = excluded.position_ms, \
         changed_at = excluded.changed_at, changed_by = excluded.changed_by",
        params![p, ids, q.current, q.position_ms.max(0), now_ms(), q.changed_by],
    )?;
    Ok(())
}

impl LibraryReader {
    /// The play queue principal `p` saved, if any.
    pub(crate) fn play_queue(&self, p: i64) -> Result<Option<PlayQueue>, LibraryError> {
        let row: Option<(String, Option<i64>, i64, i64, String)> = self
            .conn()
            .prepare_cached(
                "SELECT track_ids, current_id, position_ms, changed_at, changed_by FROM play_queues WHERE principal_id = ?1",
            )?
            .query_row([p], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .optional()?;
        Ok(row.map(
            |(ids, current, position_ms, changed_at, changed_by)| PlayQueue {
                tracks: ids.split(',').filter_map(|s| s.parse().ok()).collect(),
                current,
                position_ms,
                changed_at,
                changed_by,
            },
        ))
    }
}
