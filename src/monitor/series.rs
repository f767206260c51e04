//! Every latency series the monitor keeps: per core (for Prometheus), cumulative (for
//! the endpoint table) and this second's (for the per-second views and alerts).
//!
//! Cost contract (`cargo bench --bench monitor`): a second's merge walks each changed
//! series' *new* samples once — a per-second histogram is sparse — and never the
//! since-start histograms. Their bucket counts, sums, counts and maxima are kept
//! exact by adding the second's buckets; their quantiles are recomputed (one walk)
//! only when the series has grown by more than 1 % since the last time. So a
//! since-start quantile always describes at least 99 % of the series' samples (all of
//! them for a series with fewer than 100), the documented error bound; everything
//! else, and every per-second figure, is exact.

use super::alerts::LatencyClass;
use super::prometheus;
use super::recorder::{SeriesKey, StatusClasses, new_histogram};
use super::snapshot::{Figures, mean_us, merge_one, merge_owned, summarize, summary_with_sum};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One core's series of one second, as handed over (moved, not copied).
pub type CoreSeries = (u16, Vec<(SeriesKey, Histogram<u64>)>);

/// A since-start histogram and its figures, kept current without walking it.
pub(crate) struct Kept {
    hist: Histogram<u64>,
    figures: Figures,
    /// The count at the last quantile refresh.
    quantiles_at: u64,
}

impl Kept {
    fn new(buckets: usize) -> Self {
        Self {
            hist: new_histogram(),
            figures: Figures {
                at_or_below: vec![0; buckets],
                ..Figures::default()
            },
            quantiles_at: 0,
        }
    }

    /// Adds one second's non-zero buckets `(value, count)`.
    fn add(&mut self, second: &[(u64, u64)], bounds_us: &[u64]) {
        let f = &mut self.figures;
        for &(value, count) in second {
            self.hist.saturating_record_n(value, count);
            f.sum_us += self.hist.median_equivalent(value) as f64 * count as f64;
            // A bucket counts towards a bound when it starts at or below it.
            let low = self.hist.lowest_equivalent(value);
            for (slot, bound) in f.at_or_below.iter_mut().zip(bounds_us) {
                if low <= *bound {
                    *slot += count;
                }
            }
        }
        let count = self.hist.len();
        if count > self.quantiles_at + self.quantiles_at / 100 {
            f.summary = summary_with_sum(&self.hist, f.sum_us);
            self.quantiles_at = count;
        } else {
            // Exact without a walk: count, maximum, mean.
            f.summary.count = count;
            f.summary.max = self.hist.max();
            f.summary.mean = mean_us(f.sum_us, count);
        }
    }

    pub(crate) fn figures(&self) -> &Figures {
        &self.figures
    }
}

