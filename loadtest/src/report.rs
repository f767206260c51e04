//! Results: per-core histograms merged at the end, the report (table and JSON), the
//! per-second series, and the HdrHistogram interval log.

use crate::client::{Answer, Failure, Node};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency recorded (60 s, µs).
pub const MAX_US: u64 = 60_000_000;

pub fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_US, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant bounds: {e:?}"),
    }
}

/// Errors by kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Errors {
    pub connect: u64,
    pub timeout: u64,
    pub protocol: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
}

impl Errors {
    /// "connect 5, timeout 1": the kinds that happened.
    fn kinds(&self) -> String {
        [
            ("connect", self.connect),
            ("timeout", self.timeout),
            ("protocol", self.protocol),
            ("4xx", self.status_4xx),
            ("5xx", self.status_5xx),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
    }

    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.protocol + self.status_4xx + self.status_5xx
    }
    /// Counts a 4xx/5xx status; returns whether it was an error.
    pub fn status(&mut self, status: u16) -> bool {
        match status {
            400..=499 => self.status_4xx += 1,
            500..=599 => self.status_5xx += 1,
            _ => return false,
        }
        true
    }
    pub fn failure(&mut self, f: Failure) {
        match f {
            Failure::Connect => self.connect += 1,
            Failure::Timeout => self.timeout += 1,
            Failure::Protocol => self.protocol += 1,
        }
    }
    pub fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.protocol += o.protocol;
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
    }
}

/// One second of the run (after warm-up).
#[derive(Debug, Clone)]
pub struct Second {
    pub requests: u64,
    pub errors: u64,
    pub hist: Histogram<u64>,
}

/// One operation's share of an executor's results (the per-operation breakdown).
#[derive(Debug, Clone)]
pub struct OpResult {
    pub requests: u64,
    pub errors: u64,
    pub hist: Histogram<u64>,
}

impl OpResult {
    fn new() -> OpResult {
        OpResult {
            requests: 0,
            errors: 0,
            hist: histogram(),
        }
    }

    fn add(&mut self, o: &OpResult) {
        self.requests += o.requests;
        self.errors += o.errors;
        let _ = self.hist.add(&o.hist);
    }
}

/// What one executor measured.
#[derive(Debug, Clone)]
pub struct CoreResult {
    pub hist: Histogram<u64>,
    pub seconds: Vec<Second>,
    pub requests: u64,
    pub errors: Errors,
    pub bytes: u64,
    pub ops: Vec<OpResult>,
    /// Open model: how late each request left against its intended time (the
    /// harness's own lag; large values mean it could not keep the schedule).
    pub send_lag: Histogram<u64>,
    /// Per node that answered (`X-Served-By`), when the target names them.
    pub nodes: BTreeMap<Node, OpResult>,
}

impl CoreResult {
    pub fn new(operations: usize) -> CoreResult {
        CoreResult {
            hist: histogram(),
            seconds: Vec::new(),
            requests: 0,
            errors: Errors::default(),
            bytes: 0,
            ops: (0..operations).map(|_| OpResult::new()).collect(),
            send_lag: histogram(),
            nodes: BTreeMap::new(),
        }
    }

    fn second(&mut self, i: usize) -> &mut Second {
        while self.seconds.len() <= i {
            self.seconds.push(Second {
                requests: 0,
                errors: 0,
                hist: histogram(),
            });
        }
        &mut self.seconds[i]
    }

    /// Records one latency of `micros` for `op` in `second` (after warm-up).
    pub fn record_one(&mut self, op: usize, micros: u64, failed: bool, second: usize) {
        let v = micros.clamp(1, MAX_US);
        self.requests += 1;
        self.hist.saturating_record(v);
        // One operation is the whole run: no breakdown to keep.
        if self.ops.len() > 1
            && let Some(o) = self.ops.get_mut(op)
        {
            o.requests += 1;
            o.errors += u64::from(failed);
            o.hist.saturating_record(v);
        }
        let sec = self.second(second);
        sec.requests += 1;
        sec.errors += u64::from(failed);
        sec.hist.saturating_record(v);
    }

