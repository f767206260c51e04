//! Reads, on a core's own read-only connection: lists with keyset or offset pagination,
//! single rows, stats. Queries are prepared once and cached by rusqlite; offset totals
//! are cached per core until the writer's data generation changes.

use super::Library;
use super::error::LibraryError;
use super::model::*;
use super::page::{KeysetPos, Page, PageMeta, PageMode, PageRequest, SortValue};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Count-cache entries kept per core before it is cleared.
const COUNT_CACHE_MAX: usize = 4096;

/// Where a track's cover art is, as the scan found it.
#[derive(Debug, Clone)]
pub(crate) struct CoverFacts {
    pub track: i64,
    pub path: String,
    pub revision: i64,
    /// `embedded`, or a picture file's name beside the track.
    pub cover: String,
}

/// A track's audio facts as the library stored them at scan time.
#[derive(Debug, Clone)]
pub(crate) struct AudioFacts {
    pub path: String,
    /// The file's mtime: a changed file gets new chunk cache keys.
    pub revision: i64,
    pub sample_rate: Option<i64>,
    pub channels: Option<i64>,
    pub frames: Option<i64>,
    pub duration_ms: i64,
    pub loudness_lufs: Option<f64>,
    pub album_loudness_lufs: Option<f64>,
}

/// A core's reader.
pub(crate) struct LibraryReader {
    conn: Connection,
    counts: RefCell<HashMap<String, (u64, i64)>>,
    pub library: Arc<Library>,
}

/// One list query: what to select, filters, and the sort key for keyset paging.
pub(crate) struct ListSql {
    pub from: &'static str,
    pub columns: &'static str,
    pub filters: Vec<String>,
    pub params: Vec<Value>,
    /// Sort-key expression; must be NOT NULL (keys are stored pre-normalized).
    pub key: String,
    pub key_is_text: bool,
    pub id: &'static str,
    pub desc: bool,
}

impl LibraryReader {
    /// This core's read-only connection (for queries that live in sibling modules).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// One cheap read through this core's connection: is the database answering?
    pub(crate) fn ping(&self) -> Result<(), LibraryError> {
        self.conn
            .prepare_cached("SELECT count(*) FROM sqlite_master")?
            .query_row([], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    pub(crate) fn open(library: Arc<Library>) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            &library.db_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Self {
            conn,
            counts: RefCell::new(HashMap::new()),
            library,
        })
    }

    fn count(&self, q: &ListSql, where_sql: &str) -> Result<i64, LibraryError> {
        let generation = self.library.writer.generation();
        let cache_key = format!("{}|{}|{:?}", q.from, where_sql, q.params);
        if let Some((g, n)) = self.counts.borrow().get(&cache_key)
            && *g == generation
        {
            return Ok(*n);
        }
        let sql = format!("SELECT COUNT(*) FROM {} {}", q.from, where_sql);
        let n: i64 = self.conn.prepare_cached(&sql).and_then(|mut st| {
            st.query_row(rusqlite::params_from_iter(q.params.iter()), |r| r.get(0))
        })?;
        let mut counts = self.counts.borrow_mut();
        if counts.len() >= COUNT_CACHE_MAX {
            counts.clear();
        }
        counts.insert(cache_key, (generation, n));
        Ok(n)
    }

