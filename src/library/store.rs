//! Reads, on a core's own read-only connection: lists with keyset or offset pagination,
//! single rows, stats. Queries are prepared once and cached by rusqlite; offset totals
//! are cached per core until the writer's data generation changes.

use super::Library;
use super::model::*;
use crate::http::error::ApiError;
use crate::http::pagination::{KeysetPos, PageMeta, PageMode, PageRequest, SortValue};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Count-cache entries kept per core before it is cleared.
const COUNT_CACHE_MAX: usize = 4096;

/// A core's reader.
pub struct LibraryReader {
    conn: Connection,
    counts: RefCell<HashMap<String, (u64, i64)>>,
    pub library: Arc<Library>,
}

pub fn db_error(e: rusqlite::Error) -> ApiError {
    ApiError::Internal(format!("database: {e}"))
}

/// One list query: what to select, filters, and the sort key for keyset paging.
pub struct ListSql {
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
    pub fn open(library: Arc<Library>) -> rusqlite::Result<Self> {
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

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn count(&self, q: &ListSql, where_sql: &str) -> Result<i64, ApiError> {
        let generation = self.library.writer.generation();
        let cache_key = format!("{}|{}|{:?}", q.from, where_sql, q.params);
        if let Some((g, n)) = self.counts.borrow().get(&cache_key)
            && *g == generation
        {
            return Ok(*n);
        }
        let sql = format!("SELECT COUNT(*) FROM {} {}", q.from, where_sql);
        let n: i64 = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_row(rusqlite::params_from_iter(q.params.iter()), |r| r.get(0))
            })
            .map_err(db_error)?;
        let mut counts = self.counts.borrow_mut();
        if counts.len() >= COUNT_CACHE_MAX {
            counts.clear();
        }
        counts.insert(cache_key, (generation, n));
        Ok(n)
    }

    /// Runs a paginated list query. `scope` names the list+order+filters for cursors.
    pub fn page<T>(
        &self,
        q: ListSql,
        page: &PageRequest,
        scope: &str,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<(Vec<T>, PageMeta), ApiError> {
        let where_base = if q.filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", q.filters.join(" AND "))
        };
        let dir = if q.desc { "DESC" } else { "ASC" };
        let cmp = if q.desc { "<" } else { ">" };
        let mut params = q.params.clone();
        let mut where_sql = where_base.clone();
        let mut offset = 0;
        match &page.mode {
            PageMode::Offset(o) => offset = *o,
            PageMode::Cursor(Some(KeysetPos { key, id })) => {
                let glue = if where_sql.is_empty() {
                    "WHERE"
                } else {
                    " AND"
                };
                where_sql.push_str(&format!("{glue} ({}, {}) {cmp} (?, ?)", q.key, q.id));
                params.push(match key {
                    SortValue::Int(i) => Value::Integer(*i),
                    SortValue::Text(s) => Value::Text(s.clone()),
                });
                params.push(Value::Integer(*id));
            }
            PageMode::Cursor(None) => {}
        }
        let sql = format!(
            "SELECT {}, {}, {} FROM {} {} ORDER BY {} {dir}, {} {dir} LIMIT ? OFFSET ?",
            q.columns, q.key, q.id, q.from, where_sql, q.key, q.id
        );
        params.push(Value::Integer(page.limit + 1));
        params.push(Value::Integer(offset));
        let mut st = self.conn.prepare_cached(&sql).map_err(db_error)?;
        let ncols = st.column_count();
        let mut rows = st
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(db_error)?;
        let mut items = Vec::with_capacity(page.limit as usize);
        let mut last: Option<KeysetPos> = None;
        let mut has_more = false;
        while let Some(row) = rows.next().map_err(db_error)? {
            if items.len() as i64 == page.limit {
                has_more = true;
                break;
            }
            items.push(map(row).map_err(db_error)?);
            let key = if q.key_is_text {
                SortValue::Text(row.get(ncols - 2).map_err(db_error)?)
            } else {
                SortValue::Int(row.get(ncols - 2).map_err(db_error)?)
            };
            last = Some(KeysetPos {
                key,
                id: row.get(ncols - 1).map_err(db_error)?,
            });
        }
        let next_cursor = match (&last, has_more) {
            (Some(pos), true) => Some(self.library.cursors.encode(scope, pos)),
            _ => None,
        };
        let meta = if page.offset_meta {
            let total = self.count(&q, &where_base)?;
            let returned = items.len() as i64;
            PageMeta {
                limit: page.limit,
                offset: Some(offset),
                total: Some(total),
                remaining: Some((total - offset - returned).max(0)),
                has_more,
                next_cursor,
            }
        } else {
            PageMeta {
                limit: page.limit,
                offset: None,
                total: None,
                remaining: None,
                has_more,
                next_cursor,
            }
        };
        Ok((items, meta))
    }

    pub fn track(&self, id: i64) -> Result<Track, ApiError> {
        let sql = format!("SELECT {TRACK_COLUMNS} FROM tracks WHERE id = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], track_from_row).optional())
            .map_err(db_error)?
            .ok_or_else(|| ApiError::NotFound(format!("track {id} not found")))
    }

    /// The file path of a track (server-side only).
    pub fn track_path(&self, id: i64) -> Result<String, ApiError> {
        self.conn
            .prepare_cached("SELECT path FROM tracks WHERE id = ?1")
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())
            .map_err(db_error)?
            .ok_or_else(|| ApiError::NotFound(format!("track {id} not found")))
    }

    pub fn album(&self, id: i64) -> Result<Album, ApiError> {
        let sql = format!(
            "SELECT {ALBUM_COLUMNS} FROM albums a LEFT JOIN artists ar ON ar.id = a.artist_id WHERE a.id = ?1"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], album_from_row).optional())
            .map_err(db_error)?
            .ok_or_else(|| ApiError::NotFound(format!("album {id} not found")))
    }

    pub fn artist(&self, id: i64) -> Result<Artist, ApiError> {
        let sql = format!("SELECT {ARTIST_COLUMNS} FROM artists ar WHERE ar.id = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], artist_from_row).optional())
            .map_err(db_error)?
            .ok_or_else(|| ApiError::NotFound(format!("artist {id} not found")))
    }

    pub fn playlist(&self, id: i64) -> Result<Playlist, ApiError> {
        let sql = format!("SELECT {PLAYLIST_COLUMNS} FROM playlists p WHERE p.id = ?1");
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row([id], playlist_from_row).optional())
            .map_err(db_error)?
            .ok_or_else(|| ApiError::NotFound(format!("playlist {id} not found")))
    }

    /// A playlist's tracks in order (positions are 0-based indexes).
    pub fn playlist_tracks(&self, id: i64) -> Result<Vec<Track>, ApiError> {
        let cols: String = TRACK_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM playlist_entries e JOIN tracks t ON t.id = e.track_id WHERE e.playlist_id = ?1 ORDER BY e.position"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(db_error)?;
        let rows = st.query_map([id], track_from_row).map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
    }

    /// Totals for `/api/library/stats`.
    pub fn stats(&self) -> Result<serde_json::Value, ApiError> {
        let q = |sql: &str| -> Result<i64, ApiError> {
            self.conn.query_row(sql, [], |r| r.get(0)).map_err(db_error)
        };
        let mut formats = serde_json::Map::new();
        let mut st = self
            .conn
            .prepare_cached("SELECT format, COUNT(*) FROM tracks GROUP BY format ORDER BY format")
            .map_err(db_error)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db_error)?;
        for row in rows {
            let (f, n) = row.map_err(db_error)?;
            formats.insert(f, n.into());
        }
        Ok(serde_json::json!({
            "tracks": q("SELECT COUNT(*) FROM tracks")?,
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
pub fn fts_query(text: &str) -> Option<String> {
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
