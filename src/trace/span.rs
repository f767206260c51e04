//! A span being recorded: an owned value built on one thread and handed whole to the
//! tracer when it ends. Attributes are named by OpenTelemetry's semantic conventions
//! (`http.request.method`, `url.path`, ...) or ours under `auralis.`.

use super::context::{SpanContext, SpanId};
use std::borrow::Cow;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// OpenTelemetry's span kinds (the values OTLP numbers them by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(Cow<'static, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// A finished span, as the exporter receives it.
#[derive(Debug, Clone)]
pub(crate) struct SpanData {
    pub context: SpanContext,
    pub parent: Option<SpanId>,
    pub name: Cow<'static, str>,
    pub kind: Kind,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub attributes: Vec<(&'static str, Value)>,
    /// `Some(message)`: the span's status is Error.
    pub error: Option<String>,
    /// The caller's `tracestate`, kept on the span that continued it.
    pub trace_state: Option<Box<str>>,
}

/// A span being recorded. Ends (and is exported) through [`Span::end`]; dropped
/// without it (a panic unwinding through), it is simply not exported.
#[derive(Debug)]
pub(crate) struct Span {
    data: SpanData,
    started: Instant,
}

/// Attributes most spans carry, so their vector is allocated once.
const TYPICAL_ATTRIBUTES: usize = 12;

fn unix_ns_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Span {
    pub(crate) fn new(
        context: SpanContext,
        parent: Option<SpanId>,
        name: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> Span {
        Span {
            data: SpanData {
                context,
                parent,
                name: name.into(),
                kind,
                start_unix_ns: unix_ns_now(),
                end_unix_ns: 0,
                attributes: Vec::with_capacity(TYPICAL_ATTRIBUTES),
                error: None,
                trace_state: None,
            },
            started: Instant::now(),
        }
    }

    /// Moves the span's start back to when the work really began (a queue wait
    /// measured by its submitter).
    pub(crate) fn started_at(mut self, at: Instant) -> Span {
        let earlier = self.started.saturating_duration_since(at);
        self.data.start_unix_ns = self
            .data
            .start_unix_ns
            .saturating_sub(earlier.as_nanos() as u64);
        self.started = at;
        self
    }

    /// This span as the parent of others.
    pub(crate) fn context(&self) -> SpanContext {
        self.data.context
    }

    pub(crate) fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.data.attributes.push((key, value.into()));
    }

    pub(crate) fn rename(&mut self, name: impl Into<Cow<'static, str>>) {
        self.data.name = name.into();
    }

    pub(crate) fn set_trace_state(&mut self, state: &str) {
        self.data.trace_state = Some(state.into());
    }

    /// Marks the span failed (OTLP status Error, with its message).
    pub(crate) fn fail(&mut self, message: impl Into<String>) {
        self.data.error = Some(message.into());
    }

    /// Ends the span now and hands it to the exporter's queue.
    pub(crate) fn end(mut self) {
        let elapsed = self.started.elapsed().as_nanos() as u64;
        self.data.end_unix_ns = self.data.start_unix_ns.saturating_add(elapsed);
        if let Some(t) = super::tracer() {
            t.finish(self.data);
        }
    }
}
