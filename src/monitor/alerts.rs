//! Alerts: rules evaluated once a second on the monitor's view, each with severity and
//! configurable thresholds. A rate or percentile rule needs `min_requests` samples in
//! its window before it may fire (one cold decode is not evidence); latency is judged
//! per class against that class's SLO; an alert clears once its condition has been
//! false for `alert_clear_s`. Health follows from what is active (critical →
//! unhealthy, warning → degraded); readiness is separate (`runtime::readiness`).

use super::recorder::{SeriesKey, SeriesKind};
use crate::config::MonitorConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Severity {
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Degraded,
    Unhealthy,
}

/// Latency classes, each judged against its own SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LatencyClass {
    /// JSON API routes (observation and stream routes excluded).
    Api,
    /// Chunks served from tier 1 or tier 2.
    ChunkHit,
    /// Chunks decoded on demand.
    ChunkMiss,
    /// WebSocket message handling.
    Ws,
}

impl LatencyClass {
    pub(crate) const ALL: [LatencyClass; 4] = [
        LatencyClass::Api,
        LatencyClass::ChunkHit,
        LatencyClass::ChunkMiss,
        LatencyClass::Ws,
    ];

    /// The class a series belongs to; `None` for series no SLO judges (observation,
    /// stream routes, which their `Chunk` series stand for).
    pub(crate) fn of(key: &SeriesKey) -> Option<Self> {
        match key.kind {
            SeriesKind::Route => Some(LatencyClass::Api),
            SeriesKind::Chunk if key.name == "miss" => Some(LatencyClass::ChunkMiss),
            SeriesKind::Chunk => Some(LatencyClass::ChunkHit),
            SeriesKind::Ws => Some(LatencyClass::Ws),
            SeriesKind::Stream | SeriesKind::Internal => None,
        }
    }

    pub(crate) fn slo_ms(self, t: &MonitorConfig) -> f64 {
        match self {
            LatencyClass::Api => t.slo_api_ms,
            LatencyClass::ChunkHit => t.slo_chunk_hit_ms,
            LatencyClass::ChunkMiss => t.slo_chunk_miss_ms,
            LatencyClass::Ws => t.slo_ws_ms,
        }
    }

    fn alert_id(self) -> &'static str {
        match self {
            LatencyClass::Api => "latency_p99_api",
            LatencyClass::ChunkHit => "latency_p99_chunk_hit",
            LatencyClass::ChunkMiss => "latency_p99_chunk_miss",
            LatencyClass::Ws => "latency_p99_ws",
        }
    }

    fn label(self) -> &'static str {
        match self {
            LatencyClass::Api => "API",
            LatencyClass::ChunkHit => "cached chunk",
            LatencyClass::ChunkMiss => "decoded chunk",
            LatencyClass::Ws => "WebSocket message",
        }
    }
}

/// One class's p99 over the alert window.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ClassLatency {
    pub class: LatencyClass,
    pub p99_ms: f64,
    pub samples: u64,
}

/// One rule's verdict this second.
#[derive(Debug, Clone)]
pub(crate) struct Firing {
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
    /// What the value was measured over: the alert window (`"10s"`) or `"now"`.
    pub window: String,
}

/// An alert as reported.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Alert {
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
    pub window: String,
    pub first_fired: String,
    pub last_fired: String,
    /// Still firing now (else held until `until`).
    pub firing: bool,
    pub until: String,
    #[serde(skip)]
    last: SystemTime,
}

/// What the rules look at (computed by the monitor from its window).
#[derive(Debug, Clone, Default)]
pub(crate) struct Inputs {
    /// The alert window's label (`"10s"`).
    pub window: String,
    pub over_budget: bool,
    /// Chunk requests and their hit rate over the window.
    pub cache_requests: u64,
    pub hit_rate: f64,
    /// p99 per latency class over the window.
    pub latency: Vec<ClassLatency>,
    /// Traffic requests (observation excluded) over the window.
    pub requests: u64,
    pub error_rate: f64,
    /// Share of traffic answered 429 over the window.
    pub rate_limited_rate: f64,
    /// Distinct clients answered 429 over the window.
    pub rate_limited_clients: usize,
    pub stale_ws: u64,
    pub ws_connections: u64,
    /// Requests of the busiest core over the mean (1.0 = even).
    pub imbalance: f64,
}

