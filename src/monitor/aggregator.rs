//! The monitor thread: once a second it asks every core for a snapshot (over the core
//! inboxes), merges histograms exactly, keeps a window of per-second summaries and a
//! cumulative total, derives trends and alerts, and publishes the reports (read by the
//! endpoints) and the WebSocket `metrics` message. Runs off the cores.

use super::alerts::{AlertBook, ClassLatency, Health, Inputs, LatencyClass};
use super::prometheus::{self, Exposition};
use super::recorder::{SeriesKey, StatusClasses, new_histogram};
pub use super::series::{CoreSeries, SeriesStore};
use super::snapshot::{CoreCounters, CoreSnapshot, Summary, merge_one, summarize};
use super::trends::{Better, trend};
use crate::cache::events::CacheEvent;
use crate::cache::report::HitRate;
use crate::runtime::core_state::Shared;
use crate::runtime::mailbox::CoreMessage;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
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
    /// The chunk hit rate over the alert window and since start, labelled.
    pub(crate) cache_hit_rates: Vec<HitRate>,
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
            cache_hit_rates: Vec::new(),
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

/// Hits and misses of one cache tier in one second.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TierTick {
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
}

impl TierTick {
    fn new(hits: u64, misses: u64) -> Self {
        Self {
            hits,
            misses,
            hit_rate: ratio(hits, hits + misses),
        }
    }
}

/// The chunk cache in one second.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CacheTick {
    pub tier1: TierTick,
    pub tier2: TierTick,
}

impl CacheTick {
    /// Chunk requests (every one looks in tier 1 first).
    fn requests(&self) -> u64 {
        self.tier1.hits + self.tier1.misses
    }

    /// Requests served from either tier.
    fn hits(&self) -> u64 {
        self.tier1.hits + self.tier2.hits
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
    pub cache: CacheTick,
    pub hit_rate: Option<f64>,
    pub connections_per_core: Vec<u64>,
    pub ws_connections_per_core: Vec<u64>,
    pub requests_per_core: Vec<u64>,
    pub imbalance: f64,
    pub ws_messages: u64,
}

/// One latency class over the last few seconds (the SLO alert's window), kept
/// incrementally: the newest second added, the oldest subtracted.
struct RecentLatency {
    class: LatencyClass,
    recent: VecDeque<Histogram<u64>>,
    sum: Histogram<u64>,
}

impl RecentLatency {
    fn new(class: LatencyClass) -> Self {
        Self {
            class,
            recent: VecDeque::new(),
            sum: new_histogram(),
        }
    }

    fn push(&mut self, second: Histogram<u64>, keep: usize) {
        merge_one(&mut self.sum, &second);
        self.recent.push_back(second);
        while self.recent.len() > keep.max(1) {
            if let Some(old) = self.recent.pop_front()
                && self.sum.subtract(&old).is_err()
            {
                // Cannot happen (the sum holds every histogram it subtracts); rebuild.
                self.sum = new_histogram();
                for h in &self.recent {
                    merge_one(&mut self.sum, h);
                }
            }
        }
    }

