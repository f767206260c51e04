//! Running a plan: one glommio executor per core (pinned), each owning its share of the
//! connections and its own histograms; merged when all have finished.

use crate::client::{Conn, Failure};
use crate::plan::{Model, Plan};
use crate::report::{self, CoreResult, Errors, Report, Second};
use glommio::{LocalExecutorBuilder, Placement};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Live counters for the progress line (the only thing executors share).
#[derive(Default)]
pub struct Progress {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Highest per-executor p99 so far, µs.
    pub p99_us: AtomicU64,
}

struct CoreState {
    hist: hdrhistogram::Histogram<u64>,
    seconds: Vec<Second>,
    requests: u64,
    errors: Errors,
    bytes: u64,
}

impl CoreState {
    fn second(&mut self, i: usize) -> &mut Second {
        while self.seconds.len() <= i {
            self.seconds.push(Second {
                requests: 0,
                errors: 0,
                hist: report::histogram(),
            });
        }
        &mut self.seconds[i]
    }
}

fn request_bytes(plan: &Plan) -> Vec<Vec<u8>> {
    // The weighted mix, expanded: request k uses entry k % len.
    let mut mix = Vec::new();
    for t in &plan.targets {
        let r = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: auralis-loadtest\r\n\r\n",
            t.path, t.host
        )
        .into_bytes();
        for _ in 0..t.weight.max(1) {
            mix.push(r.clone());
        }
    }
    mix
}

/// Runs the plan; returns the merged report.
pub fn run(plan: Plan) -> Result<Report, String> {
    let plan = Arc::new(plan);
    let progress = Arc::new(Progress::default());
    let cores = plan.cores.len().max(1);
    let start = Instant::now() + Duration::from_millis(200); // all executors start together
    let done = Arc::new(AtomicBool::new(false));
    let printer = plan.progress.then(|| {
        let (progress, done, plan) = (progress.clone(), done.clone(), plan.clone());
        std::thread::spawn(move || progress_line(&progress, &done, &plan, start))
    });
    let mut handles = Vec::new();
    for (k, cpu) in plan.cores.iter().copied().enumerate() {
        let (plan, progress) = (plan.clone(), progress.clone());
        let h = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("loadtest-{k}"))
            .spawn(move || async move { executor(plan, k, cores, start, progress).await })
            .map_err(|e| format!("cannot start executor on CPU {cpu}: {e}"))?;
        handles.push(h);
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.join().map_err(|e| format!("executor failed: {e}"))?);
    }
    done.store(true, Ordering::Relaxed);
    if let Some(p) = printer {
        let _ = p.join();
    }
    let measured_from = start + plan.warmup;
    let measured = results
        .iter()
        .map(|r: &(CoreResult, Instant)| r.1)
        .max()
        .unwrap_or(measured_from)
        .saturating_duration_since(measured_from);
    let target = match plan.model {
        Model::Open { rate } => Some(rate),
        Model::Closed => None,
    };
    Ok(report::merge(
        results.into_iter().map(|r| r.0).collect(),
        "http",
        target,
        measured,
        plan.connections,
    ))
}

fn progress_line(p: &Progress, done: &AtomicBool, plan: &Plan, start: Instant) {
    let mut last = 0;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        let n = p.requests.load(Ordering::Relaxed);
        let left = plan.duration.map(|d| {
            (start + plan.warmup + d)
                .saturating_duration_since(Instant::now())
                .as_secs()
        });
        eprint!(
            "\r{:>9} req/s  p99 {:>8.3} ms (worst core)  errors {:>6}  {}   ",
            n - last,
            p.p99_us.load(Ordering::Relaxed) as f64 / 1000.0,
            p.errors.load(Ordering::Relaxed),
            left.map(|s| format!("{s}s left")).unwrap_or_default()
        );
        last = n;
    }
    eprintln!();
}

