//! Browsing: the music folder, the artist index (by folder and by tag), an artist, an
//! album, a song, genres, and what the library knows about artists and albums.

use super::element::Element;
use super::error::SubsonicError;
use super::shapes::{self, FOLDER_ID, IGNORED_ARTICLES, Id};
use super::{Call, MethodFuture, boxed};
use crate::library::model::{Album, Artist};
use crate::library::store::LibraryReader;
use std::rc::Rc;

pub(crate) fn music_folders(_call: Rc<Call>) -> MethodFuture {
    boxed(async {
        Ok(Element::new("musicFolders")
            .list(
                "musicFolder",
                vec![
                    Element::new("musicFolder")
                        .attr("id", FOLDER_ID)
                        .attr("name", "Music"),
                ],
            )
            .into())
    })
}

/// Artists grouped by index letter, in order.
fn grouped(artists: &[Artist], make: fn(&Artist) -> Element) -> Vec<Element> {
    let mut groups: Vec<(String, Vec<Element>)> = Vec::new();
    for a in artists {
        let letter = shapes::index_letter(&a.name);
        match groups.iter_mut().find(|(l, _)| *l == letter) {
            Some((_, list)) => list.push(make(a)),
            None => groups.push((letter, vec![make(a)])),
        }
    }
    groups.sort_by(|a, b| (a.0 == "#").cmp(&(b.0 == "#")).then_with(|| a.0.cmp(&b.0)));
    groups
        .into_iter()
        .map(|(letter, list)| {
            Element::new("index")
                .attr("name", letter)
                .list("artist", list)
        })
        .collect()
}

fn check_folder(call: &Call) -> Result<(), SubsonicError> {
    match call.params.get("musicFolderId") {
        None => Ok(()),
        Some(f) if f == FOLDER_ID.to_string() => Ok(()),
        Some(f) => Err(SubsonicError::NotFound(format!("no music folder {f:?}"))),
    }
}

/// The folder view: artists as directories (`getMusicDirectory` opens them).
pub(crate) fn indexes(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        check_folder(&call)?;
        let lib = call.reader()?;
        let artists = lib.all_artists()?;
        let index = grouped(&artists, |a| {
            Element::new("artist")
                .attr("id", shapes::artist_id(a.id))
                .attr("name", a.name.as_str())
        });
        Ok(Element::new("indexes")
            .attr("lastModified", lib.last_added()?)
            .attr("ignoredArticles", IGNORED_ARTICLES)
            .list("index", index)
            .into())
    })
}

/// The tag view (ID3): artists with album counts.
pub(crate) fn artists(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        check_folder(&call)?;
        let artists = call.reader()?.all_artists()?;
        Ok(Element::new("artists")
            .attr("ignoredArticles", IGNORED_ARTICLES)
            .list("index", grouped(&artists, shapes::artist))
            .into())
    })
}

fn id_param(call: &Call) -> Result<Id, SubsonicError> {
    let raw = call.params.required("id")?;
    Id::parse(raw).ok_or_else(|| SubsonicError::NotFound(format!("no item {raw:?}")))
}

fn album_element(lib: &LibraryReader, a: &Album) -> Result<Element, SubsonicError> {
    Ok(shapes::album(a, lib.album_created(a.id)?))
}

/// An artist's albums (`ArtistID3` with `album` children).
pub(crate) fn artist(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let Id::Artist(id) = id_param(&call)? else {
            return Err(SubsonicError::NotFound("not an artist id".into()));
        };
        let lib = call.reader()?;
        let artist = lib.artist(id)?;
        let albums = lib
            .artist_albums(id)?
            .iter()
            .map(|a| album_element(lib, a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(shapes::artist(&artist).list("album", albums).into())
    })
}

/// An album with its songs.
pub(crate) fn album(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let Id::Album(id) = id_param(&call)? else {
            return Err(SubsonicError::NotFound("not an album id".into()));
        };
        let lib = call.reader()?;
        let album = lib.album(id)?;
        let songs = lib.album_songs(id)?;
        let ids: Vec<i64> = songs.iter().map(|t| t.id).collect();
        let marks = lib.marks(call.owner(), &ids)?;
        let songs = songs.iter().map(|t| shapes::song(t, &marks)).collect();
        Ok(album_element(lib, &album)?.list("song", songs).into())
    })
}

pub(crate) fn song(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let Id::Track(id) = id_param(&call)? else {
            return Err(SubsonicError::NotFound("not a song id".into()));
        };
        let lib = call.reader()?;
        let track = lib.track(id)?;
        let marks = lib.marks(call.owner(), &[id])?;
        Ok(shapes::song(&track, &marks).into())
    })
}

/// A directory: an artist's albums, or an album's songs.
pub(crate) fn music_directory(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let lib = call.reader()?;
        let dir = match id_param(&call)? {
            Id::Artist(id) => {
                let artist = lib.artist(id)?;
                let albums = lib.artist_albums(id)?;
                Element::new("directory")
                    .attr("id", shapes::artist_id(id))
                    .attr("name", artist.name.as_str())
                    .list("child", albums.iter().map(shapes::album_dir).collect())
            }
            Id::Album(id) => {
                let album = lib.album(id)?;
                let songs = lib.album_songs(id)?;
                let ids: Vec<i64> = songs.iter().map(|t| t.id).collect();
                let marks = lib.marks(call.owner(), &ids)?;
                Element::new("directory")
                    .attr("id", shapes::album_id(id))
                    .opt("parent", album.artist_id.map(shapes::artist_id))
                    .attr("name", album.title.as_str())
                    .list(
                        "child",
                        songs
                            .iter()
                            .map(|t| shapes::song_as("child", t, &marks))
                            .collect(),
                    )
            }
            Id::Track(_) => {
                return Err(SubsonicError::NotFound("a song is not a directory".into()));
            }
        };
        Ok(dir.into())
    })
}

pub(crate) fn genres(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let genres = call.reader()?.genres()?;
        Ok(Element::new("genres")
            .list(
                "genre",
                genres
                    .iter()
                    .map(|g| {
                        Element::new("genre")
                            .attr("songCount", g.songs)
                            .attr("albumCount", g.albums)
                            .text(g.name.as_str())
                    })
                    .collect(),
            )
            .into())
    })
}

/// What the library knows about an artist beyond its albums: nothing (no biography or
/// similar-artist source), so an empty answer, as the method allows.
fn artist_info_as(call: Rc<Call>, name: &'static str) -> MethodFuture {
    boxed(async move {
        let Id::Artist(id) = id_param(&call)? else {
            return Err(SubsonicError::NotFound("not an artist id".into()));
        };
        call.reader()?.artist(id)?;
        Ok(Element::new(name).into())
    })
}

pub(crate) fn artist_info(call: Rc<Call>) -> MethodFuture {
    artist_info_as(call, "artistInfo")
}

pub(crate) fn artist_info2(call: Rc<Call>) -> MethodFuture {
    artist_info_as(call, "artistInfo2")
}

/// An album's notes: none are known, so an empty `albumInfo`.
pub(crate) fn album_info(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        match id_param(&call)? {
            Id::Album(id) => call.reader()?.album(id).map(|_| ())?,
            Id::Track(id) => call.reader()?.track(id).map(|_| ())?,
            Id::Artist(_) => return Err(SubsonicError::NotFound("not an album id".into())),
        }
        Ok(Element::new("albumInfo").into())
    })
}
