//! auralis-loadtest: a thread-per-core load generator on glommio (one pinned executor per
//! core, sharing no code path with the server). Open model (constant arrival rate, each
//! latency measured from the request's *intended* send time, so a stalled server is
//! charged for every request it delayed: coordinated-omission correction as in wrk2)
//! and closed model (C connections, each sending as soon as the last answer arrived).

pub mod apimix;
pub mod blocking;
pub mod broadcast;
pub mod client;
pub mod endpoint;
pub mod exec;
pub mod limits;
pub mod listeners;
pub mod plan;
pub mod plot;
pub mod report;
pub mod run;
pub mod stream;
pub mod subsonic;
pub mod threshold;
pub mod workload;
pub mod ws;
