//! Incremental HTTP/1.x request parsing over a connection's read buffer, with every
//! client-controlled size limited before it is buffered.
//!
//! Built on `httparse` rather than monoio-http's codec: the codec caps headers at 96 with
//! no way to answer 431 for an oversized header section, owns the socket (so a
//! socketless benchmark of the exact request path is impossible), and leaves timeouts and
//! pipelining policy to the caller anyway. Parsing our own buffer gives all of that.

use super::chunked::{ChunkedBody, Progress};
use super::recycle::Recycled;
use super::request::{Field, Fields, Method, Request, Span};
use bytes::Bytes;

/// Limits taken from `[http]` config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
}

/// Most headers httparse is given room for; `http.max_headers` is capped at this.
pub const HEADER_SLOTS: usize = 128;

/// Outcome of one parse attempt on the unconsumed part of the buffer.
#[derive(Debug)]
pub enum Parsed {
    /// A whole request and the number of buffer bytes it used.
    Complete { request: Request, consumed: usize },
    /// More bytes needed. `head_done` tells whether the header section is complete
    /// (so the wait is for the body); `expect_continue` asks for an interim 100.
    Partial {
        head_done: bool,
        expect_continue: bool,
    },
}

/// Why a request cannot be served; each maps to a status and closes the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// 431: header section over `max_header_bytes`.
    HeadersTooLarge,
    /// 431: more header fields than `max_headers`.
    TooManyHeaders,
    /// 413: declared or decoded body over the limit.
    BodyTooLarge,
    /// 400: not valid HTTP/1.x.
    Malformed(String),
}

/// Parses one request from a buffer that grows between calls, looking at each byte
/// once: the head's end is searched only in bytes not searched before, and a body
/// (chunked or not) resumes where it stopped. A parse that re-read the whole buffer on
/// every read made a slow client's request cost time quadratic in its size.
///
/// Each call gets the buffer from the request's first byte; after `Complete` or an
/// error the parser starts afresh for the next request.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Bytes already searched for the end of the head.
    scanned: usize,
    /// A request whose head is parsed and whose body is still arriving.
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    head: Request,
    head_len: usize,
    expect_continue: bool,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Length(usize),
    Chunked(ChunkedBody),
}

/// One-shot parse of the front of `buf` (benches, fuzzing, tests): the same as a fresh
/// [`RequestParser`].
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    RequestParser::default().parse(buf, limits)
}

impl RequestParser {
    /// Tries to complete the request at the front of `buf`.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
        let result = self.step(buf, limits);
        if !matches!(result, Ok(Parsed::Partial { .. })) {
            *self = Self::default();
        }
        result
    }

    fn step(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
        if self.pending.is_none() {
            let Some(head_len) = self.head_end(buf, limits)? else {
                return Ok(Parsed::Partial {
                    head_done: false,
                    expect_continue: false,
                });
            };
            self.pending = Some(parse_head(&buf[..head_len], limits)?);
        }
        let Some(p) = self.pending.as_mut() else {
            unreachable!("set above")
        };
        let rest = &buf[p.head_len..];
        let (body, used) = match &mut p.body {
            Body::Length(len) if rest.len() < *len => None,
            Body::Length(len) => Some((Bytes::copy_from_slice(&rest[..*len]), *len)),
            Body::Chunked(dec) => {
                match dec.advance(rest, limits.max_body_bytes, limits.max_header_bytes)? {
                    Progress::Done { body, used } => Some((Bytes::from(body), used)),
                    Progress::NeedMore => None,
                }
            }
        }
        .map_or((None, 0), |(b, u)| (Some(b), u));
        let Some(body) = body else {
            return Ok(Parsed::Partial {
                head_done: true,
                expect_continue: p.expect_continue,
            });
        };
        let Some(p) = self.pending.take() else {
            unreachable!("matched above")
        };
        let mut request = p.head;
        request.body = body;
        Ok(Parsed::Complete {
            request,
            consumed: p.head_len + used,
        })
    }

    /// The head's length once its empty line has arrived, searching only new bytes;
    /// refuses bare LF line endings (RFC 9112 §2.2: a proxy in front may split the
    /// request elsewhere) and heads over the limit (431).
    fn head_end(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ParseError> {
        // A few empty lines before the request line are skipped (RFC 9112 §2.2).
        let lead = buf.chunks(2).take(4).take_while(|c| *c == b"\r\n").count() * 2;
        let from = self.scanned.max(lead);
        for i in from..buf.len() {
            if buf[i] != b'\n' {
                continue;
            }
            if i == 0 || buf[i - 1] != b'\r' {
                return Err(ParseError::Malformed("bare LF line ending".into()));
            }
            if i >= lead + 3 && &buf[i - 3..i - 1] == b"\r\n" {
                if i + 1 > limits.max_header_bytes {
                    return Err(ParseError::HeadersTooLarge);
                }
                return Ok(Some(i + 1));
            }
        }
        self.scanned = buf.len();
        if buf.len() > limits.max_header_bytes {
            return Err(ParseError::HeadersTooLarge);
        }
        Ok(None)
    }
}

