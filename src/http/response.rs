//! A response before encoding, and its HTTP/1.1 wire encoding.
//! Bodies are `Bytes` when shared (a cached chunk is sent without copying audio) and a
//! plain buffer when the response built them (a JSON envelope).

use super::recycle::Recycled;
use bytes::Bytes;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// A header value: most are static or numbers, so avoid a `String` for those.
#[derive(Debug, Clone)]
pub enum HeaderValue {
    Static(&'static str),
    Int(u64),
    Owned(String),
}

impl HeaderValue {
    fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            HeaderValue::Static(s) => out.extend_from_slice(s.as_bytes()),
            HeaderValue::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            HeaderValue::Owned(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
}

impl From<&'static str> for HeaderValue {
    fn from(s: &'static str) -> Self {
        HeaderValue::Static(s)
    }
}
impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue::Owned(s)
    }
}
impl From<u64> for HeaderValue {
    fn from(n: u64) -> Self {
        HeaderValue::Int(n)
    }
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    /// Bytes shared with a cache or a static: sent without a copy.
    Shared(Bytes),
    /// A buffer this response built (a JSON envelope), recycled after the write. Not
    /// turned into `Bytes`, which for a `Vec` with spare capacity allocates a shared
    /// header: one allocation per JSON response.
    Owned(Recycled<Vec<u8>>),
}

impl Default for Body {
    fn default() -> Self {
        Body::Shared(Bytes::new())
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Body::Shared(b) => b,
            Body::Owned(v) => v,
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Shared(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Owned(v.into())
    }
}

impl From<Recycled<Vec<u8>>> for Body {
    fn from(v: Recycled<Vec<u8>>) -> Self {
        Body::Owned(v)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Shared(Bytes::from_static(s.as_bytes()))
    }
}

impl Body {
    /// The body as shared bytes, for a write that outlives the response.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Body::Shared(b) => b,
            Body::Owned(v) => Bytes::from(v.into_inner()),
        }
    }
}

/// A response: status, headers (not including Content-Length/Connection, which the
/// encoder owns) and a body. Headers are kept as their encoded `Name: value\r\n`
/// lines, written once when pushed into a recycled buffer: no per-header allocation,
/// no allocation at all once the core's free list is warm, and encoding the response
/// is one copy.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    head: Recycled<Vec<u8>>,
    pub body: Body,
    /// Set by the HEAD handling: encode headers (with the body's length) but no body.
    pub omit_body: bool,
    /// A file range sent after the headers instead of `body` (large files are streamed
    /// by the connection loop, never buffered whole).
    pub file: Option<FileBody>,
    /// A body made while it is sent, instead of `body` (see [`StreamBody`]).
    pub stream: Option<StreamBody>,
}

/// Where a streamed body's pieces come from: made while the response is sent (a whole
/// track transcoded chunk by chunk from the chunk cache), so it is never held whole.
pub trait BodySource {
    /// The next piece; `None` at the end. An error ends the response early (the
    /// connection closes: the client sees a short body, never a wrong one).
    fn next_piece(&mut self) -> Pin<Box<dyn Future<Output = Option<std::io::Result<Bytes>>> + '_>>;
}

/// A body made while it is sent. `len`: its exact length when known (sent as
/// `Content-Length`); without it the body goes out chunked (HTTP/1.1) or delimited by
/// closing the connection (HTTP/1.0).
#[derive(Clone)]
pub struct StreamBody {
    pub len: Option<u64>,
    /// Taken by the connection that sends it (a response is sent once).
    pub source: Rc<RefCell<Option<Box<dyn BodySource>>>>,
}

impl StreamBody {
    pub fn new(len: Option<u64>, source: Box<dyn BodySource>) -> Self {
        Self {
            len,
            source: Rc::new(RefCell::new(Some(source))),
        }
    }
}

impl std::fmt::Debug for StreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamBody")
            .field("len", &self.len)
            .finish()
    }
}

