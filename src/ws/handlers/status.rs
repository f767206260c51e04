//! Reports over the socket: the same cache and health reports the HTTP API shows.

use super::super::connection::WsConn;
use super::super::payload::{self, Empty};
use super::super::protocol::{Incoming, WsError};
use crate::runtime::core_state::CoreState;
use std::rc::Rc;

pub(super) fn cache_status(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    payload::parse::<Empty>(&m.payload)?;
    let report = crate::cache::report::health(&core.cache_sources());
    conn.send_msg("cache_status", &m.correlation_id, &report);
    Ok(())
}

pub(super) fn cache_stats(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    payload::parse::<Empty>(&m.payload)?;
    let report = crate::cache::report::stats(&core.cache_sources());
    conn.send_msg("cache_stats", &m.correlation_id, &report);
    Ok(())
}

pub(super) fn health_check(
    core: &Rc<CoreState>,
    conn: &Rc<WsConn>,
    m: &Incoming,
) -> Result<(), WsError> {
    payload::parse::<Empty>(&m.payload)?;
    let (report, _) = crate::runtime::health::report(core);
    conn.send_msg("health_check", &m.correlation_id, &report);
    Ok(())
}
