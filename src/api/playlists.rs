//! Playlist endpoints. Reads on the core's reader; every change goes through the writer
//! in one transaction.

use super::common::{path_id, reader};
use super::library::PAGE_QUERY;
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::pagination::page_request;
use crate::http::request::{Method, Request};
use crate::http::router::{Access, Handler, HandlerResult, LocalFuture, Route, RouteClass};
use crate::http::validate::{BodyFields, QueryFields};
use crate::library::LibraryError;
use crate::library::events::{Owner, Tx};
use crate::library::model::*;
use crate::library::ops;
use crate::library::store::LibraryReader;
use crate::library::tokens::owner_of;
use crate::runtime::core_state::CoreState;
use serde::Serialize;
use std::rc::Rc;

pub(crate) const MAX_NAME: usize = 100;
pub(crate) const MAX_DESCRIPTION: usize = 1000;
/// Most track ids one request may add.
pub(crate) const MAX_ADD: usize = 500;

// Long: the route table, one entry per route (the router and the OpenAPI document
// both read it).
pub(crate) fn routes() -> Vec<Route> {
    use Handler::{Async, Sync};
    use Method::*;
    let api = RouteClass::Api;
    vec![
        Route::new(Get, "/api/playlists", api, "List playlists", Sync(list))
            .query(PAGE_QUERY)
            .page("Playlist"),
        Route::new(
            Post,
            "/api/playlists",
            api,
            "Create a playlist (409 on a duplicate name)",
            Async(create),
        )
        .body("PlaylistCreate")
        .data("PlaylistWithTracks")
        .success(201)
        .also(&[409]),
        Route::new(
            Get,
            "/api/playlists/{id}",
            api,
            "A playlist with its tracks in order",
            Sync(get),
        )
        .data("PlaylistWithTracks"),
        Route::new(
            Put,
            "/api/playlists/{id}",
            api,
            "Rename or re-describe a playlist",
            Async(update),
        )
        .body("PlaylistUpdate")
        .data("PlaylistWithTracks")
        .also(&[409]),
        Route::new(
            Delete,
            "/api/playlists/{id}",
            api,
            "Delete a playlist",
            Async(delete),
        )
        .data("PlaylistDeleted"),
        Route::new(
            Post,
            "/api/playlists/{id}/tracks",
            api,
            "Add tracks (one transaction)",
            Async(add_tracks),
        )
        .body("PlaylistAddTracks")
        .data("PlaylistWithTracks")
        .also(&[409]),
        Route::new(
            Put,
            "/api/playlists/{id}/tracks/reorder",
            api,
            "Move one entry",
            Async(reorder),
        )
        .body("PlaylistReorder")
        .data("PlaylistWithTracks")
        .also(&[409]),
        Route::new(
            Delete,
            "/api/playlists/{id}/tracks/{position}",
            api,
            "Remove the entry at a 0-based position",
            Async(remove),
        )
        .data("PlaylistWithTracks"),
    ]
    .into_iter()
    // Playlists are a listener's own: every change to them needs the listener role.
    .map(|r| match r.access {
        Access::Admin => r.access(Access::Listener),
        _ => r,
    })
    .collect()
}

#[derive(Serialize)]
struct PlaylistWithTracks {
    #[serde(flatten)]
    playlist: Playlist,
    tracks: Vec<Track>,
}

fn full(lib: &LibraryReader, id: i64, owner: Owner) -> Result<PlaylistWithTracks, ApiError> {
    let playlist = lib.playlist(id, owner)?;
    let mut tracks = lib.playlist_tracks(id)?;
    lib.mark_favorites(&mut tracks, owner)?;
    Ok(PlaylistWithTracks { playlist, tracks })
}

/// Whose playlists this request acts on: a listener's own, else everyone's.
fn owner(cx: &RequestCtx) -> Owner {
    owner_of(cx.principal.as_ref())
}

/// Runs `f` in one writer transaction acting for the caller, then answers with the
/// playlist as it now is.
async fn write_then_show(
    core: &CoreState,
    cx: &RequestCtx,
    status: u16,
    f: impl FnOnce(&Tx<'_>) -> Result<i64, LibraryError> + Send + 'static,
) -> HandlerResult {
    let lib = reader(core)?;
    let owner = owner(cx);
    let id = lib.library.transact_as(owner, move |c| f(c)).await?;
    let reply = Reply::with_status(status, full(lib, id, owner)?)?;
    Ok(match status {
        201 => reply.location(format!("/api/playlists/{id}")),
        _ => reply,
    }
    .into())
}

fn list(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let page = page_request(&mut q);
    q.finish()?;
    let page = lib.playlists(&page, owner(cx))?;
    Ok(Reply::ok(page.items)?.meta(page.meta).into())
}

fn get(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    Ok(Reply::ok(full(reader(core)?, id, owner(cx))?)?.into())
}

fn create(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let mut b = BodyFields::from_request(&req)?;
        let name = b.string("name", true, MAX_NAME);
        let description = b.string("description", false, MAX_DESCRIPTION);
        b.finish()?;
        let name = name.unwrap_or_default();
        write_then_show(&core, &cx, 201, move |c| {
            ops::create_playlist(c, &name, description.as_deref())
        })
        .await
    })
}

fn update(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let mut b = BodyFields::from_request(&req)?;
        let name = b.string("name", false, MAX_NAME);
        let has_desc = matches!(b.raw_peek("description"), Some(true));
        let description = b.string("description", false, MAX_DESCRIPTION);
        if name.as_deref() == Some("") {
            b.error("name", "value_error", "must not be empty");
        }
        if name.is_none() && !has_desc {
            b.error("body", "missing", "give name and/or description");
        }
        b.finish()?;
        write_then_show(&core, &cx, 200, move |c| {
            let desc = if has_desc {
                Some(description.as_deref())
            } else {
                None
            };
            ops::update_playlist(c, id, name.as_deref(), desc)?;
            Ok(id)
        })
        .await
    })
}

fn delete(core: Rc<CoreState>, cx: Rc<RequestCtx>, _req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let lib = reader(&core)?;
        lib.library
            .transact_as(owner(&cx), move |c| ops::delete_playlist(c, id))
            .await?;
        Ok(Reply::ok(serde_json::json!({ "id": id, "deleted": true }))?.into())
    })
}

fn add_tracks(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let mut b = BodyFields::from_request(&req)?;
        let ids = b.id_list("track_ids", true, MAX_ADD);
        let position = b.int("position", false, 0, i64::MAX);
        b.finish()?;
        let ids = ids.unwrap_or_default();
        write_then_show(&core, &cx, 200, move |c| {
            ops::add_tracks(c, id, &ids, position)?;
            Ok(id)
        })
        .await
    })
}

fn reorder(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let mut b = BodyFields::from_request(&req)?;
        let from = b.int("from", true, 0, i64::MAX);
        let to = b.int("to", true, 0, i64::MAX);
        b.finish()?;
        let (from, to) = (from.unwrap_or(0), to.unwrap_or(0));
        write_then_show(&core, &cx, 200, move |c| {
            ops::reorder(c, id, from, to)?;
            Ok(id)
        })
        .await
    })
}

fn remove(core: Rc<CoreState>, cx: Rc<RequestCtx>, _req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let position = cx
            .param("position")
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| {
                ApiError::field("position", "type_error", "must be a non-negative integer")
            })?;
        write_then_show(&core, &cx, 200, move |c| {
            ops::remove_at(c, id, position)?;
            Ok(id)
        })
        .await
    })
}
