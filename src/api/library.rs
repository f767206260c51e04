//! Library endpoints: stats, scan, tracks, albums, artists, favorites.

use super::common::{like_pattern, path_id, reader, scope, write_error};
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::ApiError;
use crate::http::pagination::page_request;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, HandlerResult, LocalFuture, QueryParam, Route, RouteClass};
use crate::http::validate::{BodyFields, QueryFields};
use crate::library::model::*;
use crate::library::ops;
use crate::library::store::{ListSql, fts_query};
use crate::runtime::core_state::CoreState;
use rusqlite::types::Value;
use std::rc::Rc;

const PAGE: [QueryParam; 3] = [
    ("limit", "integer", "page size, 1-500 (default 50)"),
    ("offset", "integer", "offset paging: rows to skip"),
    (
        "cursor",
        "string",
        "cursor paging: meta.next_cursor of the previous page",
    ),
];
const TRACK_QUERY: &[QueryParam] = &[
    (
        "search",
        "string",
        "words matched (as prefixes) in title, artist, album; case-insensitive",
    ),
    ("artist_id", "integer", "only this artist"),
    ("album_id", "integer", "only this album"),
    ("genre", "string", "exact genre, case-insensitive"),
    ("year", "integer", "release year"),
    (
        "favorite",
        "boolean",
        "only favorites (true) or non-favorites (false)",
    ),
    (
        "order_by",
        "string",
        "title|artist|album|year|added_at|duration, '-' prefix for descending",
    ),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
const TRACK_SUB_QUERY: &[QueryParam] = &[
    ("order_by", "string", "as for /api/tracks"),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
const ALBUM_QUERY: &[QueryParam] = &[
    ("search", "string", "substring of the album title"),
    ("artist_id", "integer", "only this artist's albums"),
    (
        "order_by",
        "string",
        "title|year, '-' prefix for descending",
    ),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
const NAME_QUERY: &[QueryParam] = &[
    ("search", "string", "substring of the name"),
    ("order_by", "string", "name, '-' prefix for descending"),
    PAGE[0],
    PAGE[1],
    PAGE[2],
];
pub const PAGE_QUERY: &[QueryParam] = &PAGE;

pub fn routes() -> Vec<Route> {
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
        ),
        Route::new(
            Get,
            "/api/library/scan",
            api,
            "Progress of the current or last scan",
            Sync(scan_status),
        ),
        Route::new(
            Post,
            "/api/library/scan",
            api,
            "Rescan the library folder (202; 409 while running)",
            Sync(scan_start),
        ),
        Route::new(
            Get,
            "/api/tracks",
            api,
            "List or search tracks",
            Sync(list_tracks),
        )
        .query(TRACK_QUERY),
        Route::new(Get, "/api/tracks/{id}", api, "One track", Sync(get_track)),
        Route::new(
            Post,
            "/api/tracks/{id}/favorite",
            api,
            "Mark a track favorite",
            Async(favorite_on),
        ),
        Route::new(
            Delete,
            "/api/tracks/{id}/favorite",
            api,
            "Unmark a favorite",
            Async(favorite_off),
        ),
        Route::new(Get, "/api/albums", api, "List albums", Sync(list_albums)).query(ALBUM_QUERY),
        Route::new(Get, "/api/albums/{id}", api, "One album", Sync(get_album)),
        Route::new(
            Get,
            "/api/albums/{id}/tracks",
            api,
            "An album's tracks in disc and track order",
            Sync(album_tracks),
        )
        .query(PAGE_QUERY),
        Route::new(Get, "/api/artists", api, "List artists", Sync(list_artists)).query(NAME_QUERY),
        Route::new(
            Get,
            "/api/artists/{id}",
            api,
            "One artist",
            Sync(get_artist),
        ),
        Route::new(
            Get,
            "/api/artists/{id}/tracks",
            api,
            "An artist's tracks",
            Sync(artist_tracks),
        )
        .query(TRACK_SUB_QUERY),
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

/// Parses `order_by` for tracks into (name, key expression, is_text, descending).
fn track_order(q: &mut QueryFields) -> (String, &'static str, bool, bool) {
    let raw = q.string("order_by", 20).unwrap_or_else(|| "title".into());
    let (desc, name) = match raw.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, raw.as_str()),
    };
    let (key, text) = match name {
        "title" => ("title_key", true),
        "artist" => ("artist_key", true),
        "album" => ("album_key", true),
        "year" => ("year_key", false),
        "added_at" => ("added_at", false),
        "duration" => ("duration_ms", false),
        _ => {
            q.error("order_by", "value_error", "must be one of title, artist, album, year, added_at, duration (optionally prefixed by -)");
            ("title_key", true)
        }
    };
    (raw.clone(), key, text, desc)
}

/// Shared by `/api/tracks`, `/api/artists/{id}/tracks`: list tracks with filters.
fn tracks_page(
    core: &CoreState,
    req: &Request,
    fixed: Option<(&str, i64)>,
    full_filters: bool,
) -> HandlerResult {
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let mut filters = Vec::new();
    let mut params = Vec::new();
    let mut fp = String::new();
    if let Some((col, v)) = fixed {
        filters.push(format!("{col} = ?"));
        params.push(Value::Integer(v));
        fp.push_str(&format!("{col}={v};"));
    }
    if full_filters {
        if let Some(s) = q.string("search", 200) {
            fp.push_str(&format!("search={s};"));
            match fts_query(&s) {
                Some(m) => {
                    filters.push(
                        "id IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ?)".into(),
                    );
                    params.push(Value::Text(m));
                }
                None => filters.push("0".into()),
            }
        }
        for (name, col) in [("artist_id", "artist_id"), ("album_id", "album_id")] {
            if let Some(v) = q.int(name, 1, i64::MAX) {
                filters.push(format!("{col} = ?"));
                params.push(Value::Integer(v));
                fp.push_str(&format!("{name}={v};"));
            }
        }
        if let Some(g) = q.string("genre", 100) {
            filters.push("genre = ? COLLATE NOCASE".into());
            fp.push_str(&format!("genre={g};"));
            params.push(Value::Text(g));
        }
        if let Some(y) = q.int("year", 0, 9999) {
            filters.push("year = ?".into());
            params.push(Value::Integer(y));
            fp.push_str(&format!("year={y};"));
        }
        if let Some(f) = q.boolean("favorite") {
            filters.push("favorite = ?".into());
            params.push(Value::Integer(f as i64));
            fp.push_str(&format!("favorite={f};"));
        }
    }
    let (order, key, text, desc) = track_order(&mut q);
    let scope = scope("tracks", &order, &fp);
    let page = page_request(&mut q, &lib.library.cursors, &scope);
    q.finish()?;
    let sql = ListSql {
        from: "tracks",
        columns: TRACK_COLUMNS,
        filters,
        params,
        key: key.to_string(),
        key_is_text: text,
        id: "id",
        desc,
    };
    let (items, meta) = lib.page(sql, &page, &scope, track_from_row)?;
    Ok(Reply::ok(items)?.meta(meta).into())
}

fn list_tracks(core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    tracks_page(core, req, None, true)
}

/// `library_search` over the WebSocket: exactly `GET /api/tracks?search=` (same results,
/// same paging and cursors), returned as `{tracks, meta}`.
pub fn search(
    core: &CoreState,
    query: &str,
    limit: Option<u64>,
    cursor: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut qs = format!("search={}", enc(query));
    if let Some(l) = limit {
        qs.push_str(&format!("&limit={l}"));
    }
    if let Some(c) = cursor {
        qs.push_str(&format!("&cursor={}", enc(c)));
    }
    let req = Request {
        method: Method::Get,
        path: "/api/tracks".into(),
        query: Some(qs),
        version: 1,
        headers: Vec::new(),
        body: bytes::Bytes::new(),
    };
    match tracks_page(core, &req, None, true)? {
        crate::http::router::Outcome::Json(reply) => {
            let tracks: serde_json::Value =
                serde_json::from_str(reply.data.get()).unwrap_or_default();
            let meta: serde_json::Value = reply
                .meta
                .map(|m| serde_json::from_str(m.get()).unwrap_or_default())
                .unwrap_or_default();
            Ok(serde_json::json!({"tracks": tracks, "meta": meta}))
        }
        crate::http::router::Outcome::Raw(_) => {
            Err(ApiError::Internal("unexpected raw search result".into()))
        }
    }
}

fn get_track(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    Ok(Reply::ok(reader(core)?.track(id)?)?.into())
}

async fn set_favorite(core: Rc<CoreState>, cx: Rc<RequestCtx>, favorite: bool) -> HandlerResult {
    let id = path_id(&cx, "id")?;
    let lib = reader(&core)?;
    lib.library
        .writer
        .run(move |c| ops::set_favorite(c, id, favorite))
        .await
        .map_err(write_error)??;
    Ok(Reply::ok(lib.track(id)?)?.into())
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
    let (mut filters, mut params, mut fp) = (Vec::new(), Vec::new(), String::new());
    if let Some(s) = q.string("search", 200) {
        filters.push("a.title LIKE ? ESCAPE '\\'".to_string());
        fp.push_str(&format!("search={s};"));
        params.push(Value::Text(like_pattern(&s)));
    }
    if let Some(a) = q.int("artist_id", 1, i64::MAX) {
        filters.push("a.artist_id = ?".into());
        params.push(Value::Integer(a));
        fp.push_str(&format!("artist_id={a};"));
    }
    let raw = q.string("order_by", 20).unwrap_or_else(|| "title".into());
    let (key, text) = match raw.trim_start_matches('-') {
        "title" => ("a.title_key", true),
        "year" => ("COALESCE(a.year, 0)", false),
        _ => {
            q.error(
                "order_by",
                "value_error",
                "must be title or year (optionally prefixed by -)",
            );
            ("a.title_key", true)
        }
    };
    let scope = scope("albums", &raw, &fp);
    let page = page_request(&mut q, &lib.library.cursors, &scope);
    q.finish()?;
    let sql = ListSql {
        from: "albums a LEFT JOIN artists ar ON ar.id = a.artist_id",
        columns: ALBUM_COLUMNS,
        filters,
        params,
        key: key.into(),
        key_is_text: text,
        id: "a.id",
        desc: raw.starts_with('-'),
    };
    let (items, meta) = lib.page(sql, &page, &scope, album_from_row)?;
    Ok(Reply::ok(items)?.meta(meta).into())
}

fn get_album(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    Ok(Reply::ok(reader(core)?.album(id)?)?.into())
}

fn album_tracks(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    let lib = reader(core)?;
    lib.album(id)?;
    let mut q = QueryFields::from_request(req);
    let scope = scope("album_tracks", "disc_track", &id.to_string());
    let page = page_request(&mut q, &lib.library.cursors, &scope);
    q.finish()?;
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
    let (items, meta) = lib.page(sql, &page, &scope, track_from_row)?;
    Ok(Reply::ok(items)?.meta(meta).into())
}

fn list_artists(core: &Rc<CoreState>, _cx: &RequestCtx, req: &Request) -> HandlerResult {
    let lib = reader(core)?;
    let mut q = QueryFields::from_request(req);
    let (mut filters, mut params, mut fp) = (Vec::new(), Vec::new(), String::new());
    if let Some(s) = q.string("search", 200) {
        filters.push("ar.name LIKE ? ESCAPE '\\'".to_string());
        fp.push_str(&format!("search={s};"));
        params.push(Value::Text(like_pattern(&s)));
    }
    let raw = q.string("order_by", 20).unwrap_or_else(|| "name".into());
    if raw.trim_start_matches('-') != "name" {
        q.error(
            "order_by",
            "value_error",
            "must be name (optionally prefixed by -)",
        );
    }
    let scope = scope("artists", &raw, &fp);
    let page = page_request(&mut q, &lib.library.cursors, &scope);
    q.finish()?;
    let sql = ListSql {
        from: "artists ar",
        columns: ARTIST_COLUMNS,
        filters,
        params,
        key: "ar.name_key".into(),
        key_is_text: true,
        id: "ar.id",
        desc: raw.starts_with('-'),
    };
    let (items, meta) = lib.page(sql, &page, &scope, artist_from_row)?;
    Ok(Reply::ok(items)?.meta(meta).into())
}

fn get_artist(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    Ok(Reply::ok(reader(core)?.artist(id)?)?.into())
}

fn artist_tracks(core: &Rc<CoreState>, cx: &RequestCtx, req: &Request) -> HandlerResult {
    let id = path_id(cx, "id")?;
    reader(core)?.artist(id)?;
    tracks_page(core, req, Some(("artist_id", id)), false)
}
