//! What the request-path benches share: one core's state built as `boot` builds it, and
//! the parse limits a connection uses, so every bench measures the same path.

#![allow(dead_code)]

pub mod alloc;

use auralis_server::config::Config;
use auralis_server::http::parse::Limits;
use auralis_server::http::service::Service;
use auralis_server::library::Library;
use auralis_server::runtime::core_state::{CoreId, CoreState, DriverKind, PinningMode, Shared};
use std::rc::Rc;
use std::sync::Arc;

/// Core 0 of a one-core server and its pipeline with the real routes.
pub fn core(
    cfg: Config,
    library: Option<Arc<Library>>,
    driver: DriverKind,
) -> (Rc<CoreState>, Service) {
    let shared = Shared::new(cfg, 1, PinningMode::ClientIp, library).expect("shared state");
    let service = Service::new(auralis_server::api::routes(), &shared.config);
    let core = Rc::new(CoreState::new(CoreId(0), driver, shared).expect("core state"));
    (core, service)
}

/// The parse limits the benches run under.
pub fn limits() -> Limits {
    Limits {
        max_header_bytes: 16 * 1024,
        max_headers: 96,
        max_body_bytes: 1 << 20,
    }
}
