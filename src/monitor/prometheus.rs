//! `/metrics` in the Prometheus text format (0.0.4): per-core cumulative latency
//! histograms with fixed buckets, exact quantiles as gauges, counters and gauges.

use super::recorder::{SeriesKey, SeriesKind, StatusClasses};
use super::snapshot::CoreCounters;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Bucket upper bounds in seconds.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The bucket bounds in µs, the unit the histograms count in (for [`Figures`]).
pub(crate) fn bucket_bounds_us() -> Vec<u64> {
    BUCKETS.iter().map(|b| (b * 1e6) as u64).collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(kind: SeriesKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        SeriesKind::Route | SeriesKind::Stream => (
            "auralis_http_request_duration_seconds",
            "route",
            "HTTP request latency by route template.",
        ),
        SeriesKind::Internal => (
            "auralis_internal_request_duration_seconds",
            "route",
            "Latency of probes, scrapes and the dashboard.",
        ),
        SeriesKind::Chunk => (
            "auralis_chunk_request_duration_seconds",
            "tier",
            "Chunk request latency by the cache tier that served it.",
        ),
        SeriesKind::Ws => (
            "auralis_ws_message_duration_seconds",
            "type",
            "WebSocket message handling time by type.",
        ),
    }
}

/// One per-core counter read out of a core's counters.
type Field = fn(&CoreCounters) -> u64;

/// Everything `/metrics` shows.
pub(crate) struct Exposition<'a> {
    /// Per core and series, computed with [`bucket_bounds_us`].
    pub per_core: &'a BTreeMap<(u16, SeriesKey), super::series::Kept>,
    pub counters: &'a BTreeMap<u16, CoreCounters>,
    pub connections: &'a BTreeMap<u16, (u64, u64)>,
    /// Responses per core and HTTP series by status class, since start.
    pub statuses: &'a BTreeMap<(u16, SeriesKey), StatusClasses>,
    /// Messages each core's full inbox refused since start (index = core).
    pub inbox_refused: &'a [u64],
    pub health: u8,
    pub active_alerts: usize,
}

