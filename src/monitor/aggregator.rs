//! The monitor thread: once a second it asks every core for a snapshot (over the core
//! inboxes), merges histograms exactly, keeps a window of per-second summaries and a
//! cumulative total, derives trends and alerts, and publishes the reports (read by the
//! endpoints) and the WebSocket `metrics` message. Runs off the cores.

use super::alerts::{AlertBook, Health, Inputs};
use super::prometheus::{self, Exposition};
use super::recorder::{SeriesKey, SeriesKind, new_histogram};
use super::snapshot::{
    CoreCounters, CoreSnapshot, Figures, Summary, figures, merge_one, merge_owned, summarize,
};
use super::trends::{Better, trend};
use crate::runtime::core_state::Shared;
use crate::runtime::mailbox::CoreMessage;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// The rendered reports. Replaced whole each second; readers clone the `Arc`.
pub struct Reports {
    pub metrics: Value,
    pub endpoints: Value,
    pub history: Value,
    pub trends: Value,
    pub alerts: Value,
    pub health: Health,
    pub prometheus: String,
}

impl Default for Reports {
    fn default() -> Self {
        Self {
            metrics: json!({"ticks": 0}),
            endpoints: json!([]),
            history: json!([]),
            trends: json!({}),
            alerts: json!([]),
            health: Health::Healthy,
            prometheus: String::new(),
        }
    }
}

/// Shared handle: the latest reports and what producing them cost. Crosses threads;
/// read by the monitor endpoints only, never on the request path.
#[derive(Default)]
pub struct MonitorHandle {
    reports: RwLock<Arc<Reports>>,
    pub last_work_micros: AtomicU64,
    pub ticks: AtomicU64,
}

impl MonitorHandle {
    pub fn reports(&self) -> Arc<Reports> {
        self.reports.read().map(|r| r.clone()).unwrap_or_default()
    }

    fn publish(&self, r: Reports) {
        if let Ok(mut slot) = self.reports.write() {
            *slot = Arc::new(r);
        }
    }
}

/// One second, as kept in the window.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub at: String,
    pub interval_s: f64,
    pub requests: u64,
    pub throughput_rps: f64,
    pub error_rate: f64,
    pub rate_limited_rate: f64,
    pub latency_us: Summary,
    pub cache: Value,
    pub hit_rate: Option<f64>,
    pub connections_per_core: Vec<u64>,
    pub ws_connections_per_core: Vec<u64>,
    pub requests_per_core: Vec<u64>,
    pub imbalance: f64,
    pub ws_messages: u64,
}

struct State {
    window: VecDeque<Tick>,
    window_cap: usize,
    cumulative: BTreeMap<SeriesKey, Histogram<u64>>,
    /// Summaries of `cumulative`, refreshed only for series that changed this second.
    cumulative_summaries: BTreeMap<SeriesKey, Summary>,
    /// All route series since start: the sum of every second's overall histogram.
    cumulative_overall: Histogram<u64>,
    per_core: BTreeMap<(u16, SeriesKey), Histogram<u64>>,
    /// Prometheus figures of `per_core`, refreshed only for series that changed.
    per_core_figures: BTreeMap<(u16, SeriesKey), Figures>,
    last_tick: BTreeMap<SeriesKey, Histogram<u64>>,
    recent_overall: VecDeque<Histogram<u64>>,
    /// The sum of `recent_overall`, kept by adding the newest and subtracting the oldest.
    recent_sum: Histogram<u64>,
    counters: BTreeMap<u16, CoreCounters>,
    connections: BTreeMap<u16, (u64, u64)>,
    book: AlertBook,
    last_at: Instant,
}

