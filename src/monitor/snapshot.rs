//! What a core sends the monitor each second (crosses threads), and exact merging:
//! hdrhistogram's `add` sums bucket counts, so merged percentiles are those of one
//! histogram fed every sample.

use super::recorder::SeriesKey;
#[cfg(test)]
use super::recorder::new_histogram;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

/// Cumulative counters of one core (the monitor computes per-second deltas).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct CoreCounters {
    pub requests: u64,
    /// By status class: index 1..=5 for 1xx..5xx.
    pub statuses: [u64; 6],
    pub bytes_out: u64,
    pub rate_limited: u64,
    pub ws_messages: u64,
    pub connections_opened: u64,
    pub connections_closed: u64,
    /// Observation requests (probes, scrapes, dashboard), not in `requests`.
    pub observed: u64,
    /// WebSocket `low` notifications shed, and messages refused (then closed 1008).
    pub ws_dropped_low: u64,
    pub ws_refused: u64,
    pub tls_handshakes: u64,
    pub tls_handshake_failures: u64,
    pub redirected: u64,
    pub proxy_refused: u64,
    pub handed_off: u64,
    pub handoffs_refused: u64,
    pub session_joins_refused: u64,
    pub per_ip_refused: u64,
    pub connection_panics: u64,
    pub tier1_hits: u64,
    pub tier1_misses: u64,
    pub tier2_hits: u64,
    pub tier2_misses: u64,
}

impl CoreCounters {
    /// Every counter as a slice position, so arithmetic is written once.
    fn fields_mut(&mut self) -> [&mut u64; 28] {
        let [s0, s1, s2, s3, s4, s5] = &mut self.statuses;
        [
            &mut self.requests,
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            &mut self.bytes_out,
            &mut self.rate_limited,
            &mut self.ws_messages,
            &mut self.connections_opened,
            &mut self.connections_closed,
            &mut self.observed,
            &mut self.ws_dropped_low,
            &mut self.ws_refused,
            &mut self.tls_handshakes,
            &mut self.tls_handshake_failures,
            &mut self.redirected,
            &mut self.proxy_refused,
            &mut self.handed_off,
            &mut self.handoffs_refused,
            &mut self.session_joins_refused,
            &mut self.per_ip_refused,
            &mut self.connection_panics,
            &mut self.tier1_hits,
            &mut self.tier1_misses,
            &mut self.tier2_hits,
            &mut self.tier2_misses,
        ]
    }

    fn zip_with(mut self, mut other: Self, f: impl Fn(u64, u64) -> u64) -> Self {
        for (a, b) in self.fields_mut().into_iter().zip(other.fields_mut()) {
            *a = f(*a, *b);
        }
        self
    }
}

/// The change from `before` to `self` (cumulative counters never go back; a core
/// that restarted its counters reads as no change, not a wrap).
impl std::ops::Sub for CoreCounters {
    type Output = CoreCounters;
    fn sub(self, before: CoreCounters) -> CoreCounters {
        self.zip_with(before, u64::saturating_sub)
    }
}

impl std::ops::AddAssign for CoreCounters {
    fn add_assign(&mut self, other: CoreCounters) {
        *self = self.zip_with(other, u64::saturating_add);
    }
}

/// One core's second.
#[derive(Debug, Clone)]
pub(crate) struct CoreSnapshot {
    pub core: u16,
    pub series: Vec<(SeriesKey, Histogram<u64>)>,
    /// Responses per series by status class, since start.
    pub statuses: Vec<(SeriesKey, super::recorder::StatusClasses)>,
    pub counters: CoreCounters,
    pub connections: u64,
    pub ws_connections: u64,
    /// WebSocket connections with a ping unanswered past the heartbeat interval.
    pub ws_stale: u64,
    /// Clients answered 429 this second.
    pub limited_clients: Vec<std::net::IpAddr>,
    pub tier1_bytes: u64,
}

/// Merges histograms the caller owns: a series new to `into` is moved in (no fresh
/// 140 KB histogram allocated and zeroed), an existing one is added to.
pub(crate) fn merge_owned(
    into: &mut BTreeMap<SeriesKey, Histogram<u64>>,
    series: Vec<(SeriesKey, Histogram<u64>)>,
) {
    for (k, h) in series {
        match into.get_mut(&k) {
            Some(slot) => merge_one(slot, &h),
            None => {
                into.insert(k, h);
            }
        }
    }
}

