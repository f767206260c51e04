//! Reads a music app browses by: album lists by kind, random and by-genre tracks,
//! genres with counts, an artist's albums, a three-part search, and what one user
//! marked (favorites with their time, ratings). The Subsonic adapter is their first
//! reader; nothing here knows of it. Sizes are the caller's, bounded by [`MAX_LIST`].

use super::error::LibraryError;
use super::events::Owner;
use super::model::*;
use super::store::LibraryReader;
use rusqlite::types::Value;
use std::collections::HashMap;

/// Most rows one list answers (Subsonic's own cap for album lists is 500).
pub(crate) const MAX_LIST: i64 = 500;

/// Which albums an album list walks, and in what order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AlbumList {
    Random,
    /// Most recently added first.
    Newest,
    /// Most played first (played ones only).
    Frequent,
    /// Most recently played first (played ones only).
    Recent,
    /// Albums with a track `owner` marked favorite.
    Starred(Owner),
    AlphaByName,
    AlphaByArtist,
    /// Years `from..=to`; descending when `from > to`.
    ByYear {
        from: i64,
        to: i64,
    },
    ByGenre(String),
}

impl AlbumList {
    /// (extra WHERE, ORDER BY, parameters).
    fn sql(&self) -> (String, String, Vec<Value>) {
        let tracks = |cond: &str| {
            format!("EXISTS(SELECT 1 FROM tracks t WHERE t.album_id = a.id AND {cond})")
        };
        match self {
            AlbumList::Random => ("1".into(), "random()".into(), vec![]),
            AlbumList::Newest => (
                "1".into(),
                "(SELECT MAX(added_at) FROM tracks t WHERE t.album_id = a.id) DESC, a.id DESC"
                    .into(),
                vec![],
            ),
            AlbumList::Frequent => (
                tracks("t.play_count > 0"),
                "(SELECT SUM(play_count) FROM tracks t WHERE t.album_id = a.id) DESC, a.id".into(),
                vec![],
            ),
            AlbumList::Recent => (
                tracks("t.last_played_at > 0"),
                "(SELECT MAX(last_played_at) FROM tracks t WHERE t.album_id = a.id) DESC, a.id"
                    .into(),
                vec![],
            ),
            AlbumList::Starred(owner) => (
                format!(
                    "EXISTS(SELECT 1 FROM tracks t JOIN favorites f ON f.track_id = t.id \
                     WHERE t.album_id = a.id AND f.principal_id = {})",
                    owner.id().unwrap_or(-1)
                ),
                "a.title_key, a.id".into(),
                vec![],
            ),
            AlbumList::AlphaByName => ("1".into(), "a.title_key, a.id".into(), vec![]),
            AlbumList::AlphaByArtist => (
                "1".into(),
                "COALESCE(lower(ar.name), ''), a.title_key, a.id".into(),
                vec![],
            ),
            AlbumList::ByYear { from, to } => {
                let (lo, hi, dir) = if from <= to {
                    (*from, *to, "")
                } else {
                    (*to, *from, " DESC")
                };
                (
                    "a.year BETWEEN ?1 AND ?2".into(),
                    format!("a.year{dir}, a.title_key, a.id"),
                    vec![Value::Integer(lo), Value::Integer(hi)],
                )
            }
            AlbumList::ByGenre(g) => (
                tracks("t.genre = ?1 COLLATE NOCASE"),
                "a.title_key, a.id".into(),
                vec![Value::Text(g.clone())],
            ),
        }
    }
}

/// A genre and how much of the library has it.
#[derive(Debug, Clone)]
pub(crate) struct Genre {
    pub name: String,
    pub songs: i64,
    pub albums: i64,
}

/// What one user marked: favorite tracks (since when, Unix ms) and ratings.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    pub starred: HashMap<i64, i64>,
    pub ratings: HashMap<i64, i64>,
}

