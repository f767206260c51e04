//! Thread-per-core runtime: boot, pinned cores, listeners with the client-IP filter,
//! per-core state and the cross-core mailbox.

pub mod boot;
pub mod connections;
pub mod core_state;
pub mod counters;
pub mod health;
pub mod listener;
pub mod mailbox;
pub mod pipeline;
pub mod shutdown;
pub(crate) mod yield_now;
