//! Fault injection for the crash-safety tests: panics planted at the boundaries the
//! server must survive (an HTTP handler, the request parser, a connection task, a
//! WebSocket handler, a decode job) and one it must not hide (a core's own loop), armed
//! only by `AURALIS_FAULTS=http_handler,parser,connection,core,ws_handler,decode` in the
//! environment at start.
//!
//! Unarmed (every real deployment), each check is one load of a `OnceLock` already
//! set: nothing else runs and nothing can trigger a fault. Armed, a fault still needs
//! its trigger in the input, so a test's ordinary requests stay ordinary:
//! - `http_handler`: a request with `X-Auralis-Fault: panic`;
//! - `parser`, `connection`, `core`: a request with `X-Auralis-Fault: parser`
//!   (`connection`, `core`), panicking inside the parser's guard (a 500), in the
//!   connection task outside any handler (the connection closes), or in a task of the
//!   core's own outside every guard (the process stops with an error);
//! - `ws_handler`: a message of type `fault_panic`;
//! - `decode`: a chunk of a track whose file name contains `auralis-fault-panic` (or
//!   `auralis-fault-hang`: the job sleeps a minute, as on a hung filesystem).

use std::sync::OnceLock;

/// The environment variable that arms faults.
pub(crate) const ENV: &str = "AURALIS_FAULTS";

#[derive(Debug, Default, Clone, Copy)]
struct Armed {
    http_handler: bool,
    parser: bool,
    connection: bool,
    core: bool,
    ws_handler: bool,
    decode: bool,
}

static ARMED: OnceLock<Armed> = OnceLock::new();

fn armed() -> Armed {
    *ARMED.get_or_init(|| {
        let list = std::env::var(ENV).unwrap_or_default();
        let has = |name: &str| list.split(',').any(|p| p.trim() == name);
        let armed = Armed {
            http_handler: has("http_handler"),
            parser: has("parser"),
            connection: has("connection"),
            core: has("core"),
            ws_handler: has("ws_handler"),
            decode: has("decode"),
        };
        if !list.trim().is_empty() {
            tracing::warn!(faults = %list, "fault injection is armed (tests only)");
        }
        armed
    })
}

/// Reads the environment once, at start, so the first request pays nothing.
pub(crate) fn init() {
    let _ = armed();
}

/// In an HTTP handler: panics for a request carrying the trigger header. The header is
/// looked up only when armed, so an ordinary request pays no header scan.
pub(crate) fn http_handler<'a>(fault_header: impl FnOnce() -> Option<&'a str>) {
    if armed().http_handler && fault_header() == Some("panic") {
        panic!("injected fault: HTTP handler");
    }
}

/// Where a request can be made to panic outside its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// Inside the request parser's guard.
    Parser,
    /// In the connection task, outside the handler.
    Connection,
    /// In a task of the core's own, outside every guard.
    Core,
}

/// Panics (or, for `Core`, spawns a task that panics) for a request whose
/// `X-Auralis-Fault` names this boundary. Unarmed: one load, no header lookup.
pub(crate) fn request<'a>(at: Boundary, fault_header: impl FnOnce() -> Option<&'a str>) {
    let a = armed();
    let (on, name) = match at {
        Boundary::Parser => (a.parser, "parser"),
        Boundary::Connection => (a.connection, "connection"),
        Boundary::Core => (a.core, "core"),
    };
    if !on || fault_header() != Some(name) {
        return;
    }
    if at == Boundary::Core {
        monoio::spawn(async { panic!("injected fault: core loop") });
        return;
    }
    panic!("injected fault: {name}");
}

/// In a WebSocket handler: panics for a `fault_panic` message.
pub(crate) fn ws_handler(kind: &str) {
    if armed().ws_handler && kind == "fault_panic" {
        panic!("injected fault: WebSocket handler");
    }
}

/// In a decode job: panics for a track file whose name carries the marker.
pub(crate) fn decode(path: &std::path::Path) {
    if armed().decode
        && path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("auralis-fault-panic"))
    {
        panic!("injected fault: decode job");
    }
    if armed().decode
        && path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("auralis-fault-hang"))
    {
        // A decode that never returns (a hung network filesystem).
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}
