//! The request pipeline of one core: route, layers' `before`, handler (panics caught),
//! error standardization into the envelope, layers' `after`. Socket-free, so the
//! benchmark in `benches/request_path.rs` measures exactly what connections run.

use super::context::RequestCtx;
use super::envelope;
use super::error::ApiError;
use super::middleware::{self, Flow, Layer};
use super::request::{Method, Request};
use super::response::{HeaderValue, Response};
use super::router::{
    Access, AsyncHandler, Handler, HandlerResult, Outcome, Resolution, Route, RouteClass, Router,
    SyncHandler,
};
use crate::config::Config;
use crate::runtime::core_state::CoreState;
use crate::runtime::pipeline::{Pipeline, Port};
use monoio::net::TcpStream;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

/// Router plus middleware stack; one per core (its layers hold that core's rate-limit
/// buckets). It is the core's connection pipeline.
pub struct Service {
    router: Router,
    layers: Vec<Box<dyn Layer>>,
    /// The names of this server, for rights granted by address (`http::site`).
    site: super::site::SiteNames,
}

impl Pipeline for Service {
    fn serve(
        self: Rc<Self>,
        core: Rc<CoreState>,
        stream: TcpStream,
        peer: SocketAddr,
        port: Port,
    ) -> Pin<Box<dyn Future<Output = ()>>> {
        match port {
            Port::Main => Box::pin(super::conn::accept(self, core, stream, peer)),
            Port::Redirect => Box::pin(super::redirect::serve(core, stream)),
        }
    }
}

fn has_query(req: &Request) -> bool {
    req.query().is_some_and(|q| !q.is_empty())
}

/// A route that declares no query parameters takes none: each one given is an
/// `unknown_field` error (as every declared-parameter route reports its unknown ones),
/// so `POST /api/library/scan?path=/etc` is refused, not silently ignored.
fn unknown_query(req: &Request) -> ApiError {
    let errors = req
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let name = p.split('=').next().unwrap_or(p);
            crate::validation::FieldError::new(
                name,
                "unknown_field",
                "this route takes no query parameters",
            )
        })
        .collect();
    ApiError::Validation(errors)
}

impl Service {
    pub fn new(routes: Vec<Route>, config: &Config) -> Self {
        Self {
            router: Router::new(routes),
            layers: middleware::default_stack(config),
            site: super::site::SiteNames::new(config),
        }
    }

