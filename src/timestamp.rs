//! Wall-clock timestamps as every envelope, message and report shows them. Below every
//! layer, so the library and the transports stamp times the same way.

use std::time::SystemTime;

/// RFC 3339 UTC timestamp with milliseconds.
pub(crate) fn timestamp_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
