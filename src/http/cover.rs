//! Serving cover art from the covers cache, making it on the decode pool on a miss.

use super::error::ApiError;
use super::request::Request;
use super::response::{FileBody, Response};
use crate::library::cover::{self, CoverError};
use crate::library::store::CoverFacts;
use crate::runtime::core_state::CoreState;
use std::path::PathBuf;
use std::rc::Rc;

/// Cover art as the response, `size` (0: as the file holds it, else a snapped
/// thumbnail size) made once on the decode pool into `<data dir>/covers/` and served
/// from there as a file. Shared by every adapter that serves art.
pub(crate) async fn serve(
    core: &Rc<CoreState>,
    req: &Request,
    facts: Option<CoverFacts>,
    size: u32,
) -> Result<Response, ApiError> {
    let facts = facts.ok_or_else(|| ApiError::NotFound("no cover art".into()))?;
    let etag = format!("\"cover-{}-{:x}-{size}\"", facts.track, facts.revision);
    if req.header("if-none-match") == Some(etag.as_str()) {
        return Ok(Response::new(304).header("ETag", etag));
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
    Ok(resp)
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
