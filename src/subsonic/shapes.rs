//! The library's rows as Subsonic elements: a song (`Child`), an album (`AlbumID3`),
//! an artist (`ArtistID3`), a directory entry, a playlist. Ids carry their kind
//! (`tr-`, `al-`, `ar-`), because several methods (`getMusicDirectory`,
//! `getCoverArt`) take an id of any kind.

use super::element::Element;
use crate::library::catalog::Marks;
use crate::library::model::{Album, Artist, Playlist, Track, rfc3339_ms};

/// The one music folder: the library.
pub(crate) const FOLDER_ID: i64 = 1;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Id {
    Track(i64),
    Album(i64),
    Artist(i64),
}

impl Id {
    pub(crate) fn parse(s: &str) -> Option<Id> {
        let (kind, n) = s.split_once('-')?;
        let n: i64 = n.parse().ok().filter(|n| *n >= 1)?;
        match kind {
            "tr" => Some(Id::Track(n)),
            "al" => Some(Id::Album(n)),
            "ar" => Some(Id::Artist(n)),
            _ => None,
        }
    }
}

pub(crate) fn track_id(id: i64) -> String {
    format!("tr-{id}")
}
pub(crate) fn album_id(id: i64) -> String {
    format!("al-{id}")
}
pub(crate) fn artist_id(id: i64) -> String {
    format!("ar-{id}")
}

/// The file's suffix and media type by the format the scan found.
pub(crate) fn file_type(t: &Track) -> (&'static str, &'static str) {
    match (t.format.as_str(), t.codec.as_deref()) {
        ("ogg", Some("opus")) => ("opus", "audio/ogg"),
        ("ogg", _) => ("ogg", "audio/ogg"),
        ("flac", _) => ("flac", "audio/flac"),
        ("mp3", _) => ("mp3", "audio/mpeg"),
        ("m4a" | "mp4", _) => ("m4a", "audio/mp4"),
        ("aiff", _) => ("aiff", "audio/aiff"),
        ("wav", _) => ("wav", "audio/x-wav"),
        _ => ("bin", "application/octet-stream"),
    }
}

/// The average bitrate of the file, kbit/s.
fn bit_rate(t: &Track) -> i64 {
    match t.duration_ms {
        0 => 0,
        ms => t.file_size.saturating_mul(8) / ms,
    }
}

/// A song (`Child`, `isDir=false`) as `marks`' owner sees it.
pub(crate) fn song(t: &Track, marks: &Marks) -> Element {
    song_as("song", t, marks)
}

/// A song under another element name (`entry` in playlists and queues, `child` in
/// directories).
pub(crate) fn song_as(name: &'static str, t: &Track, marks: &Marks) -> Element {
    let (suffix, content_type) = file_type(t);
    let artist = t.artist.clone().or_else(|| t.album_artist.clone());
    let path = format!(
        "{}/{}/{}.{suffix}",
        artist.as_deref().unwrap_or("Unknown Artist"),
        t.album.as_deref().unwrap_or("Unknown Album"),
        t.title
    );
    Element::new(name)
        .attr("id", track_id(t.id))
        .opt("parent", t.album_id.map(album_id))
        .attr("isDir", false)
        .attr("title", t.title.as_str())
        .opt("album", t.album.clone())
        .opt("artist", artist)
        .opt("track", t.track_number)
        .opt("year", t.year)
        .opt("genre", t.genre.clone())
        .opt("coverArt", t.has_cover.then(|| track_id(t.id)))
        .attr("size", t.file_size)
        .attr("contentType", content_type)
        .attr("suffix", suffix)
        .attr("duration", t.duration_ms / 1000)
        .attr("bitRate", bit_rate(t))
        .attr("path", path)
        .attr("isVideo", false)
        .attr("playCount", t.play_count)
        .opt("played", t.last_played_at.clone())
        .opt("discNumber", t.disc_number)
        .attr("created", t.added_at.as_str())
        .opt(
            "starred",
            marks.starred.get(&t.id).map(|ms| rfc3339_ms(*ms)),
        )
        .opt("albumId", t.album_id.map(album_id))
        .opt("artistId", t.artist_id.map(artist_id))
        .attr("type", "music")
        .attr("mediaType", "song")
        .opt("userRating", marks.ratings.get(&t.id).copied())
        .opt("samplingRate", t.sample_rate)
        .opt("channelCount", t.channels)
        .opt("bitDepth", t.bit_depth)
}

