//! Handlers by resource. Each submodule declares its route table; [`routes`] collects
//! them into the one table every core serves (and the OpenAPI document describes).

pub mod batch;
pub mod cache;
pub mod common;
pub mod library;
pub mod monitor;
pub mod openapi;
pub mod playlists;
pub mod stream;
pub mod system;
pub mod ws;

use crate::http::router::Route;
use crate::http::service::Service;
use crate::runtime::core_state::Shared;
use crate::runtime::pipeline::Pipeline;
use std::rc::Rc;

/// A core's connection pipeline: every route behind the middleware stack (what
/// `runtime::boot::run` is handed).
pub fn pipeline(shared: &Shared) -> Rc<dyn Pipeline> {
    Rc::new(Service::new(routes(), &shared.config))
}

/// Every route of the server.
pub fn routes() -> Vec<Route> {
    let mut all = Vec::new();
    all.extend(system::routes());
    all.extend(library::routes());
    all.extend(playlists::routes());
    all.extend(batch::routes());
    all.extend(stream::routes());
    all.extend(cache::routes());
    all.extend(ws::routes());
    all.extend(monitor::routes());
    all.extend(openapi::routes());
    all
}
