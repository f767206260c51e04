//! Whether a request granted rights by its address alone (loopback trust before the
//! first token, the operator reserve) was sent by this machine's user on purpose and
//! not by a web page the user has open: any page can make the browser send `POST`
//! with a `text/plain` body to `127.0.0.1`, open a WebSocket there, or rebind its own
//! DNS name to `127.0.0.1`. A browser always says who is asking (`Origin` on every
//! cross-origin request and every `POST`, `Host` with the name it resolved), so:
//! - `Host` names this server (`server.allowed_hosts`), else 421;
//! - `Origin` is absent, this server's own (same host and port as `Host`), or listed by
//!   name in `cors.allowed_origins` (`*` does not count), else 403;
//! - a body is JSON only as `Content-Type: application/json`, else 415 (a form or
//!   `text/plain` body is what a page can send without a preflight).
//!
//! Requests with a token need none of this: a page cannot attach `Authorization`.

use super::error::ApiError;
use super::request::Request;
use crate::config::Config;

/// The host names that name this server, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct SiteNames {
    exact: Vec<String>,
    /// `*.example.org` entries, kept as `.example.org`.
    suffixes: Vec<String>,
}

impl SiteNames {
    /// `server.allowed_hosts`, or by default: loopback names, the listen address (when
    /// not a wildcard), the host name and the node name.
    pub(crate) fn new(config: &Config) -> Self {
        let mut names: Vec<String> = config.server.allowed_hosts.clone();
        if names.is_empty() {
            names = ["localhost", "*.localhost", "127.0.0.1", "::1"]
                .map(String::from)
                .to_vec();
            let ip = config.server.listen.ip();
            if !ip.is_unspecified() {
                names.push(ip.to_string());
            }
            names.push(crate::config::host_name());
            names.push(config.cluster.node.clone());
        }
        let (mut exact, mut suffixes) = (Vec::new(), Vec::new());
        for n in names {
            let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
            match n.strip_prefix('*') {
                Some(suffix) if suffix.starts_with('.') => suffixes.push(suffix.to_string()),
                _ if !n.is_empty() => exact.push(n),
                _ => {}
            }
        }
        Self { exact, suffixes }
    }

    /// Whether `authority` (`host[:port]`, `[v6]:port`) names this server.
    pub(crate) fn allows(&self, authority: &str) -> bool {
        let host = host_of(authority).to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        self.exact.iter().any(|n| n == host)
            || self.suffixes.iter().any(|s| host.ends_with(s.as_str()))
    }
}

/// The host part of an authority, without port or IPv6 brackets.
fn host_of(authority: &str) -> &str {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        // `[v6]` or `[v6]:port`, nothing else after the bracket.
        return match rest.split_once(']') {
            Some((host, "")) => host,
            Some((host, port))
                if port.len() > 1
                    && port.starts_with(':')
                    && port[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                host
            }
            _ => "",
        };
    }
    match a.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => a,
    }
}

/// The authority of an `http` or `https` `Origin` (no other scheme is a page of ours).
fn origin_authority(origin: &str) -> Option<&str> {
    let (scheme, authority) = origin.split_once("://")?;
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    web.then(|| authority.trim_end_matches('/'))
}

/// Whether `origin` may act with rights granted by address: this server's own page
/// (the same authority as `Host`) or one listed by name in `cors.allowed_origins`.
pub(crate) fn origin_trusted(config: &Config, origin: &str, host: Option<&str>) -> bool {
    let listed = config
        .cors
        .allowed_origins
        .iter()
        .any(|o| o != "*" && o.eq_ignore_ascii_case(origin));
    let same = match (origin_authority(origin), host) {
        (Some(a), Some(h)) => a.eq_ignore_ascii_case(h.trim()),
        _ => false,
    };
    listed || same
}

