//! A parsed HTTP/1.x request as handlers see it: owned, small, decoded from the wire
//! by `http::parse` with every limit already enforced.

use super::recycle::Recycled;
use bytes::Bytes;

/// Request methods the router knows; anything else is `Other` and gets a 405/501.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

/// A byte range of the request's head.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    fn of<'h>(&self, head: &'h [u8]) -> &'h [u8] {
        &head[self.start as usize..self.end as usize]
    }
}

/// One header field: spans of its name and its (trimmed) value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

/// Header fields, in a buffer recycled per core (see `http::recycle`).
pub(crate) type Fields = Recycled<Vec<Field>>;

/// One request. Its head is kept as received, in one buffer, and the path, query and
/// header fields are spans of it: where a `String` per path, query, header name and
/// value cost eight allocations for a three-header GET, the head's copy and the span
/// list are two buffers, both recycled per core (no allocation once warm). Header
/// names are kept as sent; lookups are case-insensitive.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    head: Recycled<Vec<u8>>,
    /// An empty path span stands for `/` (an absolute-form target without a path).
    path: Span,
    query: Option<Span>,
    fields: Fields,
    pub body: Bytes,
}

impl Request {
    /// A request over `head` (the bytes the spans index), as the parser builds it.
    pub(crate) fn from_head(
        method: Method,
        version: u8,
        head: Recycled<Vec<u8>>,
        (path, query): (Span, Option<Span>),
        fields: Fields,
    ) -> Self {
        Self {
            method,
            version,
            head,
            path,
            query,
            fields,
            body: Bytes::new(),
        }
    }

    /// A request built from parts (tests, benches, fuzzing): the same representation
    /// the parser builds, over a synthesized head.
    pub fn build(method: Method, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut head = Vec::with_capacity(target.len() + 32);
        let span = |head: &Vec<u8>, s: &str| Span {
            start: (head.len() - s.len()) as u32,
            end: head.len() as u32,
        };
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        let (p, q) = target
            .split_once('?')
            .map_or((target, None), |(p, q)| (p, Some(q)));
        head.extend_from_slice(p.as_bytes());
        let path = span(&head, p);
        let query = q.map(|q| {
            head.push(b'?');
            head.extend_from_slice(q.as_bytes());
            span(&head, q)
        });
        head.extend_from_slice(b" HTTP/1.1\r\n");
        let mut fields = Fields::take();
        for (n, v) in headers {
            head.extend_from_slice(n.as_bytes());
            let name = span(&head, n);
            head.extend_from_slice(b": ");
            head.extend_from_slice(v.as_bytes());
            fields.push(Field {
                name,
                value: span(&head, v),
            });
            head.extend_from_slice(b"\r\n");
        }
        let mut req = Self::from_head(method, 1, head.into(), (path, query), fields);
        req.body = Bytes::copy_from_slice(body);
        req
    }

    /// The path, undecoded, without the query.
    pub fn path(&self) -> &str {
        match self.path.of(&self.head) {
            [] => "/",
            // The parser took the target from a `&str`, and spans end on char boundaries.
            p => std::str::from_utf8(p).unwrap_or(""),
        }
    }

    /// The query string after `?`, undecoded.
    pub fn query(&self) -> Option<&str> {
        self.query
            .map(|q| std::str::from_utf8(q.of(&self.head)).unwrap_or(""))
    }

    /// Every header field in order, names as sent, values as bytes.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|f| (f.name.of(&self.head), f.value.of(&self.head)))
    }

    /// First value of a header, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether the connection should stay open after this request (RFC 9112 §9.3).
    pub fn wants_keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("");
        let has = |tok: &str| conn.split(',').any(|t| t.trim().eq_ignore_ascii_case(tok));
        if self.version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// Query parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let Some(q) = self.query() else {
            return Vec::new();
        };
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }
}

/// Decodes `%XX` escapes and `+` (as space) in a query component; invalid escapes are
/// kept literally rather than rejected, as browsers do.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