/// An album (`AlbumID3`); `created` is when its first track was added.
pub(crate) fn album(a: &Album, created_ms: i64) -> Element {
    Element::new("album")
        .attr("id", album_id(a.id))
        .attr("name", a.title.as_str())
        .opt("artist", a.artist.clone())
        .opt("artistId", a.artist_id.map(artist_id))
        .opt("coverArt", a.has_cover.then(|| album_id(a.id)))
        .attr("songCount", a.track_count)
        .attr("duration", a.duration_ms / 1000)
        .attr("created", rfc3339_ms(created_ms))
        .opt("year", a.year)
}

/// An artist (`ArtistID3`).
pub(crate) fn artist(a: &Artist) -> Element {
    Element::new("artist")
        .attr("id", artist_id(a.id))
        .attr("name", a.name.as_str())
        .attr("albumCount", a.album_count)
}

/// An album as a directory entry (`Child`, `isDir=true`) under its artist.
pub(crate) fn album_dir(a: &Album) -> Element {
    Element::new("child")
        .attr("id", album_id(a.id))
        .opt("parent", a.artist_id.map(artist_id))
        .attr("isDir", true)
        .attr("title", a.title.as_str())
        .attr("album", a.title.as_str())
        .opt("artist", a.artist.clone())
        .opt("year", a.year)
        .opt("coverArt", a.has_cover.then(|| album_id(a.id)))
}

/// A playlist's head (owner: the user who sees it; every playlist here is private).
pub(crate) fn playlist(p: &Playlist, owner: &str) -> Element {
    Element::new("playlist")
        .attr("id", p.id.to_string())
        .attr("name", p.name.as_str())
        .opt("comment", p.description.clone())
        .attr("owner", owner)
        .attr("public", false)
        .attr("songCount", p.track_count)
        .attr("duration", p.duration_ms / 1000)
        .attr("created", p.created_at.as_str())
        .attr("changed", p.updated_at.as_str())
}

/// Articles an index ignores when grouping names (Subsonic's default list).
pub(crate) const IGNORED_ARTICLES: &str = "The El La Los Las Le Les Os As O A";

/// The index letter of a name: its first letter after a leading article, upper-cased;
/// `#` for names that start with no letter.
pub(crate) fn index_letter(name: &str) -> String {
    let trimmed = name.trim();
    // Byte-wise: the articles are ASCII, so the cut after "article " is a character
    // boundary whatever follows.
    let b = trimmed.as_bytes();
    let rest = IGNORED_ARTICLES
        .split(' ')
        .find_map(|a| {
            let n = a.len();
            (b.len() > n && b[..n].eq_ignore_ascii_case(a.as_bytes()) && b[n] == b' ')
                .then(|| &trimmed[n + 1..])
        })
        .unwrap_or(trimmed);
    match rest.chars().next() {
        Some(c) if c.is_alphabetic() => c.to_uppercase().collect(),
        _ => "#".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_kind_and_refuse_the_rest() {
        assert_eq!(Id::parse("tr-12"), Some(Id::Track(12)));
        assert_eq!(Id::parse("al-3"), Some(Id::Album(3)));
        assert_eq!(Id::parse("ar-9"), Some(Id::Artist(9)));
        for bad in [
            "12",
            "tr-0",
            "tr--1",
            "xx-1",
            "tr-",
            "tr-99999999999999999999",
        ] {
            assert_eq!(Id::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn index_letters_skip_articles_and_fold_case() {
        assert_eq!(index_letter("The Beatles"), "B");
        assert_eq!(index_letter("the the"), "T");
        assert_eq!(index_letter("Theory"), "T");
        assert_eq!(index_letter("élan"), "É");
        assert_eq!(index_letter("2Pac"), "#");
        assert_eq!(index_letter(""), "#");
        assert_eq!(index_letter("A"), "A");
        assert_eq!(
            index_letter("Ünïcødé & Co"),
            "Ü",
            "a multi-byte first letter"
        );
        assert_eq!(index_letter("Ü"), "Ü");
    }
}