/// The three checks above, in order; `Ok` when the request may use address rights.
pub(crate) fn check(config: &Config, names: &SiteNames, req: &Request) -> Result<(), ApiError> {
    let host = req.header("host");
    if let Some(h) = host
        && !names.allows(h)
    {
        return Err(ApiError::Misdirected(format!(
            "Host {h:?} does not name this server; rights by address need a Host in server.allowed_hosts (or a token)"
        )));
    }
    if let Some(origin) = req.header("origin")
        && !origin_trusted(config, origin, host)
    {
        return Err(ApiError::Forbidden(format!(
            "origin {origin} may not act with this client's address rights: send a token, or list the origin in cors.allowed_origins"
        )));
    }
    if !req.body.is_empty() && !is_json(req.header("content-type")) {
        return Err(ApiError::UnsupportedMediaType(
            "a request body must be sent as Content-Type: application/json".into(),
        ));
    }
    Ok(())
}

/// `application/json`, with parameters (`; charset=utf-8`) or not.
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], body: &str) -> Request {
        Request::build(
            crate::http::request::Method::Post,
            "/api/batch",
            headers,
            body.as_bytes(),
        )
    }

    #[test]
    fn a_rebinding_page_a_foreign_origin_and_a_text_body_are_refused() {
        let config = Config::default();
        let names = SiteNames::new(&config);
        let json = ("Content-Type", "application/json; charset=utf-8");
        let status = |r: &Request| check(&config, &names, r).map_err(|e| e.status());
        assert_eq!(
            status(&req(&[("Host", "127.0.0.1:8080"), json], "{}")),
            Ok(())
        );
        assert_eq!(status(&req(&[("Host", "localhost"), json], "{}")), Ok(()));
        assert_eq!(
            status(&req(&[("Host", "app.localhost:1"), json], "{}")),
            Ok(())
        );
        assert_eq!(status(&req(&[("Host", "[::1]:8080"), json], "{}")), Ok(()));
        assert_eq!(
            status(&req(&[("Host", "rebind.evil.example"), json], "{}")),
            Err(421)
        );
        assert_eq!(
            status(&req(
                &[
                    ("Host", "127.0.0.1:8080"),
                    ("Origin", "https://evil.example"),
                    json
                ],
                "{}"
            )),
            Err(403)
        );
        assert_eq!(
            status(&req(
                &[
                    ("Host", "127.0.0.1:8080"),
                    ("Origin", "http://127.0.0.1:8080"),
                    json
                ],
                "{}"
            )),
            Ok(()),
            "the server's own page"
        );
        assert_eq!(
            status(&req(
                &[
                    ("Host", "127.0.0.1:8080"),
                    ("Origin", "http://127.0.0.1:9999"),
                    json
                ],
                "{}"
            )),
            Err(403),
            "another port is another origin"
        );
        assert_eq!(
            status(&req(
                &[("Host", "127.0.0.1"), ("Content-Type", "text/plain")],
                "{}"
            )),
            Err(415)
        );
        assert_eq!(status(&req(&[("Host", "127.0.0.1")], "{}")), Err(415));
        assert_eq!(
            status(&req(&[("Host", "127.0.0.1")], "")),
            Ok(()),
            "no body"
        );
    }

    #[test]
    fn listed_origins_and_hosts_count_and_a_wildcard_origin_does_not() {
        let mut config = Config::default();
        config.cors.allowed_origins = vec!["*".into(), "https://app.example".into()];
        config.server.allowed_hosts = vec!["music.example".into(), "*.lan".into()];
        let names = SiteNames::new(&config);
        assert!(names.allows("music.example:443") && names.allows("box.lan"));
        assert!(
            !names.allows("localhost"),
            "an explicit list replaces the defaults"
        );
        let defaults = SiteNames::new(&Config::default());
        assert!(!defaults.allows("[::1]evil.com") && !defaults.allows("[::1]:x"));
        assert!(defaults.allows("[::1]:8080") && defaults.allows("[::1]"));
        assert!(!origin_trusted(
            &Config::default(),
            "evil://localhost:1",
            Some("localhost:1")
        ));
        assert!(origin_trusted(
            &config,
            "https://app.example",
            Some("music.example")
        ));
        assert!(!origin_trusted(
            &config,
            "https://evil.example",
            Some("music.example")
        ));
    }
}