/// A search's answer: each part paged on its own.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub artists: Vec<Artist>,
    pub albums: Vec<Album>,
    pub tracks: Vec<Track>,
}

/// One part of a search: how many, after how many.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub count: i64,
    pub offset: i64,
}

impl Window {
    fn clamp(self) -> (i64, i64) {
        (self.count.clamp(0, MAX_LIST), self.offset.max(0))
    }
}

fn album_sql(filter: &str, order: &str) -> String {
    format!(
        "SELECT {ALBUM_COLUMNS} FROM albums a LEFT JOIN artists ar ON ar.id = a.artist_id \
         WHERE {filter} AND EXISTS(SELECT 1 FROM tracks t WHERE t.album_id = a.id) \
         ORDER BY {order} LIMIT ? OFFSET ?"
    )
}

impl LibraryReader {
    fn all_rows<T>(
        &self,
        sql: &str,
        params: Vec<Value>,
        map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, LibraryError> {
        let mut st = self.conn().prepare_cached(sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(params), map)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Albums of `list`, `size` after `offset`.
    pub(crate) fn album_list(
        &self,
        list: &AlbumList,
        size: i64,
        offset: i64,
    ) -> Result<Vec<Album>, LibraryError> {
        let (filter, order, mut params) = list.sql();
        params.push(Value::Integer(size.clamp(0, MAX_LIST)));
        params.push(Value::Integer(offset.max(0)));
        self.all_rows(&album_sql(&filter, &order), params, album_from_row)
    }

    /// When an album's first track was added (Unix ms; 0 for an empty album).
    pub(crate) fn album_created(&self, album_id: i64) -> Result<i64, LibraryError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT COALESCE(MIN(added_at), 0) FROM tracks WHERE album_id = ?1")?
            .query_row([album_id], |r| r.get(0))?)
    }

    /// The playlists `owner` may see, by name.
    pub(crate) fn owned_playlists(&self, owner: Owner) -> Result<Vec<Playlist>, LibraryError> {
        let sql = format!(
            "SELECT {PLAYLIST_COLUMNS} FROM playlists p WHERE {} ORDER BY p.name_key, p.id",
            owner.visible("p.owner_id")
        );
        self.all_rows(&sql, vec![], playlist_from_row)
    }