/// The non-zero buckets of a histogram, lowest first: `(value in the bucket, count)`.
fn buckets_of(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// The series store. Merging a snapshot refreshes the series it changed only.
#[derive(Default)]
pub struct SeriesStore {
    per_core: BTreeMap<(u16, SeriesKey), Kept>,
    cumulative: BTreeMap<SeriesKey, Kept>,
    /// This second's series, merged over cores.
    last_tick: BTreeMap<SeriesKey, Histogram<u64>>,
    bounds: Vec<u64>,
}

impl SeriesStore {
    /// Merges one second of every core's series.
    pub fn merge(&mut self, snaps: Vec<CoreSeries>) {
        if self.bounds.is_empty() {
            self.bounds = prometheus::bucket_bounds_us();
        }
        let n = self.bounds.len();
        self.last_tick.clear();
        for (core, series) in &snaps {
            for (k, h) in series {
                let second = buckets_of(h);
                self.per_core
                    .entry((*core, *k))
                    .or_insert_with(|| Kept::new(n))
                    .add(&second, &self.bounds);
                self.cumulative
                    .entry(*k)
                    .or_insert_with(|| Kept::new(0))
                    .add(&second, &[]);
            }
        }
        for (_, series) in snaps {
            merge_owned(&mut self.last_tick, series);
        }
    }

    /// Per core and series, since start, for the Prometheus exposition.
    pub(crate) fn per_core(&self) -> &BTreeMap<(u16, SeriesKey), Kept> {
        &self.per_core
    }

    /// All API route latencies of this second in one histogram.
    pub fn overall(&self) -> Histogram<u64> {
        self.class_tick(LatencyClass::Api)
    }

    /// This second's latencies of one class in one histogram.
    pub(crate) fn class_tick(&self, class: LatencyClass) -> Histogram<u64> {
        let mut sum = new_histogram();
        for (k, h) in &self.last_tick {
            if LatencyClass::of(k) == Some(class) {
                merge_one(&mut sum, h);
            }
        }
        sum
    }

    /// The `/api/metrics/endpoints` rows: since start and this second, per series, with
    /// HTTP responses by status class since start.
    pub(crate) fn endpoints(
        &self,
        statuses: &BTreeMap<(u16, SeriesKey), StatusClasses>,
    ) -> Vec<Value> {
        let mut by_key: BTreeMap<SeriesKey, StatusClasses> = BTreeMap::new();
        for ((_, k), classes) in statuses {
            let sum = by_key.entry(*k).or_default();
            for (s, c) in sum.iter_mut().zip(classes) {
                *s += c;
            }
        }
        self.cumulative
            .iter()
            .map(|(k, kept)| {
                let total = kept.figures.summary;
                let last = self.last_tick.get(k).map(summarize).unwrap_or_default();
                let mut row =
                    json!({"kind": k.kind, "name": k.name, "total": total, "last_second": last});
                if let Some(c) = by_key.get(k) {
                    row["responses"] =
                        json!({"1xx": c[1], "2xx": c[2], "3xx": c[3], "4xx": c[4], "5xx": c[5]});
                }
                row
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::recorder::SeriesKind;
    use crate::monitor::snapshot::figures;

    fn key() -> SeriesKey {
        SeriesKey {
            kind: SeriesKind::Route,
            name: "/api/x",
        }
    }

    /// The kept figures against a from-scratch computation over the whole series:
    /// buckets, sum, count, max and mean exact; quantiles within the 1 % bound.
    #[test]
    fn kept_figures_match_a_full_recount() {
        let mut store = SeriesStore::default();
        let mut whole = new_histogram();
        for second in 0..300u64 {
            let mut h = new_histogram();
            for k in 0..(50 + second % 7 * 40) {
                let v = 20 + (k * 7919 + second * 104_729) % (5_000 + second * 100);
                h.saturating_record(v);
                whole.saturating_record(v);
            }
            store.merge(vec![(0, vec![(key(), h)])]);
            let bounds = prometheus::bucket_bounds_us();
            let exact = figures(&whole, &bounds);
            let kept = store.per_core()[&(0, key())].figures();
            assert_eq!(kept.at_or_below, exact.at_or_below, "second {second}");
            assert!((kept.sum_us - exact.sum_us).abs() < 1e-6 * exact.sum_us);
            let (k, e) = (kept.summary, exact.summary);
            assert_eq!((k.count, k.max, k.mean), (e.count, e.max, e.mean));
            for (kq, eq) in [
                (k.p50, e.p50),
                (k.p90, e.p90),
                (k.p99, e.p99),
                (k.p999, e.p999),
            ] {
                // At most 1 % of the samples are newer than the quantiles: the kept value
                // is the exact quantile of a rank at most 1 % away.
                let lo = whole.value_at_quantile(0.0f64.max(rank(&whole, eq) - 0.0101));
                let hi = whole.value_at_quantile(1.0f64.min(rank(&whole, eq) + 0.0101));
                assert!(kq >= lo && kq <= hi, "second {second}: {kq} vs exact {eq}");
            }
        }
    }

    /// The resolution bound against raw samples: each reported quantile is within 1 %
    /// of the nearest-rank value of the samples themselves.
    #[test]
    fn reported_quantiles_are_within_one_percent_of_the_raw_samples() {
        let mut raw: Vec<u64> = (0..5_000u64)
            .map(|k| 30 + (k * 104_729 % 9_973) * (1 + k % 50))
            .collect();
        let mut h = new_histogram();
        for v in &raw {
            h.saturating_record(*v);
        }
        let mut store = SeriesStore::default();
        store.merge(vec![(0, vec![(key(), h)])]);
        raw.sort_unstable();
        let exact = |q: f64| raw[((q * raw.len() as f64).ceil() as usize).clamp(1, raw.len()) - 1];
        let s = store.per_core()[&(0, key())].figures().summary;
        for (q, got) in [(0.5, s.p50), (0.9, s.p90), (0.99, s.p99), (0.999, s.p999)] {
            let want = exact(q) as f64;
            assert!(
                (got as f64 - want).abs() <= want * 0.01 + 1.0,
                "q{q}: reported {got}, samples say {want}"
            );
        }
        let max = *raw.last().unwrap() as f64;
        assert!((s.max as f64 - max).abs() <= max * 0.01);
    }

    fn rank(h: &Histogram<u64>, v: u64) -> f64 {
        h.quantile_below(v)
    }
}
