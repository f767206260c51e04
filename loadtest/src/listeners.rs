//! `listeners`: N simulated players. Each opens `/ws`, subscribes to `notifications` and
//! answers the server's pings, then plays tracks: it fetches a track's stream metadata,
//! pulls chunk 0 (time to first chunk), starts playing when it arrives, and from then on
//! requests chunk k when chunk k−1 starts playing (one chunk of buffer), i.e. one chunk
//! per chunk duration, divided by `--speed`. A chunk that arrives after its play
//! deadline is an underrun: the player stalls until it arrives (the stall shifts the
//! rest of the track, as a real player rebuffers). When a track has played out, the
//! listener picks another.
//!
//! Every chunk request has an intended time, and its latency is measured from it, so a
//! slow server is charged for the requests it delayed (as the open model does).

use crate::apimix::XorShift;
use crate::blocking::SetupClient;
use crate::client::{CacheTier, Conn, Failure};
use crate::exec;
use crate::report::{self, CoreResult, Latency, Report};
use crate::run::{Progress, progress_line, sleep_until};
use crate::ws::WsClient;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ListenersPlan {
    pub server: crate::endpoint::Endpoint,
    pub listeners: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Playback speed-up: 10 plays a 10 s chunk in 1 s.
    pub speed: f64,
    /// Listener starts are spread evenly over this.
    pub ramp: Duration,
    /// `wav`, `f32`, `flac` or `opus`.
    pub format: String,
    /// Opus kbit/s (`format=opus`); the server's default when `None`.
    pub bitrate: Option<u16>,
    /// `original` or `normalized`.
    pub preset: String,
    /// Play only the library's first N tracks (more cache hits); all when `None`.
    pub tracks: Option<usize>,
    pub cores: Vec<usize>,
    pub source_ips: Vec<Ipv4Addr>,
    pub timeout: Duration,
    pub progress: bool,
}

/// Cache tiers the server reported (`X-Cache-Tier`) for the chunks pulled.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tiers {
    pub tier1: u64,
    pub tier2: u64,
    pub miss: u64,
    pub unknown: u64,
}

/// The playback figures of a `listeners` run (in the report's `listeners` member).
#[derive(Debug, Clone, Serialize)]
pub struct ListenerSummary {
    pub listeners: usize,
    pub speed: f64,
    /// Tracks started (after warm-up).
    pub sessions: u64,
    pub chunks: u64,
    /// Chunk body bytes received (after warm-up).
    pub chunk_bytes: u64,
    /// `chunk_bytes` per listener per second of the run (wall clock).
    pub bytes_per_listener_per_s: f64,
    /// What one listener needs at real-time pace (the wall-clock rate ÷ `speed`), kbit/s.
    pub kbit_per_listener_real_time: f64,
    /// Chunks that arrived after their play deadline.
    pub underruns: u64,
    /// Total time players stalled waiting for late chunks.
    pub stalled_ms: u64,
    /// From the moment a track was due to start to its first chunk's arrival.
    pub time_to_first_chunk_us: Latency,
    pub tiers: Tiers,
    pub ws_connected: u64,
    pub ws_messages: u64,
    pub ws_pings_answered: u64,
    pub ws_errors: u64,
}

impl ListenerSummary {
    pub fn table(&self) -> String {
        let t = &self.time_to_first_chunk_us;
        format!(
            "listeners {}  speed {}x  sessions {}  chunks {}  underruns {}  stalled {} ms\n\
             bytes            {} per listener per s ({:.1} kbit/s per listener at real time)\n\
             first chunk (ms) p50 {:.3}  p99 {:.3}  max {:.3}\n\
             cache tiers      tier1 {}  tier2 {}  miss {}  unknown {}\n\
             websocket        connected {}  messages {}  pings answered {}  errors {}\n",
            self.listeners,
            self.speed,
            self.sessions,
            self.chunks,
            self.underruns,
            self.stalled_ms,
            self.bytes_per_listener_per_s.round(),
            self.kbit_per_listener_real_time,
            t.p50 as f64 / 1000.0,
            t.p99 as f64 / 1000.0,
            t.max as f64 / 1000.0,
            self.tiers.tier1,
            self.tiers.tier2,
            self.tiers.miss,
            self.tiers.unknown,
            self.ws_connected,
            self.ws_messages,
            self.ws_pings_answered,
            self.ws_errors
        )
    }
}