    /// Records a latency for `op` alone (a request outside the scenario's main
    /// latency, like the `listeners` scenario's metadata fetches).
    pub fn record_op(&mut self, op: usize, micros: u64, failed: bool) {
        if let Some(o) = self.ops.get_mut(op) {
            o.requests += 1;
            o.errors += u64::from(failed);
            o.hist.saturating_record(micros.clamp(1, MAX_US));
        }
    }

    /// Records a batch of requests (one per op) that took `micros`; returns how many
    /// failed. A failed exchange fails every request in it, with its kind.
    pub fn record(
        &mut self,
        ops: &[usize],
        outcome: Result<&[Answer], Failure>,
        micros: u64,
        second: usize,
    ) -> u64 {
        let mut failed = 0;
        for (i, &op) in ops.iter().enumerate() {
            let bad = match outcome {
                Ok(answers) => match answers.get(i) {
                    Some(a) => {
                        self.bytes += a.bytes;
                        let bad = self.errors.status(a.status);
                        if let Some(node) = a.node {
                            let n = self.nodes.entry(node).or_insert_with(OpResult::new);
                            n.requests += 1;
                            n.errors += u64::from(bad);
                            n.hist.saturating_record(micros.clamp(1, MAX_US));
                        }
                        bad
                    }
                    None => {
                        self.errors.protocol += 1;
                        true
                    }
                },
                Err(f) => {
                    self.errors.failure(f);
                    true
                }
            };
            failed += u64::from(bad);
            self.record_one(op, micros, bad, second);
        }
        failed
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
    pub mean: f64,
    pub stdev: f64,
}

/// The harness's send lag (open model), µs.
#[derive(Debug, Clone, Serialize)]
pub struct Lag {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// One node's line (µs), from the `X-Served-By` of its answers.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub node: String,
    pub requests: u64,
    pub errors: u64,
    /// Of all requests.
    pub share: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// One operation's line in the breakdown (µs).
#[derive(Debug, Clone, Serialize)]
pub struct OperationReport {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    pub second: usize,
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl Report {
    /// Why this run measured nothing, if it did: no request completed, or every one
    /// failed (nothing listening, wrong URL). A rate of failures is not a measurement,
    /// so the harness exits non-zero instead of printing it as one.
    pub fn failure(&self) -> Option<String> {
        if self.requests == 0 {
            return Some("no request completed".into());
        }
        (self.errors.total() >= self.requests).then(|| {
            format!(
                "every one of the {} requests failed ({})",
                self.requests,
                self.errors.kinds()
            )
        })
    }
}

/// The whole report (also the JSON document).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub model: &'static str,
    pub target_rate: Option<f64>,
    pub achieved_rate: f64,
    pub duration_s: f64,
    pub connections: usize,
    pub cores: usize,
    pub requests: u64,
    pub errors: Errors,
    pub bytes: u64,
    pub latency_us: Latency,
    /// Open model: how late requests left against their intended times, µs. Latency
    /// includes this; a p99 lag near the latency means the harness, not the server, was
    /// the bottleneck (give it more cores).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<Lag>,
    /// Per operation (URL, API call, chunk): empty for single-operation scenarios.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OperationReport>,
    /// The `listeners` scenario's playback figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listeners: Option<crate::listeners::ListenerSummary>,
    /// The `subsonic` scenario's playback figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsonic: Option<crate::subsonic::SubsonicSummary>,
    /// Per node that answered (`X-Served-By: node/core`): behind a load balancer,
    /// how the requests spread and each node's latency.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeReport>,
    pub series: Vec<SeriesPoint>,
    #[serde(skip)]
    pub histogram: Histogram<u64>,
    #[serde(skip)]
    pub second_histograms: Vec<Histogram<u64>>,
}

pub fn latency(h: &Histogram<u64>) -> Latency {
    Latency {
        p50: h.value_at_quantile(0.50),
        p75: h.value_at_quantile(0.75),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        p9999: h.value_at_quantile(0.9999),
        max: h.max(),
        mean: (h.mean() * 10.0).round() / 10.0,
        stdev: (h.stdev() * 10.0).round() / 10.0,
    }
}

/// Merges the executors' results (histograms exactly, with `add`).
pub fn merge(
    results: Vec<CoreResult>,
    scenario: &'static str,
    operations: &[String],
    target_rate: Option<f64>,
    measured: Duration,
    connections: usize,
) -> Report {
    let cores = results.len();
    let mut hist = histogram();
    let mut errors = Errors::default();
    let (mut requests, mut bytes) = (0, 0);
    let n_seconds = results.iter().map(|r| r.seconds.len()).max().unwrap_or(0);
    let mut seconds: Vec<Second> = (0..n_seconds)
        .map(|_| Second {
            requests: 0,
            errors: 0,
            hist: histogram(),
        })
        .collect();
    let mut ops: Vec<OpResult> = CoreResult::new(operations.len()).ops;
    let mut lag = histogram();
    let mut nodes: BTreeMap<Node, OpResult> = BTreeMap::new();
    for r in &results {
        let _ = lag.add(&r.send_lag);
        for (o, mine) in ops.iter_mut().zip(&r.ops) {
            o.add(mine);
        }
        for (node, mine) in &r.nodes {
            nodes.entry(*node).or_insert_with(OpResult::new).add(mine);
        }
        let _ = hist.add(&r.hist);
        errors.add(&r.errors);
        requests += r.requests;
        bytes += r.bytes;
        for (i, s) in r.seconds.iter().enumerate() {
            seconds[i].requests += s.requests;
            seconds[i].errors += s.errors;
            let _ = seconds[i].hist.add(&s.hist);
        }
    }
    let duration_s = measured.as_secs_f64().max(1e-6);
    Report {
        scenario,
        model: if target_rate.is_some() {
            "open"
        } else {
            "closed"
        },
        target_rate,
        achieved_rate: (requests as f64 / duration_s * 10.0).round() / 10.0,
        duration_s: (duration_s * 1000.0).round() / 1000.0,
        connections,
        cores,
        requests,
        errors,
        bytes,
        latency_us: latency(&hist),
        send_lag_us: (!lag.is_empty()).then(|| Lag {
            p50: lag.value_at_quantile(0.5),
            p99: lag.value_at_quantile(0.99),
            max: lag.max(),
        }),
        operations: if operations.len() > 1 {
            operations
                .iter()
                .zip(&ops)
                .filter(|(_, o)| o.requests > 0)
                .map(|(name, o)| OperationReport {
                    name: name.clone(),
                    requests: o.requests,
                    errors: o.errors,
                    p50_us: o.hist.value_at_quantile(0.5),
                    p90_us: o.hist.value_at_quantile(0.9),
                    p99_us: o.hist.value_at_quantile(0.99),
                    max_us: o.hist.max(),
                })
                .collect()
        } else {
            Vec::new()
        },
        listeners: None,
        subsonic: None,
        nodes: nodes
            .iter()
            .map(|(node, o)| NodeReport {
                node: node.as_str().to_string(),
                requests: o.requests,
                errors: o.errors,
                share: o.requests as f64 / requests.max(1) as f64,
                p50_us: o.hist.value_at_quantile(0.5),
                p99_us: o.hist.value_at_quantile(0.99),
            })
            .collect(),
        series: seconds
            .iter()
            .enumerate()
            .map(|(i, s)| SeriesPoint {
                second: i + 1,
                requests: s.requests,
                errors: s.errors,
                p50_us: s.hist.value_at_quantile(0.5),
                p99_us: s.hist.value_at_quantile(0.99),
            })
            .collect(),
        histogram: hist,
        second_histograms: seconds.into_iter().map(|s| s.hist).collect(),
    }
}

impl Report {
    /// The terminal table.
    pub fn table(&self) -> String {
        let l = &self.latency_us;
        let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
        let mut s = String::new();
        s.push_str(&format!(
            "scenario {}  model {}  connections {}  cores {}  duration {:.2}s\n",
            self.scenario, self.model, self.connections, self.cores, self.duration_s
        ));
        match self.target_rate {
            Some(t) if self.scenario == "ws-broadcast" => s.push_str(&format!(
                "rate     publishes {t:.1}/s  deliveries {:.1}/s\n",
                self.achieved_rate
            )),
            Some(t) => s.push_str(&format!(
                "rate     target {t:.1}/s  achieved {:.1}/s\n",
                self.achieved_rate
            )),
            None => s.push_str(&format!("rate     achieved {:.1}/s\n", self.achieved_rate)),
        }
        let e = &self.errors;
        s.push_str(&format!(
            "requests {}  bytes {}  errors {} (connect {}, timeout {}, protocol {}, 4xx {}, 5xx {})\n",
            self.requests,
            self.bytes,
            e.total(),
            e.connect,
            e.timeout,
            e.protocol,
            e.status_4xx,
            e.status_5xx
        ));
        s.push_str("latency (ms)   p50      p75      p90      p99      p99.9    p99.99   max      mean     stdev\n");
        s.push_str(&format!(
            "               {:<8} {:<8} {:<8} {:<8} {:<8} {:<8} {:<8} {:<8.3} {:<8.3}\n",
            ms(l.p50),
            ms(l.p75),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.p9999),
            ms(l.max),
            l.mean / 1000.0,
            l.stdev / 1000.0
        ));
        if let Some(lag) = &self.send_lag_us {
            s.push_str(&format!(
                "send lag (ms)  p50 {}  p99 {}  max {}   (how late the harness sent against the schedule)\n",
                ms(lag.p50),
                ms(lag.p99),
                ms(lag.max)
            ));
            if let Some(t) = self.target_rate
                && (self.achieved_rate < 0.95 * t || lag.p99 * 2 > self.latency_us.p99.max(1))
            {
                s.push_str("warning: requests left behind their schedule (too few --connections for the server's latency, or too few --cores); latencies include that wait\n");
            }
        }
        if !self.operations.is_empty() {
            s.push_str("operation                                     requests  errors   p50 ms   p90 ms   p99 ms   max ms\n");
            for o in &self.operations {
                let name: String = o.name.chars().take(44).collect();
                s.push_str(&format!(
                    "{name:<44} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8}\n",
                    o.requests,
                    o.errors,
                    ms(o.p50_us),
                    ms(o.p90_us),
                    ms(o.p99_us),
                    ms(o.max_us)
                ));
            }
        }
        if self.nodes.len() > 1 {
            s.push_str(
                "node                            requests   share  errors   p50 ms   p99 ms\n",
            );
            for n in &self.nodes {
                s.push_str(&format!(
                    "{:<31} {:>9} {:>6.1}% {:>7} {:>8} {:>8}\n",
                    n.node,
                    n.requests,
                    n.share * 100.0,
                    n.errors,
                    ms(n.p50_us),
                    ms(n.p99_us)
                ));
            }
        }
        if let Some(l) = &self.listeners {
            s.push_str(&l.table());
        }
        if let Some(l) = &self.subsonic {
            s.push_str(&l.table());
        }
        s
    }

    /// Writes an HdrHistogram interval log (one interval per second), readable by
    /// HdrHistogram's tools (HistogramLogProcessor, HdrHistogramVisualizer).
    pub fn write_hdr_log(
        &self,
        path: &std::path::Path,
        start: std::time::SystemTime,
    ) -> std::io::Result<()> {
        use hdrhistogram::serialization::V2DeflateSerializer;
        use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
        let mut out = Vec::new();
        let mut ser = V2DeflateSerializer::new();
        {
            let mut w = IntervalLogWriterBuilder::new()
                .with_base_time(start)
                .with_start_time(start)
                .begin_log_with(&mut out, &mut ser)
                .map_err(std::io::Error::other)?;
            let tag = Tag::new("auralis-loadtest");
            for (i, h) in self.second_histograms.iter().enumerate() {
                w.write_histogram(
                    h,
                    Duration::from_secs(i as u64),
                    Duration::from_secs(1),
                    tag,
                )
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
        }
        std::fs::write(path, out)
    }
}
