//! The HTTP/1.1 → WebSocket upgrade (RFC 6455 §4.2): validation and the 101 answer.

use crate::http::request::{Method, Request};
use crate::runtime::core_state::CoreState;
use base64::Engine;
use sha1::{Digest, Sha1};

/// What the handshake told about the client; kept by its connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    /// `X-Client-Version`, at most 64 characters.
    pub version: Option<String>,
    /// The principal of the token the upgrade carried.
    pub principal: Option<crate::library::tokens::Principal>,
    /// May act with its loopback address's rights (see `WsConn::address_trusted`).
    pub address_trusted: bool,
    /// The upgrade's W3C `traceparent` (when tracing is on and it parses): the trace
    /// its messages' spans continue.
    pub trace: Option<crate::trace::SpanContext>,
}

/// The subprotocol a client may offer (browsers pass their token beside it as
/// `bearer.<token>`, since they cannot set an `Authorization` header).
pub(crate) const SUBPROTOCOL: &str = "auralis.v1";

/// Path of the WebSocket endpoint.
pub(crate) const PATH: &str = "/ws";
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether the request asks for a WebSocket upgrade (whatever its validity).
pub(crate) fn wants_upgrade(req: &Request) -> bool {
    req.path() == PATH
        && req.header("upgrade").is_some_and(|u| {
            u.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
        })
}

/// `Sec-WebSocket-Accept` for a key.
pub(crate) fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Why a handshake is refused (answered 400, then the connection closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UpgradeError {
    #[error("a WebSocket upgrade must be GET over HTTP/1.1")]
    NotGet11,
    #[error("Connection: Upgrade is required")]
    NoConnectionUpgrade,
    #[error("Sec-WebSocket-Version: 13 is required")]
    Version,
    #[error("Sec-WebSocket-Key is required")]
    NoKey,
    #[error("Sec-WebSocket-Key is not base64")]
    KeyNotBase64,
    #[error("Sec-WebSocket-Key must be 16 bytes")]
    KeyLength,
}

/// Checks the handshake; returns the accept key or why it is refused.
pub(crate) fn validate(req: &Request) -> Result<String, UpgradeError> {
    if req.method != Method::Get || req.version != 1 {
        return Err(UpgradeError::NotGet11);
    }
    let conn_upgrade = req.header("connection").is_some_and(|c| {
        c.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !conn_upgrade {
        return Err(UpgradeError::NoConnectionUpgrade);
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(UpgradeError::Version);
    }
    let key = req.header("sec-websocket-key").ok_or(UpgradeError::NoKey)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| UpgradeError::KeyNotBase64)?;
    if decoded.len() != 16 {
        return Err(UpgradeError::KeyLength);
    }
    Ok(accept_key(key))
}

/// The 101 response; names `auralis.v1` when the client offered it (RFC 6455 §4.2.2:
/// the server selects one of the offered subprotocols, never the token entry).
pub(crate) fn switching_protocols(
    accept: &str,
    request_id: &str,
    served_by: &str,
    subprotocol: bool,
) -> Vec<u8> {
    let proto = if subprotocol {
        format!("Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n")
    } else {
        String::new()
    };
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{proto}X-Request-ID: {request_id}\r\nX-Served-By: {served_by}\r\n\r\n"
    )
    .into_bytes()
}

/// Answers an upgrade request whose principal is already known: the 101 head to write
/// and what the connection keeps about its client, or why it is refused.
pub(crate) fn respond(
    core: &CoreState,
    req: &Request,
    principal: Option<crate::library::tokens::Principal>,
    address_trusted: bool,
) -> Result<(Vec<u8>, Client), UpgradeError> {
    let accept = validate(req)?;
    let id = crate::http::middleware::request_id::for_request(core, req);
    let version = req
        .header("x-client-version")
        .map(|v| v.chars().take(64).collect());
    let subprotocol = req
        .header("sec-websocket-protocol")
        .is_some_and(|p| p.split(',').any(|x| x.trim() == SUBPROTOCOL));
    let head = switching_protocols(&accept, &id, core.served_by, subprotocol);
    Ok((
        head,
        Client {
            version,
            principal,
            address_trusted,
            trace: crate::trace::tracer()
                .and(req.header("traceparent"))
                .and_then(|v| crate::trace::SpanContext::parse(v).ok()),
        },
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc6455_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            super::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
