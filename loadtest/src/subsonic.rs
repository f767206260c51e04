//! `subsonic`: N simulated Subsonic apps. Each logs in as a user with token auth
//! (`u` + `t` + `s`, a fresh salt per request, as apps do), browses as an app does —
//! `getArtists`, `getArtist`, `getAlbum` — picks a song, streams it (`/rest/stream`: the
//! file, or `wav`/`opus` made by the server from its chunk cache) and plays it: the
//! next browse starts when the song has played out (its duration ÷ `--speed` after the
//! stream was asked for). Apps buffer a whole song as fast as it comes, so the stream
//! is read at full speed; a song whose stream took longer than its playing time is an
//! underrun (the app would have stalled).
//!
//! Subsonic answers errors with HTTP 200: a browse counts as failed unless its body
//! says `"status":"ok"`, a stream unless it is larger than an error document.

use crate::apimix::XorShift;
use crate::blocking::SetupClient;
use crate::client::{Conn, Failure};
use crate::exec;
use crate::report::{self, CoreResult, Latency, Report};
use crate::run::{Progress, progress_line, sleep_until};
use hdrhistogram::Histogram;
use md5::{Digest, Md5};
use serde::Serialize;
use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SubsonicPlan {
    pub server: crate::endpoint::Endpoint,
    pub listeners: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Playback speed-up: 10 plays a 30 s song in 3 s.
    pub speed: f64,
    pub ramp: Duration,
    pub user: String,
    pub password: String,
    /// `raw` (the file), `wav` or `opus`.
    pub format: String,
    /// `maxBitRate`, kbit/s (0: none).
    pub max_bit_rate: u32,
    pub cores: Vec<usize>,
    pub source_ips: Vec<Ipv4Addr>,
    pub timeout: Duration,
    pub progress: bool,
}

/// The playback figures of a `subsonic` run (the report's `subsonic` member).
#[derive(Debug, Clone, Serialize)]
pub struct SubsonicSummary {
    pub listeners: usize,
    pub speed: f64,
    /// Songs streamed (after warm-up).
    pub songs: u64,
    pub stream_bytes: u64,
    pub bytes_per_listener_per_s: f64,
    pub kbit_per_listener_real_time: f64,
    /// Songs whose stream took longer than their playing time.
    pub underruns: u64,
    /// Asking for a song to having all of it.
    pub whole_song_us: Latency,
}

impl SubsonicSummary {
    pub fn table(&self) -> String {
        let t = &self.whole_song_us;
        format!(
            "subsonic listeners {}  speed {}x  songs {}  underruns {}\n\
             bytes            {} per listener per s ({:.1} kbit/s per listener at real time)\n\
             whole song (ms)  p50 {:.3}  p99 {:.3}  max {:.3}\n",
            self.listeners,
            self.speed,
            self.songs,
            self.underruns,
            self.bytes_per_listener_per_s.round(),
            self.kbit_per_listener_real_time,
            t.p50 as f64 / 1000.0,
            t.p99 as f64 / 1000.0,
            t.max as f64 / 1000.0,
        )
    }
}

const OPS: [&str; 4] = ["getArtists", "getArtist", "getAlbum", "stream"];
const OP_STREAM: usize = 3;

struct Playback {
    http: CoreResult,
    whole: Histogram<u64>,
    songs: u64,
    underruns: u64,
    stream_bytes: u64,
}

impl Playback {
    fn new() -> Playback {
        Playback {
            http: CoreResult::new(OPS.len()),
            whole: report::histogram(),
            songs: 0,
            underruns: 0,
            stream_bytes: 0,
        }
    }
}

struct Shared {
    plan: SubsonicPlan,
    host: String,
    start: Instant,
    end: Instant,
    measure_from: Instant,
    progress: Arc<Progress>,
}