    /// Whether `req` goes to an observation route (health, metrics, dashboard: the
    /// never-limited class).
    pub(crate) fn observes(&self, req: &Request) -> bool {
        matches!(
            self.router.resolve(req.method, req.path()),
            Resolution::Found(r, _) if r.class == RouteClass::Unlimited
        )
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub(crate) fn site(&self) -> &super::site::SiteNames {
        &self.site
    }

    /// The layers' `before` for a WebSocket upgrade request, which no handler answers:
    /// it is counted against its client's request budget (an upgrade costs a token
    /// lookup and a connection like any request) and its token checked. `Some`: the
    /// refusal to send instead of the 101.
    pub(crate) fn admit_upgrade(
        &self,
        core: &Rc<CoreState>,
        peer: SocketAddr,
        req: &Request,
    ) -> Option<Response> {
        let resolution = self.router.resolve(req.method, req.path());
        let mut cx = self.context(core, peer, req, &resolution);
        let err = self
            .layers
            .iter()
            .find_map(|l| l.before(core, &mut cx, req).err())?;
        let mut resp = envelope::error(&err, &cx.request_id, cx.started);
        self.finish(core, &cx, &mut resp);
        Some(resp)
    }

    fn context(
        &self,
        core: &Rc<CoreState>,
        peer: SocketAddr,
        req: &Request,
        resolution: &Resolution<'_>,
    ) -> RequestCtx {
        let (route, class, access, params) = match resolution {
            Resolution::Found(r, params) => (r.pattern, r.class, r.access, params.clone()),
            _ => ("unmatched", RouteClass::Api, Access::Public, Vec::new()),
        };
        RequestCtx {
            request_id: middleware::request_id::for_request(core, req),
            core: core.id,
            peer,
            started: Instant::now(),
            method: req.method.as_str(),
            route,
            class,
            params,
            rate: None,
            cors_origin: None,
            access,
            principal: None,
            trace: None,
        }
    }

    /// Serves one parsed request to completion. Never panics: handler panics become 500.
    ///
    /// The request runs inside its log span (every line it logs names the request and,
    /// when traced, its `trace_id` and `span_id`) and with its trace span current
    /// (`trace::ambient`), entered only while its future is polled.
    pub async fn handle(&self, core: &Rc<CoreState>, peer: SocketAddr, req: Request) -> Response {
        let resolution = self.router.resolve(req.method, req.path());
        let mut cx = self.context(core, peer, &req, &resolution);
        let server_span = super::trace::start(&req);
        cx.trace = server_span.as_ref().map(super::trace::ServerSpan::context);
        let log = tracing::info_span!("request", id = %cx.request_id, core = core.id.0, method = cx.method, path = req.path(),
            trace_id = tracing::field::Empty, span_id = tracing::field::Empty);
        if let Some(t) = cx.trace {
            log.record("trace_id", tracing::field::display(t.trace_id));
            log.record("span_id", tracing::field::display(t.span_id));
        }
        let scope = cx.trace;
        let respond = self.respond(core, cx, req, resolution);
        let (resp, cx) = crate::trace::ambient::scoped(scope, respond)
            .instrument(log)
            .await;
        if let Some(span) = server_span {
            span.end(&cx, &resp);
        }
        resp
    }

    /// The layers, the handler and the envelope for one request.
    async fn respond(
        &self,
        core: &Rc<CoreState>,
        mut cx: RequestCtx,
        req: Request,
        resolution: Resolution<'_>,
    ) -> (Response, Ctx) {
        let mut early = None;
        for layer in &self.layers {
            match layer.before(core, &mut cx, &req) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Respond(resp)) => {
                    early = Some(Ok(Outcome::Raw(resp)));
                    break;
                }
                Err(e) => {
                    early = Some(Err(e));
                    break;
                }
            }
        }
        let head = req.method == Method::Head;
        let (result, cx) = match (early, resolution) {
            (Some(r), _) => (r, Ctx::Own(cx)),
            (None, Resolution::Found(route, _)) if route.query.is_empty() && has_query(&req) => {
                (Err(unknown_query(&req)), Ctx::Own(cx))
            }
            (None, Resolution::Found(route, _)) => match route.handler {
                Handler::Sync(f) => (call_sync(f, core, &cx, &req), Ctx::Own(cx)),
                Handler::Async(f) => call_async(f, core, cx, req).await,
            },
            (None, other) => (unrouted(&req, other), Ctx::Own(cx)),
        };
        let mut resp = match result {
            Ok(Outcome::Json(reply)) => reply.into_response(&cx.request_id, cx.started),
            Ok(Outcome::Raw(resp)) => resp,
            Err(e) => envelope::error(&e, &cx.request_id, cx.started),
        };
        resp.omit_body |= head;
        self.finish(core, &cx, &mut resp);
        (resp, cx)
    }

    /// An error found before a request could be parsed (400, 413, 431, 503 at accept):
    /// it still gets the envelope, a request id, the access log and the common headers.
    pub fn reject(&self, core: &CoreState, peer: SocketAddr, err: ApiError) -> Response {
        let cx = RequestCtx {
            request_id: core.next_request_id(),
            core: core.id,
            peer,
            started: Instant::now(),
            method: "-",
            route: "unparsed",
            class: RouteClass::Unlimited,
            params: Vec::new(),
            rate: None,
            cors_origin: None,
            access: Access::Public,
            principal: None,
            trace: None,
        };
        let mut resp = envelope::error(&err, &cx.request_id, cx.started);
        self.finish(core, &cx, &mut resp);
        resp
    }

    fn finish(&self, core: &CoreState, cx: &RequestCtx, resp: &mut Response) {
        for layer in self.layers.iter().rev() {
            layer.after(core, cx, resp);
        }
        resp.push_header("X-Served-By", HeaderValue::Static(core.served_by));
    }
}