// Long: one pass over the head in RFC 9112 order (start line, every limit, framing
// headers); split up, each limit check would hide behind a call.
/// Parses a complete head (through its empty line) and decides how its body is framed.
fn parse_head(buf: &[u8], limits: &Limits) -> Result<Pending, ParseError> {
    let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
    let n_slots = limits.max_headers.clamp(1, HEADER_SLOTS);
    let mut req = httparse::Request::new(&mut slots[..n_slots]);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ParseError::Malformed("malformed request head".into()));
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(e) => return Err(ParseError::Malformed(format!("malformed request: {e}"))),
    }
    let head_len = buf.len();
    let method = Method::parse(req.method.unwrap_or(""));
    let version = req.version.unwrap_or(1);
    let target = split_target(req.path.unwrap_or(""))?;
    let span = |s: &[u8]| {
        // Every slice httparse returns is inside `buf` (an empty one may point anywhere).
        let start = (s.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        if s.is_empty() || start + s.len() > buf.len() {
            return Span::default();
        }
        Span {
            start: start as u32,
            end: (start + s.len()) as u32,
        }
    };
    let target = (
        span(target.0.as_bytes()),
        target.1.map(|q| span(q.as_bytes())),
    );

    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    let (mut hosts, mut authorizations, mut encodings) = (0, 0, 0);
    let mut fields = Fields::take();
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("authorization") {
            authorizations += 1;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = content_length_value(h.value)?;
            if content_length.is_some_and(|prev| prev != v) {
                return Err(ParseError::Malformed(
                    "conflicting Content-Length headers".into(),
                ));
            }
            content_length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
            let v = std::str::from_utf8(h.value).unwrap_or("");
            if v.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else {
                return Err(ParseError::Malformed(format!(
                    "unsupported Transfer-Encoding: {}",
                    v.trim()
                )));
            }
        } else if h.name.eq_ignore_ascii_case("expect")
            && h.value.eq_ignore_ascii_case(b"100-continue")
        {
            expect_continue = true;
        }
        fields.push(Field {
            name: span(h.name.as_bytes()),
            value: span(h.value),
        });
    }
    if chunked && content_length.is_some() {
        // RFC 9112 §6.3: both present is a smuggling vector; refuse rather than guess.
        return Err(ParseError::Malformed(
            "both Content-Length and Transfer-Encoding present".into(),
        ));
    }
    if chunked && version == 0 {
        return Err(ParseError::Malformed("chunked encoding in HTTP/1.0".into()));
    }
    // Two of these are read differently by different servers (first wins here, last
    // there): a request a proxy in front judged one way would be served another.
    if encodings > 1 {
        return Err(ParseError::Malformed(
            "more than one Transfer-Encoding header".into(),
        ));
    }
    if authorizations > 1 {
        return Err(ParseError::Malformed(
            "more than one Authorization header".into(),
        ));
    }

    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host header.
    if version == 1 && hosts != 1 {
        return Err(ParseError::Malformed(if hosts == 0 {
            "HTTP/1.1 requests need a Host header".into()
        } else {
            "more than one Host header".into()
        }));
    }

    let body = if chunked {
        Body::Chunked(ChunkedBody::default())
    } else {
        let len = content_length.unwrap_or(0);
        if len > limits.max_body_bytes {
            return Err(ParseError::BodyTooLarge);
        }
        Body::Length(len)
    };
    Ok(Pending {
        head: Request::from_head(method, version, copy_head(buf), target, fields),
        head_len,
        expect_continue,
        body,
    })
}

