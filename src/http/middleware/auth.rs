//! Who is asking, and may they: reads the bearer token (`Authorization: Bearer …`),
//! resolves it to a principal through the core's library reader, and checks the
//! matched route's [`Access`] against the principal's role.
//!
//! The rules themselves are the library's (`library::tokens::permit`): until the first
//! token is created, changes are allowed only to clients on loopback (the README's first
//! command keeps working on one's own machine; an exposed demo is read-only), and only
//! when the request shows it is not a web page's (`http::site`). Once a token has
//! existed, every change needs one.

use super::{Flow, Layer};
use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::request::Request;
use crate::http::router::Access;
use crate::http::site::{self, SiteNames};
use crate::library::tokens::{Denied, Principal, Role, permit};
use crate::runtime::core_state::CoreState;

pub(crate) struct Auth {
    pub(crate) site: SiteNames,
}

/// The principal of the request's bearer token; `Ok(None)` without one.
pub(crate) fn bearer(
    core: &CoreState,
    header: Option<&str>,
) -> Result<Option<Principal>, ApiError> {
    let Some(value) = header else {
        return Ok(None);
    };
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized {
            message: "Authorization must be `Bearer <token>`".into(),
            invalid_token: true,
        })?;
    principal(core, token).map(Some)
}

/// The principal a token names, or 401 `invalid_token`.
pub(crate) fn principal(core: &CoreState, token: &str) -> Result<Principal, ApiError> {
    let found = match &core.library {
        Some(reader) => reader.principal(token)?,
        None => None,
    };
    found.ok_or_else(|| ApiError::Unauthorized {
        message: "the token is unknown or revoked".into(),
        invalid_token: true,
    })
}

/// Whether `peer` counts as local for the no-token rule (`[auth] trust_loopback`);
/// `::ffff:127.0.0.1` on a dual-stack listener is loopback too.
pub(crate) fn local(core: &CoreState, peer: std::net::SocketAddr) -> bool {
    core.shared.config.auth.trust_loopback && crate::cidr::is_loopback(peer.ip())
}

/// Whether `principal` (or, without one, this peer) may do what `access` covers.
pub(crate) fn authorize(
    core: &CoreState,
    access: Access,
    principal: Option<&Principal>,
    loopback: bool,
) -> Result<(), ApiError> {
    let needed = match access {
        Access::Public => return Ok(()),
        Access::Listener => Role::Listener,
        Access::Admin => Role::Admin,
    };
    match permit(core.library.as_ref(), needed, principal, loopback)? {
        Ok(()) => Ok(()),
        Err(Denied::NeedsToken) => Err(ApiError::Unauthorized {
            message: Denied::NeedsToken.to_string(),
            invalid_token: false,
        }),
        Err(denied) => Err(ApiError::Forbidden(denied.to_string())),
    }
}

/// The principal of a WebSocket upgrade: `Authorization: Bearer …`, or, for browsers
/// (which cannot set headers on a WebSocket), a `bearer.<token>` entry in
/// `Sec-WebSocket-Protocol`.
pub(crate) fn upgrade_principal(
    core: &CoreState,
    req: &Request,
) -> Result<Option<Principal>, ApiError> {
    if let Some(p) = bearer(core, req.header("authorization"))? {
        return Ok(Some(p));
    }
    let offered = req.header("sec-websocket-protocol").unwrap_or("");
    match offered
        .split(',')
        .find_map(|p| p.trim().strip_prefix("bearer."))
    {
        Some(token) => principal(core, token).map(Some),
        None => Ok(None),
    }
}

impl Layer for Auth {
    fn before(
        &self,
        core: &CoreState,
        cx: &mut RequestCtx,
        req: &Request,
    ) -> Result<Flow, ApiError> {
        cx.principal = bearer(core, req.header("authorization"))?;
        let local = local(core, cx.peer);
        authorize(core, cx.access, cx.principal.as_ref(), local)?;
        let by_address = local && cx.principal.is_none() && cx.access != Access::Public;
        if by_address {
            // Granted for the address alone: only if no web page sent it.
            site::check(&core.shared.config, &self.site, req)?;
        }
        Ok(Flow::Continue)
    }
}
