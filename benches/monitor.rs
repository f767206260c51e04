//! The monitor's costs: recording one latency on the request path (target ≤ 50 ns), and
//! the per-second work for one core's snapshot of 200 route×tier histograms that all
//! changed (merge into the tick and the cumulative totals, refresh their summaries and
//! Prometheus figures; target ≤ 5 ms per core), in the steady state and while every
//! series' quantiles are due a refresh.

use auralis_server::monitor::recorder::{CoreRecorder, SeriesKey, SeriesKind, new_histogram};
use auralis_server::monitor::series::SeriesStore;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// 200 distinct static series names, as route templates × tiers would be.
fn names() -> Vec<&'static str> {
    (0..200)
        .map(|i| &*Box::leak(format!("/api/route/{i}").into_boxed_str()))
        .collect()
}

fn monitor(c: &mut Criterion) {
    let names = names();
    let mut rec = CoreRecorder::default();
    for n in &names {
        rec.record(SeriesKind::Route, n, 100);
    }
    let mut i = 0u64;
    c.bench_function("record_one_latency", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            rec.record(
                SeriesKind::Route,
                names[(i % 200) as usize],
                black_box(50 + i % 5000),
            );
        })
    });

    // One core's second: 200 series with 500 samples each.
    let snapshot: Vec<(SeriesKey, hdrhistogram::Histogram<u64>)> = names
        .iter()
        .map(|n| {
            let mut h = new_histogram();
            for k in 0..500u64 {
                h.saturating_record(20 + (k * 7919) % 20_000);
            }
            (
                SeriesKey {
                    kind: SeriesKind::Route,
                    name: n,
                },
                h,
            )
        })
        .collect();
    // The monitor's own merge of one core's second (every one of its 200 series
    // changed): add into that core's series and refresh their Prometheus figures, move
    // the histograms into the tick, add into the cumulative series and refresh their
    // summaries. Series that did not change cost nothing (their figures are cached).
    // Cloning the snapshot (the core hands it over by value) is setup, not measured.
    let mut store = SeriesStore::default();
    store.merge(vec![(0, snapshot.clone())]);
    c.bench_function("per_second_work_200_histograms_one_core", |b| {
        b.iter_batched(
            || vec![(0, snapshot.clone())],
            |owned| {
                store.merge(owned);
                black_box(store.overall().len())
            },
            criterion::BatchSize::LargeInput,
        )
    });
    // The same second while every series' since-start quantiles are due a refresh (a
    // young server: each second adds more than 1 % to every series).
    c.bench_function("per_second_work_200_histograms_all_refreshed", |b| {
        b.iter_batched(
            || {
                let mut young = SeriesStore::default();
                young.merge(vec![(0, snapshot.clone())]);
                (young, vec![(0, snapshot.clone())])
            },
            |(mut young, owned)| {
                young.merge(owned);
                black_box(young.overall().len())
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, monitor);
criterion_main!(benches);
