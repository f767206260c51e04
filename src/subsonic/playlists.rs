//! Playlists: the caller's own (every playlist here belongs to one user and is
//! private; another user's is as absent as a missing one).

use super::element::Element;
use super::error::SubsonicError;
use super::shapes::{self, Id};
use super::{Answer, Call, MethodFuture, boxed};
use crate::library::ops;
use std::rc::Rc;

fn songs(call: &Call, name: &str) -> Result<Vec<i64>, SubsonicError> {
    call.params
        .all(name)
        .map(|raw| match Id::parse(raw) {
            Some(Id::Track(id)) => Ok(id),
            _ => Err(SubsonicError::NotFound(format!("no song {raw:?}"))),
        })
        .collect()
}

/// Longest playlist name and comment (the REST API's limits).
const MAX_NAME: usize = 200;
const MAX_COMMENT: usize = 1000;

/// A playlist name, trimmed: 1 to [`MAX_NAME`] characters.
fn checked_name(raw: &str) -> Result<String, SubsonicError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(SubsonicError::Invalid {
            name: "name",
            why: format!("1-{MAX_NAME} characters"),
        });
    }
    Ok(name.to_string())
}

fn playlist_id(call: &Call, name: &'static str) -> Result<Option<i64>, SubsonicError> {
    call.params.int(name, 1, i64::MAX)
}

/// A playlist with its entries.
fn full(call: &Call, id: i64) -> Result<Element, SubsonicError> {
    let lib = call.reader()?;
    let p = lib.playlist(id, call.owner())?;
    let tracks = lib.playlist_tracks(id)?;
    let ids: Vec<i64> = tracks.iter().map(|t| t.id).collect();
    let marks = lib.marks(call.owner(), &ids)?;
    Ok(shapes::playlist(&p, &call.caller.principal.name).list(
        "entry",
        tracks
            .iter()
            .map(|t| shapes::song_as("entry", t, &marks))
            .collect(),
    ))
}

pub(crate) fn list(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        if let Some(u) = call.params.get("username")
            && u != call.caller.principal.name
        {
            return Err(SubsonicError::NotAuthorized(
                "only your own playlists are served".into(),
            ));
        }
        let all = call.reader()?.owned_playlists(call.owner())?;
        let name = &call.caller.principal.name;
        Ok(Element::new("playlists")
            .list(
                "playlist",
                all.iter().map(|p| shapes::playlist(p, name)).collect(),
            )
            .into())
    })
}

pub(crate) fn one(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let id = playlist_id(&call, "id")?.ok_or(SubsonicError::Missing("id"))?;
        Ok(full(&call, id)?.into())
    })
}

/// Creates a playlist (`name`), or replaces an existing one's songs (`playlistId`).
/// Answers the playlist (OpenSubsonic; 1.14+ servers do).
pub(crate) fn create(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let tracks = songs(&call, "songId")?;
        let lib = call.library()?;
        let id = match (playlist_id(&call, "playlistId")?, call.params.get("name")) {
            (Some(id), name) => {
                let name = name.map(str::to_string);
                lib.transact_as(call.owner(), move |c| {
                    if let Some(n) = &name {
                        ops::update_playlist(c, id, Some(n), None)?;
                    }
                    ops::set_entries(c, id, &tracks)
                })
                .await?;
                id
            }
            (None, Some(name)) => {
                let name = checked_name(name)?;
                lib.transact_as(call.owner(), move |c| {
                    let id = ops::create_playlist(c, &name, None)?;
                    ops::set_entries(c, id, &tracks)?;
                    Ok(id)
                })
                .await?
            }
            (None, None) => return Err(SubsonicError::Missing("name")),
        };
        Ok(full(&call, id)?.into())
    })
}

/// Renames, re-describes, appends songs and removes entries by index, atomically.
pub(crate) fn update(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let id = playlist_id(&call, "playlistId")?.ok_or(SubsonicError::Missing("playlistId"))?;
        let add = songs(&call, "songIdToAdd")?;
        let remove = call
            .params
            .all("songIndexToRemove")
            .map(|raw| {
                raw.parse::<i64>().map_err(|_| SubsonicError::Invalid {
                    name: "songIndexToRemove",
                    why: format!("{raw:?} is not an index"),
                })
            })
            .collect::<Result<Vec<i64>, _>>()?;
        let name = call.params.get("name").map(checked_name).transpose()?;
        let comment = call.params.get("comment").map(str::to_string);
        if comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > MAX_COMMENT)
        {
            return Err(SubsonicError::Invalid {
                name: "comment",
                why: format!("at most {MAX_COMMENT} characters"),
            });
        }
        call.library()?
            .transact_as(call.owner(), move |c| {
                if name.is_some() || comment.is_some() {
                    ops::update_playlist(c, id, name.as_deref(), comment.as_deref().map(Some))?;
                }
                if !remove.is_empty() {
                    ops::remove_positions(c, id, &remove)?;
                }
                if !add.is_empty() {
                    ops::add_tracks(c, id, &add, None)?;
                }
                Ok(())
            })
            .await?;
        Ok(Answer::Payload(None))
    })
}

pub(crate) fn delete(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let id = playlist_id(&call, "id")?.ok_or(SubsonicError::Missing("id"))?;
        call.library()?
            .transact_as(call.owner(), move |c| ops::delete_playlist(c, id))
            .await?;
        Ok(Answer::Payload(None))
    })
}
