//! The Subsonic API 1.16.1 with the OpenSubsonic extensions under `/rest/`: the third
//! adapter beside `api/` (REST) and `ws/` (WebSocket), over the same library, chunk
//! cache and decode pool. Nothing below it knows of Subsonic; it never reaches `api`.
//!
//! Every method is one entry of [`METHODS`]; `/rest/{method}` and `/rest/{method}.view`
//! answer it by GET or by form POST. A request logs in with its own parameters
//! ([`auth`]); the answer is a `subsonic-response` in XML or JSON ([`envelope`]).

mod auth;
mod browse;
mod element;
mod envelope;
mod error;
mod lists;
mod media;
mod params;
mod playlists;
mod shapes;
mod system;
pub(crate) mod throttle;
mod user_data;

use crate::http::context::RequestCtx;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::router::{Access, Handler, LocalFuture, Param, QueryParam, Route, RouteClass};
use crate::library::events::Owner;
use crate::library::store::LibraryReader;
use crate::runtime::core_state::CoreState;
use auth::Caller;
use element::Element;
use envelope::Format;
use error::SubsonicError;
use params::Params;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// What the Subsonic adapter keeps process-wide (in `Shared`).
#[derive(Default)]
pub(crate) struct SubsonicShared {
    pub(crate) logins: throttle::LoginThrottle,
    /// Who is playing what now (a `scrobble` with `submission=false`), by principal.
    pub(crate) now_playing: papaya::HashMap<i64, user_data::NowPlaying>,
}

/// One request, logged in.
pub(crate) struct Call {
    pub core: Rc<CoreState>,
    pub cx: Rc<RequestCtx>,
    pub req: Request,
    pub params: Params,
    pub caller: Caller,
}

impl Call {
    pub(crate) fn reader(&self) -> Result<&LibraryReader, SubsonicError> {
        self.core
            .library
            .as_ref()
            .ok_or_else(|| SubsonicError::Generic("no library is configured".into()))
    }

    /// Whose playlists, favorites, ratings and queue this call sees: the caller's own
    /// (an admin's too: Subsonic users each have theirs).
    pub(crate) fn owner(&self) -> Owner {
        Owner::Principal(self.caller.principal.id)
    }

    pub(crate) fn library(&self) -> Result<std::sync::Arc<crate::library::Library>, SubsonicError> {
        Ok(self.reader()?.library.clone())
    }
}

/// What a method answers: a payload in the envelope, or a response of its own (audio,
/// images).
pub(crate) enum Answer {
    Payload(Option<Element>),
    Raw(Response),
}

impl From<Element> for Answer {
    fn from(e: Element) -> Self {
        Answer::Payload(Some(e))
    }
}

pub(crate) type Outcome = Result<Answer, SubsonicError>;
pub(crate) type MethodFuture = Pin<Box<dyn Future<Output = Outcome>>>;
/// A method: the logged-in call in, its answer out.
pub(crate) type MethodFn = fn(Rc<Call>) -> MethodFuture;

/// Every method served, by name.
const METHODS: &[(&str, MethodFn)] = &[
    ("ping", system::ping),
    ("getLicense", system::license),
    ("tokenInfo", system::token_info),
    ("getUser", system::user),
    ("getMusicFolders", browse::music_folders),
    ("getIndexes", browse::indexes),
    ("getMusicDirectory", browse::music_directory),
    ("getArtists", browse::artists),
    ("getArtist", browse::artist),
    ("getAlbum", browse::album),
    ("getSong", browse::song),
    ("getGenres", browse::genres),
    ("getArtistInfo", browse::artist_info),
    ("getArtistInfo2", browse::artist_info2),
    ("getAlbumInfo", browse::album_info),
    ("getAlbumInfo2", browse::album_info),
    ("getAlbumList", lists::album_list),
    ("getAlbumList2", lists::album_list2),
    ("getRandomSongs", lists::random_songs),
    ("getSongsByGenre", lists::songs_by_genre),
    ("getStarred", lists::starred),
    ("getStarred2", lists::starred2),
    ("search2", lists::search2),
    ("search3", lists::search3),
    ("getNowPlaying", user_data::now_playing),
    ("stream", media::stream),
    ("download", media::download),
    ("getCoverArt", media::cover_art),
    ("star", user_data::star),
    ("unstar", user_data::unstar),
    ("setRating", user_data::set_rating),
    ("scrobble", user_data::scrobble),
    ("getPlayQueue", user_data::play_queue),
    ("savePlayQueue", user_data::save_play_queue),
    ("getPlaylists", playlists::list),
    ("getPlaylist", playlists::one),
    ("createPlaylist", playlists::create),
    ("updatePlaylist", playlists::update),
    ("deletePlaylist", playlists::delete),
];

