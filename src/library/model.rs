//! Rows as the API shows them.

use serde::Serialize;

/// One track. `path` stays server-side.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Track {
    pub id: i64,
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub artist_id: Option<i64>,
    pub album_id: Option<i64>,
    pub track_number: Option<i64>,
    pub disc_number: Option<i64>,
    pub year: Option<i64>,
    pub genre: Option<String>,
    pub duration_ms: i64,
    pub format: String,
    pub codec: Option<String>,
    pub sample_rate: Option<i64>,
    pub channels: Option<i64>,
    pub bit_depth: Option<i64>,
    pub file_size: i64,
    pub favorite: bool,
    pub play_count: i64,
    /// When it was last played (a chunk-0 request or `POST …/played`); null: never.
    pub last_played_at: Option<String>,
    /// Cover art is available (`GET /api/tracks/{id}/cover`).
    pub has_cover: bool,
    pub added_at: String,
    /// Where each tag came from (`embedded`, `riff_info`, `id3`, `aiff_text`, `path`).
    pub tag_source: Option<serde_json::Value>,
    /// The file was gone when last asked for (until a rescan finds it).
    pub missing: bool,
}

/// Columns selected for a [`Track`], in [`track_from_row`]'s order.
pub(crate) const TRACK_COLUMNS: &str = "id, title, artist, album, album_artist, artist_id, album_id, track_number, disc_number, year, genre, duration_ms, format, codec, sample_rate, channels, bit_depth, file_size, favorite, play_count, added_at, tag_source, missing, last_played_at, cover IS NOT NULL";

pub(crate) fn track_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Track> {
    Ok(Track {
        id: r.get(0)?,
        title: r.get(1)?,
        artist: r.get(2)?,
        album: r.get(3)?,
        album_artist: r.get(4)?,
        artist_id: r.get(5)?,
        album_id: r.get(6)?,
        track_number: r.get(7)?,
        disc_number: r.get(8)?,
        year: r.get(9)?,
        genre: r.get(10)?,
        duration_ms: r.get(11)?,
        format: r.get(12)?,
        codec: r.get(13)?,
        sample_rate: r.get(14)?,
        channels: r.get(15)?,
        bit_depth: r.get(16)?,
        file_size: r.get(17)?,
        favorite: r.get::<_, i64>(18)? != 0,
        play_count: r.get(19)?,
        added_at: rfc3339_ms(r.get(20)?),
        tag_source: r
            .get::<_, Option<String>>(21)?
            .and_then(|t| serde_json::from_str(&t).ok()),
        missing: r.get::<_, i64>(22)? != 0,
        last_played_at: Some(r.get::<_, i64>(23)?)
            .filter(|ms| *ms > 0)
            .map(rfc3339_ms),
        has_cover: r.get::<_, i64>(24)? != 0,
    })
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Album {
    pub id: i64,
    pub title: String,
    pub artist_id: Option<i64>,
    pub artist: Option<String>,
    pub year: Option<i64>,
    pub track_count: i64,
    pub duration_ms: i64,
    /// One of its tracks has cover art (`GET /api/albums/{id}/cover`).
    pub has_cover: bool,
}

pub(crate) const ALBUM_COLUMNS: &str = "a.id, a.title, a.artist_id, ar.name, a.year, (SELECT COUNT(*) FROM tracks t WHERE t.album_id = a.id), (SELECT COALESCE(SUM(duration_ms),0) FROM tracks t WHERE t.album_id = a.id), EXISTS(SELECT 1 FROM tracks t WHERE t.album_id = a.id AND t.cover IS NOT NULL)";

pub(crate) fn album_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Album> {
    Ok(Album {
        id: r.get(0)?,
        title: r.get(1)?,
        artist_id: r.get(2)?,
        artist: r.get(3)?,
        year: r.get(4)?,
        track_count: r.get(5)?,
        duration_ms: r.get(6)?,
        has_cover: r.get::<_, i64>(7)? != 0,
    })
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Artist {
    pub id: i64,
    pub name: String,
    pub album_count: i64,
    pub track_count: i64,
}

pub(crate) const ARTIST_COLUMNS: &str = "ar.id, ar.name, (SELECT COUNT(*) FROM albums a WHERE a.artist_id = ar.id), (SELECT COUNT(*) FROM tracks t WHERE t.artist_id = ar.id)";

pub(crate) fn artist_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Artist> {
    Ok(Artist {
        id: r.get(0)?,
        name: r.get(1)?,
        album_count: r.get(2)?,
        track_count: r.get(3)?,
    })
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Playlist {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub track_count: i64,
    pub duration_ms: i64,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) const PLAYLIST_COLUMNS: &str = "p.id, p.name, p.description, (SELECT COUNT(*) FROM playlist_entries e WHERE e.playlist_id = p.id), (SELECT COALESCE(SUM(t.duration_ms),0) FROM playlist_entries e JOIN tracks t ON t.id = e.track_id WHERE e.playlist_id = p.id), p.created_at, p.updated_at";

pub(crate) fn playlist_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Playlist> {
    Ok(Playlist {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        track_count: r.get(3)?,
        duration_ms: r.get(4)?,
        created_at: rfc3339_ms(r.get(5)?),
        updated_at: rfc3339_ms(r.get(6)?),
    })
}

/// Unix milliseconds → RFC 3339.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