    /// When the library last changed (the newest track's addition, Unix ms).
    pub(crate) fn last_added(&self) -> Result<i64, LibraryError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT COALESCE(MAX(added_at), 0) FROM tracks")?
            .query_row([], |r| r.get(0))?)
    }

    /// Every artist with an album or a track, by name.
    pub(crate) fn all_artists(&self) -> Result<Vec<Artist>, LibraryError> {
        let sql = format!(
            "SELECT {ARTIST_COLUMNS} FROM artists ar WHERE EXISTS(SELECT 1 FROM tracks t WHERE t.artist_id = ar.id) \
             OR EXISTS(SELECT 1 FROM albums a WHERE a.artist_id = ar.id) ORDER BY ar.name_key, ar.id"
        );
        self.all_rows(&sql, vec![], artist_from_row)
    }

    /// An artist's albums by year, then title.
    pub(crate) fn artist_albums(&self, artist_id: i64) -> Result<Vec<Album>, LibraryError> {
        self.artist(artist_id)?;
        let sql = album_sql(
            "a.artist_id = ?1",
            "a.year IS NULL, a.year, a.title_key, a.id",
        );
        let params = vec![
            Value::Integer(artist_id),
            Value::Integer(MAX_LIST * 20),
            Value::Integer(0),
        ];
        self.all_rows(&sql, params, album_from_row)
    }

    /// An album's tracks in disc and track order (404 for an unknown album).
    pub(crate) fn album_songs(&self, album_id: i64) -> Result<Vec<Track>, LibraryError> {
        self.album(album_id)?;
        let sql = format!(
            "SELECT {TRACK_COLUMNS} FROM tracks WHERE album_id = ?1 \
             ORDER BY COALESCE(disc_number, 1), COALESCE(track_number, 0), id"
        );
        self.all_rows(&sql, vec![Value::Integer(album_id)], track_from_row)
    }

    /// Up to `size` random tracks, optionally of a genre and within years.
    pub(crate) fn random_tracks(
        &self,
        size: i64,
        genre: Option<&str>,
        years: (Option<i64>, Option<i64>),
    ) -> Result<Vec<Track>, LibraryError> {
        let sql = format!(
            "SELECT {TRACK_COLUMNS} FROM tracks WHERE missing = 0 \
             AND (?1 IS NULL OR genre = ?1 COLLATE NOCASE) \
             AND (?2 IS NULL OR year >= ?2) AND (?3 IS NULL OR year <= ?3) \
             ORDER BY random() LIMIT ?4"
        );
        let params = vec![
            genre.map_or(Value::Null, |g| Value::Text(g.into())),
            years.0.map_or(Value::Null, Value::Integer),
            years.1.map_or(Value::Null, Value::Integer),
            Value::Integer(size.clamp(0, MAX_LIST)),
        ];
        self.all_rows(&sql, params, track_from_row)
    }

    /// Tracks of a genre, by artist, album and track order.
    pub(crate) fn genre_tracks(
        &self,
        genre: &str,
        size: i64,
        offset: i64,
    ) -> Result<Vec<Track>, LibraryError> {
        let sql = format!(
            "SELECT {TRACK_COLUMNS} FROM tracks WHERE genre = ?1 COLLATE NOCASE \
             ORDER BY artist_key, album_key, COALESCE(disc_number, 1), COALESCE(track_number, 0), id \
             LIMIT ?2 OFFSET ?3"
        );
        let params = vec![
            Value::Text(genre.into()),
            Value::Integer(size.clamp(0, MAX_LIST)),
            Value::Integer(offset.max(0)),
        ];
        self.all_rows(&sql, params, track_from_row)
    }

    /// Every genre with its song and album counts, by name.
    pub(crate) fn genres(&self) -> Result<Vec<Genre>, LibraryError> {
        self.all_rows(
            "SELECT genre, COUNT(*), COUNT(DISTINCT album_id) FROM tracks \
             WHERE genre IS NOT NULL AND genre <> '' GROUP BY genre ORDER BY lower(genre)",
            vec![],
            |r| {
                Ok(Genre {
                    name: r.get(0)?,
                    songs: r.get(1)?,
                    albums: r.get(2)?,
                })
            },
        )
    }

    /// The tracks `owner` marked favorite, most recent first.
    pub(crate) fn starred_tracks(&self, owner: Owner) -> Result<Vec<Track>, LibraryError> {
        let cols = prefixed_track_columns();
        let sql = format!(
            "SELECT {cols} FROM favorites f JOIN tracks t ON t.id = f.track_id \
             WHERE f.principal_id = ?1 ORDER BY f.created_at DESC, t.id LIMIT ?2"
        );
        let params = vec![
            Value::Integer(owner.id().unwrap_or(-1)),
            Value::Integer(MAX_LIST * 20),
        ];
        self.all_rows(&sql, params, track_from_row)
    }

    /// What `owner` marked among `tracks` (favorites since when, ratings).
    pub(crate) fn marks(&self, owner: Owner, tracks: &[i64]) -> Result<Marks, LibraryError> {
        let mut marks = Marks::default();
        let Some(p) = owner.id() else {
            return Ok(marks);
        };
        let mut star = self.conn().prepare_cached(
            "SELECT COALESCE(created_at, 0) FROM favorites WHERE principal_id = ?1 AND track_id = ?2",
        )?;
        let mut rate = self.conn().prepare_cached(
            "SELECT rating FROM ratings WHERE principal_id = ?1 AND track_id = ?2",
        )?;
        for &t in tracks {
            if let Some(at) = rusqlite::OptionalExtension::optional(
                star.query_row(rusqlite::params![p, t], |r| r.get::<_, i64>(0)),
            )? {
                marks.starred.insert(t, at);
            }
            if let Some(r) = rusqlite::OptionalExtension::optional(
                rate.query_row(rusqlite::params![p, t], |r| r.get::<_, i64>(0)),
            )? {
                marks.ratings.insert(t, r);
            }
        }
        Ok(marks)
    }

    /// Artists, albums and tracks matching `text` (every word as a prefix; empty text:
    /// everything), each part windowed on its own.
    pub(crate) fn search(&self, text: &str, parts: [Window; 3]) -> Result<Found, LibraryError> {
        let pattern = words_like(text);
        let [ar, al, tr] = parts.map(Window::clamp);
        let artists = format!(
            "SELECT {ARTIST_COLUMNS} FROM artists ar WHERE {} \
             AND EXISTS(SELECT 1 FROM tracks t WHERE t.artist_id = ar.id OR t.album_id IN (SELECT id FROM albums WHERE artist_id = ar.id)) \
             ORDER BY ar.name_key, ar.id LIMIT ? OFFSET ?",
            like_all("ar.name", pattern.len())
        );
        let albums = album_sql(&like_all("a.title", pattern.len()), "a.title_key, a.id");
        // No text: everything (how apps walk the library). Text without a searchable
        // word (only punctuation): nothing, as the artist and album parts find.
        let fts = super::store::fts_query(text);
        let tracks = match &fts {
            None if !text.trim().is_empty() => {
                format!("SELECT {TRACK_COLUMNS} FROM tracks WHERE 0 LIMIT ? OFFSET ?")
            }
            Some(_) => format!(
                "SELECT {TRACK_COLUMNS} FROM tracks WHERE id IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ?) \
                 ORDER BY title_key, id LIMIT ? OFFSET ?"
            ),
            None => format!(
                "SELECT {TRACK_COLUMNS} FROM tracks ORDER BY title_key, id LIMIT ? OFFSET ?"
            ),
        };
        let with = |window: (i64, i64)| {
            let mut p: Vec<Value> = pattern.iter().map(|w| Value::Text(w.clone())).collect();
            p.push(Value::Integer(window.0));
            p.push(Value::Integer(window.1));
            p
        };
        let mut track_params: Vec<Value> = fts.map(|q| vec![Value::Text(q)]).unwrap_or_default();
        track_params.push(Value::Integer(tr.0));
        track_params.push(Value::Integer(tr.1));
        Ok(Found {
            artists: self.all_rows(&artists, with(ar), artist_from_row)?,
            albums: self.all_rows(&albums, with(al), album_from_row)?,
            tracks: self.all_rows(&tracks, track_params, track_from_row)?,
        })
    }
}

/// `LIKE` patterns, one per word of `text` (`%` and `_` escaped).
fn words_like(text: &str) -> Vec<String> {
    text.split_whitespace()
        .take(16)
        .map(|w| {
            let escaped: String = w
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!("%{escaped}%")
        })
        .collect()
}

/// `column LIKE ? ESCAPE '\'` for each of `n` words, joined by AND (`1` for none).
fn like_all(column: &str, n: usize) -> String {
    if n == 0 {
        return "1".into();
    }
    vec![format!("{column} LIKE ? ESCAPE '\\'"); n].join(" AND ")
}

fn prefixed_track_columns() -> String {
    TRACK_COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_cap_words() {
        assert_eq!(words_like("a%b c_"), vec!["%a\\%b%", "%c\\_%"]);
        assert_eq!(words_like(&"w ".repeat(100)).len(), 16);
        assert_eq!(like_all("x", 0), "1");
        assert_eq!(
            like_all("x", 2),
            "x LIKE ? ESCAPE '\\' AND x LIKE ? ESCAPE '\\'"
        );
    }
}