/// The head copied into a buffer recycled per core: the request outlives the
/// connection's read buffer, and a kept buffer makes the copy allocation-free.
fn copy_head(buf: &[u8]) -> Recycled<Vec<u8>> {
    let mut head = Recycled::<Vec<u8>>::take();
    head.extend_from_slice(buf);
    head
}

/// `Content-Length` is `1*DIGIT` (RFC 9110 §8.6): no sign, no spaces inside, and no
/// leading zero — `+13` or `013` read differently by a proxy in front is a request
/// smuggled past it.
fn content_length_value(raw: &[u8]) -> Result<usize, ParseError> {
    let bad = || ParseError::Malformed("invalid Content-Length: digits only".into());
    let digits = raw.trim_ascii();
    let canonical = !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits.len() == 1 || digits[0] != b'0');
    if !canonical {
        return Err(bad());
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

/// Splits a request target into path and query, as slices of it; accepts origin-form,
/// absolute-form (RFC 9112 §3.2.2; an empty path is `/`) and `*`.
fn split_target(target: &str) -> Result<(&str, Option<&str>), ParseError> {
    let target = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "",
        }
    } else {
        target
    };
    if target == "*" || target.is_empty() {
        return Ok((target, None));
    }
    if !target.starts_with('/') {
        return Err(ParseError::Malformed(format!(
            "invalid request target: {target}"
        )));
    }
    Ok(match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_header_bytes: 1024,
        max_headers: 8,
        max_body_bytes: 16,
    };

    fn complete(buf: &[u8]) -> (Request, usize) {
        match parse_request(buf, &L) {
            Ok(Parsed::Complete { request, consumed }) => (request, consumed),
            other => panic!("expected complete, got {other:?}"),
        }
    }

    #[test]
    fn pipelined_requests_parse_one_at_a_time() {
        let buf = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        let (r, used) = complete(buf);
        assert_eq!((r.path(), r.query()), ("/a", Some("x=1")));
        let (r2, used2) = complete(&buf[used..]);
        assert_eq!(r2.path(), "/b");
        assert_eq!(used + used2, buf.len());
    }

    #[test]
    fn chunked_body_with_trailers() {
        let wire: &[u8] =
            b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX: y\r\n\r\nNEXT";
        let (r, used) = complete(wire);
        assert_eq!(&r.body[..], b"abcde");
        assert_eq!(&wire[used..], b"NEXT", "consumes exactly the request");
        assert!(matches!(
            parse_request(
                b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
                &L
            ),
            Ok(Parsed::Partial {
                head_done: true,
                ..
            })
        ));
    }

    #[test]
    fn limits_and_malformed() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
        assert_eq!(
            parse_request(big.as_bytes(), &L).unwrap_err(),
            ParseError::HeadersTooLarge
        );
        let many: String = (0..9).map(|i| format!("H{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse_request(many.as_bytes(), &L).unwrap_err(),
            ParseError::TooManyHeaders,
            "the limit actually hit is named"
        );
        assert_eq!(
            parse_request(
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n",
                &L
            )
            .unwrap_err(),
            ParseError::BodyTooLarge
        );
        assert!(matches!(
            parse_request(
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                &L
            ),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_request(b"\x01\x02 / HTTP/1.1\r\n\r\n", &L),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_request(b"GET nope HTTP/1.1\r\n\r\n", &L),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn content_length_is_digits_only_and_http11_needs_one_host() {
        for bad in ["+13", "+0013", "013", "1 3", "-1", "0x10", ""] {
            let wire = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {bad}\r\n\r\n");
            assert!(
                matches!(
                    parse_request(wire.as_bytes(), &L),
                    Err(ParseError::Malformed(_))
                ),
                "Content-Length: {bad:?}"
            );
        }
        let (r, _) = complete(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert!(r.body.is_empty());
        for wire in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ] {
            assert!(matches!(
                parse_request(wire, &L),
                Err(ParseError::Malformed(_))
            ));
        }
        // HTTP/1.0 predates Host.
        complete(b"GET / HTTP/1.0\r\n\r\n");
    }

    #[test]
    fn http10_and_absolute_form() {
        let (r, _) = complete(b"GET http://example.org/x?y HTTP/1.0\r\n\r\n");
        assert_eq!((r.path(), r.version), ("/x", 0));
        assert!(!r.wants_keep_alive());
    }
}