/// What a request without a handler gets: 404, 405, or for a plain OPTIONS (no CORS
/// preflight, which the CORS layer answers) 204 with the `Allow` a 405 would carry.
fn unrouted(req: &Request, resolution: Resolution<'_>) -> HandlerResult {
    match resolution {
        Resolution::MethodNotAllowed(allow) if req.method == Method::Options => {
            Ok(Outcome::Raw(Response::new(204).header("Allow", allow)))
        }
        Resolution::MethodNotAllowed(allow) => Err(ApiError::MethodNotAllowed {
            method: req.method.as_str().to_string(),
            allow,
        }),
        _ => Err(ApiError::NotFound(format!("no route for {}", req.path()))),
    }
}

/// A request's context after its handler: owned when the handler was synchronous, shared
/// when an async handler's future held it. Only async handlers pay for the `Rc`.
// Boxing `Own` would put back the per-request allocation this type exists to avoid.
#[allow(clippy::large_enum_variant)]
enum Ctx {
    Own(RequestCtx),
    Shared(Rc<RequestCtx>),
}

impl std::ops::Deref for Ctx {
    type Target = RequestCtx;
    fn deref(&self) -> &RequestCtx {
        match self {
            Ctx::Own(cx) => cx,
            Ctx::Shared(cx) => cx,
        }
    }
}

/// A synchronous handler, run in place: no future is built around it, so the request
/// and its context are not copied into one (a few hundred bytes per request).
fn call_sync(
    f: SyncHandler,
    core: &Rc<CoreState>,
    cx: &RequestCtx,
    req: &Request,
) -> HandlerResult {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        crate::faults::http_handler(|| req.header("x-auralis-fault"));
        f(core, cx, req)
    }));
    result.unwrap_or_else(|panic| Err(panicked(&*panic)))
}

/// An async handler: it holds the context through an `Rc` (only these pay for one).
async fn call_async(
    f: AsyncHandler,
    core: &Rc<CoreState>,
    cx: RequestCtx,
    req: Request,
) -> (HandlerResult, Ctx) {
    let cx = Rc::new(cx);
    let result = crate::panics::CatchUnwind(f(core.clone(), cx.clone(), req)).await;
    let result = result.unwrap_or_else(|panic| Err(panicked(&*panic)));
    (result, Ctx::Shared(cx))
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> ApiError {
    let what = crate::panics::message(panic);
    ApiError::Internal(format!("handler panicked: {what}"))
}

/// Drives a future that never waits (sync handlers, benches) to completion without a
/// runtime. Returns `None` if it is still pending after one poll.
pub fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    match fut
        .as_mut()
        .poll(&mut Context::from_waker(std::task::Waker::noop()))
    {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::core_state::{CoreId, DriverKind, PinningMode, Shared};

    fn boom(_: &Rc<CoreState>, _: &RequestCtx, _: &Request) -> HandlerResult {
        panic!("boom")
    }

    fn async_boom(
        _: Rc<CoreState>,
        _: Rc<RequestCtx>,
        _: Request,
    ) -> super::super::router::LocalFuture {
        Box::pin(async { panic!("async boom") })
    }

    fn get(path: &str) -> Request {
        Request::build(Method::Get, path, &[], b"")
    }

    #[test]
    fn handler_panics_become_500_envelopes_and_the_core_keeps_serving() {
        let mut routes = crate::api::routes();
        routes.push(Route::new(
            Method::Get,
            "/boom",
            RouteClass::Api,
            "test",
            Handler::Sync(boom),
        ));
        routes.push(Route::new(
            Method::Get,
            "/aboom",
            RouteClass::Api,
            "test",
            Handler::Async(async_boom),
        ));
        let shared = Shared::new(Config::default(), 1, PinningMode::Kernel, None).unwrap();
        let service = Service::new(routes, &shared.config);
        let core = Rc::new(CoreState::new(CoreId(0), DriverKind::Legacy, shared).unwrap());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        for path in ["/boom", "/aboom"] {
            let resp = poll_once(service.handle(&core, peer, get(path))).unwrap();
            assert_eq!(resp.status, 500);
            let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(body["error"], "internal_error");
            assert!(
                !body["message"].as_str().unwrap().contains("boom"),
                "cause not leaked"
            );
        }
        std::panic::set_hook(prev);
        let ok = poll_once(service.handle(&core, peer, get("/api/version"))).unwrap();
        assert_eq!(ok.status, 200);
    }
}
