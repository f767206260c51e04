//! What the exporter did, for `/metrics`: spans exported and spans dropped by reason.
//! Relaxed atomics, written by the cores (a full queue) and the exporter thread.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct TraceStats {
    pub exported: AtomicU64,
    /// The queue to the exporter was full when a span ended.
    pub queue_full: AtomicU64,
    /// The collector refused a batch or could not be reached.
    pub export_failed: AtomicU64,
    /// Batches the collector refused or never answered.
    pub failed_batches: AtomicU64,
}

impl TraceStats {
    /// The tracing families; zeros when tracing is off, so dashboards and alerts
    /// always find the series.
    pub(crate) fn prometheus(stats: Option<&TraceStats>, out: &mut String) {
        let get =
            |f: fn(&TraceStats) -> &AtomicU64| stats.map_or(0, |s| f(s).load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP auralis_trace_spans_exported_total Spans the OTLP collector accepted.\n# TYPE auralis_trace_spans_exported_total counter\nauralis_trace_spans_exported_total {}",
            get(|s| &s.exported)
        );
        let _ = writeln!(
            out,
            "# HELP auralis_trace_spans_dropped_total Spans dropped: the exporter's queue was full, or the collector refused or missed a batch.\n# TYPE auralis_trace_spans_dropped_total counter\nauralis_trace_spans_dropped_total{{reason=\"queue_full\"}} {}\nauralis_trace_spans_dropped_total{{reason=\"export_failed\"}} {}",
            get(|s| &s.queue_full),
            get(|s| &s.export_failed)
        );
    }
}
