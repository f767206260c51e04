//! Thread-per-core runtime: boot, pinned cores, listeners with the client-IP filter,
//! per-core state and the cross-core mailbox.

pub mod boot;
pub(crate) mod connections;
pub mod core_state;
pub(crate) mod counters;
pub(crate) mod cpus;
pub(crate) mod health;
pub mod listener;
pub(crate) mod mailbox;
pub(crate) mod memory;
pub(crate) mod pipeline;
pub(crate) mod proxied;
pub(crate) mod proxy_header;
pub(crate) mod readiness;
pub mod request_id;
pub(crate) mod shutdown;
pub(crate) mod signal;
pub(crate) mod transport;
pub(crate) mod yield_now;
