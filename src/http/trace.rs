//! What HTTP tells the tracer: the caller's W3C `traceparent` / `tracestate` continued
//! (or a new trace started at the configured ratio), and one SERVER span per request
//! with OpenTelemetry's HTTP semantic-convention attributes.

use super::context::RequestCtx;
use super::request::Request;
use super::response::Response;
use crate::trace::{self, Kind, Span, SpanContext};

/// A request's SERVER span, with what it must remember of the request (which the
/// handler consumes).
pub(crate) struct ServerSpan {
    span: Span,
    path: String,
    host: Option<String>,
}

/// The caller's context: a malformed `traceparent` is ignored (the request is served
/// as if it had none).
fn caller(req: &Request) -> Option<SpanContext> {
    SpanContext::parse(req.header("traceparent")?).ok()
}

/// Starts the request's span, or `None` when nothing is recorded (tracing off, an
/// unsampled caller, a root the ratio did not pick).
pub(crate) fn start(req: &Request) -> Option<ServerSpan> {
    trace::tracer()?;
    let parent = caller(req);
    let mut span = trace::start("HTTP", Kind::Server, parent)?;
    if parent.is_some()
        && let Some(state) = req
            .header("tracestate")
            .and_then(trace::context::acceptable_tracestate)
    {
        span.set_trace_state(state);
    }
    Some(ServerSpan {
        span,
        path: req.path().to_string(),
        host: req.header("host").map(str::to_string),
    })
}

impl ServerSpan {
    pub(crate) fn context(&self) -> SpanContext {
        self.span.context()
    }

    /// Names the span after its route template and ends it with the response's facts.
    pub(crate) fn end(self, cx: &RequestCtx, resp: &Response) {
        let ServerSpan {
            mut span,
            path,
            host,
        } = self;
        let matched = !matches!(cx.route, "unmatched" | "unparsed");
        span.rename(if matched {
            format!("{} {}", cx.method, cx.route)
        } else {
            cx.method.to_string()
        });
        span.set("http.request.method", cx.method);
        if matched {
            span.set("http.route", cx.route);
        }
        span.set("url.path", path);
        span.set("http.response.status_code", resp.status);
        span.set("client.address", cx.peer.ip().to_string());
        if let Some(host) = host {
            span.set("server.address", host_name(&host).to_string());
        }
        span.set("auralis.core", cx.core.0);
        span.set("auralis.request_id", cx.request_id.to_string());
        if let Some(tier) = resp.header_value("X-Cache-Tier") {
            span.set("auralis.cache_source", tier.to_string());
        }
        if resp.status >= 500 {
            span.fail(format!("HTTP {}", resp.status));
        }
        span.end();
    }
}

/// The name part of a `Host` header (`[::1]:8080` → `[::1]`, `a.example:80` →
/// `a.example`).
fn host_name(host: &str) -> &str {
    match host.find(']') {
        Some(end) if host.starts_with('[') => &host[..=end],
        _ => host.rsplit_once(':').map_or(host, |(h, _)| h),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names_lose_their_port() {
        for (host, name) in [
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("localhost:80", "localhost"),
            ("a.example", "a.example"),
        ] {
            assert_eq!(super::host_name(host), name);
        }
    }
}
