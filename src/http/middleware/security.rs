//! Security headers every response carries.

use super::Layer;
use crate::http::context::RequestCtx;
use crate::http::response::Response;
use crate::runtime::core_state::CoreState;

pub(crate) struct SecurityHeaders;

impl Layer for SecurityHeaders {
    fn after(&self, _core: &CoreState, _cx: &RequestCtx, resp: &mut Response) {
        resp.push_header("X-Content-Type-Options", "nosniff");
    }
}