/// The parameters every method may take (documentation; the router needs a non-empty
/// list to let a query through, and unknown names are ignored here, as Subsonic
/// servers do).
const COMMON: &[QueryParam] = &[
    ("u", Param::Str(100), "user name"),
    ("p", Param::Str(600), "password, plain or enc:hex"),
    ("t", Param::Str(64), "md5(password + s), hex"),
    ("s", Param::Str(256), "the salt of t"),
    (
        "apiKey",
        Param::Str(200),
        "OpenSubsonic API key (instead of u)",
    ),
    ("v", Param::Str(20), "the client's API version"),
    ("c", Param::Str(100), "the client's name"),
    (
        "f",
        Param::OneOf(&["xml", "json", "jsonp"]),
        "answer format",
    ),
];

/// The Subsonic routes: audio and art in the stream rate-limit class, the rest in the
/// API class. Their access is public at the HTTP layer: every method logs in itself.
pub fn routes() -> Vec<Route> {
    let mut out = Vec::new();
    for (pattern, class) in [
        ("/rest/stream", RouteClass::Stream),
        ("/rest/stream.view", RouteClass::Stream),
        ("/rest/download", RouteClass::Stream),
        ("/rest/download.view", RouteClass::Stream),
        ("/rest/getCoverArt", RouteClass::Stream),
        ("/rest/getCoverArt.view", RouteClass::Stream),
        ("/rest/{method}", RouteClass::Api),
    ] {
        for method in [Method::Get, Method::Post] {
            out.push(
                Route::new(
                    method,
                    pattern,
                    class,
                    "Subsonic API",
                    Handler::Async(serve),
                )
                .access(Access::Public)
                .query(COMMON)
                .raw(&["text/xml", "application/json"]),
            );
        }
    }
    out
}

/// The method a path names (`/rest/getAlbum.view` → `getAlbum`).
fn method_name(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or("");
    name.strip_suffix(".view").unwrap_or(name)
}

fn serve(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let name = method_name(req.path()).to_string();
        let params = match Params::from_request(&req) {
            Ok(p) => p,
            Err(e) => return Ok(envelope::failed(&e, &Format::Xml, 200).into()),
        };
        let format = Format::of(params.get("f"), params.get("callback"));
        Ok(answer(core, cx, req, params, &name, &format).await.into())
    })
}

async fn answer(
    core: Rc<CoreState>,
    cx: Rc<RequestCtx>,
    req: Request,
    params: Params,
    name: &str,
    format: &Format,
) -> Response {
    // OpenSubsonic: the extensions list is public (a client asks before logging in).
    if name == "getOpenSubsonicExtensions" {
        return envelope::ok_list("openSubsonicExtensions", system::extensions(), format);
    }
    let Some(&(_, method)) = METHODS.iter().find(|(n, _)| *n == name) else {
        let e = SubsonicError::NotFound(format!("no method {name:?} here"));
        return envelope::failed(&e, format, 404);
    };
    let caller = match auth::authenticate(&core, cx.peer.ip(), &params) {
        Ok(c) => c,
        Err(e) => return envelope::failed(&e, format, 200),
    };
    let call = Rc::new(Call {
        core,
        cx,
        req,
        params,
        caller,
    });
    match method(call).await {
        Ok(Answer::Payload(p)) => envelope::ok(p, format),
        Ok(Answer::Raw(resp)) => resp,
        Err(e) => envelope::failed(&e, format, 200),
    }
}

/// Boxes a method's body (every method is one).
pub(crate) fn boxed(f: impl Future<Output = Outcome> + 'static) -> MethodFuture {
    Box::pin(f)
}

/// Every method name served (`getOpenSubsonicExtensions` besides), for the README's
/// list and its test.
pub fn method_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = METHODS.iter().map(|(n, _)| *n).collect();
    names.push("getOpenSubsonicExtensions");
    names
}
