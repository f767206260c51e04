//! Per-core latency recording: one `hdrhistogram` per series (route template, chunk by
//! cache tier, WebSocket message type), owned by the core, no locks, no shared atomics.
//! Once a second the monitor asks for a snapshot: the core hands over its histograms
//! (swap, not copy) and starts fresh ones.

use hdrhistogram::Histogram;
use std::collections::HashMap;

/// Highest latency recorded exactly (60 s, in µs); longer ones saturate there.
pub const MAX_MICROS: u64 = 60_000_000;
/// Significant digits kept: every latency is resolved to 1 % of its value.
///
/// Was 3 (0.1 %). At 3 digits a histogram is 17 408 buckets (140 KB): each core
/// allocated and zeroed one per series per second (85 µs each), and the monitor's adds
/// and walks over them cost 22 ms per second for 200 changed series. At 2 digits it is
/// 2 432 buckets (19 KB), and the same second costs the monitor the figure in the
/// book's Performance chapter (`cargo bench --bench monitor`). Merges stay exact;
/// 1 % is the bound on every reported latency, tested against exact values in
/// `monitor::series`.
pub const SIGFIG: u8 = 2;

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// An HTTP API route template (the API latency SLO).
    Route,
    /// An HTTP stream route (chunks, files): shown per route, but judged by the chunk
    /// SLOs through the `Chunk` series, so a cold decode is not an API latency.
    Stream,
    /// Health probes, scrapes, the dashboard, the OpenAPI document (`Unlimited` routes):
    /// recorded, but kept out of the overall latency and the SLO alert, so that the
    /// probes watching an alert cannot keep it alive.
    Internal,
    /// Chunk requests by the tier that served them.
    Chunk,
    /// WebSocket messages by type.
    Ws,
}

/// A series: kind plus a static label (route template, tier, message type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub kind: SeriesKind,
    pub name: &'static str,
}

/// A fresh histogram with the bounds every series uses (merges need equal bounds).
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG) {
        Ok(h) => h,
        // Constant, valid bounds (checked by `bounds_are_valid` below).
        Err(e) => unreachable!("hdrhistogram bounds: {e:?}"),
    }
}

/// Responses of one series by status class: index 1..=5 for 1xx..5xx.
pub type StatusClasses = [u64; 6];

/// A core's histograms since its last snapshot, and its responses per series by status
/// class since start (cumulative: a few dozen routes, cloned once a second).
#[derive(Default)]
pub struct CoreRecorder {
    series: HashMap<SeriesKey, Histogram<u64>>,
    statuses: HashMap<SeriesKey, StatusClasses>,
}

impl CoreRecorder {
    /// Records one latency in µs. The cost that matters: `cargo bench --bench monitor`.
    #[inline]
    pub fn record(&mut self, kind: SeriesKind, name: &'static str, micros: u64) {
        self.series
            .entry(SeriesKey { kind, name })
            .or_insert_with(new_histogram)
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Counts one response of a series by its status class.
    #[inline]
    pub(crate) fn record_status(&mut self, kind: SeriesKind, name: &'static str, status: u16) {
        let class = usize::from(status / 100).min(5);
        self.statuses.entry(SeriesKey { kind, name }).or_default()[class] += 1;
    }

    /// Hands over everything recorded since the last call.
    pub fn take(&mut self) -> Vec<(SeriesKey, Histogram<u64>)> {
        self.series.drain().collect()
    }

    /// Responses per series by status class since start.
    pub(crate) fn statuses(&self) -> Vec<(SeriesKey, StatusClasses)> {
        self.statuses.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounds_are_valid() {
        assert!(
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, super::MAX_MICROS, super::SIGFIG)
                .is_ok()
        );
    }
}
