//! Incremental HTTP/1.x request parsing over a connection's read buffer, with every
//! client-controlled size limited before it is buffered.
//!
//! Built on `httparse` rather than monoio-http's codec: the codec caps headers at 96 with
//! no way to answer 431 for an oversized header section, owns the socket (so a
//! socketless benchmark of the exact request path is impossible), and leaves timeouts and
//! pipelining policy to the caller anyway. Parsing our own buffer gives all of that.

use super::request::{Method, Request};
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

// Long: one pass over the head in RFC 9112 order (start line, every limit, framing
// headers, body); split up, each limit check would hide behind a call.
/// Tries to parse one request from the front of `buf`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
    let n_slots = limits.max_headers.clamp(1, HEADER_SLOTS);
    let mut req = httparse::Request::new(&mut slots[..n_slots]);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_header_bytes {
                return Err(ParseError::HeadersTooLarge);
            }
            return Ok(Parsed::Partial {
                head_done: false,
                expect_continue: false,
            });
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(e) => return Err(ParseError::Malformed(format!("malformed request: {e}"))),
    };
    if head_len > limits.max_header_bytes {
        return Err(ParseError::HeadersTooLarge);
    }
    let method = Method::parse(req.method.unwrap_or(""));
    let version = req.version.unwrap_or(1);
    let (path, query) = split_target(req.path.unwrap_or(""))?;

    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    let mut hosts = 0;
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
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
        headers.push((h.name.to_string(), h.value.to_vec()));
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

    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host header.
    if version == 1 && hosts != 1 {
        return Err(ParseError::Malformed(if hosts == 0 {
            "HTTP/1.1 requests need a Host header".into()
        } else {
            "more than one Host header".into()
        }));
    }

    let rest = &buf[head_len..];
    let (body, body_len) = if chunked {
        match decode_chunked(rest, limits)? {
            Some((body, used)) => (Bytes::from(body), used),
            None => {
                return Ok(Parsed::Partial {
                    head_done: true,
                    expect_continue,
                });
            }
        }
    } else {
        let len = content_length.unwrap_or(0);
        if len > limits.max_body_bytes {
            return Err(ParseError::BodyTooLarge);
        }
        if rest.len() < len {
            return Ok(Parsed::Partial {
                head_done: true,
                expect_continue,
            });
        }
        (Bytes::copy_from_slice(&rest[..len]), len)
    };
    Ok(Parsed::Complete {
        request: Request {
            method,
            path,
            query,
            version,
            headers,
            body,
        },
        consumed: head_len + body_len,
    })
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

/// Splits a request target into path and query; accepts origin-form, absolute-form
/// (RFC 9112 §3.2.2) and `*`.
fn split_target(target: &str) -> Result<(String, Option<String>), ParseError> {
    let target = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
    } else {
        target
    };
    if target == "*" {
        return Ok(("*".into(), None));
    }
    if !target.starts_with('/') {
        return Err(ParseError::Malformed(format!(
            "invalid request target: {target}"
        )));
    }
    Ok(match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    })
}

/// Decodes a chunked body; `None` when more bytes are needed.
fn decode_chunked(buf: &[u8], limits: &Limits) -> Result<Option<(Vec<u8>, usize)>, ParseError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(v)) => v,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ParseError::Malformed("invalid chunk size".into())),
        };
        pos += used;
        let size = usize::try_from(size).map_err(|_| ParseError::BodyTooLarge)?;
        if size == 0 {
            // Trailer section: either an empty line now, or trailer fields then one.
            let rest = &buf[pos..];
            if rest.len() < 2 {
                return Ok(None);
            }
            if rest.starts_with(b"\r\n") {
                return Ok(Some((body, pos + 2)));
            }
            return match find(rest, b"\r\n\r\n") {
                Some(i) if i <= limits.max_header_bytes => Ok(Some((body, pos + i + 4))),
                Some(_) => Err(ParseError::HeadersTooLarge),
                None if rest.len() > limits.max_header_bytes => Err(ParseError::HeadersTooLarge),
                None => Ok(None),
            };
        }
        if body.len() + size > limits.max_body_bytes {
            return Err(ParseError::BodyTooLarge);
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size;
        if &buf[pos..pos + 2] != b"\r\n" {
            return Err(ParseError::Malformed(
                "chunk data not followed by CRLF".into(),
            ));
        }
        pos += 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
        assert_eq!((r.path.as_str(), r.query.as_deref()), ("/a", Some("x=1")));
        let (r2, used2) = complete(&buf[used..]);
        assert_eq!(r2.path, "/b");
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
        assert_eq!((r.path.as_str(), r.version), ("/x", 0));
        assert!(!r.wants_keep_alive());
    }
}