// Long: one metric family after another, in exposition order; each block stands alone.
/// The whole exposition.
pub(crate) fn render(e: &Exposition<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    for kind in [
        SeriesKind::Route,
        SeriesKind::Internal,
        SeriesKind::Chunk,
        SeriesKind::Ws,
    ] {
        let (name, label, help) = family(kind);
        let series: Vec<_> = e
            .per_core
            .iter()
            .filter(|((_, k), _)| family(k.kind).0 == name)
            .collect();
        if series.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for ((core, key), kept) in &series {
            let f = kept.figures();
            let l = format!("{label}=\"{}\",core=\"{core}\"", escape(key.name));
            for (b, n) in BUCKETS.iter().zip(&f.at_or_below) {
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"{b}\"}} {n}");
            }
            let count = f.summary.count;
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum{{{l}}} {}", f.sum_us / 1e6);
            let _ = writeln!(out, "{name}_count{{{l}}} {count}");
        }
        let q = format!("{name}_quantile");
        let _ = writeln!(
            out,
            "# HELP {q} Quantiles of {name} since start (HdrHistogram, 2 significant digits: within 1 %; refreshed when the series grew by more than 1 %).\n# TYPE {q} gauge"
        );
        for ((core, key), kept) in &series {
            let f = kept.figures();
            let q_us = [f.summary.p50, f.summary.p90, f.summary.p99, f.summary.p999];
            for (quantile, us) in [0.5, 0.9, 0.99, 0.999].into_iter().zip(q_us) {
                let v = us as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "{q}{{{label}=\"{}\",core=\"{core}\",quantile=\"{quantile}\"}} {v}",
                    escape(key.name)
                );
            }
        }
    }
    let counter = |out: &mut String, name: &str, help: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let mut by_class = Vec::new();
    for (core, c) in e.counters {
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            by_class.push((
                format!("core=\"{core}\",class=\"{class}\""),
                c.statuses[i + 1],
            ));
        }
    }
    counter(
        &mut out,
        "auralis_responses_total",
        "HTTP responses to traffic by status class (observation routes excluded).",
        by_class,
    );
    let per = |f: Field| {
        e.counters
            .iter()
            .map(|(core, c)| (format!("core=\"{core}\""), f(c)))
            .collect::<Vec<_>>()
    };
    let per_core: [(&str, &str, Field); 17] = [
        (
            "auralis_response_bytes_total",
            "HTTP response body bytes.",
            |c| c.bytes_out,
        ),
        (
            "auralis_rate_limited_total",
            "Requests refused with 429.",
            |c| c.rate_limited,
        ),
        (
            "auralis_ws_messages_total",
            "WebSocket messages handled.",
            |c| c.ws_messages,
        ),
        (
            "auralis_ws_dropped_low_total",
            "WebSocket low-priority notifications shed for connections whose queue was full.",
            |c| c.ws_dropped_low,
        ),
        (
            "auralis_ws_refused_total",
            "WebSocket messages refused by a full outbound queue (the connection is closed with 1008).",
            |c| c.ws_refused,
        ),
        (
            "auralis_observation_requests_total",
            "Health probes, scrapes and dashboard requests (not traffic).",
            |c| c.observed,
        ),
        (
            "auralis_connections_opened_total",
            "HTTP connections accepted.",
            |c| c.connections_opened,
        ),
        (
            "auralis_connections_closed_total",
            "HTTP connections closed.",
            |c| c.connections_closed,
        ),
        (
            "auralis_tls_handshakes_total",
            "TLS handshakes completed.",
            |c| c.tls_handshakes,
        ),
        (
            "auralis_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out (the connection was closed).",
            |c| c.tls_handshake_failures,
        ),
        (
            "auralis_http_redirected_total",
            "Plain-HTTP requests redirected to HTTPS (tls.redirect_listen).",
            |c| c.redirected,
        ),
        (
            "auralis_proxy_refused_total",
            "Connections closed for a missing or malformed PROXY header (server.proxy_protocol).",
            |c| c.proxy_refused,
        ),
        (
            "auralis_proxy_handed_off_total",
            "Proxied connections handed to their client's core.",
            |c| c.handed_off,
        ),
        (
            "auralis_proxy_handoffs_refused_total",
            "Proxied connections served on the accepting core because their client's core's inbox was full.",
            |c| c.handoffs_refused,
        ),
        (
            "auralis_ws_session_joins_refused_total",
            "WebSocket session_join messages refused: unknown session, or neither its creator, an admin nor the holder of its join secret.",
            |c| c.session_joins_refused,
        ),
        (
            "auralis_connections_per_ip_refused_total",
            "Connections refused with 503 because their client address already held http.max_connections_per_ip.",
            |c| c.per_ip_refused,
        ),
        (
            "auralis_connection_panics_total",
            "Connection tasks that panicked; each closed its connection and was logged with its core and message.",
            |c| c.connection_panics,
        ),
    ];
    for (name, help, f) in per_core {
        counter(&mut out, name, help, per(f));
    }
    let mut by_route = Vec::new();
    for ((core, key), classes) in e.statuses {
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            if classes[i + 1] > 0 {
                by_route.push((
                    format!(
                        "route=\"{}\",core=\"{core}\",class=\"{class}\"",
                        escape(key.name)
                    ),
                    classes[i + 1],
                ));
            }
        }
    }
    counter(
        &mut out,
        "auralis_route_responses_total",
        "HTTP responses by route template and status class (probes and scrapes included).",
        by_route,
    );
    counter(
        &mut out,
        "auralis_core_inbox_refused_total",
        "Cross-core messages (publishes, cache control) refused because a core's inbox was full.",
        e.inbox_refused
            .iter()
            .enumerate()
            .map(|(core, n)| (format!("core=\"{core}\""), *n))
            .collect(),
    );
    let mut hits = Vec::new();
    let mut misses = Vec::new();
    for (core, c) in e.counters {
        hits.push((format!("core=\"{core}\",tier=\"tier1\""), c.tier1_hits));
        hits.push((format!("core=\"{core}\",tier=\"tier2\""), c.tier2_hits));
        misses.push((format!("core=\"{core}\",tier=\"tier1\""), c.tier1_misses));
        misses.push((format!("core=\"{core}\",tier=\"tier2\""), c.tier2_misses));
    }
    counter(
        &mut out,
        "auralis_cache_hits_total",
        "Chunk cache hits by tier.",
        hits,
    );
    counter(
        &mut out,
        "auralis_cache_misses_total",
        "Chunk cache misses by tier.",
        misses,
    );
    let _ = writeln!(
        out,
        "# HELP auralis_connections Open connections (HTTP, including upgraded).\n# TYPE auralis_connections gauge"
    );
    for (core, (http, _)) in e.connections {
        let _ = writeln!(out, "auralis_connections{{core=\"{core}\"}} {http}");
    }
    let _ = writeln!(
        out,
        "# HELP auralis_ws_connections Open WebSocket connections.\n# TYPE auralis_ws_connections gauge"
    );
    for (core, (_, ws)) in e.connections {
        let _ = writeln!(out, "auralis_ws_connections{{core=\"{core}\"}} {ws}");
    }
    let _ = writeln!(
        out,
        "# HELP auralis_health 0 healthy, 1 degraded, 2 unhealthy.\n# TYPE auralis_health gauge\nauralis_health {}",
        e.health
    );
    let _ = writeln!(
        out,
        "# HELP auralis_active_alerts Alerts active now.\n# TYPE auralis_active_alerts gauge\nauralis_active_alerts {}",
        e.active_alerts
    );
    out
}
