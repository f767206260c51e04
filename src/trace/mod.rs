//! Distributed tracing: W3C Trace Context in and through, spans named by
//! OpenTelemetry's semantic conventions, exported over OTLP/HTTP (docs/ARCHITECTURE.md
//! §9).
//!
//! Concurrency contract: a span is an owned value built on one thread (a core, a
//! decoder, the library writer, a broker thread) and handed whole to
//! [`Tracer::finish`], which only `try_send`s it into a bounded queue; a full queue
//! drops the span and counts it (`auralis_trace_spans_dropped_total{reason}`). The
//! exporter thread owns the other end. Nothing on a serving path locks, blocks or
//! allocates beyond the span itself; with tracing off (no endpoint) a request pays one
//! atomic load.
//!
//! Why not the OpenTelemetry SDK: its spans go through a tracer provider whose span
//! processor and exporter want an async runtime (tokio) or their own blocking
//! client, and every attribute is a separately allocated `KeyValue`. The cores here
//! run monoio and must not wait on anything, so spans are plain values and only the
//! wire format is OpenTelemetry's own: the `opentelemetry-proto` messages, encoded on
//! the exporter thread.

pub(crate) mod ambient;
pub(crate) mod context;
mod export;
mod ids;
mod otlp;
pub(crate) mod span;
pub(crate) mod stats;

use crate::config::TracingConfig;
pub(crate) use context::SpanContext;
use export::{Exporter, Item};
pub(crate) use span::{Kind, Span};
use stats::TraceStats;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static TRACER: OnceLock<Tracer> = OnceLock::new();

/// The process's tracer: the queue to the exporter and the sampling ratio.
pub(crate) struct Tracer {
    tx: SyncSender<Item>,
    /// Roots are sampled when the trace id's low 64 bits fall under this bound.
    bound: u64,
    always: bool,
    pub stats: Arc<TraceStats>,
}

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot start the span exporter thread: {0}")]
    Thread(std::io::Error),
}

/// Starts the exporter when `[tracing] otlp_endpoint` is set (once per process);
/// `false`: tracing stays off.
pub(crate) fn install(cfg: &TracingConfig, node: &str) -> Result<bool, TraceError> {
    let Some(endpoint) = &cfg.otlp_endpoint else {
        return Ok(false);
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue_spans);
    let stats = Arc::new(TraceStats::default());
    let resource = otlp::Resource {
        attributes: vec![
            ("service.name", cfg.service_name.clone()),
            ("service.version", env!("CARGO_PKG_VERSION").to_string()),
            ("service.instance.id", node.to_string()),
            ("host.name", crate::config::host_name()),
        ],
    };
    let exporter = Exporter {
        rx,
        url: format!("{}/v1/traces", endpoint.trim_end_matches('/')),
        resource,
        stats: stats.clone(),
        batch: cfg.batch_spans,
        interval: Duration::from_millis(cfg.export_interval_ms),
        timeout: Duration::from_millis(cfg.export_timeout_ms),
    };
    std::thread::Builder::new()
        .name("auralis-trace-out".into())
        .spawn(move || exporter.run())
        .map_err(TraceError::Thread)?;
    let ratio = cfg.sample_ratio.clamp(0.0, 1.0);
    let tracer = Tracer {
        tx,
        bound: (ratio * u64::MAX as f64) as u64,
        always: ratio >= 1.0,
        stats,
    };
    Ok(TRACER.set(tracer).is_ok())
}

/// The tracer, when tracing is on.
pub(crate) fn tracer() -> Option<&'static Tracer> {
    TRACER.get()
}

impl Tracer {
    fn finish(&self, span: span::SpanData) {
        use std::sync::atomic::Ordering::Relaxed;
        match self.tx.try_send(Item::Span(span)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.queue_full.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {
                self.stats.export_failed.fetch_add(1, Relaxed);
            }
        }
    }

    /// Whether a new trace is recorded: decided by its id, as OpenTelemetry's
    /// `TraceIdRatioBased` does, so every node decides the same for one id.
    fn samples(&self, id: context::TraceId) -> bool {
        let low = u64::from_be_bytes(id.0[8..].try_into().unwrap_or([0xff; 8]));
        self.always || low < self.bound
    }

    /// Sends what is queued and waits (at most `wait`) for the collector's answer.
    fn flush(&self, wait: Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.try_send(Item::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(wait);
        }
    }
}

/// Starts a span: a child of `parent` when given (parent-based sampling: an unsampled
/// parent records nothing), else the root of a new trace sampled at the configured
/// ratio. `None`: nothing to record.
pub(crate) fn start(name: &'static str, kind: Kind, parent: Option<SpanContext>) -> Option<Span> {
    let t = tracer()?;
    let (context, parent_id) = match parent {
        Some(p) if !p.sampled => return None,
        Some(p) => (p.trace_id, Some(p.span_id)),
        None => {
            let id = ids::trace_id();
            if !t.samples(id) {
                return None;
            }
            (id, None)
        }
    };
    let ctx = SpanContext {
        trace_id: context,
        span_id: ids::span_id(),
        sampled: true,
    };
    Some(Span::new(ctx, parent_id, name, kind))
}

/// A child of `parent`; never starts a trace.
pub(crate) fn child_of(
    parent: Option<SpanContext>,
    name: &'static str,
    kind: Kind,
) -> Option<Span> {
    start(name, kind, Some(parent?))
}

/// A child of the span this thread works for ([`ambient::current`]); never starts a
/// trace.
pub(crate) fn child(name: &'static str, kind: Kind) -> Option<Span> {
    child_of(ambient::current(), name, kind)
}

/// Exports what is queued before a clean stop (waits at most `wait`).
pub(crate) fn flush(wait: Duration) {
    if let Some(t) = tracer() {
        t.flush(wait);
    }
}

/// `/metrics` families of the exporter.
pub(crate) fn prometheus(out: &mut String) {
    TraceStats::prometheus(tracer().map(|t| &*t.stats), out);
}
