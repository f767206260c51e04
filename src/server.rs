//! The whole server's routes: each adapter's table, composed above them (adapters
//! never import each other), behind one middleware stack per core.

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

/// Every route served: the REST API (with its WebSocket upgrade) and the Subsonic API.
pub fn routes() -> Vec<Route> {
    let mut all = crate::api::routes();
    all.extend(crate::subsonic::routes());
    all
}
