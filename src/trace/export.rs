//! The exporter thread: takes finished spans off the queue, batches them (up to
//! `batch_spans`, or whatever arrived within `export_interval_ms`) and POSTs each batch
//! as OTLP/HTTP protobuf to `{otlp_endpoint}/v1/traces`. A batch the collector refuses
//! or never answers is dropped and counted; the cores never wait for any of it.

use super::otlp::{self, Resource};
use super::span::SpanData;
use super::stats::TraceStats;
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

/// How often the exporter drains the queue. At 100 000 spans a second a tick
/// gathers 5 000, within the default queue of 8 192.
const TICK: Duration = Duration::from_millis(50);

/// What the cores hand the exporter thread.
pub(crate) enum Item {
    Span(SpanData),
    /// Send everything queued before this now, then answer (a clean stop).
    Flush(Sender<()>),
}

/// Why a batch was not exported.
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error("collector answered {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(Box<ureq::Transport>),
    #[error("collector's answer unreadable: {0}")]
    Answer(std::io::Error),
}

pub(crate) struct Exporter {
    pub rx: Receiver<Item>,
    /// `{otlp_endpoint}/v1/traces`.
    pub url: String,
    pub resource: Resource,
    pub stats: Arc<TraceStats>,
    pub batch: usize,
    pub interval: Duration,
    pub timeout: Duration,
}

impl Exporter {
    /// Runs until every sender is gone.
    pub(crate) fn run(self) {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(self.timeout.min(Duration::from_secs(1)))
            .timeout(self.timeout)
            .build();
        let mut failing = false;
        loop {
            let (batch, flush, open) = self.collect();
            if !batch.is_empty() {
                let n = batch.len() as u64;
                match self.send(&agent, batch) {
                    Ok(rejected) => {
                        failing = false;
                        // A collector may claim more rejections than spans it was sent.
                        let rejected = rejected.min(n);
                        self.stats
                            .exported
                            .fetch_add(n - rejected, Ordering::Relaxed);
                        self.stats
                            .export_failed
                            .fetch_add(rejected, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.stats.export_failed.fetch_add(n, Ordering::Relaxed);
                        self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                        // Once per outage, not once per batch: a collector that is down
                        // must not flood the log it shares with the server.
                        if !failing {
                            tracing::warn!(url = %self.url, error = %e, spans = n, "span export failed; dropping spans until the collector answers");
                        }
                        failing = true;
                    }
                }
            }
            if let Some(reply) = flush {
                let _ = reply.send(());
            }
            if !open {
                return;
            }
        }
    }

    /// Spans until the batch is full, the interval passes or a flush is asked for;
    /// `false` once the queue is closed.
    ///
    /// The queue is drained every [`TICK`], never waited on: a receiver parked in
    /// `recv` turns every core's `try_send` into a futex wake and a context switch
    /// (measured: at sample ratio 1 the exporter thread spent 29 % of the core's CPU
    /// in task switches, tuning/tracing-overhead.sh).
    fn collect(&self) -> (Vec<SpanData>, Option<Sender<()>>, bool) {
        let deadline = Instant::now() + self.interval;
        let mut batch = Vec::new();
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(Item::Span(s)) => {
                        batch.push(s);
                        if batch.len() >= self.batch {
                            return (batch, None, true);
                        }
                    }
                    Ok(Item::Flush(reply)) => return (batch, Some(reply), true),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return (batch, None, false),
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return (batch, None, true);
            }
            std::thread::sleep(TICK.min(deadline - now));
        }
    }

    /// POSTs one batch; `Ok(rejected)`: the spans the collector said it refused
    /// (OTLP partial success).
    fn send(&self, agent: &ureq::Agent, batch: Vec<SpanData>) -> Result<u64, ExportError> {
        let body = otlp::request(&self.resource, batch).encode_to_vec();
        let resp = agent
            .post(&self.url)
            .set("Content-Type", "application/x-protobuf")
            .send_bytes(&body)
            .map_err(|e| match e {
                ureq::Error::Status(code, _) => ExportError::Status(code),
                ureq::Error::Transport(t) => ExportError::Transport(Box::new(t)),
            })?;
        let mut answer = Vec::new();
        use std::io::Read;
        resp.into_reader()
            .take(1 << 20)
            .read_to_end(&mut answer)
            .map_err(ExportError::Answer)?;
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
        let rejected = ExportTraceServiceResponse::decode(answer.as_slice())
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0));
        Ok(rejected)
    }
}
