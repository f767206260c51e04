//! Method + path → route. Routes are declared in one table per resource (`api::*::routes`)
//! and collected here; the OpenAPI document is derived from the same tables.

use super::context::RequestCtx;
use super::envelope::Reply;
use super::error::ApiError;
use super::request::{Method, Request};
use super::response::Response;
use crate::runtime::core_state::CoreState;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// Rate-limit class of a route: each class has its own per-client window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// The REST API: `rate_limit.requests_per_minute`.
    Api,
    /// Audio chunk and file fetches: `rate_limit.stream_requests_per_minute`.
    Stream,
    /// Never limited (health probes, metrics scrapes, the dashboard).
    Unlimited,
}

/// What a handler produces: a JSON reply (enveloped by the pipeline, which owns the
/// request id) or a response it built itself (audio, files, redirects).
pub enum Outcome {
    Json(Reply),
    Raw(Response),
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Outcome::Json(r)
    }
}

impl From<Response> for Outcome {
    fn from(r: Response) -> Self {
        Outcome::Raw(r)
    }
}

pub type HandlerResult = Result<Outcome, ApiError>;
pub type LocalFuture = Pin<Box<dyn Future<Output = HandlerResult>>>;

/// A handler: synchronous for quick work on the core, async for work that waits on
/// another thread (SQLite writes, decoding). Both get the parsed request and context.
#[derive(Clone, Copy)]
pub enum Handler {
    Sync(SyncHandler),
    Async(AsyncHandler),
}

pub type SyncHandler = fn(&Rc<CoreState>, &RequestCtx, &Request) -> HandlerResult;
pub type AsyncHandler = fn(Rc<CoreState>, Rc<RequestCtx>, Request) -> LocalFuture;

/// One path segment of a route pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

/// Who may call a route. Reads are public; every change needs a principal whose role
/// covers it (`Listener`: its playlists and favorites; `Admin`: everything), or — while
/// no token exists — a client on loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Public,
    Listener,
    Admin,
}

/// One entry of a route table.
#[derive(Clone)]
pub struct Route {
    pub method: Method,
    /// Template such as `/api/tracks/{id}`; also the metrics label.
    pub pattern: &'static str,
    pub class: RouteClass,
    pub summary: &'static str,
    pub handler: Handler,
    /// Query parameters, for the OpenAPI document: (name, type, description).
    pub query: &'static [QueryParam],
    /// Name of the JSON request body schema, if the route takes one.
    pub body: Option<&'static str>,
    /// Who may call it: `Public` for reads, `Admin` for changes unless declared lower.
    pub access: Access,
    /// What a success answers (documentation).
    pub answer: Answer,
    /// Statuses the handler itself can answer beyond those the route's shape implies
    /// (documentation; see `api::openapi`).
    pub also: &'static [u16],
    segments: Vec<Segment>,
    /// How many of `segments` are literals (the route's specificity), counted once.
    literals: usize,
}

/// A documented query parameter: (name, its values, description).
pub type QueryParam = (&'static str, Param, &'static str);

/// The values a query parameter takes, as the handler checks them (the OpenAPI
/// document states them so a generic client sends only what the server accepts).
#[derive(Debug, Clone, Copy)]
pub enum Param {
    /// An integer in `min..=max`.
    Int(i64, i64),
    /// A number in `min..=max`.
    Num(f64, f64),
    /// A string of at most this many characters.
    Str(usize),
    /// `true|false|1|0`.
    Bool,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A sort field, optionally prefixed by `-` (descending).
    Order(&'static [&'static str]),
}

/// What a route answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// The success envelope, at this status, `data` being the named schema.
    Json(u16, Data),
    /// A body the handler builds, of one of these media types.
    Raw(&'static [&'static str]),
    /// A WebSocket upgrade (docs/PROTOCOL.md): not an HTTP operation OpenAPI can
    /// describe, so the document names it under `x-websocket` instead of `paths`.
    Upgrade,
}