/// Collects firings, each stamped with its window.
struct Firings<'a> {
    out: Vec<Firing>,
    window: &'a str,
}

impl Firings<'_> {
    fn fire(
        &mut self,
        id: &'static str,
        severity: Severity,
        message: String,
        value: f64,
        threshold: f64,
    ) {
        self.out.push(Firing {
            id,
            severity,
            message,
            value,
            threshold,
            window: self.window.to_string(),
        });
    }

    /// `value` above `warning` warns, above `critical` is critical (`None`: never).
    fn above(
        &mut self,
        id: &'static str,
        what: &str,
        value: f64,
        warning: f64,
        critical: Option<f64>,
    ) {
        match critical {
            Some(c) if value > c => self.fire(
                id,
                Severity::Critical,
                format!("{what} {value:.3} > {c}"),
                value,
                c,
            ),
            _ if value > warning => self.fire(
                id,
                Severity::Warning,
                format!("{what} {value:.3} > {warning}"),
                value,
                warning,
            ),
            _ => {}
        }
    }
}

/// The hit-rate rule (a low value is the bad one, unlike the others).
fn hit_rate(f: &mut Firings<'_>, i: &Inputs, t: &MonitorConfig) {
    let (severity, threshold) = if i.hit_rate < t.hit_rate_critical {
        (Some(Severity::Critical), t.hit_rate_critical)
    } else {
        (
            (i.hit_rate < t.hit_rate_warning).then_some(Severity::Warning),
            t.hit_rate_warning,
        )
    };
    if let Some(severity) = severity {
        let message = format!(
            "chunk cache hit rate {:.2} < {threshold:.2} over the last {} ({} requests)",
            i.hit_rate, i.window, i.cache_requests
        );
        f.fire("cache_hit_rate", severity, message, i.hit_rate, threshold);
    }
}

/// This second's firings, against the `[monitor]` thresholds. Every rate and
/// percentile rule waits for `min_requests` samples (`min_cache_requests` for the hit
/// rate) in its window.
pub(crate) fn evaluate(i: &Inputs, t: &MonitorConfig) -> Vec<Firing> {
    let mut f = Firings {
        out: Vec::new(),
        window: &i.window,
    };
    if i.over_budget {
        f.window = "now";
        f.fire(
            "cache_over_budget",
            Severity::Critical,
            "a cache tier holds more bytes than its budget".into(),
            1.0,
            0.0,
        );
        f.window = &i.window;
    }
    if i.cache_requests >= t.min_cache_requests {
        hit_rate(&mut f, i, t);
    }
    for l in i.latency.iter().filter(|l| l.samples >= t.min_requests) {
        let slo = l.class.slo_ms(t);
        let what = format!(
            "{} p99 over the last {} ({} samples) in ms; SLO {slo} ms",
            l.class.label(),
            i.window,
            l.samples
        );
        f.above(l.class.alert_id(), &what, l.p99_ms, slo, Some(2.0 * slo));
    }
    if i.requests >= t.min_requests {
        let what = format!("5xx share of {} requests", i.requests);
        f.above(
            "error_rate_5xx",
            &what,
            i.error_rate,
            t.error_rate_warning,
            Some(t.error_rate_critical),
        );
        // One abusive client is its own problem, answered by its 429s; many clients
        // limited at once is the deployment's.
        if i.rate_limited_clients > t.rate_limited_clients {
            let what = format!(
                "429 share of {} requests, from {} clients",
                i.requests, i.rate_limited_clients
            );
            f.above(
                "rate_limited",
                &what,
                i.rate_limited_rate,
                t.rate_limited_warning,
                None,
            );
        }
        let what = "busiest core's load over the mean";
        f.above(
            "core_imbalance",
            what,
            i.imbalance,
            t.imbalance_factor,
            None,
        );
    }
    stale(&mut f, i, t);
    f.out
}