/// Adds `h` into `slot` (same bounds everywhere, so `add` cannot fail; saturate if it does).
pub(crate) fn merge_one(slot: &mut Histogram<u64>, h: &Histogram<u64>) {
    if slot.add(h).is_err() {
        for v in h.iter_recorded() {
            slot.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// Percentile summary of a histogram (µs).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

pub(crate) fn summarize(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    let sum_us = h
        .iter_recorded()
        .map(|v| h.median_equivalent(v.value_iterated_to()) as f64 * v.count_at_value() as f64)
        .sum();
    summary_with_sum(h, sum_us)
}

/// The summary, given the sum of the values (each at the middle of its bucket, as
/// hdrhistogram's own mean takes them), so callers that walk the counts anyway don't
/// walk them again for the mean.
pub(crate) fn summary_with_sum(h: &Histogram<u64>, sum_us: f64) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    // One pass over the counts for all four quantiles (each `value_at_quantile` is a
    // scan of its own: `cargo bench --bench monitor` went from 30 ms to the figure in
    // the book's Performance chapter for 200 histograms).
    let mut q = h.value_at_quantiles([0.50, 0.90, 0.99, 0.999]);
    let (p50, p90, p99, p999) = (
        q.next().unwrap_or(0),
        q.next().unwrap_or(0),
        q.next().unwrap_or(0),
        q.next().unwrap_or(0),
    );
    Summary {
        count: h.len(),
        p50,
        p90,
        p99,
        p999,
        max: h.max(),
        mean: mean_us(sum_us, h.len()),
    }
}

/// The mean of `count` values summing to `sum_us`, to 0.1 µs.
pub(crate) fn mean_us(sum_us: f64, count: u64) -> f64 {
    (sum_us / count.max(1) as f64 * 10.0).round() / 10.0
}

/// What the reports show of one histogram, computed once each time it changes (the
/// monitor caches these per series, so an idle series costs nothing per second): its
/// summary, how many values lie at or below each of the Prometheus bucket bounds, and
/// the sum of its values. Two passes over the counts, where computing each figure on
/// its own would walk them once per bucket bound and once per quantile.
#[derive(Debug, Clone, Default)]
pub(crate) struct Figures {
    pub summary: Summary,
    /// Counts at or below each bound of the `bounds_us` given to [`figures`].
    pub at_or_below: Vec<u64>,
    /// Sum of the values (µs), each taken at the middle of its bucket.
    pub sum_us: f64,
}

/// The figures from scratch: what the series store keeps incrementally (its tests
/// compare the two).
#[cfg(test)]
pub(crate) fn figures(h: &Histogram<u64>, bounds_us: &[u64]) -> Figures {
    let mut at_or_below = vec![0; bounds_us.len()];
    let mut sum_us = 0.0;
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        let count = v.count_at_value();
        sum_us += h.median_equivalent(value) as f64 * count as f64;
        // A bucket counts towards a bound when it starts at or below it: the same
        // buckets `count_between(0, bound)` sums.
        let low = h.lowest_equivalent(value);
        for (slot, bound) in at_or_below.iter_mut().zip(bounds_us) {
            if low <= *bound {
                *slot += count;
            }
        }
    }
    Figures {
        summary: summary_with_sum(h, sum_us),
        at_or_below,
        sum_us,
    }
}

#[cfg(test)]
mod counter_tests {
    use super::CoreCounters;

    #[test]
    fn counters_subtract_and_add_field_by_field() {
        let mut a = CoreCounters {
            requests: 10,
            tier2_misses: 3,
            ..Default::default()
        };
        a.statuses[5] = 4;
        let b = CoreCounters {
            requests: 4,
            tier2_misses: 5,
            ..Default::default()
        };
        let d = a - b;
        assert_eq!((d.requests, d.tier2_misses, d.statuses[5]), (6, 0, 4));
        let mut sum = d;
        sum += b;
        assert_eq!(
            (sum.requests, sum.tier2_misses, sum.statuses[5]),
            (10, 5, 4)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::recorder::{CoreRecorder, SeriesKind};

    #[test]
    fn figures_equal_the_histograms_own_answers() {
        let mut h = new_histogram();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            h.saturating_record(1 + x % 3_000_000);
        }
        let bounds = [100, 250, 1_000, 25_000, 1_000_000, 10_000_000];
        let f = figures(&h, &bounds);
        for (i, b) in bounds.iter().enumerate() {
            assert_eq!(f.at_or_below[i], h.count_between(0, *b), "bound {b}");
        }
        let mean = h.mean() * h.len() as f64;
        assert!(
            (f.sum_us - mean).abs() / mean < 1e-9,
            "{} vs {mean}",
            f.sum_us
        );
        assert_eq!(f.summary, summarize(&h));
        assert!(
            (f.summary.mean - h.mean()).abs() <= 0.1,
            "{} vs {}",
            f.summary.mean,
            h.mean()
        );
        assert_eq!(f.summary.p99, h.value_at_quantile(0.99));
    }

    #[test]
    fn merged_percentiles_equal_one_histogram_fed_everything() {
        // A deterministic spread of latencies, split over three "cores".
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut cores: Vec<CoreRecorder> = (0..3).map(|_| CoreRecorder::default()).collect();
        let mut whole = new_histogram();
        for i in 0..30_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = 1 + (x % 50_000) * (1 + i % 3);
            cores[(i % 3) as usize].record(SeriesKind::Route, "/api/x", v);
            whole.saturating_record(v);
        }
        let mut merged = BTreeMap::new();
        for c in &mut cores {
            merge_owned(&mut merged, c.take());
        }
        let m = &merged[&SeriesKey {
            kind: SeriesKind::Route,
            name: "/api/x",
        }];
        assert_eq!(summarize(m), summarize(&whole));
        assert_eq!(m.len(), 30_000);
        for q in [0.5, 0.9, 0.99, 0.999, 0.9999] {
            assert_eq!(m.value_at_quantile(q), whole.value_at_quantile(q), "q {q}");
        }
    }
}