/// The success envelope's `data`.
#[derive(Debug, Clone, Copy)]
pub enum Data {
    /// One value of the named schema.
    One(&'static str),
    /// A page: an array of the named schema, paging in `meta`.
    Page(&'static str),
}

impl Route {
    pub fn new(
        method: Method,
        pattern: &'static str,
        class: RouteClass,
        summary: &'static str,
        handler: Handler,
    ) -> Self {
        let segments = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name),
                    None => Segment::Literal(s),
                },
            )
            .collect::<Vec<_>>();
        let literals = segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        Self {
            method,
            pattern,
            class,
            summary,
            handler,
            query: &[],
            body: None,
            answer: Answer::Json(200, Data::One("Object")),
            also: &[],
            // Deny by default: a new change route is admin-only until declared otherwise.
            access: match method {
                Method::Get | Method::Head | Method::Options => Access::Public,
                _ => Access::Admin,
            },
            segments,
            literals,
        }
    }

    /// Declares who may call the route.
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Declares the route's query parameters (documentation).
    pub fn query(mut self, params: &'static [QueryParam]) -> Self {
        self.query = params;
        self
    }

    /// Declares the route's JSON body schema (documentation).
    pub fn body(mut self, schema: &'static str) -> Self {
        self.body = Some(schema);
        self
    }

    /// Declares the success envelope's `data` schema.
    pub fn data(mut self, schema: &'static str) -> Self {
        self.answer = Answer::Json(self.status(), Data::One(schema));
        self
    }

    /// Declares a paged list of `schema` as the success `data`.
    pub fn page(mut self, schema: &'static str) -> Self {
        self.answer = Answer::Json(self.status(), Data::Page(schema));
        self
    }

    /// Declares the success status (200 unless told; 201 answers with `Location`).
    pub fn success(mut self, status: u16) -> Self {
        if let Answer::Json(_, data) = self.answer {
            self.answer = Answer::Json(status, data);
        }
        self
    }

    /// Declares a body the handler builds itself, of these media types.
    pub fn raw(mut self, media_types: &'static [&'static str]) -> Self {
        self.answer = Answer::Raw(media_types);
        self
    }

    /// Declares the route a WebSocket upgrade.
    pub fn upgrade(mut self) -> Self {
        self.answer = Answer::Upgrade;
        self
    }

    /// Declares statuses the handler answers beyond the route's shape (206, 304, 409…).
    pub fn also(mut self, statuses: &'static [u16]) -> Self {
        self.also = statuses;
        self
    }

    fn status(&self) -> u16 {
        match self.answer {
            Answer::Json(status, _) => status,
            Answer::Raw(_) | Answer::Upgrade => 200,
        }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the path's segments (as many as the route's) match; parameters are
    /// decoded only once every literal matched.
    fn matches(&self, parts: &[&str], params: &mut Vec<(&'static str, String)>) -> bool {
        let literal_ok = self
            .segments
            .iter()
            .zip(parts)
            .all(|(seg, part)| match seg {
                Segment::Literal(l) => l == part,
                Segment::Param(_) => true,
            });
        if !literal_ok {
            return false;
        }
        params.clear();
        for (seg, part) in self.segments.iter().zip(parts) {
            if let Segment::Param(name) = seg {
                params.push((name, super::request::percent_decode(part)));
            }
        }
        true
    }
}

/// Result of routing one request.
pub enum Resolution<'r> {
    Found(&'r Route, Vec<(&'static str, String)>),
    MethodNotAllowed(String),
    NotFound,
}

/// Most path segments a route has room for; a longer path matches no route.
const MAX_SEGMENTS: usize = 16;

/// All routes of the server.
pub struct Router {
    routes: Vec<Route>,
    /// Indices into `routes` by segment count, each list most specific first: a path
    /// is compared only with routes of its own length (a dozen, not the whole table).
    by_len: Vec<Vec<usize>>,
}