/// Operations in the per-operation breakdown.
const OPS: [&str; 3] = ["metadata", "first chunk", "chunk"];
const OP_METADATA: usize = 0;
const OP_FIRST: usize = 1;
const OP_CHUNK: usize = 2;

/// One executor's playback counters.
struct Playback {
    http: CoreResult,
    ttfc: Histogram<u64>,
    sessions: u64,
    underruns: u64,
    stalled: Duration,
    chunk_bytes: u64,
    tiers: Tiers,
    ws_connected: u64,
    ws_messages: u64,
    ws_pings: u64,
    ws_errors: u64,
}

impl Playback {
    fn new() -> Playback {
        Playback {
            http: CoreResult::new(OPS.len()),
            ttfc: report::histogram(),
            sessions: 0,
            underruns: 0,
            stalled: Duration::ZERO,
            chunk_bytes: 0,
            tiers: Tiers::default(),
            ws_connected: 0,
            ws_messages: 0,
            ws_pings: 0,
            ws_errors: 0,
        }
    }

    fn add(&mut self, o: Playback) {
        let _ = self.ttfc.add(&o.ttfc);
        self.sessions += o.sessions;
        self.underruns += o.underruns;
        self.stalled += o.stalled;
        self.chunk_bytes += o.chunk_bytes;
        self.tiers.tier1 += o.tiers.tier1;
        self.tiers.tier2 += o.tiers.tier2;
        self.tiers.miss += o.tiers.miss;
        self.tiers.unknown += o.tiers.unknown;
        self.ws_connected += o.ws_connected;
        self.ws_messages += o.ws_messages;
        self.ws_pings += o.ws_pings;
        self.ws_errors += o.ws_errors;
    }
}

/// A track's stream layout, from `/api/stream/{id}/metadata`.
struct Layout {
    chunk: Duration,
    chunks: u64,
}

fn layout(body: &[u8]) -> Option<Layout> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let d = v.get("data")?;
    Some(Layout {
        chunk: Duration::from_secs_f64(d.get("chunk_duration")?.as_f64()?),
        chunks: d.get("total_chunks")?.as_u64()?,
    })
}

/// What every listener shares (read-only).
struct Shared {
    plan: ListenersPlan,
    tracks: Vec<u64>,
    host: String,
    start: Instant,
    end: Instant,
    measure_from: Instant,
    progress: Arc<Progress>,
}

/// Runs the scenario; the library's tracks are listed first (blocking, unmeasured).
pub fn run(plan: ListenersPlan) -> Result<Report, String> {
    if plan.speed <= 0.0 || plan.listeners == 0 {
        return Err("--speed and --listeners must be positive".into());
    }
    let mut setup = SetupClient::connect(&plan.server)?;
    let mut tracks = crate::apimix::Seeds::fetch_tracks(&mut setup)?.tracks;
    if let Some(n) = plan.tracks {
        tracks.truncate(n.max(1));
    }
    drop(setup);
    let start = Instant::now() + Duration::from_millis(200);
    let shared = Arc::new(Shared {
        host: plan.server.addr.to_string(),
        start,
        end: start + plan.warmup + plan.duration,
        measure_from: start + plan.warmup,
        progress: Arc::new(Progress::default()),
        tracks,
        plan,
    });
    let done = Arc::new(AtomicBool::new(false));
    let printer = shared.plan.progress.then(|| {
        let (s, done) = (shared.clone(), done.clone());
        std::thread::spawn(move || {
            progress_line(&s.progress, &done, Some(s.plan.duration), s.measure_from)
        })
    });
    let results = {
        let shared = shared.clone();
        let cores = shared.plan.cores.len().max(1);
        exec::on_cores(&shared.plan.cores.clone(), "listeners", move |k| {
            executor(shared.clone(), k, cores)
        })
    };
    done.store(true, Ordering::Relaxed);
    if let Some(p) = printer {
        let _ = p.join();
    }
    let mut total = Playback::new();
    let mut http = Vec::new();
    for mut r in results? {
        http.push(std::mem::replace(&mut r.http, CoreResult::new(0)));
        total.add(r);
    }
    let names: Vec<String> = OPS.iter().map(|s| s.to_string()).collect();
    let plan = &shared.plan;
    let mut report = report::merge(
        http,
        "listeners",
        &names,
        None,
        plan.duration,
        plan.listeners,
    );
    // Each chunk is due at a time set by playback, not by the previous answer.
    report.model = "playback";
    let chunks = report
        .operations
        .iter()
        .filter(|o| o.name != "metadata")
        .map(|o| o.requests)
        .sum();
    let per_listener_s =
        total.chunk_bytes as f64 / plan.listeners as f64 / plan.duration.as_secs_f64().max(1e-9);
    report.listeners = Some(ListenerSummary {
        listeners: plan.listeners,
        speed: plan.speed,
        sessions: total.sessions,
        chunks,
        chunk_bytes: total.chunk_bytes,
        bytes_per_listener_per_s: per_listener_s,
        kbit_per_listener_real_time: per_listener_s * 8.0 / 1000.0 / plan.speed,
        underruns: total.underruns,
        stalled_ms: total.stalled.as_millis() as u64,
        time_to_first_chunk_us: report::latency(&total.ttfc),
        tiers: total.tiers,
        ws_connected: total.ws_connected,
        ws_messages: total.ws_messages,
        ws_pings_answered: total.ws_pings,
        ws_errors: total.ws_errors,
    });
    Ok(report)
}