fn delta(now: &CoreCounters, before: &CoreCounters) -> CoreCounters {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    let mut statuses = [0; 6];
    for (i, s) in statuses.iter_mut().enumerate() {
        *s = d(now.statuses[i], before.statuses[i]);
    }
    CoreCounters {
        requests: d(now.requests, before.requests),
        statuses,
        bytes_out: d(now.bytes_out, before.bytes_out),
        rate_limited: d(now.rate_limited, before.rate_limited),
        ws_messages: d(now.ws_messages, before.ws_messages),
        connections_opened: d(now.connections_opened, before.connections_opened),
        connections_closed: d(now.connections_closed, before.connections_closed),
        tier1_hits: d(now.tier1_hits, before.tier1_hits),
        tier1_misses: d(now.tier1_misses, before.tier1_misses),
        tier2_hits: d(now.tier2_hits, before.tier2_hits),
        tier2_misses: d(now.tier2_misses, before.tier2_misses),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Starts the monitor thread.
pub fn start(shared: Arc<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("auralis-monitor".into())
        .spawn(move || run(shared))?;
    Ok(())
}

fn run(shared: Arc<Shared>) {
    let cfg = shared.config.monitor.clone();
    let interval = Duration::from_millis(cfg.interval_ms);
    let mut st = State {
        window: VecDeque::new(),
        window_cap: cfg.window,
        cumulative: BTreeMap::new(),
        cumulative_summaries: BTreeMap::new(),
        cumulative_overall: new_histogram(),
        per_core: BTreeMap::new(),
        per_core_figures: BTreeMap::new(),
        last_tick: BTreeMap::new(),
        recent_overall: VecDeque::new(),
        recent_sum: new_histogram(),
        counters: BTreeMap::new(),
        connections: BTreeMap::new(),
        book: AlertBook::default(),
        last_at: Instant::now(),
    };
    loop {
        std::thread::sleep(interval);
        let Some(mailboxes) = shared.mailboxes.get() else {
            continue;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        mailboxes.broadcast(CoreMessage::Snapshot(tx));
        let mut snaps = Vec::with_capacity(shared.gauges.len());
        let deadline = Instant::now() + interval / 2;
        while snaps.len() < shared.gauges.len() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(s) => snaps.push(s),
                Err(_) => break,
            }
        }
        if snaps.is_empty() {
            // Cores gone (shutdown): stop.
            if mailboxes.all_closed() {
                return;
            }
            continue;
        }
        let t0 = Instant::now();
        let reports = tick(&shared, &mut st, snaps);
        let work = t0.elapsed().as_micros() as u64;
        shared
            .monitor
            .last_work_micros
            .store(work, Ordering::Relaxed);
        shared.monitor.ticks.fetch_add(1, Ordering::Relaxed);
        let metrics_msg = crate::ws::protocol::encode(
            "metrics",
            &format!("m{}", shared.monitor.ticks.load(Ordering::Relaxed)),
            &reports.metrics,
        );
        shared.monitor.publish(reports);
        mailboxes.broadcast(CoreMessage::Publish {
            topic: Arc::from("metrics"),
            text: bytes::Bytes::from(metrics_msg),
            priority: crate::ws::protocol::Priority::Low,
        });
    }
}

/// One second of work: merge, summarize, judge. Public for the cost benchmark.
fn tick(shared: &Shared, st: &mut State, snaps: Vec<CoreSnapshot>) -> Reports {
    let now = Instant::now();
    let dt = (now - st.last_at).as_secs_f64().max(1e-3);
    st.last_at = now;
    st.last_tick.clear();
    let mut d_total = CoreCounters::default();
    let mut requests_per_core = Vec::new();
    let mut stale = 0;
    let mut t1_bytes_max = 0;
    let bounds = prometheus::bucket_bounds_us();
    for s in &snaps {
        for (k, h) in &s.series {
            let key = (s.core, *k);
            let f = match st.per_core.entry(key) {
                Entry::Occupied(mut e) => {
                    merge_one(e.get_mut(), h);
                    figures(e.get(), &bounds)
                }
                Entry::Vacant(e) => figures(e.insert(h.clone()), &bounds),
            };
            st.per_core_figures.insert(key, f);
        }
        let before = st.counters.get(&s.core).copied().unwrap_or_default();
        let d = delta(&s.counters, &before);
        requests_per_core.push(d.requests);
        d_total.requests += d.requests;
        for i in 0..6 {
            d_total.statuses[i] += d.statuses[i];
        }
        d_total.rate_limited += d.rate_limited;
        d_total.ws_messages += d.ws_messages;
        d_total.tier1_hits += d.tier1_hits;
        d_total.tier1_misses += d.tier1_misses;
        d_total.tier2_hits += d.tier2_hits;
        d_total.tier2_misses += d.tier2_misses;
        st.counters.insert(s.core, s.counters);
        st.connections
            .insert(s.core, (s.connections, s.ws_connections));
        stale += s.ws_stale;
        t1_bytes_max = t1_bytes_max.max(s.tier1_bytes);
    }
    // The cores' histograms are ours now: move them into this tick.
    for s in snaps {
        merge_owned(&mut st.last_tick, s.series);
    }
    for (k, h) in &st.last_tick {
        let total = match st.cumulative.entry(*k) {
            Entry::Occupied(mut e) => {
                merge_one(e.get_mut(), h);
                summarize(e.get())
            }
            Entry::Vacant(e) => summarize(e.insert(h.clone())),
        };
        st.cumulative_summaries.insert(*k, total);
    }

    // Overall HTTP latency this second, and over the recent window (for the SLO alert).
    let mut overall = new_histogram();
    for (k, h) in &st.last_tick {
        if k.kind == SeriesKind::Route {
            let _ = overall.add(h);
        }
    }
    merge_one(&mut st.cumulative_overall, &overall);
    merge_one(&mut st.recent_sum, &overall);
    st.recent_overall.push_back(overall.clone());
    while st.recent_overall.len() > shared.config.monitor.recent_s.max(1) {
        if let Some(old) = st.recent_overall.pop_front()
            && st.recent_sum.subtract(&old).is_err()
        {
            // Cannot happen (the sum holds every histogram it subtracts); rebuild.
            st.recent_sum = new_histogram();
            for h in &st.recent_overall {
                merge_one(&mut st.recent_sum, h);
            }
        }
    }
    let recent = &st.recent_sum;

    let cache_requests = d_total.tier1_hits + d_total.tier1_misses;
    let hit_rate = if cache_requests == 0 {
        None
    } else {
        Some(ratio(
            d_total.tier1_hits + d_total.tier2_hits,
            cache_requests,
        ))
    };
    let mean_core = d_total.requests as f64 / requests_per_core.len().max(1) as f64;
    let imbalance = if mean_core > 0.0 {
        requests_per_core.iter().copied().max().unwrap_or(0) as f64 / mean_core
    } else {
        1.0
    };
    let tick = Tick {
        at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        interval_s: (dt * 1000.0).round() / 1000.0,
        requests: d_total.requests,
        throughput_rps: (d_total.requests as f64 / dt * 10.0).round() / 10.0,
        error_rate: ratio(d_total.statuses[5], d_total.requests),
        rate_limited_rate: ratio(d_total.rate_limited, d_total.requests),
        latency_us: summarize(&overall),
        cache: json!({
            "tier1": {"hits": d_total.tier1_hits, "misses": d_total.tier1_misses, "hit_rate": ratio(d_total.tier1_hits, cache_requests)},
            "tier2": {"hits": d_total.tier2_hits, "misses": d_total.tier2_misses, "hit_rate": ratio(d_total.tier2_hits, d_total.tier2_hits + d_total.tier2_misses)},
        }),
        hit_rate,
        connections_per_core: st.connections.values().map(|c| c.0).collect(),
        ws_connections_per_core: st.connections.values().map(|c| c.1).collect(),
        requests_per_core,
        imbalance: (imbalance * 100.0).round() / 100.0,
        ws_messages: d_total.ws_messages,
    };
    st.window.push_back(tick.clone());
    while st.window.len() > st.window_cap {
        st.window.pop_front();
    }

    // Alerts over the recent seconds.
    let recent_n = shared.config.monitor.recent_s.max(1);
    let recent_ticks: Vec<&Tick> = st.window.iter().rev().take(recent_n).collect();
    let r_requests: u64 = recent_ticks.iter().map(|t| t.requests).sum();
    let r_errors: f64 = recent_ticks
        .iter()
        .map(|t| t.error_rate * t.requests as f64)
        .sum();
    let cache_json = |t: &Tick, tier: &str, f: &str| t.cache[tier][f].as_u64().unwrap_or(0);
    let r_cache: u64 = recent_ticks
        .iter()
        .map(|t| cache_json(t, "tier1", "hits") + cache_json(t, "tier1", "misses"))
        .sum();
    let r_hits: u64 = recent_ticks
        .iter()
        .map(|t| cache_json(t, "tier1", "hits") + cache_json(t, "tier2", "hits"))
        .sum();
    let r_per_core: Vec<u64> = (0..shared.gauges.len())
        .map(|i| {
            recent_ticks
                .iter()
                .map(|t| t.requests_per_core.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let r_mean = r_requests as f64 / r_per_core.len().max(1) as f64;
    let inputs = Inputs {
        over_budget: t1_bytes_max > shared.config.cache.tier1_bytes_per_core
            || shared.chunks.tier2.bytes() > shared.chunks.tier2.budget(),
        cache_requests: r_cache,
        hit_rate: ratio(r_hits, r_cache),
        p99_ms: recent.value_at_quantile(0.99) as f64 / 1000.0,
        requests: r_requests,
        error_rate: if r_requests == 0 {
            0.0
        } else {
            r_errors / r_requests as f64
        },
        stale_ws: stale,
        imbalance: if r_mean > 0.0 {
            r_per_core.iter().copied().max().unwrap_or(0) as f64 / r_mean
        } else {
            1.0
        },
    };
    let firings = super::alerts::evaluate(&inputs, &shared.config.monitor);
    st.book.update(
        firings,
        SystemTime::now(),
        Duration::from_secs(shared.config.monitor.alert_hold_s),
    );
    let health = st.book.health();

    // Trends per metric over the window.
    let series = |f: fn(&Tick) -> Option<f64>| st.window.iter().filter_map(f).collect::<Vec<f64>>();
    let trends = json!({
        "rule": format!("mean of the last {} samples vs the window mean, ±{}% band, at least {} samples",
                        super::trends::RECENT, (super::trends::BAND * 100.0) as u32, super::trends::MIN_SAMPLES),
        "p99_latency": trend(&series(|t| (t.latency_us.count > 0).then_some(t.latency_us.p99 as f64)), Better::Lower),
        "p50_latency": trend(&series(|t| (t.latency_us.count > 0).then_some(t.latency_us.p50 as f64)), Better::Lower),
        "throughput": trend(&series(|t| Some(t.throughput_rps)), Better::Higher),
        "error_rate": trend(&series(|t| Some(t.error_rate)), Better::Lower),
        "cache_hit_rate": trend(&series(|t| t.hit_rate), Better::Higher),
        "samples": st.window.len(),
    });

    let cumulative_overall = summarize(&st.cumulative_overall);
    let endpoints: Vec<Value> = st
        .cumulative_summaries
        .iter()
        .map(|(k, total)| {
            let last = st.last_tick.get(k).map(summarize).unwrap_or_default();
            json!({"kind": k.kind, "name": k.name, "total": total, "last_second": last})
        })
        .collect();
    let alerts = st.book.active();
    let metrics = json!({
        "health": health,
        "last_second": tick,
        "since_start": {"latency_us": cumulative_overall, "requests": st.counters.values().map(|c| c.requests).sum::<u64>()},
        "alerts": alerts,
        "trends": trends,
        "monitor": {"window": st.window.len(), "work_us": shared.monitor.last_work_micros.load(Ordering::Relaxed)},
    });
    let prom = prometheus::render(&Exposition {
        per_core: &st.per_core_figures,
        counters: &st.counters,
        connections: &st.connections,
        health: match health {
            Health::Healthy => 0,
            Health::Degraded => 1,
            Health::Unhealthy => 2,
        },
        active_alerts: alerts.len(),
    });
    Reports {
        metrics,
        endpoints: Value::Array(endpoints),
        history: serde_json::to_value(&st.window).unwrap_or_default(),
        trends,
        alerts: serde_json::to_value(&alerts).unwrap_or_default(),
        health,
        prometheus: prom,
    }
}
