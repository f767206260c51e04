//! Alerts: rules evaluated once a second on the monitor's view, each with severity and
//! configurable thresholds, held active for `alert_hold_s` after they last fired; health
//! follows from what is active (critical → unhealthy, warning → degraded).

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

/// One rule's verdict this second.
#[derive(Debug, Clone)]
pub(crate) struct Firing {
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
}

/// An alert as reported.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Alert {
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
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
    pub over_budget: bool,
    /// Chunk requests and their hit rate over the recent window.
    pub cache_requests: u64,
    pub hit_rate: f64,
    /// p99 of all HTTP routes over the recent window, ms.
    pub p99_ms: f64,
    pub requests: u64,
    pub error_rate: f64,
    pub stale_ws: u64,
    /// Requests of the busiest core over the mean (1.0 = even).
    pub imbalance: f64,
}

// Long: one rule after another, each a few lines over `Inputs`; a table of closures
// would hide the thresholds.
/// This second's firings, against the `[monitor]` thresholds.
pub(crate) fn evaluate(i: &Inputs, t: &MonitorConfig) -> Vec<Firing> {
    let mut out = Vec::new();
    let mut fire = |id, severity, message: String, value, threshold| {
        out.push(Firing {
            id,
            severity,
            message,
            value,
            threshold,
        })
    };
    if i.over_budget {
        fire(
            "cache_over_budget",
            Severity::Critical,
            "a cache tier holds more bytes than its budget".into(),
            1.0,
            0.0,
        );
    }
    if i.cache_requests >= t.min_cache_requests {
        if i.hit_rate < t.hit_rate_critical {
            fire(
                "cache_hit_rate",
                Severity::Critical,
                format!(
                    "chunk cache hit rate {:.2} < {:.2}",
                    i.hit_rate, t.hit_rate_critical
                ),
                i.hit_rate,
                t.hit_rate_critical,
            );
        } else if i.hit_rate < t.hit_rate_warning {
            fire(
                "cache_hit_rate",
                Severity::Warning,
                format!(
                    "chunk cache hit rate {:.2} < {:.2}",
                    i.hit_rate, t.hit_rate_warning
                ),
                i.hit_rate,
                t.hit_rate_warning,
            );
        }
    }
    if i.requests > 0 {
        if i.p99_ms > 2.0 * t.p99_slo_ms {
            fire(
                "latency_p99",
                Severity::Critical,
                format!("p99 {:.2} ms > 2 × SLO {} ms", i.p99_ms, t.p99_slo_ms),
                i.p99_ms,
                2.0 * t.p99_slo_ms,
            );
        } else if i.p99_ms > t.p99_slo_ms {
            fire(
                "latency_p99",
                Severity::Warning,
                format!("p99 {:.2} ms > SLO {} ms", i.p99_ms, t.p99_slo_ms),
                i.p99_ms,
                t.p99_slo_ms,
            );
        }
    }
    if i.requests >= t.min_requests {
        if i.error_rate > t.error_rate_critical {
            fire(
                "error_rate_5xx",
                Severity::Critical,
                format!("5xx rate {:.3} > {}", i.error_rate, t.error_rate_critical),
                i.error_rate,
                t.error_rate_critical,
            );
        } else if i.error_rate > t.error_rate_warning {
            fire(
                "error_rate_5xx",
                Severity::Warning,
                format!("5xx rate {:.3} > {}", i.error_rate, t.error_rate_warning),
                i.error_rate,
                t.error_rate_warning,
            );
        }
        if i.imbalance > t.imbalance_factor {
            fire(
                "core_imbalance",
                Severity::Warning,
                format!("one core carries {:.1} × the mean load", i.imbalance),
                i.imbalance,
                t.imbalance_factor,
            );
        }
    }
    if i.stale_ws > 0 {
        fire(
            "stale_ws_connections",
            Severity::Warning,
            format!(
                "{} WebSocket connections have not answered a ping",
                i.stale_ws
            ),
            i.stale_ws as f64,
            0.0,
        );
    }
    out
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
    /// Applies this second's firings; drops alerts not fired for `hold`.
    pub(crate) fn update(&mut self, firings: Vec<Firing>, now: SystemTime, hold: Duration) {
        let fired: Vec<&'static str> = firings.iter().map(|f| f.id).collect();
        for f in firings {
            let e = self.active.entry(f.id).or_insert_with(|| Alert {
                id: f.id,
                severity: f.severity,
                message: String::new(),
                value: 0.0,
                threshold: 0.0,
                first_fired: rfc3339(now),
                last_fired: String::new(),
                firing: true,
                until: String::new(),
                last: now,
            });
            // Within the hold the severity never drops: it is the worst seen.
            e.severity = e.severity.max(f.severity);
            e.message = f.message;
            e.value = f.value;
            e.threshold = f.threshold;
            e.last = now;
            e.last_fired = rfc3339(now);
        }
        self.active
            .retain(|_, a| now.duration_since(a.last).unwrap_or_default() < hold);
        for a in self.active.values_mut() {
            a.firing = fired.contains(&a.id);
            a.until = rfc3339(a.last + hold);
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
            p99_slo_ms: 10.0,
            hit_rate_warning: 0.7,
            hit_rate_critical: 0.5,
            min_cache_requests: 100,
            error_rate_warning: 0.01,
            error_rate_critical: 0.05,
            min_requests: 20,
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

    #[test]
    fn each_rule_fires_at_its_thresholds() {
        let base = Inputs {
            requests: 1000,
            hit_rate: 0.9,
            cache_requests: 1000,
            p99_ms: 1.0,
            imbalance: 1.0,
            ..Default::default()
        };
        assert!(ids(&base).is_empty());
        assert_eq!(
            ids(&Inputs {
                over_budget: true,
                ..base.clone()
            }),
            vec![("cache_over_budget", Severity::Critical)]
        );
        assert_eq!(
            ids(&Inputs {
                hit_rate: 0.69,
                ..base.clone()
            }),
            vec![("cache_hit_rate", Severity::Warning)]
        );
        assert_eq!(
            ids(&Inputs {
                hit_rate: 0.49,
                ..base.clone()
            }),
            vec![("cache_hit_rate", Severity::Critical)]
        );
        assert!(
            ids(&Inputs {
                hit_rate: 0.1,
                cache_requests: 99,
                ..base.clone()
            })
            .is_empty(),
            "not before 100 requests"
        );
        assert_eq!(
            ids(&Inputs {
                p99_ms: 10.5,
                ..base.clone()
            }),
            vec![("latency_p99", Severity::Warning)]
        );
        assert_eq!(
            ids(&Inputs {
                p99_ms: 20.5,
                ..base.clone()
            }),
            vec![("latency_p99", Severity::Critical)]
        );
        assert_eq!(
            ids(&Inputs {
                error_rate: 0.011,
                ..base.clone()
            }),
            vec![("error_rate_5xx", Severity::Warning)]
        );
        assert_eq!(
            ids(&Inputs {
                error_rate: 0.051,
                ..base.clone()
            }),
            vec![("error_rate_5xx", Severity::Critical)]
        );
        assert_eq!(
            ids(&Inputs {
                stale_ws: 2,
                ..base.clone()
            }),
            vec![("stale_ws_connections", Severity::Warning)]
        );
        assert_eq!(
            ids(&Inputs {
                imbalance: 2.1,
                ..base.clone()
            }),
            vec![("core_imbalance", Severity::Warning)]
        );
    }

    #[test]
    fn alerts_hold_then_clear_and_drive_health() {
        let mut book = AlertBook::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hold = Duration::from_secs(300);
        let crit = Firing {
            id: "latency_p99",
            severity: Severity::Critical,
            message: "x".into(),
            value: 30.0,
            threshold: 20.0,
        };
        book.update(vec![crit], t0, hold);
        assert_eq!(book.health(), Health::Unhealthy);
        book.update(vec![], t0 + Duration::from_secs(299), hold);
        assert_eq!(book.health(), Health::Unhealthy, "held for 5 minutes");
        assert!(!book.active()[0].firing);
        book.update(vec![], t0 + Duration::from_secs(301), hold);
        assert_eq!(book.health(), Health::Healthy);
        let warn = Firing {
            id: "stale_ws_connections",
            severity: Severity::Warning,
            message: "y".into(),
            value: 1.0,
            threshold: 0.0,
        };
        book.update(vec![warn], t0 + Duration::from_secs(400), hold);
        assert_eq!(book.health(), Health::Degraded);
    }
}