async fn executor(
    plan: Arc<Plan>,
    k: usize,
    cores: usize,
    start: Instant,
    progress: Arc<Progress>,
) -> (CoreResult, Instant) {
    let state = Rc::new(RefCell::new(CoreState {
        hist: report::histogram(),
        seconds: Vec::new(),
        requests: 0,
        errors: Errors::default(),
        bytes: 0,
    }));
    let mix = Rc::new(request_bytes(&plan));
    let mine: Vec<usize> = (0..plan.connections).filter(|i| i % cores == k).collect();
    let mut tasks = Vec::new();
    for i in mine {
        let quota = plan.requests.map(|n| {
            n / plan.connections as u64 + u64::from((i as u64) < n % plan.connections as u64)
        });
        let t = glommio::spawn_local(connection(
            plan.clone(),
            i,
            start,
            quota,
            state.clone(),
            mix.clone(),
            progress.clone(),
        ));
        tasks.push(t);
    }
    // Publish this executor's p99 for the progress line once a second.
    let reporter = {
        let (state, progress) = (state.clone(), progress.clone());
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(Duration::from_secs(1)).await;
                let p99 = state.borrow().hist.value_at_quantile(0.99);
                progress.p99_us.fetch_max(p99, Ordering::Relaxed);
            }
        })
    };
    for t in tasks {
        t.await;
    }
    drop(reporter);
    let end = Instant::now();
    let s = Rc::try_unwrap(state)
        .map(|c| c.into_inner())
        .unwrap_or_else(|rc| {
            let b = rc.borrow();
            CoreState {
                hist: b.hist.clone(),
                seconds: b.seconds.clone(),
                requests: b.requests,
                errors: b.errors,
                bytes: b.bytes,
            }
        });
    (
        CoreResult {
            hist: s.hist,
            seconds: s.seconds,
            requests: s.requests,
            errors: s.errors,
            bytes: s.bytes,
        },
        end,
    )
}

async fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        glommio::timer::sleep(t - now).await;
    }
}

/// One connection's loop.
async fn connection(
    plan: Arc<Plan>,
    index: usize,
    start: Instant,
    quota: Option<u64>,
    state: Rc<RefCell<CoreState>>,
    mix: Rc<Vec<Vec<u8>>>,
    progress: Arc<Progress>,
) {
    let target = plan.targets[index % plan.targets.len()].addr;
    let source =
        (!plan.source_ips.is_empty()).then(|| plan.source_ips[index % plan.source_ips.len()]);
    let end = plan.duration.map(|d| start + plan.warmup + d);
    let measure_from = start + plan.warmup;
    // Open model: this connection's share of the rate, phases staggered.
    let interval = match plan.model {
        Model::Open { rate } => Some(Duration::from_secs_f64(
            plan.connections as f64 / rate.max(1e-9),
        )),
        Model::Closed => None,
    };
    let phase = interval
        .map(|i| i.mul_f64(index as f64 / plan.connections as f64))
        .unwrap_or_default();
    sleep_until(start).await;
    let mut conn: Option<Conn> = None;
    let mut k: u64 = 0;
    loop {
        if quota.is_some_and(|q| k >= q) {
            break;
        }
        let intended = match interval {
            Some(i) => start + phase + i.mul_f64(k as f64),
            None => Instant::now(),
        };
        if end.is_some_and(|e| intended >= e) {
            break;
        }
        sleep_until(intended).await;
        let sent = Instant::now();
        let request = &mix[(k as usize + index) % mix.len()];
        k += 1;
        let outcome = async {
            if conn.is_none() {
                conn = Some(Conn::connect(target, source).await?);
            }
            let c = conn.as_mut().ok_or(Failure::Connect)?;
            c.send(request).await?;
            let timeout = glommio::timer::sleep(plan.timeout);
            futures_lite::future::or(async { c.receive().await }, async {
                timeout.await;
                Err(Failure::Timeout)
            })
            .await
        }
        .await;
        let now = Instant::now();
        // Open model: from the intended send time (coordinated-omission correction).
        let from = if interval.is_some() { intended } else { sent };
        let micros = now.saturating_duration_since(from).as_micros() as u64;
        progress.requests.fetch_add(1, Ordering::Relaxed);
        if intended < measure_from {
            if outcome.is_err() {
                conn = None;
            }
            continue;
        }
        let second = now.saturating_duration_since(measure_from).as_secs() as usize;
        let failed = {
            let mut st = state.borrow_mut();
            st.requests += 1;
            let failed = match outcome {
                Ok(a) => {
                    st.bytes += a.bytes;
                    if a.close {
                        conn = None;
                    }
                    match a.status {
                        400..=499 => {
                            st.errors.status_4xx += 1;
                            true
                        }
                        500..=599 => {
                            st.errors.status_5xx += 1;
                            true
                        }
                        _ => false,
                    }
                }
                Err(f) => {
                    conn = None;
                    match f {
                        Failure::Connect => st.errors.connect += 1,
                        Failure::Timeout => st.errors.timeout += 1,
                        Failure::Protocol => st.errors.protocol += 1,
                    }
                    true
                }
            };
            if failed {
                progress.errors.fetch_add(1, Ordering::Relaxed);
            }
            st.hist.saturating_record(micros.clamp(1, report::MAX_US));
            let sec = st.second(second);
            sec.requests += 1;
            sec.errors += u64::from(failed);
            sec.hist.saturating_record(micros.clamp(1, report::MAX_US));
            failed
        };
        if failed && conn.is_none() && interval.is_none() {
            // Closed model after a connection failure: don't spin on a dead server.
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
    }
}