/// Unresponsive WebSocket peers: a phone in a tunnel is normal; a share of all
/// connections past `stale_ws_share` is not.
fn stale(f: &mut Firings<'_>, i: &Inputs, t: &MonitorConfig) {
    let share = i.stale_ws as f64 / i.ws_connections.max(1) as f64;
    if i.stale_ws > 0 && share > t.stale_ws_share {
        f.window = "now";
        f.fire(
            "stale_ws_connections",
            Severity::Warning,
            format!(
                "{} of {} WebSocket connections ({:.1} %) have not answered a ping",
                i.stale_ws,
                i.ws_connections,
                share * 100.0
            ),
            share,
            t.stale_ws_share,
        );
    }
}

/// Alert state across seconds.
#[derive(Debug, Default)]
pub(crate) struct AlertBook {
    active: BTreeMap<&'static str, Alert>,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl AlertBook {
    /// Applies this second's firings; clears alerts whose condition has been false for
    /// `clear_after`.
    pub(crate) fn update(&mut self, firings: Vec<Firing>, now: SystemTime, clear_after: Duration) {
        let fired: Vec<&'static str> = firings.iter().map(|f| f.id).collect();
        for f in firings {
            let e = self.active.entry(f.id).or_insert_with(|| Alert {
                id: f.id,
                severity: f.severity,
                message: String::new(),
                value: 0.0,
                threshold: 0.0,
                window: String::new(),
                first_fired: rfc3339(now),
                last_fired: String::new(),
                firing: true,
                until: String::new(),
                last: now,
            });
            // Until it clears the severity never drops: it is the worst seen.
            e.severity = e.severity.max(f.severity);
            e.message = f.message;
            e.value = f.value;
            e.threshold = f.threshold;
            e.window = f.window;
            e.last = now;
            e.last_fired = rfc3339(now);
        }
        self.active
            .retain(|_, a| now.duration_since(a.last).unwrap_or_default() < clear_after);
        for a in self.active.values_mut() {
            a.firing = fired.contains(&a.id);
            a.until = rfc3339(a.last + clear_after);
        }
    }

    pub(crate) fn active(&self) -> Vec<Alert> {
        self.active.values().cloned().collect()
    }

