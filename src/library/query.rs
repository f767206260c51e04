//! The library's list operations, typed: each transport parses its wire format (a
//! query string, a JSON payload) into one of these queries and gets the same page back.
//! Every SQL string of a list lives here; adapters name an operation, never a column.

use super::error::LibraryError;
use super::model::*;
use super::page::{Page, PageRequest, scope};
use super::store::{LibraryReader, ListSql, fts_query};
use rusqlite::types::Value;

/// How a list is sorted: a field and a direction (`-field` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order<F> {
    pub field: F,
    pub desc: bool,
}

/// A sortable field of a list.
pub(crate) trait SortField: Sized + Copy + 'static {
    /// Every field with its wire name.
    const ALL: &'static [(&'static str, Self)];
    /// The message for an unknown `order_by`.
    const EXPECTED: &'static str;
}

impl<F: SortField + PartialEq> Order<F> {
    /// Parses `name` or `-name`; `Err` carries the message naming the accepted fields.
    pub(crate) fn parse(raw: &str) -> Result<Self, &'static str> {
        let (desc, name) = match raw.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, raw),
        };
        F::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, field)| Order {
                field: *field,
                desc,
            })
            .ok_or(F::EXPECTED)
    }

    /// The wire form (`-title`), part of a cursor's scope.
    pub(crate) fn wire(&self) -> String {
        let name = F::ALL
            .iter()
            .find(|(_, f)| *f == self.field)
            .map_or("", |(n, _)| n);
        if self.desc {
            format!("-{name}")
        } else {
            name.to_string()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TrackSort {
    #[default]
    Title,
    Artist,
    Album,
    Year,
    AddedAt,
    Duration,
    PlayCount,
    LastPlayed,
}

impl SortField for TrackSort {
    const ALL: &'static [(&'static str, Self)] = &[
        ("title", TrackSort::Title),
        ("artist", TrackSort::Artist),
        ("album", TrackSort::Album),
        ("year", TrackSort::Year),
        ("added_at", TrackSort::AddedAt),
        ("duration", TrackSort::Duration),
        ("play_count", TrackSort::PlayCount),
        ("last_played_at", TrackSort::LastPlayed),
    ];
    const EXPECTED: &'static str = "must be one of title, artist, album, year, added_at, duration, play_count, last_played_at (optionally prefixed by -)";
}

impl TrackSort {
    /// The stored sort key (pre-normalized, NOT NULL) and whether it is text.
    fn key(self) -> (&'static str, bool) {
        match self {
            TrackSort::Title => ("title_key", true),
            TrackSort::Artist => ("artist_key", true),
            TrackSort::Album => ("album_key", true),
            TrackSort::Year => ("year_key", false),
            TrackSort::AddedAt => ("added_at", false),
            TrackSort::Duration => ("duration_ms", false),
            TrackSort::PlayCount => ("play_count", false),
            TrackSort::LastPlayed => ("last_played_at", false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum AlbumSort {
    #[default]
    Title,
    Year,
}

impl SortField for AlbumSort {
    const ALL: &'static [(&'static str, Self)] =
        &[("title", AlbumSort::Title), ("year", AlbumSort::Year)];
    const EXPECTED: &'static str = "must be title or year (optionally prefixed by -)";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum NameSort {
    #[default]
    Name,
}

impl SortField for NameSort {
    const ALL: &'static [(&'static str, Self)] = &[("name", NameSort::Name)];
    const EXPECTED: &'static str = "must be name (optionally prefixed by -)";
}

impl<F: Default> Default for Order<F> {
    fn default() -> Self {
        Order {
            field: F::default(),
            desc: false,
        }
    }
}

