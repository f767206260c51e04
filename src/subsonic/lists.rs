//! Lists and search: album lists by kind, random and by-genre songs, starred items,
//! `search2`/`search3` (an empty query walks the whole library, paged: how apps sync).

use super::element::Element;
use super::error::SubsonicError;
use super::shapes;
use super::{Call, MethodFuture, boxed};
use crate::library::catalog::{AlbumList, MAX_LIST, Window};
use crate::library::model::Track;
use std::rc::Rc;

fn kind(call: &Call) -> Result<AlbumList, SubsonicError> {
    let p = &call.params;
    Ok(match p.required("type")? {
        "random" => AlbumList::Random,
        "newest" => AlbumList::Newest,
        "frequent" | "highest" => AlbumList::Frequent,
        "recent" => AlbumList::Recent,
        "starred" => AlbumList::Starred(call.owner()),
        "alphabeticalByName" | "alphaByName" => AlbumList::AlphaByName,
        "alphabeticalByArtist" | "alphaByArtist" => AlbumList::AlphaByArtist,
        "byYear" => AlbumList::ByYear {
            from: p
                .int("fromYear", 0, 9999)?
                .ok_or(SubsonicError::Missing("fromYear"))?,
            to: p
                .int("toYear", 0, 9999)?
                .ok_or(SubsonicError::Missing("toYear"))?,
        },
        "byGenre" => AlbumList::ByGenre(p.required("genre")?.to_string()),
        other => {
            return Err(SubsonicError::Invalid {
                name: "type",
                why: format!("{other:?} is not a list type"),
            });
        }
    })
}

fn size_offset(call: &Call, default: i64) -> Result<(i64, i64), SubsonicError> {
    let size = call.params.int("size", 0, MAX_LIST)?.unwrap_or(default);
    let offset = call.params.int("offset", 0, i64::MAX)?.unwrap_or(0);
    Ok((size, offset))
}

fn album_list_as(call: Rc<Call>, name: &'static str, dir: bool) -> MethodFuture {
    boxed(async move {
        let list = kind(&call)?;
        let (size, offset) = size_offset(&call, 10)?;
        let lib = call.reader()?;
        let albums = lib.album_list(&list, size, offset)?;
        let items = albums
            .iter()
            .map(|a| {
                Ok(match dir {
                    true => shapes::album_dir(a).rename("album"),
                    false => shapes::album(a, lib.album_created(a.id)?),
                })
            })
            .collect::<Result<Vec<_>, SubsonicError>>()?;
        Ok(Element::new(name).list("album", items).into())
    })
}

pub(crate) fn album_list(call: Rc<Call>) -> MethodFuture {
    album_list_as(call, "albumList", true)
}

pub(crate) fn album_list2(call: Rc<Call>) -> MethodFuture {
    album_list_as(call, "albumList2", false)
}

fn song_list(call: &Call, tracks: &[Track]) -> Result<Vec<Element>, SubsonicError> {
    let ids: Vec<i64> = tracks.iter().map(|t| t.id).collect();
    let marks = call.reader()?.marks(call.owner(), &ids)?;
    Ok(tracks.iter().map(|t| shapes::song(t, &marks)).collect())
}

fn songs(call: &Call, name: &'static str, tracks: &[Track]) -> Result<Element, SubsonicError> {
    Ok(Element::new(name).list("song", song_list(call, tracks)?))
}

pub(crate) fn random_songs(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let p = &call.params;
        let size = p.int("size", 0, MAX_LIST)?.unwrap_or(10);
        let years = (p.int("fromYear", 0, 9999)?, p.int("toYear", 0, 9999)?);
        let tracks = call.reader()?.random_tracks(size, p.get("genre"), years)?;
        Ok(songs(&call, "randomSongs", &tracks)?.into())
    })
}

pub(crate) fn songs_by_genre(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let genre = call.params.required("genre")?.to_string();
        let size = call.params.int("count", 0, MAX_LIST)?.unwrap_or(10);
        let offset = call.params.int("offset", 0, i64::MAX)?.unwrap_or(0);
        let tracks = call.reader()?.genre_tracks(&genre, size, offset)?;
        Ok(songs(&call, "songsByGenre", &tracks)?.into())
    })
}

/// Starred songs, and the albums and artists they belong to (only songs are starred
/// here: an album or artist is listed when one of its songs is).
fn starred_as(call: Rc<Call>, name: &'static str) -> MethodFuture {
    boxed(async move {
        let lib = call.reader()?;
        let tracks = lib.starred_tracks(call.owner())?;
        let albums = lib.album_list(&AlbumList::Starred(call.owner()), MAX_LIST, 0)?;
        let mut artist_ids: Vec<i64> = albums.iter().filter_map(|a| a.artist_id).collect();
        artist_ids.sort_unstable();
        artist_ids.dedup();
        let artists = artist_ids
            .iter()
            .filter_map(|id| lib.artist(*id).ok())
            .map(|a| shapes::artist(&a))
            .collect();
        let albums = albums
            .iter()
            .map(|a| Ok(shapes::album(a, lib.album_created(a.id)?)))
            .collect::<Result<Vec<_>, SubsonicError>>()?;
        let songs = song_list(&call, &tracks)?;
        Ok(Element::new(name)
            .list("artist", artists)
            .list("album", albums)
            .list("song", songs)
            .into())
    })
}

pub(crate) fn starred(call: Rc<Call>) -> MethodFuture {
    starred_as(call, "starred")
}

pub(crate) fn starred2(call: Rc<Call>) -> MethodFuture {
    starred_as(call, "starred2")
}

fn window(call: &Call, part: &'static str, offset: &'static str) -> Result<Window, SubsonicError> {
    Ok(Window {
        count: call.params.int(part, 0, MAX_LIST)?.unwrap_or(20),
        offset: call.params.int(offset, 0, i64::MAX)?.unwrap_or(0),
    })
}

fn search_as(call: Rc<Call>, name: &'static str) -> MethodFuture {
    boxed(async move {
        // Apps send `query=""` (or `""` quoted) to walk everything.
        let text = call
            .params
            .get("query")
            .unwrap_or("")
            .trim_matches('"')
            .to_string();
        let parts = [
            window(&call, "artistCount", "artistOffset")?,
            window(&call, "albumCount", "albumOffset")?,
            window(&call, "songCount", "songOffset")?,
        ];
        let lib = call.reader()?;
        let found = lib.search(&text, parts)?;
        let albums = found
            .albums
            .iter()
            .map(|a| Ok(shapes::album(a, lib.album_created(a.id)?)))
            .collect::<Result<Vec<_>, SubsonicError>>()?;
        let artists = found.artists.iter().map(shapes::artist).collect();
        let songs = song_list(&call, &found.tracks)?;
        Ok(Element::new(name)
            .list("artist", artists)
            .list("album", albums)
            .list("song", songs)
            .into())
    })
}

pub(crate) fn search2(call: Rc<Call>) -> MethodFuture {
    search_as(call, "searchResult2")
}

pub(crate) fn search3(call: Rc<Call>) -> MethodFuture {
    search_as(call, "searchResult3")
}