    pub(crate) fn health(&self) -> Health {
        match self.active.values().map(|a| a.severity).max() {
            Some(Severity::Critical) => Health::Unhealthy,
            Some(Severity::Warning) => Health::Degraded,
            _ => Health::Healthy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thresholds these tests reason about, stated here rather than taken from the
    /// defaults, so a change of defaults cannot quietly move the expectations.
    fn t() -> MonitorConfig {
        MonitorConfig {
            slo_api_ms: 10.0,
            slo_chunk_hit_ms: 20.0,
            slo_chunk_miss_ms: 1000.0,
            slo_ws_ms: 10.0,
            hit_rate_warning: 0.7,
            hit_rate_critical: 0.5,
            min_cache_requests: 100,
            error_rate_warning: 0.01,
            error_rate_critical: 0.05,
            min_requests: 200,
            rate_limited_warning: 0.1,
            imbalance_factor: 2.0,
            ..MonitorConfig::default()
        }
    }

    fn ids(i: &Inputs) -> Vec<(&'static str, Severity)> {
        evaluate(i, &t())
            .into_iter()
            .map(|f| (f.id, f.severity))
            .collect()
    }

    fn latency(class: LatencyClass, p99_ms: f64, samples: u64) -> Vec<ClassLatency> {
        vec![ClassLatency {
            class,
            p99_ms,
            samples,
        }]
    }

    fn base() -> Inputs {
        Inputs {
            window: "10s".into(),
            requests: 1000,
            hit_rate: 0.9,
            cache_requests: 1000,
            latency: latency(LatencyClass::Api, 1.0, 1000),
            imbalance: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn each_rule_fires_at_its_thresholds() {
        let base = base();
        assert!(ids(&base).is_empty());
        let cases: Vec<(Inputs, Vec<(&str, Severity)>)> = vec![
            (
                Inputs {
                    over_budget: true,
                    ..base.clone()
                },
                vec![("cache_over_budget", Severity::Critical)],
            ),
            (
                Inputs {
                    hit_rate: 0.69,
                    ..base.clone()
                },
                vec![("cache_hit_rate", Severity::Warning)],
            ),
            (
                Inputs {
                    hit_rate: 0.49,
                    ..base.clone()
                },
                vec![("cache_hit_rate", Severity::Critical)],
            ),
            (
                Inputs {
                    latency: latency(LatencyClass::Api, 10.5, 1000),
                    ..base.clone()
                },
                vec![("latency_p99_api", Severity::Warning)],
            ),
            (
                Inputs {
                    latency: latency(LatencyClass::Api, 20.5, 1000),
                    ..base.clone()
                },
                vec![("latency_p99_api", Severity::Critical)],
            ),
            (
                Inputs {
                    error_rate: 0.011,
                    ..base.clone()
                },
                vec![("error_rate_5xx", Severity::Warning)],
            ),
            (
                Inputs {
                    error_rate: 0.051,
                    ..base.clone()
                },
                vec![("error_rate_5xx", Severity::Critical)],
            ),
            (
                Inputs {
                    rate_limited_rate: 0.2,
                    rate_limited_clients: 11,
                    ..base.clone()
                },
                vec![("rate_limited", Severity::Warning)],
            ),
            // One abusive client: its own 429s answer it, however many.
            (
                Inputs {
                    rate_limited_rate: 0.9,
                    rate_limited_clients: 1,
                    ..base.clone()
                },
                vec![],
            ),
            (
                Inputs {
                    stale_ws: 2,
                    ws_connections: 100,
                    ..base.clone()
                },
                vec![("stale_ws_connections", Severity::Warning)],
            ),
            // One phone in a tunnel among 150 listeners: under 1 %.
            (
                Inputs {
                    stale_ws: 1,
                    ws_connections: 150,
                    ..base.clone()
                },
                vec![],
            ),
            (
                Inputs {
                    imbalance: 2.1,
                    ..base.clone()
                },
                vec![("core_imbalance", Severity::Warning)],
            ),
        ];
        for (inputs, want) in cases {
            assert_eq!(ids(&inputs), want, "{inputs:?}");
        }
    }

    #[test]
    fn no_rate_or_percentile_alert_without_evidence() {
        let few = Inputs {
            requests: 199,
            error_rate: 1.0,
            rate_limited_rate: 1.0,
            imbalance: 5.0,
            cache_requests: 99,
            hit_rate: 0.0,
            latency: latency(LatencyClass::Api, 500.0, 199),
            ..base()
        };
        assert!(ids(&few).is_empty(), "{:?}", ids(&few));
    }

    #[test]
    fn each_latency_class_has_its_own_slo() {
        // A 112 ms cold decode is fine against the decode SLO, not against the API one.
        let decode = Inputs {
            latency: latency(LatencyClass::ChunkMiss, 112.0, 500),
            ..base()
        };
        assert!(ids(&decode).is_empty());
        let api = Inputs {
            latency: latency(LatencyClass::Api, 112.0, 500),
            ..base()
        };
        assert_eq!(ids(&api), vec![("latency_p99_api", Severity::Critical)]);
        let firing = &evaluate(&api, &t())[0];
        assert_eq!(firing.window, "10s");
        assert!(firing.message.contains("500 samples"), "{}", firing.message);
    }

    #[test]
    fn alerts_clear_after_the_condition_is_false_for_the_delay() {
        let mut book = AlertBook::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clear = Duration::from_secs(30);
        let crit = Firing {
            id: "latency_p99_api",
            severity: Severity::Critical,
            message: "x".into(),
            value: 30.0,
            threshold: 20.0,
            window: "10s".into(),
        };
        book.update(vec![crit.clone()], t0, clear);
        assert_eq!(book.health(), Health::Unhealthy);
        book.update(vec![], t0 + Duration::from_secs(29), clear);
        assert_eq!(book.health(), Health::Unhealthy, "not yet false for 30 s");
        assert!(!book.active()[0].firing);
        book.update(vec![], t0 + Duration::from_secs(31), clear);
        assert_eq!(book.health(), Health::Healthy);
        // Firing again restarts the delay from the last firing.
        book.update(vec![crit], t0 + Duration::from_secs(40), clear);
        book.update(vec![], t0 + Duration::from_secs(60), clear);
        assert_eq!(book.health(), Health::Unhealthy);
        let warn = Firing {
            id: "stale_ws_connections",
            severity: Severity::Warning,
            message: "y".into(),
            value: 1.0,
            threshold: 0.0,
            window: "now".into(),
        };
        book.update(vec![warn], t0 + Duration::from_secs(400), clear);
        assert_eq!(book.health(), Health::Degraded);
    }
}