/// `GET /api/tracks`, `library_search`: filters are ANDed; `search` matches every word
/// as a prefix of a title, artist or album word.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrackQuery {
    pub search: Option<String>,
    pub artist_id: Option<i64>,
    pub album_id: Option<i64>,
    pub genre: Option<String>,
    pub year: Option<i64>,
    pub favorite: Option<bool>,
    /// The listener whose favorites `favorite` filters on and the page shows (`None`:
    /// the shared flag).
    pub favorites_of: Option<i64>,
    pub order: Order<TrackSort>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AlbumQuery {
    /// Substring of the album title.
    pub search: Option<String>,
    pub artist_id: Option<i64>,
    pub order: Order<AlbumSort>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ArtistQuery {
    /// Substring of the artist name.
    pub search: Option<String>,
    pub order: Order<NameSort>,
}

/// Filters with their SQL, parameters and a fingerprint for the cursor scope.
#[derive(Default)]
struct Filters {
    sql: Vec<String>,
    params: Vec<Value>,
    fingerprint: String,
}

impl Filters {
    fn push(&mut self, sql: impl Into<String>, param: Option<Value>, fp: String) {
        self.sql.push(sql.into());
        self.params.extend(param);
        self.fingerprint.push_str(&fp);
    }
}

/// `LIKE` pattern for a substring, with wildcards in the input escaped.
fn like_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A search text worth filtering on: an empty or blank `search=` means no search
/// (every row), not a search that matches nothing.
fn search_text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl TrackQuery {
    fn filters(&self) -> Filters {
        let mut f = Filters::default();
        if let Some(s) = search_text(&self.search) {
            match fts_query(s) {
                Some(m) => f.push(
                    "id IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ?)",
                    Some(Value::Text(m)),
                    format!("search={s};"),
                ),
                None => f.push("0", None, format!("search={s};")),
            }
        }
        for (name, v) in [("artist_id", self.artist_id), ("album_id", self.album_id)] {
            if let Some(v) = v {
                f.push(
                    format!("{name} = ?"),
                    Some(Value::Integer(v)),
                    format!("{name}={v};"),
                );
            }
        }
        if let Some(g) = &self.genre {
            f.push(
                "genre = ? COLLATE NOCASE",
                Some(Value::Text(g.clone())),
                format!("genre={g};"),
            );
        }
        if let Some(y) = self.year {
            f.push("year = ?", Some(Value::Integer(y)), format!("year={y};"));
        }
        match (self.favorite, self.favorites_of) {
            (Some(fav), Some(p)) => f.push(
                if fav {
                    "id IN (SELECT track_id FROM favorites WHERE principal_id = ?)"
                } else {
                    "id NOT IN (SELECT track_id FROM favorites WHERE principal_id = ?)"
                },
                Some(Value::Integer(p)),
                format!("favorite={fav};of={p};"),
            ),
            (Some(fav), None) => f.push(
                "favorite = ?",
                Some(Value::Integer(fav as i64)),
                format!("favorite={fav};"),
            ),
            (None, _) => {}
        }
        f
    }
}

impl LibraryReader {
    /// One page of tracks matching `q`.
    pub(crate) fn tracks(
        &self,
        q: &TrackQuery,
        page: &PageRequest,
    ) -> Result<Page<Track>, LibraryError> {
        let mut page = self.track_page(q.filters(), q.order, page)?;
        if let Some(p) = q.favorites_of {
            self.mark_favorites(&mut page.items, super::events::Owner::Principal(p))?;
        }
        Ok(page)
    }

    /// Shows a listener its own favorites in `tracks` (the shared flag otherwise).
    pub(crate) fn mark_favorites(
        &self,
        tracks: &mut [Track],
        owner: super::events::Owner,
    ) -> Result<(), LibraryError> {
        let Some(p) = owner.id() else {
            return Ok(());
        };
        let mut st = self
            .conn()
            .prepare_cached("SELECT 1 FROM favorites WHERE principal_id = ?1 AND track_id = ?2")?;
        for t in tracks {
            t.favorite = st.exists(rusqlite::params![p, t.id])?;
        }
        Ok(())
    }

    /// One page of an artist's tracks (404 for an unknown artist).
    pub(crate) fn artist_tracks(
        &self,
        artist_id: i64,
        order: Order<TrackSort>,
        page: &PageRequest,
    ) -> Result<Page<Track>, LibraryError> {
        self.artist(artist_id)?;
        let mut f = Filters::default();
        f.push(
            "artist_id = ?",
            Some(Value::Integer(artist_id)),
            format!("artist_id={artist_id};"),
        );
        self.track_page(f, order, page)
    }

    fn track_page(
        &self,
        f: Filters,
        order: Order<TrackSort>,
        page: &PageRequest,
    ) -> Result<Page<Track>, LibraryError> {
        let scope = scope("tracks", &order.wire(), &f.fingerprint);
        let (key, key_is_text) = order.field.key();
        let sql = ListSql {
            from: "tracks",
            columns: TRACK_COLUMNS,
            filters: f.sql,
            params: f.params,
            key: key.to_string(),
            key_is_text,
            id: "id",
            desc: order.desc,
        };
        self.page(sql, page, &scope, track_from_row)
    }

    /// One page of an album's tracks in disc and track order (404 for an unknown album).
    pub(crate) fn album_tracks(
        &self,
        id: i64,
        page: &PageRequest,
    ) -> Result<Page<Track>, LibraryError> {
        self.album(id)?;
        let scope = scope("album_tracks", "disc_track", &id.to_string());
        let sql = ListSql {
            from: "tracks",
            columns: TRACK_COLUMNS,
            filters: vec!["album_id = ?".into()],
            params: vec![Value::Integer(id)],
            key: "(COALESCE(disc_number, 1) * 1000000 + COALESCE(track_number, 0))".into(),
            key_is_text: false,
            id: "id",
            desc: false,
        };
        self.page(sql, page, &scope, track_from_row)
    }

    /// One page of albums matching `q`.
    pub(crate) fn albums(
        &self,
        q: &AlbumQuery,
        page: &PageRequest,
    ) -> Result<Page<Album>, LibraryError> {
        let mut f = Filters::default();
        if let Some(s) = search_text(&q.search) {
            f.push(
                "a.title LIKE ? ESCAPE '\\'",
                Some(Value::Text(like_pattern(s))),
                format!("search={s};"),
            );
        }
        if let Some(a) = q.artist_id {
            f.push(
                "a.artist_id = ?",
                Some(Value::Integer(a)),
                format!("artist_id={a};"),
            );
        }
        let scope = scope("albums", &q.order.wire(), &f.fingerprint);
        let (key, key_is_text) = match q.order.field {
            AlbumSort::Title => ("a.title_key", true),
            AlbumSort::Year => ("COALESCE(a.year, 0)", false),
        };
        let sql = ListSql {
            from: "albums a LEFT JOIN artists ar ON ar.id = a.artist_id",
            columns: ALBUM_COLUMNS,
            filters: f.sql,
            params: f.params,
            key: key.into(),
            key_is_text,
            id: "a.id",
            desc: q.order.desc,
        };
        self.page(sql, page, &scope, album_from_row)
    }

    /// One page of artists matching `q`.
    pub(crate) fn artists(
        &self,
        q: &ArtistQuery,
        page: &PageRequest,
    ) -> Result<Page<Artist>, LibraryError> {
        let mut f = Filters::default();
        if let Some(s) = search_text(&q.search) {
            f.push(
                "ar.name LIKE ? ESCAPE '\\'",
                Some(Value::Text(like_pattern(s))),
                format!("search={s};"),
            );
        }
        let scope = scope("artists", &q.order.wire(), &f.fingerprint);
        let sql = ListSql {
            from: "artists ar",
            columns: ARTIST_COLUMNS,
            filters: f.sql,
            params: f.params,
            key: "ar.name_key".into(),
            key_is_text: true,
            id: "ar.id",
            desc: q.order.desc,
        };
        self.page(sql, page, &scope, artist_from_row)
    }

    /// One page of the playlists `owner` may see, by name.
    pub(crate) fn playlists(
        &self,
        page: &PageRequest,
        owner: super::events::Owner,
    ) -> Result<Page<Playlist>, LibraryError> {
        let (filters, params, bound) = match owner {
            super::events::Owner::Principal(id) => (
                vec!["p.owner_id = ?".to_string()],
                vec![Value::Integer(id)],
                format!("owner={id};"),
            ),
            super::events::Owner::Nobody => (
                vec!["p.owner_id IS NULL".to_string()],
                vec![],
                "owner=none;".to_string(),
            ),
            super::events::Owner::Anyone => (vec![], vec![], String::new()),
        };
        // The owner is part of the cursor's scope: one principal's cursor is useless
        // to another.
        let scope = scope("playlists", "name", &bound);
        let sql = ListSql {
            from: "playlists p",
            columns: PLAYLIST_COLUMNS,
            filters,
            params,
            key: "p.name_key".into(),
            key_is_text: true,
            id: "p.id",
            desc: false,
        };
        self.page(sql, page, &scope, playlist_from_row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_parses_wire_names_and_round_trips() {
        let o = Order::<TrackSort>::parse("-added_at").unwrap();
        assert_eq!((o.field, o.desc), (TrackSort::AddedAt, true));
        assert_eq!(o.wire(), "-added_at");
        assert_eq!(Order::<TrackSort>::parse("bogus"), Err(TrackSort::EXPECTED));
        assert_eq!(Order::<NameSort>::default().wire(), "name");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