/// Checks the login once (blocking, unmeasured), then runs the listeners.
pub fn run(plan: SubsonicPlan) -> Result<Report, String> {
    if plan.speed <= 0.0 || plan.listeners == 0 {
        return Err("--speed and --listeners must be positive".into());
    }
    let mut setup = SetupClient::connect(&plan.server)?;
    let path = format!("/rest/ping?{}", auth(&plan, &mut XorShift::new(7)));
    let (_, body) = setup.request("GET", &path, None)?;
    if !ok(&body) {
        return Err(format!(
            "the server refused the login of {:?}: {}",
            plan.user,
            String::from_utf8_lossy(&body)
        ));
    }
    drop(setup);
    let start = Instant::now() + Duration::from_millis(200);
    let shared = Arc::new(Shared {
        host: plan.server.addr.to_string(),
        start,
        end: start + plan.warmup + plan.duration,
        measure_from: start + plan.warmup,
        progress: Arc::new(Progress::default()),
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
        exec::on_cores(&shared.plan.cores.clone(), "subsonic", move |k| {
            executor(shared.clone(), k, cores)
        })
    };
    done.store(true, Ordering::Relaxed);
    if let Some(p) = printer {
        let _ = p.join();
    }
    Ok(summarize(&shared.plan, results?))
}

fn summarize(plan: &SubsonicPlan, results: Vec<Playback>) -> Report {
    let (mut whole, mut songs, mut underruns, mut bytes) = (report::histogram(), 0, 0, 0);
    let mut http = Vec::new();
    for r in results {
        let _ = whole.add(&r.whole);
        songs += r.songs;
        underruns += r.underruns;
        bytes += r.stream_bytes;
        http.push(r.http);
    }
    let names: Vec<String> = OPS.iter().map(|s| s.to_string()).collect();
    let mut report = report::merge(
        http,
        "subsonic",
        &names,
        None,
        plan.duration,
        plan.listeners,
    );
    report.model = "playback";
    let per_listener_s =
        bytes as f64 / plan.listeners as f64 / plan.duration.as_secs_f64().max(1e-9);
    report.subsonic = Some(SubsonicSummary {
        listeners: plan.listeners,
        speed: plan.speed,
        songs,
        stream_bytes: bytes,
        bytes_per_listener_per_s: per_listener_s,
        kbit_per_listener_real_time: per_listener_s * 8.0 / 1000.0 / plan.speed,
        underruns,
        whole_song_us: report::latency(&whole),
    });
    report
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

/// Token auth with a fresh salt: `u`, `t = md5(password + s)`, `s`, and the client.
fn auth(plan: &SubsonicPlan, rng: &mut XorShift) -> String {
    let salt = format!(
        "{:08x}{:08x}",
        rng.below(u32::MAX as usize),
        rng.below(u32::MAX as usize)
    );
    let mut h = Md5::new();
    h.update(plan.password.as_bytes());
    h.update(salt.as_bytes());
    let token: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let user: String = plan
        .user
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("u={user}&t={token}&s={salt}&v=1.16.1&c=auralis-loadtest&f=json")
}

fn ok(body: &[u8]) -> bool {
    body.windows(13).any(|w| w == b"\"status\":\"ok\"")
}

/// A random item (its `id` and `duration`) at `path` in a JSON answer: the first key
/// names the payload object, each further key an array in every item so far
/// (`artists` → `index[]` → `artist[]`).
fn pick(body: &[u8], path: &[&str], rng: &mut XorShift) -> Option<(String, f64)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let (first, rest) = path.split_first()?;
    let mut items = vec![&v["subsonic-response"][*first]];
    for key in rest {
        items = items
            .iter()
            .flat_map(|x| x[*key].as_array().into_iter().flatten())
            .collect();
    }
    let item = rng.pick(&items)?;
    Some((
        item["id"].as_str()?.to_string(),
        item["duration"].as_f64().unwrap_or(0.0),
    ))
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

/// Records one request; whether it succeeded.
fn record(
    shared: &Shared,
    state: &RefCell<Playback>,
    op: usize,
    intended: Instant,
    answer: &Result<crate::client::Answer, Failure>,
) -> bool {
    let now = Instant::now();
    let failed = match answer {
        Ok(a) if op == OP_STREAM => (a.status != 200 && a.status != 206) || a.bytes < 2048,
        Ok(a) => a.status != 200 || !ok(&a.body),
        Err(_) => true,
    };
    if intended >= shared.measure_from {
        let mut st = state.borrow_mut();
        match answer {
            Ok(a) => st.http.bytes += a.bytes,
            Err(f) => st.http.errors.failure(*f),
        }
        if let (Ok(_), true) = (answer, failed) {
            st.http.errors.status(500);
        }
        let micros = now.saturating_duration_since(intended).as_micros() as u64;
        let second = now.saturating_duration_since(shared.measure_from).as_secs() as usize;
        st.http.record_one(op, micros, failed, second);
    }
    shared.progress.requests.fetch_add(1, Ordering::Relaxed);
    if failed {
        shared.progress.errors.fetch_add(1, Ordering::Relaxed);
    }
    !failed
}

/// Browses to a song: its id and duration (s).
async fn browse(
    shared: &Shared,
    state: &RefCell<Playback>,
    conn: &mut Option<Conn>,
    source: Option<Ipv4Addr>,
    rng: &mut XorShift,
) -> Option<(String, f64)> {
    let plan = &shared.plan;
    let steps: [(&str, &[&str]); 3] = [
        ("getArtists", &["artists", "index", "artist"]),
        ("getArtist", &["artist", "album"]),
        ("getAlbum", &["album", "song"]),
    ];
    let mut id = String::new();
    let mut found = None;
    for (op, (method, path)) in steps.iter().enumerate() {
        let query = match op {
            0 => String::new(),
            _ => format!("&id={id}"),
        };
        let intended = Instant::now();
        let url = format!("/rest/{method}?{}{query}", auth(plan, rng));
        let answer = get(conn, shared, source, &url, true).await;
        if !record(shared, state, op, intended, &answer) {
            return None;
        }
        found = pick(&answer.ok()?.body, path, rng);
        id = found.clone()?.0;
    }
    found
}

async fn listener(shared: Arc<Shared>, index: usize, state: Rc<RefCell<Playback>>) {
    let plan = &shared.plan;
    let source =
        (!plan.source_ips.is_empty()).then(|| plan.source_ips[index % plan.source_ips.len()]);
    sleep_until(shared.start + plan.ramp.mul_f64(index as f64 / plan.listeners as f64)).await;
    let mut rng = XorShift::new(index as u64 + 1);
    let mut conn: Option<Conn> = None;
    let mut due = Instant::now();
    while due < shared.end {
        sleep_until(due).await;
        let Some((song, seconds)) = browse(&shared, &state, &mut conn, source, &mut rng).await
        else {
            due = Instant::now() + Duration::from_millis(100); // don't spin on errors
            continue;
        };
        let asked = Instant::now();
        let url = format!(
            "/rest/stream?{}&id={song}&format={}&maxBitRate={}",
            auth(plan, &mut rng),
            plan.format,
            plan.max_bit_rate
        );
        let answer = get(&mut conn, &shared, source, &url, false).await;
        if !record(&shared, &state, OP_STREAM, asked, &answer) {
            due = Instant::now() + Duration::from_millis(100);
            continue;
        }
        let took = asked.elapsed();
        let playing = Duration::from_secs_f64(seconds.max(1.0) / plan.speed);
        if asked >= shared.measure_from {
            let mut st = state.borrow_mut();
            st.songs += 1;
            st.stream_bytes += answer.map(|a| a.bytes).unwrap_or(0);
            st.underruns += u64::from(took > playing);
            st.whole
                .saturating_record((took.as_micros() as u64).clamp(1, report::MAX_US));
        }
        due = asked + playing.max(took);
    }
}
