//! Library endpoints: stats, scan, tracks, albums, artists, favorites.

use super::common::{path_id, reader};
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::pagination::page_request;
use crate::http::request::{Method, Request};
use crate::http::router::{
    Access, Handler, HandlerResult, LocalFuture, Param, QueryParam, Route, RouteClass,
};
use crate::http::validate::{BodyFields, QueryFields};
use crate::library::events::Owner;
use crate::library::ops;
use crate::library::page::{MAX_LIMIT, Page};
use crate::library::query::{AlbumQuery, ArtistQuery, Order, SortField, TrackQuery, TrackSort};
use crate::library::tokens::owner_of;
use crate::runtime::core_state::CoreState;
use serde::Serialize;
use std::rc::Rc;

const PAGE: [QueryParam; 3] = [
    (
        "limit",
        Param::Int(1, MAX_LIMIT),
        "page size, 1-500 (default 50)",
    ),
    (
        "offset",
        Param::Int(0, i64::MAX),
        "offset paging: rows to skip (not with cursor)",
    ),
    (
        "cursor",
        Param::Str(4096),
        "cursor paging: meta.next_cursor of the previous page (a token the server issued)",
    ),
];
const TRACK_SORT: &[&str] = &[
    "title",
    "artist",
    "album",
    "year",
    "added_at",
    "duration",
    "play_count",
    "last_played_at",
];
const TRACK_QUERY: &[QueryParam] = &[
    (
        "search",
        Param::Str(200),
        "words matched (as prefixes) in title, artist, album; case-insensitive",
    ),
    ("artist_id", Param::Int(1, i64::MAX), "only this artist"),
    ("album_id", Param::Int(1, i64::MAX), "only this album"),
    ("genre", Param::Str(100), "exact genre, case-insensitive"),
    ("year", Param::Int(0, 9999), "release year"),
    (
        "favorite",
        Param::Bool,
        "only favorites (true) or non-favorites (false)",
    ),
    (
        "order_by",
        Param::Order(TRACK_SORT),
        "sort field, '-' prefix for descending (not with sort)",
    ),
    (
        "sort",
        Param::OneOf(&["recent", "most_played"]),
        "recent (last played first, never-played tracks last) or most_played: shorthands \
         for order_by=-last_played_at and order_by=-play_count; not with order_by",
    ),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
const TRACK_SUB_QUERY: &[QueryParam] = &[
    ("order_by", Param::Order(TRACK_SORT), "as for /api/tracks"),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
const ALBUM_QUERY: &[QueryParam] = &[
    ("search", Param::Str(200), "substring of the album title"),
    (
        "artist_id",
        Param::Int(1, i64::MAX),
        "only this artist's albums",
    ),
    (
        "order_by",
        Param::Order(&["title", "year"]),
        "title|year, '-' prefix for descending",
    ),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
const NAME_QUERY: &[QueryParam] = &[
    ("search", Param::Str(200), "substring of the name"),
    (
        "order_by",
        Param::Order(&["name"]),
        "name, '-' prefix for descending",
    ),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
pub(crate) const PAGE_QUERY: &[QueryParam] = &PAGE;

// Long: the route table, one entry per route (the router and the OpenAPI document
// both read it); splitting it would scatter one list.
pub(crate) fn routes() -> Vec<Route> {
    use Handler::{Async, Sync};
    use Method::*;
    let api = RouteClass::Api;
    vec![
        Route::new(
            Get,
            "/api/library/stats",
            api,
            "Library totals",
            Sync(stats),
        )
        .data("LibraryStats"),
        Route::new(
            Get,
            "/api/library/scan",
            api,
            "Progress of the current or last scan",
            Sync(scan_status),
        )
        .data("ScanProgress"),
        Route::new(
            Post,
            "/api/library/scan",
            api,
            "Rescan the library folder (202; 409 while running)",
            Sync(scan_start),
        )
        .data("ScanProgress")
        .success(202)
        .also(&[409]),
        Route::new(
            Get,
            "/api/tracks",
            api,
            "List or search tracks",
            Sync(list_tracks),
        )
        .query(TRACK_QUERY)
        .page("Track"),
        Route::new(Get, "/api/tracks/{id}", api, "One track", Sync(get_track)).data("Track"),
        Route::new(
            Post,
            "/api/tracks/{id}/played",
            api,
            "Count a play (a chunk-0 request counts one too): play_count and last_played_at move",
            Async(played),
        )
        .access(Access::Listener)
        .data("Track"),
        Route::new(
            Post,
            "/api/library/missing/purge",
            api,
            "Delete missing tracks now (all, or those missing for older_than_days), not after the grace period",
            Async(purge_missing),
        )
        .body("Purge")
        .data("Purged"),
        Route::new(
            Post,
            "/api/tracks/{id}/favorite",
            api,
            "Mark a track favorite",
            Async(favorite_on),
        )
        .access(Access::Listener)
        .data("Track"),
        Route::new(
            Delete,
            "/api/tracks/{id}/favorite",
            api,
            "Unmark a favorite",
            Async(favorite_off),
        )
        .access(Access::Listener)
        .data("Track"),
        Route::new(Get, "/api/albums", api, "List albums", Sync(list_albums))
            .query(ALBUM_QUERY)
            .page("Album"),
        Route::new(Get, "/api/albums/{id}", api, "One album", Sync(get_album)).data("Album"),
        Route::new(
            Get,
            "/api/albums/{id}/tracks",
            api,
            "An album's tracks in disc and track order",
            Sync(album_tracks),
        )
        .query(PAGE_QUERY)
        .page("Track"),
        Route::new(Get, "/api/artists", api, "List artists", Sync(list_artists))
            .query(NAME_QUERY)
            .page("Artist"),
        Route::new(
            Get,
            "/api/artists/{id}",
            api,
            "One artist",
            Sync(get_artist),
        )
        .data("Artist"),
        Route::new(
            Get,
            "/api/artists/{id}/tracks",
            api,
            "An artist's tracks",
            Sync(artist_tracks),
        )
        .query(TRACK_SUB_QUERY)
        .page("Track"),
    ]
}

fn stats(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    Ok(Reply::ok(reader(core)?.stats()?)?.into())
}

fn scan_status(core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let lib = &reader(core)?.library;
    let progress = lib.scan.lock().map(|p| p.clone()).unwrap_or_default();
    Ok(Reply::ok(progress)?.into())
}

fn scan_start(core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    if !req.body.is_empty() {
        BodyFields::from_request(req)?.finish()?;
    }
    let lib = &reader(core)?.library;
    let Some(root) = lib.root.clone() else {
        return Err(ApiError::Unavailable(
            "no library folder is configured".into(),
        ));
    };
    if !lib.start_scan(root) {
        return Err(ApiError::Conflict("a scan is already running".into()));
    }
    let progress = lib.scan.lock().map(|p| p.clone()).unwrap_or_default();
    Ok(Reply::with_status(202, progress)?
        .message("scan started")
        .into())
}

/// `order_by`, or its shorthand `sort=recent|most_played` (one of the two).
fn track_order(q: &mut QueryFields) -> Order<TrackSort> {
    let explicit = q.has("order_by");
    let field = match q.choice("sort", &["recent", "most_played"]) {
        None => return order(q),
        Some("recent") => TrackSort::LastPlayed,
        Some(_) => TrackSort::PlayCount,
    };
    if explicit {
        q.string("order_by", 20); // read, so it is not also called unknown
        q.error("sort", "value_error", "give sort or order_by, not both");
    }
    Order { field, desc: true }
}

fn played(core: Rc<CoreState>, cx: Rc<RequestCtx>, _req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let lib = reader(&core)?;
        lib.library
            .transact_as(owner(&cx), move |c| ops::record_play(c, id))
            .await?;
        let mut track = [lib.track(id)?];
        lib.mark_favorites(&mut track, owner(&cx))?;
        let [track] = track;
        Ok(Reply::ok(track)?.into())
    })
}

#[derive(serde::Serialize)]
struct Purged {
    purged: u64,
}

fn purge_missing(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let mut days = 0;
        if !req.body.is_empty() {
            let mut b = BodyFields::from_request(&req)?;
            days = b.int("older_than_days", false, 0, 36_500).unwrap_or(0);
            b.finish()?;
        }
        let older_than_ms = days * 86_400_000;
        let lib = reader(&core)?;
        let purged = lib
            .library
            .transact_as(owner(&cx), move |c| ops::purge_missing(c, older_than_ms))
            .await?;
        Ok(Reply::ok(Purged { purged })?.into())
    })
}

