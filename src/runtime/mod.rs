//! Thread-per-core runtime: boot, pinned cores, listeners with the client-IP filter,
//! per-core state and the cross-core mailbox.

pub mod boot;
pub mod connections;
pub mod core_state;
pub mod counters;
pub mod listener;
pub mod mailbox;
pub mod shutdown;