/// A byte range of a file to stream as the body.
#[derive(Debug, Clone)]
pub struct FileBody {
    pub path: std::path::PathBuf,
    pub offset: u64,
    pub len: u64,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            head: Recycled::take(),
            body: Body::default(),
            omit_body: false,
            file: None,
            stream: None,
        }
    }

    /// A JSON body with its content type.
    pub fn json(status: u16, body: impl Into<Body>) -> Self {
        let mut r = Self::new(status).header("Content-Type", "application/json");
        r.body = body.into();
        r
    }

    pub fn header(mut self, name: &'static str, value: impl Into<HeaderValue>) -> Self {
        self.push_header(name, value);
        self
    }

    pub fn push_header(&mut self, name: &'static str, value: impl Into<HeaderValue>) {
        self.head.extend_from_slice(name.as_bytes());
        self.head.extend_from_slice(b": ");
        value.into().write_to(&mut self.head);
        self.head.extend_from_slice(b"\r\n");
    }

    /// Adds a header whose value is borrowed (a request id): copied into the head.
    pub fn push_header_str(&mut self, name: &'static str, value: &str) {
        self.head.extend_from_slice(name.as_bytes());
        self.head.extend_from_slice(b": ");
        self.head.extend_from_slice(value.as_bytes());
        self.head.extend_from_slice(b"\r\n");
    }

    /// Every header as `(name, value)`, in the order pushed.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        // Only `&str` names and values are ever pushed, so the lines are UTF-8.
        std::str::from_utf8(&self.head)
            .unwrap_or("")
            .split_terminator("\r\n")
            .filter_map(|line| line.split_once(": "))
    }

    /// The first value of a header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header_value(name).is_some()
    }

    /// Bodies at least this large are written from their shared buffer after the head
    /// instead of being copied behind it (a cached audio chunk is sent without a copy).
    pub const ZERO_COPY_MIN: usize = 16 * 1024;

    /// Whether the body goes out as its own write (see [`Self::ZERO_COPY_MIN`]).
    pub fn body_separate(&self) -> bool {
        !self.omit_body
            && self.file.is_none()
            && self.stream.is_none()
            && self.body.len() >= Self::ZERO_COPY_MIN
    }

    /// Appends the status line, headers and (unless omitted) body to `out`.
    /// `keep_alive` decides the `Connection` header.
    pub fn encode(&self, keep_alive: bool, version: u8, out: &mut Vec<u8>) {
        self.encode_head(keep_alive, version, out);
        if !self.omit_body {
            out.extend_from_slice(&self.body);
        }
    }

    /// Whether the connection may stay open after this response: not when its body's
    /// end can only be told by closing (a stream of unknown length to HTTP/1.0).
    pub fn keeps_alive(&self, asked: bool, version: u8) -> bool {
        let unframed = version == 0 && self.stream.as_ref().is_some_and(|s| s.len.is_none());
        asked && !unframed
    }

    /// Whether a streamed body goes out in chunked framing.
    pub fn chunked(&self, version: u8) -> bool {
        version == 1 && self.stream.as_ref().is_some_and(|s| s.len.is_none())
    }

    /// Appends the status line and headers (with the body's length) only.
    pub fn encode_head(&self, keep_alive: bool, version: u8, out: &mut Vec<u8>) {
        out.extend_from_slice(if version == 0 {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        out.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        super::date::append_now(out);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.head);
        let bodiless =
            self.status == 204 || self.status == 304 || (100..200).contains(&self.status);
        let len = match (&self.file, &self.stream) {
            (Some(f), _) => Some(f.len),
            (None, Some(s)) => s.len,
            (None, None) => Some(self.body.len() as u64),
        };
        match (bodiless, len, version) {
            (true, _, _) => {}
            (false, Some(len), _) => {
                out.extend_from_slice(b"Content-Length: ");
                out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            (false, None, 1) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            // HTTP/1.0: the end of the connection ends the body (see `keeps_alive`).
            (false, None, _) => {}
        }
        match (keep_alive, version) {
            (false, 1) => out.extend_from_slice(b"Connection: close\r\n"),
            (true, 0) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Reason phrases for the statuses this server sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod reason_tests {
    use super::reason;

    #[test]
    fn every_status_this_server_sends_has_its_reason_phrase() {
        for (status, phrase) in [
            (406, "Not Acceptable"),
            (415, "Unsupported Media Type"),
            (421, "Misdirected Request"),
            (504, "Gateway Timeout"),
        ] {
            assert_eq!(reason(status), phrase);
        }
    }
}