    /// Runs a paginated list query. `scope` names the list+order+filters: a cursor
    /// is only accepted for the walk it was issued for.
    pub(crate) fn page<T>(
        &self,
        q: ListSql,
        page: &PageRequest,
        scope: &str,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, LibraryError> {
        let where_base = if q.filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", q.filters.join(" AND "))
        };
        let mut params = q.params.clone();
        let mut where_sql = where_base.clone();
        let offset = match &page.mode {
            PageMode::Offset(o) => *o,
            PageMode::Cursor(None) => 0,
            PageMode::Cursor(Some(token)) => {
                let pos = self.library.cursors.decode(scope, token)?;
                let glue = if where_sql.is_empty() {
                    "WHERE"
                } else {
                    " AND"
                };
                let cmp = if q.desc { "<" } else { ">" };
                where_sql.push_str(&format!("{glue} ({}, {}) {cmp} (?, ?)", q.key, q.id));
                params.push(match pos.key {
                    SortValue::Int(i) => Value::Integer(i),
                    SortValue::Text(s) => Value::Text(s),
                });
                params.push(Value::Integer(pos.id));
                0
            }
        };
        let dir = if q.desc { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {}, {}, {} FROM {} {} ORDER BY {} {dir}, {} {dir} LIMIT ? OFFSET ?",
            q.columns, q.key, q.id, q.from, where_sql, q.key, q.id
        );
        params.push(Value::Integer(page.limit + 1));
        params.push(Value::Integer(offset));
        let (items, last, has_more) = self.rows(&sql, &params, &q, page.limit, map)?;
        let next_cursor = match (&last, has_more) {
            (Some(pos), true) => Some(self.library.cursors.encode(scope, pos)),
            _ => None,
        };
        let mut meta = PageMeta {
            limit: page.limit,
            offset: None,
            total: None,
            remaining: None,
            has_more,
            next_cursor,
        };
        if page.offset_meta() {
            let total = self.count(&q, &where_base)?;
            meta.offset = Some(offset);
            meta.total = Some(total);
            meta.remaining = Some((total - offset - items.len() as i64).max(0));
        }
        Ok(Page { items, meta })
    }

    /// Reads up to `limit` rows (one more tells whether there are more) and the
    /// keyset position of the last one.
    fn rows<T>(
        &self,
        sql: &str,
        params: &[Value],
        q: &ListSql,
        limit: i64,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<(Vec<T>, Option<KeysetPos>, bool), LibraryError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let ncols = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        let mut items = Vec::with_capacity(limit as usize);
        let mut last = None;
        while let Some(row) = rows.next()? {
            if items.len() as i64 == limit {
                return Ok((items, last, true));
            }
            items.push(map(row)?);
            let key = if q.key_is_text {
                SortValue::Text(row.get(ncols - 2)?)
            } else {
                SortValue::Int(row.get(ncols - 2)?)
            };
            last = Some(KeysetPos {
                key,
                id: row.get(ncols - 1)?,
            });
        }
        Ok((items, last, false))
    }

    pub(crate) fn track(&self, id: i64) -> Result<Track, LibraryError> {
        let sql = format!("SELECT {TRACK_COLUMNS} FROM tracks WHERE id = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], track_from_row).optional())?
            .ok_or_else(|| LibraryError::NotFound(format!("track {id} not found")))
    }

    /// The file path of a track (server-side only).
    pub(crate) fn track_path(&self, id: i64) -> Result<String, LibraryError> {
        self.conn
            .prepare_cached("SELECT path FROM tracks WHERE id = ?1")
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())?
            .ok_or_else(|| LibraryError::NotFound(format!("track {id} not found")))
    }