/// Reads `order_by` (`name` or `-name`), reporting an unknown field in `q`.
fn order<F: SortField + PartialEq + Default>(q: &mut QueryFields) -> Order<F> {
    let Some(raw) = q.string("order_by", 20) else {
        return Order::default();
    };
    Order::parse(&raw).unwrap_or_else(|expected| {
        q.error("order_by", "value_error", expected);
        Order::default()
    })
}

/// A page as the envelope shows it: the items as data, paging in `meta`.
fn page_reply<T: Serialize>(page: Page<T>) -> HandlerResult {
    Ok(Reply::ok(page.items)?.meta(page.meta).into())
}

/// Whose favorites a request sees: a listener's own, else the shared flag.
fn owner(cx: &RequestCtx) -> Owner {
    owner_of(cx.principal.as_ref())
}

fn list_tracks(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let query = TrackQuery {
        search: q.string("search", 200),
        artist_id: q.int("artist_id", 1, i64::MAX),
        album_id: q.int("album_id", 1, i64::MAX),
        genre: q.string("genre", 100),
        year: q.int("year", 0, 9999),
        favorite: q.boolean("favorite"),
        favorites_of: owner(cx).id(),
        order: track_order(&mut q),
    };
    let page = page_request(&mut q);
    q.finish()?;
    page_reply(lib.tracks(&query, &page)?)
}