impl Router {
    /// Orders the table most specific first (most literal segments), so a path that a
    /// literal route owns (`…/tracks/reorder`) is never taken by a parameter route
    /// (`…/tracks/{position}`) for another method, nor advertised in its `Allow`.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.literals));
        let mut by_len = vec![Vec::new(); MAX_SEGMENTS + 1];
        for (i, r) in routes.iter().enumerate() {
            assert!(
                r.segments.len() <= MAX_SEGMENTS,
                "route {} has more than {MAX_SEGMENTS} segments",
                r.pattern
            );
            by_len[r.segments.len()].push(i);
        }
        Self { routes, by_len }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a method and path. HEAD is served by the GET route.
    pub fn resolve(&self, method: Method, path: &str) -> Resolution<'_> {
        let want = if method == Method::Head {
            Method::Get
        } else {
            method
        };
        // Empty segments are skipped (`//api//version` is `/api/version`).
        let mut parts = [""; MAX_SEGMENTS];
        let mut n = 0;
        for part in path.split('/').filter(|s| !s.is_empty()) {
            if n == MAX_SEGMENTS {
                return Resolution::NotFound;
            }
            parts[n] = part;
            n += 1;
        }
        let parts = &parts[..n];
        let mut params = Vec::new();
        let mut allowed: Vec<&'static str> = Vec::new();
        let mut owner: Option<usize> = None;
        for route in self.by_len[n].iter().map(|&i| &self.routes[i]) {
            // Sorted most specific first: once a route matched, the path belongs to
            // routes as specific as it.
            if owner.is_some_and(|n| route.literals < n) {
                break;
            }
            if route.matches(parts, &mut params) {
                owner = Some(route.literals);
                if route.method == want {
                    return Resolution::Found(route, params);
                }
                allowed.push(route.method.as_str());
                if route.method == Method::Get {
                    allowed.push("HEAD");
                }
            }
        }
        if allowed.is_empty() {
            Resolution::NotFound
        } else {
            allowed.push("OPTIONS");
            allowed.dedup();
            Resolution::MethodNotAllowed(allowed.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &Rc<CoreState>, _: &RequestCtx, _: &Request) -> HandlerResult {
        Err(ApiError::Internal("not called".into()))
    }

    fn router() -> Router {
        let r = |m, p| Route::new(m, p, RouteClass::Api, "", Handler::Sync(ok));
        Router::new(vec![
            r(Method::Get, "/api/version"),
            r(Method::Get, "/api/tracks/{id}"),
            r(Method::Post, "/api/playlists/{id}/tracks/reorder"),
            r(Method::Delete, "/api/playlists/{id}/tracks/{position}"),
        ])
    }

    #[test]
    fn paths_past_the_segment_cap_and_empty_segments_are_routed_safely() {
        let rt = router();
        // Hostile shapes: far more segments than any route, at the cap, and one past it.
        let long = "/a".repeat(100_000);
        assert!(matches!(
            rt.resolve(Method::Get, &long),
            Resolution::NotFound
        ));
        let at_cap = "/a".repeat(MAX_SEGMENTS);
        assert!(matches!(
            rt.resolve(Method::Get, &at_cap),
            Resolution::NotFound
        ));
        let past_cap = "/a".repeat(MAX_SEGMENTS + 1);
        assert!(matches!(
            rt.resolve(Method::Get, &past_cap),
            Resolution::NotFound
        ));
        // Empty segments are skipped, as before the segment-count buckets.
        assert!(matches!(
            rt.resolve(Method::Get, "//api//version/"),
            Resolution::Found(r, _) if r.pattern == "/api/version"
        ));
    }

    #[test]
    fn parameters_are_decoded_and_literal_routes_own_their_paths() {
        let rt = router();
        let Resolution::Found(r, params) = rt.resolve(Method::Get, "/api/tracks/a%20b") else {
            panic!("track route");
        };
        assert_eq!(r.pattern, "/api/tracks/{id}");
        assert_eq!(params, vec![("id", "a b".to_string())]);
        // The literal `reorder` route owns the path: DELETE is not taken by `{position}`.
        match rt.resolve(Method::Delete, "/api/playlists/1/tracks/reorder") {
            Resolution::MethodNotAllowed(allow) => assert_eq!(allow, "POST, OPTIONS"),
            _ => panic!("405 with the literal route's Allow"),
        }
    }
}
