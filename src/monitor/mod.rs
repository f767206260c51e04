//! The monitor: per-core HDR latency recording, exact aggregation once a second, health,
//! alerts, trends, Prometheus exposition (docs/ARCHITECTURE.md §7).

pub mod aggregator;
pub(crate) mod alerts;
pub(crate) mod process;
pub(crate) mod prometheus;
pub mod recorder;
pub mod series;
pub(crate) mod snapshot;
pub(crate) mod trends;