async fn executor(shared: Arc<Shared>, k: usize, cores: usize) -> Playback {
    let state = Rc::new(RefCell::new(Playback::new()));
    let tasks: Vec<_> = (0..shared.plan.listeners)
        .filter(|i| i % cores == k)
        .map(|i| glommio::spawn_local(listener(shared.clone(), i, state.clone())))
        .collect();
    for t in tasks {
        t.await;
    }
    Rc::try_unwrap(state)
        .map(RefCell::into_inner)
        .unwrap_or_else(|_| Playback::new())
}

/// Opens `/ws`, subscribes, and then reads (answering pings) until told to stop.
async fn control_channel(
    shared: Arc<Shared>,
    source: Option<Ipv4Addr>,
    state: Rc<RefCell<Playback>>,
    stop: glommio::channels::local_channel::LocalReceiver<()>,
) {
    let opened = async {
        let stream = shared
            .plan
            .server
            .connect(source, None)
            .await
            .map_err(|_| std::io::Error::other("connect"))?;
        let mut ws = WsClient::handshake(stream, &shared.host).await?;
        ws.send_text(r#"{"type":"subscribe","correlation_id":"listener","payload":{"topics":["notifications"]}}"#)
            .await?;
        Ok::<_, std::io::Error>(ws)
    };
    let mut ws = match opened.await {
        Ok(ws) => ws,
        Err(_) => {
            state.borrow_mut().ws_errors += 1;
            return;
        }
    };
    state.borrow_mut().ws_connected += 1;
    let mut messages = 0;
    let clean = loop {
        let next = futures_lite::future::or(async { Some(ws.next().await) }, async {
            stop.recv().await;
            None
        })
        .await;
        match next {
            None => break true,
            Some(Ok(Some(_))) => messages += 1,
            Some(Ok(None)) | Some(Err(_)) => break false,
        }
    };
    if clean {
        let _ = ws.close().await;
    }
    let mut st = state.borrow_mut();
    st.ws_messages += messages;
    st.ws_pings += ws.pings;
    st.ws_errors += u64::from(!clean);
}
/// One GET on the listener's connection (the socket enforces the plan's timeout).
async fn get(
    conn: &mut Option<Conn>,
    shared: &Shared,
    source: Option<Ipv4Addr>,
    path: &str,
    want_body: bool,
) -> Result<crate::client::Answer, Failure> {
    let plan = &shared.plan;
    crate::client::get_on(
        conn,
        &plan.server,
        &shared.host,
        source,
        plan.timeout,
        path,
        want_body,
    )
    .await
}

/// Records one request; returns whether it succeeded (2xx/3xx).
fn record(
    shared: &Shared,
    state: &RefCell<Playback>,
    op: usize,
    intended: Instant,
    answer: &Result<crate::client::Answer, Failure>,
) -> bool {
    let now = Instant::now();
    let failed = {
        let mut st = state.borrow_mut();
        let measured = intended >= shared.measure_from;
        let failed = match answer {
            Ok(a) => {
                if measured {
                    st.http.bytes += a.bytes;
                    if op != OP_METADATA {
                        st.chunk_bytes += a.bytes;
                        let t = &mut st.tiers;
                        match a.tier {
                            Some(CacheTier::Tier1) => t.tier1 += 1,
                            Some(CacheTier::Tier2) => t.tier2 += 1,
                            Some(CacheTier::Miss) => t.miss += 1,
                            None => t.unknown += 1,
                        }
                    }
                }
                let mut scratch = report::Errors::default();
                let bad = scratch.status(a.status);
                if measured {
                    st.http.errors.add(&scratch);
                }
                bad
            }
            Err(f) => {
                if measured {
                    st.http.errors.failure(*f);
                }
                true
            }
        };
        if measured {
            let micros = now.saturating_duration_since(intended).as_micros() as u64;
            let second = now.saturating_duration_since(shared.measure_from).as_secs() as usize;
            if op == OP_METADATA {
                st.http.record_op(op, micros, failed);
            } else {
                st.http.record_one(op, micros, failed, second);
            }
        }
        failed
    };
    shared.progress.requests.fetch_add(1, Ordering::Relaxed);
    if failed {
        shared.progress.errors.fetch_add(1, Ordering::Relaxed);
    }
    !failed
}

async fn listener(shared: Arc<Shared>, index: usize, state: Rc<RefCell<Playback>>) {
    let plan = &shared.plan;
    let source =
        (!plan.source_ips.is_empty()).then(|| plan.source_ips[index % plan.source_ips.len()]);
    let begin = shared.start + plan.ramp.mul_f64(index as f64 / plan.listeners as f64);
    sleep_until(begin).await;
    let (stop_tx, stop_rx) = glommio::channels::local_channel::new_bounded(1);
    let ws = glommio::spawn_local(control_channel(
        shared.clone(),
        source,
        state.clone(),
        stop_rx,
    ));
    let mut rng = XorShift::new(index as u64 + 1);
    let mut conn: Option<Conn> = None;
    let mut query = format!("format={}&preset={}", plan.format, plan.preset);
    if let (Some(kbps), "opus") = (plan.bitrate, plan.format.as_str()) {
        query.push_str(&format!("&bitrate={kbps}"));
    }
    let mut due = Instant::now();
    while due < shared.end {
        sleep_until(due).await;
        let Some(&track) = rng.pick(&shared.tracks) else {
            break;
        };
        let session_due = due;
        let answer = get(
            &mut conn,
            &shared,
            source,
            &format!("/api/stream/{track}/metadata"),
            true,
        )
        .await;
        let layout = match (
            record(&shared, &state, OP_METADATA, session_due, &answer),
            &answer,
        ) {
            (true, Ok(a)) => layout(&a.body),
            _ => None,
        };
        let Some(layout) = layout else {
            due = Instant::now() + Duration::from_millis(100); // don't spin on errors
            continue;
        };
        let step = layout.chunk.div_f64(plan.speed);
        let first = get(
            &mut conn,
            &shared,
            source,
            &format!("/api/stream/{track}/chunk/0?{query}"),
            false,
        )
        .await;
        if !record(&shared, &state, OP_FIRST, session_due, &first) {
            due = Instant::now() + Duration::from_millis(100);
            continue;
        }
        let mut play = Instant::now(); // playback of chunk 0 starts
        if session_due >= shared.measure_from {
            let mut st = state.borrow_mut();
            st.sessions += 1;
            let ttfc = play.saturating_duration_since(session_due).as_micros() as u64;
            st.ttfc.saturating_record(ttfc.clamp(1, report::MAX_US));
        }
        let mut played_out = true;
        for k in 1..layout.chunks {
            let intended = play + step * (k as u32 - 1);
            let deadline = play + step * k as u32;
            if intended >= shared.end {
                break; // the run is over; `due` lands past the end
            }
            sleep_until(intended).await;
            let answer = get(
                &mut conn,
                &shared,
                source,
                &format!("/api/stream/{track}/chunk/{k}?{query}"),
                false,
            )
            .await;
            if !record(&shared, &state, OP_CHUNK, intended, &answer) {
                played_out = false;
                break;
            }
            let arrived = Instant::now();
            if arrived > deadline {
                // Underrun: the player stalls until the chunk is there.
                play += arrived - deadline;
                if intended >= shared.measure_from {
                    let mut st = state.borrow_mut();
                    st.underruns += 1;
                    st.stalled += arrived - deadline;
                }
            }
        }
        // The next track is due when this one has played out (or at once after an
        // error).
        due = if played_out {
            play + step * layout.chunks as u32
        } else {
            Instant::now() + Duration::from_millis(100)
        };
    }
    let _ = stop_tx.try_send(());
    ws.await;
}