    fn figure(&self) -> ClassLatency {
        ClassLatency {
            class: self.class,
            p99_ms: self.sum.value_at_quantile(0.99) as f64 / 1000.0,
            samples: self.sum.len(),
        }
    }
}

struct State {
    window: VecDeque<Tick>,
    window_cap: usize,
    series: SeriesStore,
    /// API latency since start (the `since_start` summary).
    api_since_start: Histogram<u64>,
    /// Every latency class over the alert window, in `LatencyClass::ALL` order.
    recent: Vec<RecentLatency>,
    counters: BTreeMap<u16, CoreCounters>,
    /// Responses per core and series by status class, since start.
    statuses: BTreeMap<(u16, SeriesKey), StatusClasses>,
    connections: BTreeMap<u16, (u64, u64)>,
    book: AlertBook,
    last_at: Instant,
    /// Tier 2 evictions at the last tick (pressure is announced when they grow).
    tier2_evictions: u64,
    /// Gives freed memory back after connection bursts.
    trimmer: crate::runtime::memory::Trimmer,
    /// Clients answered 429, per second of the alert window.
    limited: VecDeque<std::collections::HashSet<std::net::IpAddr>>,
}

/// Counters and gauges of one second, over all cores.
struct Counted {
    total: CoreCounters,
    requests_per_core: Vec<u64>,
    stale_ws: u64,
    ws_connections: u64,
    tier1_bytes_max: u64,
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
        series: SeriesStore::default(),
        api_since_start: new_histogram(),
        recent: LatencyClass::ALL.map(RecentLatency::new).into(),
        counters: BTreeMap::new(),
        statuses: BTreeMap::new(),
        connections: BTreeMap::new(),
        book: AlertBook::default(),
        last_at: Instant::now(),
        tier2_evictions: 0,
        trimmer: Default::default(),
        limited: VecDeque::new(),
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
        st.trimmer
            .observe(snaps.iter().map(|s| s.connections).sum());
        let reports = tick(&shared, &mut st, snaps);
        let work = t0.elapsed().as_micros() as u64;
        shared
            .monitor
            .last_work_micros
            .store(work, Ordering::Relaxed);
        shared.monitor.ticks.fetch_add(1, Ordering::Relaxed);
        let metrics_msg = crate::ws::protocol::encode_on(
            "metrics",
            &format!("m{}", shared.monitor.ticks.load(Ordering::Relaxed)),
            "metrics",
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

/// One second of work: count, merge, summarize, judge, render.
fn tick(shared: &Shared, st: &mut State, snaps: Vec<CoreSnapshot>) -> Reports {
    let now = Instant::now();
    let dt = (now - st.last_at).as_secs_f64().max(1e-3);
    st.last_at = now;
    let counted = count(st, &snaps);
    st.series
        .merge(snaps.into_iter().map(|s| (s.core, s.series)).collect());
    let overall = st.series.overall();
    merge_one(&mut st.api_since_start, &overall);
    for r in &mut st.recent {
        r.push(
            st.series.class_tick(r.class),
            shared.config.monitor.recent_s,
        );
    }
    let tick = second(st, &counted, &overall, dt);
    st.window.push_back(tick.clone());
    while st.window.len() > st.window_cap {
        st.window.pop_front();
    }
    announce_pressure(shared, st);
    let hit_rates = hit_rates(shared, st);
    let inputs = alert_inputs(shared, st, &counted, &hit_rates[0]);
    let firings = super::alerts::evaluate(&inputs, &shared.config.monitor);
    st.book.update(
        firings,
        SystemTime::now(),
        Duration::from_secs(shared.config.monitor.alert_clear_s),
    );
    render(shared, st, tick, &inputs, hit_rates)
}

/// Per-second deltas of every core's counters, and the gauges they report.
fn count(st: &mut State, snaps: &[CoreSnapshot]) -> Counted {
    let mut c = Counted {
        total: CoreCounters::default(),
        requests_per_core: Vec::with_capacity(snaps.len()),
        stale_ws: 0,
        ws_connections: 0,
        tier1_bytes_max: 0,
    };
    let mut limited = std::collections::HashSet::new();
    for s in snaps {
        let before = st.counters.get(&s.core).copied().unwrap_or_default();
        let d = s.counters - before;
        c.requests_per_core.push(d.requests);
        c.total += d;
        st.counters.insert(s.core, s.counters);
        st.connections
            .insert(s.core, (s.connections, s.ws_connections));
        for (k, classes) in &s.statuses {
            st.statuses.insert((s.core, *k), *classes);
        }
        c.stale_ws += s.ws_stale;
        c.ws_connections += s.ws_connections;
        limited.extend(s.limited_clients.iter().copied());
        c.tier1_bytes_max = c.tier1_bytes_max.max(s.tier1_bytes);
    }
    st.limited.push_back(limited);
    while st.limited.len() > LIMITED_SECONDS {
        st.limited.pop_front();
    }
    c
}

/// Seconds of 429'd clients kept (the alert window, `recent_s`, reads the newest).
const LIMITED_SECONDS: usize = 600;

/// Max over mean requests per core (1 when idle).
fn imbalance(per_core: &[u64]) -> f64 {
    let mean = per_core.iter().sum::<u64>() as f64 / per_core.len().max(1) as f64;
    if mean > 0.0 {
        per_core.iter().copied().max().unwrap_or(0) as f64 / mean
    } else {
        1.0
    }
}

/// The second just merged, as the window keeps it.
fn second(st: &State, counted: &Counted, overall: &Histogram<u64>, dt: f64) -> Tick {
    let d = &counted.total;
    let cache = CacheTick {
        tier1: TierTick::new(d.tier1_hits, d.tier1_misses),
        tier2: TierTick::new(d.tier2_hits, d.tier2_misses),
    };
    let hit_rate = (cache.requests() > 0).then(|| ratio(cache.hits(), cache.requests()));
    Tick {
        at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        interval_s: (dt * 1000.0).round() / 1000.0,
        requests: d.requests,
        throughput_rps: (d.requests as f64 / dt * 10.0).round() / 10.0,
        error_rate: ratio(d.statuses[5], d.requests),
        rate_limited_rate: ratio(d.rate_limited, d.requests),
        latency_us: summarize(overall),
        cache,
        hit_rate,
        connections_per_core: st.connections.values().map(|c| c.0).collect(),
        ws_connections_per_core: st.connections.values().map(|c| c.1).collect(),
        imbalance: (imbalance(&counted.requests_per_core) * 100.0).round() / 100.0,
        requests_per_core: counted.requests_per_core.clone(),
        ws_messages: d.ws_messages,
    }
}

/// Tells the `cache` topic when tier 2 evicted chunks since the last tick.
fn announce_pressure(shared: &Shared, st: &mut State) {
    let t2 = &shared.chunks.tier2;
    let evictions = t2.evictions();
    let delta = evictions.saturating_sub(st.tier2_evictions);
    st.tier2_evictions = evictions;
    if delta > 0 {
        shared.chunks.announce(&CacheEvent::Pressure {
            tier: "tier2",
            evictions: delta,
            bytes: t2.bytes(),
            budget_bytes: t2.budget(),
        });
    }
}

/// The alert window's label, e.g. `"10s"`.
fn window_label(shared: &Shared) -> String {
    format!("{}s", shared.config.monitor.recent_s.max(1))
}

/// The seconds of the alert window, newest first.
fn recent<'a>(shared: &Shared, st: &'a State) -> impl Iterator<Item = &'a Tick> {
    st.window
        .iter()
        .rev()
        .take(shared.config.monitor.recent_s.max(1))
}

/// The chunk hit rate over the alert window and since start, each labelled.
fn hit_rates(shared: &Shared, st: &State) -> Vec<HitRate> {
    let (requests, hits) = recent(shared, st).fold((0, 0), |(r, h), t| {
        (r + t.cache.requests(), h + t.cache.hits())
    });
    let total = st
        .counters
        .values()
        .fold(CoreCounters::default(), |mut a, c| {
            a += *c;
            a
        });
    vec![
        HitRate::new(window_label(shared), requests, hits),
        HitRate::new(
            "since_start".into(),
            total.tier1_hits + total.tier1_misses,
            total.tier1_hits + total.tier2_hits,
        ),
    ]
}

/// Distinct clients answered 429 over the alert window.
fn limited_clients(shared: &Shared, st: &State) -> usize {
    let seconds = shared.config.monitor.recent_s.max(1);
    let mut all: std::collections::HashSet<&std::net::IpAddr> = std::collections::HashSet::new();
    for s in st.limited.iter().rev().take(seconds) {
        all.extend(s.iter());
    }
    all.len()
}

/// What the alert rules read: the recent seconds of the window.
fn alert_inputs(shared: &Shared, st: &State, counted: &Counted, hit: &HitRate) -> Inputs {
    let (mut requests, mut errors, mut limited) = (0u64, 0.0, 0.0);
    let mut per_core = vec![0u64; shared.gauges.len()];
    for t in recent(shared, st) {
        requests += t.requests;
        errors += t.error_rate * t.requests as f64;
        limited += t.rate_limited_rate * t.requests as f64;
        for (sum, n) in per_core.iter_mut().zip(&t.requests_per_core) {
            *sum += n;
        }
    }
    let share = |n: f64| {
        if requests == 0 {
            0.0
        } else {
            n / requests as f64
        }
    };
    Inputs {
        window: window_label(shared),
        over_budget: counted.tier1_bytes_max > shared.config.cache.tier1_bytes_per_core
            || shared.chunks.tier2.bytes() > shared.chunks.tier2.budget(),
        cache_requests: hit.requests,
        hit_rate: hit.value.unwrap_or(0.0),
        latency: st.recent.iter().map(RecentLatency::figure).collect(),
        requests,
        error_rate: share(errors),
        rate_limited_rate: share(limited),
        rate_limited_clients: limited_clients(shared, st),
        stale_ws: counted.stale_ws,
        ws_connections: counted.ws_connections,
        imbalance: imbalance(&per_core),
    }
}

/// Trends per metric over the window.
fn trends(window: &VecDeque<Tick>) -> Value {
    let series = |f: fn(&Tick) -> Option<f64>| window.iter().filter_map(f).collect::<Vec<f64>>();
    json!({
        "rule": format!("mean of the last {} samples vs the window mean, ±{}% band, at least {} samples",
                        super::trends::RECENT, (super::trends::BAND * 100.0) as u32, super::trends::MIN_SAMPLES),
        "p99_latency": trend(&series(|t| (t.latency_us.count > 0).then_some(t.latency_us.p99 as f64)), Better::Lower),
        "p50_latency": trend(&series(|t| (t.latency_us.count > 0).then_some(t.latency_us.p50 as f64)), Better::Lower),
        "throughput": trend(&series(|t| Some(t.throughput_rps)), Better::Higher),
        "error_rate": trend(&series(|t| Some(t.error_rate)), Better::Lower),
        "cache_hit_rate": trend(&series(|t| t.hit_rate), Better::Higher),
        "samples": window.len(),
    })
}

/// The reports every reader sees until the next second.
fn render(
    shared: &Shared,
    st: &State,
    tick: Tick,
    inputs: &Inputs,
    hit_rates: Vec<HitRate>,
) -> Reports {
    let health = st.book.health();
    let trends = trends(&st.window);
    let alerts = st.book.active();
    let inbox_refused = shared
        .mailboxes
        .get()
        .map(|m| m.refused())
        .unwrap_or_default();
    let t = &shared.config.monitor;
    let latency: Vec<Value> = inputs
        .latency
        .iter()
        .map(|l| {
            json!({"class": l.class, "window": inputs.window, "p99_ms": l.p99_ms,
                        "samples": l.samples, "slo_ms": l.class.slo_ms(t),
                        "judged": l.samples >= t.min_requests})
        })
        .collect();
    let since_start = st
        .counters
        .values()
        .fold(CoreCounters::default(), |mut a, c| {
            a += *c;
            a
        });
    let metrics = json!({
        "health": health,
        "last_second": tick,
        "since_start": {"latency_us": summarize(&st.api_since_start), "requests": since_start.requests,
                        "observation_requests": since_start.observed},
        "latency_slo": latency,
        "cache_hit_rate": hit_rates,
        "alerts": alerts,
        "trends": trends,
        "inbox_refused": inbox_refused,
        "monitor": {"window": st.window.len(), "work_us": shared.monitor.last_work_micros.load(Ordering::Relaxed)},
    });
    let mut prom = prometheus::render(&Exposition {
        per_core: st.series.per_core(),
        counters: &st.counters,
        connections: &st.connections,
        statuses: &st.statuses,
        inbox_refused: &inbox_refused,
        health: match health {
            Health::Healthy => 0,
            Health::Degraded => 1,
            Health::Unhealthy => 2,
        },
        active_alerts: alerts.len(),
    });
    super::process::render(&mut prom, super::process::read().as_ref());
    if let Some(broker) = shared.broker.get() {
        broker.stats.prometheus(&mut prom);
    }
    if let Some(status) = shared
        .library
        .as_ref()
        .and_then(|l| l.writer.shared.as_ref())
    {
        status.prometheus(crate::library::model::now_ms() as u64, &mut prom);
    }
    crate::trace::prometheus(&mut prom);
    Reports {
        metrics,
        endpoints: Value::Array(st.series.endpoints(&st.statuses)),
        history: serde_json::to_value(&st.window).unwrap_or_default(),
        trends,
        alerts: serde_json::to_value(&alerts).unwrap_or_default(),
        health,
        prometheus: prom,
        cache_hit_rates: hit_rates,
    }
}
