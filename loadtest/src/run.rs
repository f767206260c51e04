//! The request engine for `http` and `api-mix`: one glommio executor per core (pinned),
//! each owning its share of the connections and its own histograms, merged when all
//! have finished. The open model schedules every request at an intended time and
//! measures from it (coordinated-omission correction); the closed model sends as soon
//! as the previous answer arrived.

use crate::client::{Conn, Failure};
use crate::exec;
use crate::plan::{Model, Plan};
use crate::report::{self, CoreResult, Report};
use crate::workload::Workload;
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

/// Runs the plan; returns the merged report.
pub fn run(plan: Plan) -> Result<Report, String> {
    if plan.pipeline > 1 && matches!(plan.model, Model::Open { .. }) {
        return Err("--pipeline needs the closed model (no --rate): an open-model request is sent at its own intended time".into());
    }
    let plan = Arc::new(plan);
    let progress = Arc::new(Progress::default());
    let start = Instant::now() + Duration::from_millis(200); // all executors start together
    let done = Arc::new(AtomicBool::new(false));
    let printer = plan.progress.then(|| {
        let (progress, done, plan) = (progress.clone(), done.clone(), plan.clone());
        std::thread::spawn(move || {
            progress_line(&progress, &done, plan.duration, start + plan.warmup)
        })
    });
    let results = {
        let (plan, progress) = (plan.clone(), progress.clone());
        let cores = plan.cores.len().max(1);
        exec::on_cores(&plan.cores.clone(), "loadtest", move |k| {
            executor(plan.clone(), k, cores, start, progress.clone())
        })
    };
    done.store(true, Ordering::Relaxed);
    if let Some(p) = printer {
        let _ = p.join();
    }
    let results = results?;
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
        plan.workload.scenario(),
        &plan.workload.operations(),
        target,
        measured,
        plan.connections,
    ))
}

/// The live progress line on stderr, once a second, until `done`.
pub fn progress_line(p: &Progress, done: &AtomicBool, duration: Option<Duration>, from: Instant) {
    let mut last = 0;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        let n = p.requests.load(Ordering::Relaxed);
        let left = duration.map(|d| {
            (from + d)
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
    let state = Rc::new(RefCell::new(CoreResult::new(
        plan.workload.operations().len(),
    )));
    let mine: Vec<usize> = (0..plan.connections).filter(|i| i % cores == k).collect();
    let mut tasks = Vec::new();
    for i in mine {
        let quota = plan.requests.map(|n| {
            n / plan.connections as u64 + u64::from((i as u64) < n % plan.connections as u64)
        });
        let work = plan.workload.connection(i);
        let t = glommio::spawn_local(connection(
            plan.clone(),
            i,
            start,
            quota,
            work,
            state.clone(),
            progress.clone(),
        ));
        tasks.push(t);
    }
    let reporter = report_p99(state.clone(), progress.clone());
    for t in tasks {
        t.await;
    }
    drop(reporter);
    let end = Instant::now();
    let result = Rc::try_unwrap(state)
        .map(RefCell::into_inner)
        .unwrap_or_else(|rc| rc.borrow().clone());
    (result, end)
}

/// Publishes this executor's p99 so far for the progress line, once a second, until
/// the returned task is dropped.
pub fn report_p99(state: Rc<RefCell<CoreResult>>, progress: Arc<Progress>) -> glommio::Task<()> {
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(Duration::from_secs(1)).await;
            let p99 = state.borrow().hist.value_at_quantile(0.99);
            progress.p99_us.fetch_max(p99, Ordering::Relaxed);
        }
    })
}

pub(crate) async fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        glommio::timer::sleep(t - now).await;
    }
}

/// Sends `batch` on the connection (opening it when needed) and reads one answer per
/// operation in `ops`. The time limit is the socket's (no progress for `timeout`).
async fn exchange(
    conn: &mut Option<Conn>,
    plan: &Plan,
    source: Option<std::net::Ipv4Addr>,
    batch: &[u8],
    ops: &[usize],
    work: &mut dyn Workload,
    answers: &mut Vec<crate::client::Answer>,
) -> Result<(), Failure> {
    answers.clear();
    if conn.is_none() {
        *conn = Some(Conn::connect(&plan.server, source, plan.timeout).await?);
    }
    let c = conn.as_mut().ok_or(Failure::Connect)?;
    c.send(batch).await?;
    for &op in ops {
        answers.push(c.receive(work.wants_body(op)).await?);
    }
    Ok(())
}

/// One connection's loop.
async fn connection(
    plan: Arc<Plan>,
    index: usize,
    start: Instant,
    quota: Option<u64>,
    mut work: Box<dyn Workload>,
    state: Rc<RefCell<CoreResult>>,
    progress: Arc<Progress>,
) {
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
    let mut batch = Vec::with_capacity(512);
    let mut ops = Vec::with_capacity(plan.pipeline.max(1));
    let mut answers = Vec::with_capacity(plan.pipeline.max(1));
    loop {
        let depth = match quota {
            Some(q) if k >= q => break,
            Some(q) => (q - k).min(plan.pipeline.max(1) as u64),
            None => plan.pipeline.max(1) as u64,
        };
        let intended = match interval {
            Some(i) => start + phase + i.mul_f64(k as f64),
            None => Instant::now(),
        };
        if end.is_some_and(|e| intended >= e) {
            break;
        }
        if interval.is_some() {
            sleep_until(intended).await;
        }
        batch.clear();
        ops.clear();
        for _ in 0..depth {
            ops.push(work.next(&mut batch));
        }
        k += depth;
        // Closed model: `intended` is the send time (read just before sending).
        let lag = interval.map(|_| Instant::now().saturating_duration_since(intended));
        let outcome = exchange(
            &mut conn,
            &plan,
            source,
            &batch,
            &ops,
            work.as_mut(),
            &mut answers,
        )
        .await
        .map(|()| answers.as_slice());
        let now = Instant::now();
        // Open model: from the intended send time (coordinated-omission correction).
        let micros = now.saturating_duration_since(intended).as_micros() as u64;
        progress.requests.fetch_add(depth, Ordering::Relaxed);
        if let Ok(answers) = outcome {
            for (op, a) in ops.iter().zip(answers) {
                work.observe(*op, a);
                if a.close {
                    conn = None;
                }
            }
        } else {
            conn = None;
        }
        if intended < measure_from {
            continue;
        }
        let second = now.saturating_duration_since(measure_from).as_secs() as usize;
        let failed = {
            let mut st = state.borrow_mut();
            if let Some(lag) = lag {
                st.send_lag
                    .saturating_record((lag.as_micros() as u64).clamp(1, report::MAX_US));
            }
            st.record(&ops, outcome, micros, second)
        };
        if failed > 0 {
            progress.errors.fetch_add(failed, Ordering::Relaxed);
            if conn.is_none() && interval.is_none() {
                // Closed model after a connection failure: don't spin on a dead server.
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // Unmeasured clean-up (e.g. playlists the workload created), best effort.
    let cleanup = work.cleanup();
    if !cleanup.is_empty() {
        for request in cleanup {
            let op = [0];
            let _ = exchange(
                &mut conn,
                &plan,
                source,
                &request,
                &op,
                work.as_mut(),
                &mut answers,
            )
            .await;
        }
    }
}