    /// Where track `id`'s cover art is: (file, revision, `cover` as the scan found it);
    /// `None` when it has none.
    pub(crate) fn cover_of(&self, id: i64) -> Result<Option<CoverFacts>, LibraryError> {
        let row = self
            .conn
            .prepare_cached("SELECT path, mtime, cover FROM tracks WHERE id = ?1")
            .and_then(|mut st| {
                st.query_row([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .optional()
            })?
            .ok_or_else(|| LibraryError::NotFound(format!("track {id} not found")))?;
        Ok(row.2.map(|cover| CoverFacts {
            track: id,
            path: row.0,
            revision: row.1,
            cover,
        }))
    }

    /// The first track (disc, then track order) of album `id` that has cover art.
    pub(crate) fn album_cover_track(&self, id: i64) -> Result<Option<i64>, LibraryError> {
        self.album(id)?;
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id FROM tracks WHERE album_id = ?1 AND cover IS NOT NULL
                 ORDER BY disc_number IS NULL, disc_number, track_number IS NULL, track_number, id LIMIT 1",
            )
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())?)
    }

    /// What decoding a track needs: its file, revision, format facts and loudness.
    pub(crate) fn audio_facts(&self, id: i64) -> Result<AudioFacts, LibraryError> {
        self.conn
            .prepare_cached(
                "SELECT path, mtime, sample_rate, channels, frames, duration_ms, loudness_lufs, album_loudness_lufs FROM tracks WHERE id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([id], |r| {
                    Ok(AudioFacts {
                        path: r.get(0)?,
                        revision: r.get(1)?,
                        sample_rate: r.get(2)?,
                        channels: r.get(3)?,
                        frames: r.get(4)?,
                        duration_ms: r.get(5)?,
                        loudness_lufs: r.get(6)?,
                        album_loudness_lufs: r.get(7)?,
                    })
                })
                .optional()
            })?
            .ok_or_else(|| LibraryError::NotFound(format!("track {id} not found")))
    }

    pub(crate) fn album(&self, id: i64) -> Result<Album, LibraryError> {
        let sql = format!(
            "SELECT {ALBUM_COLUMNS} FROM albums a LEFT JOIN artists ar ON ar.id = a.artist_id WHERE a.id = ?1"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], album_from_row).optional())?
            .ok_or_else(|| LibraryError::NotFound(format!("album {id} not found")))
    }

    pub(crate) fn artist(&self, id: i64) -> Result<Artist, LibraryError> {
        let sql = format!("SELECT {ARTIST_COLUMNS} FROM artists ar WHERE ar.id = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], artist_from_row).optional())?
            .ok_or_else(|| LibraryError::NotFound(format!("artist {id} not found")))
    }

    /// A playlist `owner` may see (another listener's is not found).
    pub(crate) fn playlist(
        &self,
        id: i64,
        owner: super::events::Owner,
    ) -> Result<Playlist, LibraryError> {
        let sql = format!(
            "SELECT {PLAYLIST_COLUMNS} FROM playlists p WHERE p.id = ?1 AND {}",
            owner.visible("p.owner_id")
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], playlist_from_row).optional())?
            .ok_or_else(|| LibraryError::NotFound(format!("playlist {id} not found")))
    }

    /// A playlist's tracks in order (positions are 0-based indexes).
    pub(crate) fn playlist_tracks(&self, id: i64) -> Result<Vec<Track>, LibraryError> {
        let cols: String = TRACK_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM playlist_entries e JOIN tracks t ON t.id = e.track_id WHERE e.playlist_id = ?1 ORDER BY e.position"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map([id], track_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Totals for `/api/library/stats`.
    pub(crate) fn stats(&self) -> Result<serde_json::Value, LibraryError> {
        let q = |sql: &str| -> Result<i64, LibraryError> {
            Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
        };
        let mut formats = serde_json::Map::new();
        let mut st = self.conn.prepare_cached(
            "SELECT format, COUNT(*) FROM tracks GROUP BY format ORDER BY format",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (f, n) = row?;
            formats.insert(f, n.into());
        }
        Ok(serde_json::json!({
            "tracks": q("SELECT COUNT(*) FROM tracks")?,
            "missing": q("SELECT COUNT(*) FROM tracks WHERE missing = 1")?,
            "albums": q("SELECT COUNT(*) FROM albums")?,
            "artists": q("SELECT COUNT(*) FROM artists")?,
            "playlists": q("SELECT COUNT(*) FROM playlists")?,
            "favorites": q("SELECT COUNT(*) FROM tracks WHERE favorite = 1")?,
            "total_duration_ms": q("SELECT COALESCE(SUM(duration_ms), 0) FROM tracks")?,
            "total_bytes": q("SELECT COALESCE(SUM(file_size), 0) FROM tracks")?,
            "genres": q("SELECT COUNT(DISTINCT genre) FROM tracks WHERE genre IS NOT NULL")?,
            "formats": formats,
        }))
    }
}

/// An FTS5 query from free text: every word must match as a prefix; `None` when the
/// text has no searchable word.
pub(crate) fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    if words.is_empty() {
        None
    } else {
        Some(words.join(" "))
    }
}
