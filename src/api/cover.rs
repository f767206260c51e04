//! `GET /api/tracks/{id}/cover` and `/api/albums/{id}/cover`: a track's (or an album's
//! first covered track's) art, whole or as a `?size=` thumbnail. Made once on the
//! decode pool into `<data dir>/covers/` and served from there as a file.

use super::common::{path_id, reader};
use crate::http::context::RequestCtx;
use crate::http::request::{Method, Request};
use crate::http::router::{Handler, LocalFuture, Param, QueryParam, Route, RouteClass};
use crate::http::validate::QueryFields;
use crate::library::cover;
use crate::library::store::CoverFacts;
use crate::runtime::core_state::CoreState;
use std::rc::Rc;

const COVER_QUERY: &[QueryParam] = &[(
    "size",
    Param::Int(1, 100_000),
    "fit within size × size pixels, as JPEG (rounded up to 64, 128, 256, 512 or 1024); \
     without it, the picture as the file holds it",
)];

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::Get,
            "/api/tracks/{id}/cover",
            RouteClass::Api,
            "The track's cover art (embedded, or cover/folder/front.jpg|png beside it); 404 if none",
            Handler::Async(track_cover),
        )
        .query(COVER_QUERY)
        .raw(&["image/jpeg", "image/png"])
        .also(&[304]),
        Route::new(
            Method::Get,
            "/api/albums/{id}/cover",
            RouteClass::Api,
            "The album's cover art (its first track that has one); 404 if none",
            Handler::Async(album_cover),
        )
        .query(COVER_QUERY)
        .raw(&["image/jpeg", "image/png"])
        .also(&[304]),
    ]
}

fn track_cover(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let facts = reader(&core)?.cover_of(id)?;
        serve(&core, &req, facts).await
    })
}

fn album_cover(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let id = path_id(&cx, "id")?;
        let lib = reader(&core)?;
        let facts = match lib.album_cover_track(id)? {
            Some(track) => lib.cover_of(track)?,
            None => None,
        };
        serve(&core, &req, facts).await
    })
}

async fn serve(
    core: &Rc<CoreState>,
    req: &Request,
    facts: Option<CoverFacts>,
) -> crate::http::router::HandlerResult {
    let mut q = QueryFields::from_request(req);
    let size = q
        .int("size", 1, 100_000)
        .map_or(0, |s| cover::snap(s as u32));
    q.finish()?;
    Ok(crate::http::cover::serve(core, req, facts, size)
        .await?
        .into())
}
