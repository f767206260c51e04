//! The plain-HTTP listener of a TLS server (`tls.redirect_listen`): each request is
//! answered `308 Permanent Redirect` to the same target on the HTTPS port, then the
//! connection closes. 308 (not 301) so a redirected POST stays a POST.
//!
//! It reads one request head under the header-read timeout and the header-byte limit,
//! and serves nothing else: no route, no body, no keep-alive.

use crate::runtime::core_state::CoreState;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

/// Why a request could not be redirected (answered 400, or 431 for an oversized head).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RedirectError {
    #[error("a Host header is required to redirect to HTTPS")]
    NoHost,
    #[error("the Host header is not a valid host name or address")]
    BadHost,
    #[error("malformed request")]
    Malformed,
    #[error("request head larger than {0} bytes")]
    TooLarge(usize),
}

/// Serves one plain-HTTP connection: read a head, answer, close.
pub(crate) async fn serve(core: Rc<CoreState>, mut stream: TcpStream) {
    let cfg = &core.shared.config.http;
    let wait = Duration::from_millis(cfg.header_read_timeout_ms);
    let Some(tls) = core.shared.tls.get() else {
        return;
    };
    let (limit, max_headers, port) = (cfg.max_header_bytes, cfg.max_headers, tls.https_port());
    let read = async {
        let mut buf = Vec::with_capacity(1024);
        loop {
            if buf.len() >= limit {
                return Some(Err(RedirectError::TooLarge(limit)));
            }
            buf.reserve(1024);
            let (r, b) = stream.read(buf).await;
            buf = b;
            match r {
                Ok(n) if n > 0 => {}
                _ => return None,
            }
            if let Some(answer) = location_for(&buf, max_headers, port) {
                return Some(answer);
            }
        }
    };
    let Ok(Some(answer)) = monoio::time::timeout(wait, read).await else {
        return;
    };
    let out = match answer {
        Ok(location) => {
            crate::runtime::counters::bump(&core.counters.redirected);
            format!(
                "HTTP/1.1 308 Permanent Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        }
        Err(e) => {
            let status = match e {
                RedirectError::TooLarge(_) => "431 Request Header Fields Too Large",
                _ => "400 Bad Request",
            };
            let body = format!("{e}\n");
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
    };
    let _ = monoio::time::timeout(wait, stream.write_all(out.into_bytes())).await;
}

/// The redirect target of a complete head in `buf`; `None` while it is incomplete.
fn location_for(
    buf: &[u8],
    max_headers: usize,
    port: u16,
) -> Option<Result<String, RedirectError>> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => None,
        Err(_) => Some(Err(RedirectError::Malformed)),
        Ok(httparse::Status::Complete(_)) => {
            let host = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("host"))
                .and_then(|h| std::str::from_utf8(h.value).ok());
            Some(location(host, req.path.unwrap_or("/"), port))
        }
    }
}

/// `https://host[:port]target`: the host as the client named it, without its port (the
/// plain listener's), with the HTTPS one unless it is 443. A target that is not a path
/// (absolute or asterisk form) redirects to `/`.
pub(crate) fn location(
    host: Option<&str>,
    target: &str,
    port: u16,
) -> Result<String, RedirectError> {
    let host = host
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(RedirectError::NoHost)?;
    let name = strip_port(host).ok_or(RedirectError::BadHost)?;
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if name.is_empty() || !name.chars().all(valid) {
        return Err(RedirectError::BadHost);
    }
    let target = if target.starts_with('/') && !target.starts_with("//") {
        target
    } else {
        "/"
    };
    Ok(match port {
        443 => format!("https://{name}{target}"),
        p => format!("https://{name}:{p}{target}"),
    })
}

/// The host without a trailing `:port` (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        let end = host.find(']')?;
        let rest = &host[end + 1..];
        return (rest.is_empty()
            || rest[1..].bytes().all(|b| b.is_ascii_digit()) && rest.starts_with(':'))
        .then(|| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(name),
        Some(_) => None,
        None => Some(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_https_location() {
        let l = |h, t, p| location(h, t, p);
        assert_eq!(
            l(Some("example.org"), "/a?b=1", 443).unwrap(),
            "https://example.org/a?b=1"
        );
        assert_eq!(
            l(Some("example.org:80"), "/", 8443).unwrap(),
            "https://example.org:8443/"
        );
        assert_eq!(
            l(Some("[::1]:8080"), "/x", 8443).unwrap(),
            "https://[::1]:8443/x"
        );
        assert_eq!(
            l(Some("127.0.0.1"), "http://evil/", 443).unwrap(),
            "https://127.0.0.1/"
        );
        assert_eq!(l(Some("h"), "//evil.example/", 443).unwrap(), "https://h/");
        assert_eq!(l(None, "/", 443), Err(RedirectError::NoHost));
        assert_eq!(l(Some("a b"), "/", 443), Err(RedirectError::BadHost));
        assert_eq!(
            l(Some("evil.example/x"), "/", 443),
            Err(RedirectError::BadHost)
        );
        assert_eq!(l(Some("h:port"), "/", 443), Err(RedirectError::BadHost));
        assert_eq!(l(Some("[::1"), "/", 443), Err(RedirectError::BadHost));
    }

    #[test]
    fn waits_for_a_whole_head() {
        assert!(location_for(b"GET / HTTP/1.1\r\nHost: h\r\n", 8, 443).is_none());
        let done = location_for(b"GET /p HTTP/1.1\r\nHost: h\r\n\r\n", 8, 443);
        assert_eq!(done, Some(Ok("https://h/p".into())));
        assert_eq!(
            location_for(b"\x16\x03\x01", 8, 443),
            Some(Err(RedirectError::Malformed))
        );
    }
}
