//! `GET /api/tracks/{id}/cover` and `/api/albums/{id}/cover`: a track's (or an album's
//! first covered track's) art, whole or as a `?size=` thumbnail. Made once on the
//! decode pool into `<data dir>/covers/` and served from there as a file.

use super::common::{path_id, reader};
use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::response::{FileBody, Response};
use crate::http::router::{Handler, LocalFuture, Param, QueryParam, Route, RouteClass};
use crate::http::validate::QueryFields;
use crate::library::cover::{self, CoverError};
use crate::library::store::CoverFacts;
use crate::runtime::core_state::CoreState;
use std::path::PathBuf;
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
    let facts = facts.ok_or_else(|| ApiError::NotFound("no cover art".into()))?;
    let etag = format!("\"cover-{}-{:x}-{size}\"", facts.track, facts.revision);
    if req.header("if-none-match") == Some(etag.as_str()) {
        return Ok(Response::new(304).header("ETag", etag).into());
    }
    let dir = core.shared.config.server.data_dir.join("covers");
    let file = cover::cache_path(&dir, facts.track, facts.revision, size);
    let media_type = match cached_type(&file) {
        Some(t) => t,
        None => make(core, facts, size, file.clone()).await?,
    };
    let len = std::fs::metadata(&file)
        .map_err(|e| ApiError::Internal(format!("cover cache: {e}")))?
        .len();
    let mut resp = Response::new(200)
        .header("Content-Type", media_type)
        .header("ETag", etag)
        .header("Cache-Control", "public, max-age=86400");
    resp.file = Some(FileBody {
        path: file,
        offset: 0,
        len,
    });
    Ok(resp.into())
}

/// The media type of an already made cover file (by its first bytes), if it exists.
fn cached_type(file: &std::path::Path) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(file).ok()?.read_exact(&mut head).ok()?;
    Some(match head {
        [0x89, b'P', b'N', b'G'] => "image/png",
        [0xFF, 0xD8, 0xFF, _] => "image/jpeg",
        _ => "application/octet-stream",
    })
}

/// Reads (and for a `size`, scales) the cover on the decode pool and stores it.
async fn make(
    core: &Rc<CoreState>,
    facts: CoverFacts,
    size: u32,
    file: PathBuf,
) -> Result<&'static str, ApiError> {
    let chunks = &core.shared.chunks;
    let (tx, rx) = async_channel::bounded(1);
    let track = facts.track;
    chunks
        .pool
        .submit(track, crate::audio::pool::Priority::High, move |_| {
            let made = (|| -> Result<&'static str, CoverError> {
                let picture = cover::picture(std::path::Path::new(&facts.path), &facts.cover)?;
                let out = match size {
                    0 => picture,
                    s => cover::thumbnail(&picture, s)?,
                };
                cover::store(&file, &out.bytes)?;
                Ok(out.media_type)
            })();
            let _ = tx.try_send(made);
        })
        .map_err(|_| ApiError::Unavailable("the decoders are busy: retry".into()))?;
    let answer = monoio::time::timeout(chunks.decode_timeout, rx.recv())
        .await
        .map_err(|_| ApiError::Timeout("the cover took too long".into()))?;
    match answer {
        Ok(Ok(media_type)) => Ok(media_type),
        Ok(Err(CoverError::None)) => Err(ApiError::NotFound("no cover art".into())),
        Ok(Err(e @ CoverError::Io(_))) => Err(ApiError::NotFound(e.to_string())),
        Ok(Err(e)) => {
            tracing::warn!(track, error = %e, "cover art could not be made");
            Err(ApiError::Validation(vec![
                crate::validation::FieldError::new("cover", "value_error", e.to_string()),
            ]))
        }
        Err(_) => Err(ApiError::Internal("the cover job was lost".into())),
    }
}
