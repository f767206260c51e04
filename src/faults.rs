//! Fault injection for the crash-safety tests: panics planted at three boundaries the
//! server must survive (an HTTP handler, a WebSocket handler, a decode job), armed only
//! by `AURALIS_FAULTS=http_handler,ws_handler,decode` in the environment at start.
//!
//! Unarmed (every real deployment), each check is one load of a `OnceLock` already
//! set: nothing else runs and nothing can trigger a fault. Armed, a fault still needs
//! its trigger in the input, so a test's ordinary requests stay ordinary:
//! - `http_handler`: a request with `X-Auralis-Fault: panic`;
//! - `ws_handler`: a message of type `fault_panic`;
//! - `decode`: a chunk of a track whose file name contains `auralis-fault-panic`.

use std::sync::OnceLock;

/// The environment variable that arms faults.
pub(crate) const ENV: &str = "AURALIS_FAULTS";

#[derive(Debug, Default, Clone, Copy)]
struct Armed {
    http_handler: bool,
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
            ws_handler: has("ws_handler"),
            decode: has("decode"),
        };
        if armed.http_handler || armed.ws_handler || armed.decode {
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
}
