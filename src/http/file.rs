//! Serving a file from disk as a response: `Range` (one range; RFC 9110 §14), the
//! validators, and `Content-Disposition`.

use super::context::RequestCtx;
use super::error::ApiError;
use super::request::Request;
use super::response::{FileBody, Response};

/// Parses a single `Range: bytes=` spec against a file size. `Ok(None)`: serve whole
/// (no header, several ranges, or syntax we ignore per RFC 9110 §14.2); `Err`: 416.
/// A range bound: digits only; a number past `u64` saturates, so an overlong end or
/// suffix is clamped to the file like any other overshoot (RFC 9110 §14.1.2).
fn range_number(s: &str) -> Result<u64, ()> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(s.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

pub(crate) fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n = range_number(b)?;
            if n == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, _) => {
            let start = range_number(a)?;
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                range_number(b)?
            };
            if start >= size || end < start {
                return Err(());
            }
            (start, end.min(size - 1))
        }
        (true, true) => return Err(()),
    };
    Ok(Some(range))
}

/// `attachment` with the file's name: a plain ASCII `filename` (other bytes replaced)
/// and the exact name as RFC 8187 `filename*`.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The `Range` to honour: none when `If-Range` names another version of the file (its
/// ETag or date no longer match), so a resumed download of a changed file gets the
/// whole new file instead of a piece spliced onto the old one (RFC 9110 §13.1.5).
fn honoured_range<'r>(req: &'r Request, etag: &str, last_modified: &str) -> Option<&'r str> {
    let range = req.header("range")?;
    match req.header("if-range").map(str::trim) {
        None => Some(range),
        Some(v) if v == etag || v == last_modified => Some(range),
        Some(_) => None,
    }
}

/// A track's file as the response (`id` names it in validators and messages): the
/// whole file or one `Range`, validated by `ETag` and `Last-Modified`, streamed by the
/// connection piece by piece, never read whole. Shared by every adapter that serves
/// original files.
pub(crate) fn serve(
    cx: &RequestCtx,
    req: &Request,
    id: i64,
    path: &str,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ApiError::NotFound(format!("the file of track {id} is gone: {e}")))?;
    if !meta.is_file() {
        // A FIFO here would hold this connection's read forever.
        return Err(ApiError::NotFound(format!(
            "the file of track {id} is not a regular file"
        )));
    }
    let size = meta.len();
    // The file's own validator: it changes whenever the file does.
    let mtime = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let etag = format!("\"f{id}-{size:x}-{:x}\"", mtime.as_nanos());
    let last_modified =
        String::from_utf8_lossy(&crate::http::date::imf_fixdate(mtime.as_secs())).to_string();
    let not_modified = match req.header("if-none-match") {
        Some(tags) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        None => req
            .header("if-modified-since")
            .is_some_and(|since| since.trim() == last_modified),
    };
    if not_modified {
        return Ok(Response::new(304)
            .header("ETag", etag)
            .header("Last-Modified", last_modified));
    }
    let file_name = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (status, offset, len, range_header) =
        match parse_range(honoured_range(req, &etag, &last_modified), size) {
            Ok(None) => (200, 0, size, None),
            Ok(Some((a, b))) => (206, a, b - a + 1, Some(format!("bytes {a}-{b}/{size}"))),
            Err(()) => {
                let mut resp = crate::http::envelope::error(
                    &ApiError::RangeNotSatisfiable(format!("the file has {size} bytes")),
                    &cx.request_id,
                    cx.started,
                );
                resp.push_header("Content-Range", format!("bytes */{size}"));
                return Ok(resp);
            }
        };
    let mut resp = Response::new(status)
        .header("Content-Type", content_type)
        .header("Accept-Ranges", "bytes")
        // The same URL serves the file as rewritten: revalidate (a 304 by ETag).
        .header("Cache-Control", "public, no-cache")
        .header("ETag", etag)
        .header("Last-Modified", last_modified)
        .header("Content-Disposition", content_disposition(&file_name));
    if let Some(cr) = range_header {
        resp.push_header("Content-Range", cr);
    }
    resp.file = Some(FileBody {
        path: path.into(),
        offset,
        len,
    });
    Ok(resp)
}
