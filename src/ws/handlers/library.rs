//! Library messages: `library_search` (the same typed query and page as
//! `GET /api/tracks?search=`) and `library_sync` (a scan with progress).

use super::super::connection::WsConn;
use super::super::payload::{self, Empty};
use super::super::protocol::{Incoming, WsError, codes};
use crate::library::LibraryError;
use crate::library::page::{DEFAULT_LIMIT, MAX_LIMIT, PageMode, PageRequest};
use crate::library::query::TrackQuery;
use crate::library::scan::ScanState;
use crate::runtime::core_state::CoreState;
use serde::Deserialize;
use serde_json::json;
use std::rc::Rc;

/// Longest search text, as for `GET /api/tracks?search=`.
const MAX_QUERY: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    query: String,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub(super) fn search(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    let p: Search = payload::parse(&m.payload)?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(WsError::field(
            "limit",
            "value_error",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let lib = core.library.as_ref().ok_or(LibraryError::Unconfigured)?;
    if p.query.chars().count() > MAX_QUERY {
        return Err(WsError::field(
            "query",
            "value_error",
            format!("at most {MAX_QUERY} characters"),
        ));
    }
    let query = TrackQuery {
        search: Some(p.query),
        favorites_of: crate::library::tokens::owner_of(conn.principal.as_ref()).id(),
        ..TrackQuery::default()
    };
    let page = PageRequest {
        limit,
        mode: PageMode::Cursor(p.cursor),
    };
    let page = lib.tracks(&query, &page)?;
    conn.send_msg(
        "library_search",
        &m.correlation_id,
        &json!({"tracks": page.items, "meta": page.meta}),
    );
    Ok(())
}

pub(super) fn sync(core: &Rc<CoreState>, conn: &Rc<WsConn>, m: &Incoming) -> Result<(), WsError> {
    payload::parse::<Empty>(&m.payload)?;
    // A scan is an admin's, over HTTP or here.
    conn.permit(core, crate::library::tokens::Role::Admin)?;
    let lib = core
        .library
        .as_ref()
        .ok_or(LibraryError::Unconfigured)?
        .library
        .clone();
    let root = lib
        .root
        .clone()
        .ok_or_else(|| WsError::new(codes::NOT_FOUND, "no library folder is configured"))?;
    let started = lib.start_scan(root);
    let (conn, cid) = (conn.clone(), m.correlation_id.clone());
    monoio::spawn(async move {
        let mut last = String::new();
        loop {
            let p = lib.scan.lock().map(|p| p.clone()).unwrap_or_default();
            let v = json!({"started": started, "progress": p});
            let text = v.to_string();
            if text != last {
                conn.send_msg("library_sync", &cid, &v);
                last = text;
            }
            // The `library` topic hears of the scan from the library itself
            // (`library_changed` scan_started / scan_finished), however it was started.
            if p.state != ScanState::Running || conn.is_killed() {
                return;
            }
            monoio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    Ok(())
}
