//! Handlers by resource. Each submodule declares its route table; [`routes`] collects
//! them into the one table every core serves (and the OpenAPI document describes).

pub(crate) mod batch;
pub(crate) mod cache;
pub(crate) mod common;
pub(crate) mod cover;
pub(crate) mod library;
pub(crate) mod monitor;
pub(crate) mod openapi;
pub(crate) mod playlists;
pub(crate) mod schemas;
pub(crate) mod stream;
pub(crate) mod system;
pub(crate) mod ws;

use crate::http::router::Route;

/// Every route of the REST API (the OpenAPI document describes exactly these; the
/// server serves them beside the other adapters', see `server`).
pub fn routes() -> Vec<Route> {
    let mut all = Vec::new();
    all.extend(system::routes());
    all.extend(library::routes());
    all.extend(playlists::routes());
    all.extend(batch::routes());
    all.extend(stream::routes());
    all.extend(cover::routes());
    all.extend(cache::routes());
    all.extend(ws::routes());
    all.extend(monitor::routes());
    all.extend(openapi::routes());
    all
}
