//! The monitor: per-core HDR latency recording, exact aggregation once a second, health,
//! alerts, trends, Prometheus exposition (ARCHITECTURE.md §6).

pub mod aggregator;
pub mod alerts;
pub mod prometheus;
pub mod recorder;
pub mod snapshot;
pub mod trends;