fn get_track(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let lib = reader(core)?;
    let mut track = [lib.track(id)?];
    lib.mark_favorites(&mut track, owner(cx))?;
    let [track] = track;
    Ok(Reply::ok(track)?.into())
}

async fn set_favorite(core: Rc<CoreState>, cx: Rc<RequestCtx>, favorite: bool) -> HandlerResult {
    let id = path_id(&cx, "id")?;
    let lib = reader(&core)?;
    let owner = owner(&cx);
    lib.library
        .transact_as(owner, move |c| ops::set_favorite(c, id, favorite))
        .await?;
    let mut track = [lib.track(id)?];
    lib.mark_favorites(&mut track, owner)?;
    let [track] = track;
    Ok(Reply::ok(track)?.into())
}

fn favorite_on(core: Rc<CoreState>, cx: Rc<RequestCtx>, _req: Request) -> LocalFuture {
    Box::pin(set_favorite(core, cx, true))
}

fn favorite_off(core: Rc<CoreState>, cx: Rc<RequestCtx>, _req: Request) -> LocalFuture {
    Box::pin(set_favorite(core, cx, false))
}

fn list_albums(core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let query = AlbumQuery {
        search: q.string("search", 200),
        artist_id: q.int("artist_id", 1, i64::MAX),
        order: order(&mut q),
    };
    let page = page_request(&mut q);
    q.finish()?;
    page_reply(lib.albums(&query, &page)?)
}

fn get_album(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    Ok(Reply::ok(reader(core)?.album(id)?)?.into())
}

fn album_tracks(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let page = page_request(&mut q);
    q.finish()?;
    let mut page = lib.album_tracks(id, &page)?;
    lib.mark_favorites(&mut page.items, owner(cx))?;
    page_reply(page)
}

fn list_artists(core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let query = ArtistQuery {
        search: q.string("search", 200),
        order: order(&mut q),
    };
    let page = page_request(&mut q);
    q.finish()?;
    page_reply(lib.artists(&query, &page)?)
}

fn get_artist(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    Ok(Reply::ok(reader(core)?.artist(id)?)?.into())
}

fn artist_tracks(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let order = order(&mut q);
    let page = page_request(&mut q);
    q.finish()?;
    let mut page = lib.artist_tracks(id, order, &page)?;
    lib.mark_favorites(&mut page.items, owner(cx))?;
    page_reply(page)
}
