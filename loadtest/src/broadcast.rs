//! `ws-broadcast`: N WebSocket listeners subscribed to `notifications`, spread over the
//! executors; the controller publishes M notifications at a rate through
//! `POST /api/notifications`; every listener records publish → receipt latency (from the
//! server's `published_at_us` stamp to its own clock: same machine). Reports the merged
//! delivery latency. The server under test needs a rate limit above the publish rate.
//! With `publisher` set (`--publish-to`), notifications are published on another node
//! of a cluster, so the latency includes the hop through the broker.

use crate::blocking::SetupClient;
use crate::client::Failure;
use crate::exec;
use crate::report::{self, CoreResult, Report};
use crate::run::{Progress, progress_line, report_p99};
use crate::ws::{WsClient, published_at_us};
use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct BroadcastPlan {
    pub server: crate::endpoint::Endpoint,
    /// Where notifications are published (default: `server`).
    pub publisher: Option<crate::endpoint::Endpoint>,
    pub listeners: usize,
    /// Measured publishes.
    pub publishes: u64,
    /// Publishes sent first and not measured (`lt-0` … `lt-{warmup-1}`).
    pub warmup_publishes: u64,
    pub rate: f64,
    pub cores: Vec<usize>,
    pub source_ips: Vec<Ipv4Addr>,
    /// Live progress line on stderr.
    pub progress: bool,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// What every listener shares with the controller.
struct Shared {
    plan: BroadcastPlan,
    ready: AtomicUsize,
    progress: Arc<Progress>,
    /// When the first notification was published (the per-second series' origin).
    published: OnceLock<Instant>,
    deadline: Instant,
}

async fn listener(shared: Arc<Shared>, index: usize, state: Rc<RefCell<CoreResult>>) {
    let plan = &shared.plan;
    let failed = |kind: Failure| {
        state.borrow_mut().errors.failure(kind);
        shared.progress.errors.fetch_add(1, Ordering::Relaxed);
    };
    let source =
        (!plan.source_ips.is_empty()).then(|| plan.source_ips[index % plan.source_ips.len()]);
    let host = plan.server.addr.to_string();
    let mut ws = match plan.server.connect(source, None).await {
        Ok(s) => match WsClient::handshake(s, &host).await {
            Ok(ws) => ws,
            Err(_) => {
                failed(Failure::Protocol);
                shared.ready.fetch_add(1, Ordering::Relaxed);
                return;
            }
        },
        Err(_) => {
            failed(Failure::Connect);
            shared.ready.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let subscribed = async {
        ws.send_text(
            r#"{"type":"subscribe","correlation_id":"lt","payload":{"topics":["notifications"]}}"#,
        )
        .await?;
        while let Some(f) = ws.next().await? {
            if f.opcode == 1 && f.payload.windows(12).any(|w| w == b"\"subscribed\"") {
                return Ok(());
            }
        }
        Err(std::io::Error::other("closed before subscribing"))
    }
    .await;
    shared.ready.fetch_add(1, Ordering::Relaxed);
    if subscribed.is_err() {
        failed(Failure::Protocol);
        return;
    }
    let mut got = 0u64;
    let total = plan.warmup_publishes + plan.publishes;
    while got < total && Instant::now() < shared.deadline {
        let left = shared.deadline.saturating_duration_since(Instant::now());
        let frame = futures_lite::future::or(async { ws.next().await.map(Some) }, async {
            glommio::timer::sleep(left).await;
            Ok(None)
        })
        .await;
        match frame {
            Ok(Some(Some(f))) if f.opcode == 1 => {
                if let Some(t) = published_at_us(&f.payload) {
                    got += 1;
                    if sequence(&f.payload).is_none_or(|k| k < plan.warmup_publishes) {
                        continue; // a warm-up notification
                    }
                    let micros = now_us().saturating_sub(t);
                    let now = Instant::now();
                    let from = *shared.published.get_or_init(|| now);
                    let second = now.saturating_duration_since(from).as_secs() as usize;
                    let mut st = state.borrow_mut();
                    st.bytes += f.payload.len() as u64;
                    st.record_one(0, micros, false, second);
                    shared.progress.requests.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Some(Some(_))) => {}
            Ok(None) => {
                failed(Failure::Timeout);
                break;
            }
            Ok(Some(None)) | Err(_) => {
                failed(Failure::Protocol);
                break;
            }
        }
    }
}

/// The `k` of a harness notification titled `lt-k`.
fn sequence(payload: &[u8]) -> Option<u64> {
    let key = b"\"title\":\"lt-";
    let at = payload.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = payload[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&payload[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// Publishes through a plain blocking connection on the calling thread, at `rate`.
fn publish(plan: &BroadcastPlan) -> Result<(), String> {
    let mut client = SetupClient::connect(plan.publisher.as_ref().unwrap_or(&plan.server))?;
    let start = Instant::now();
    for k in 0..plan.warmup_publishes + plan.publishes {
        let due = start + Duration::from_secs_f64(k as f64 / plan.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let body = format!(r#"{{"title":"lt-{k}","level":"info"}}"#);
        let (status, answer) = client.request("POST", "/api/notifications", Some(&body))?;
        if status != 202 {
            return Err(format!(
                "publish refused ({status}): {}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            ));
        }
    }
    Ok(())
}

pub fn run(plan: BroadcastPlan) -> Result<Report, String> {
    let cores = plan.cores.len().max(1);
    let duration =
        Duration::from_secs_f64((plan.warmup_publishes + plan.publishes) as f64 / plan.rate);
    let shared = Arc::new(Shared {
        deadline: Instant::now() + Duration::from_secs(60) + duration,
        plan,
        ready: AtomicUsize::new(0),
        progress: Arc::new(Progress::default()),
        published: OnceLock::new(),
    });
    let running = {
        let shared = shared.clone();
        exec::start(&shared.plan.cores.clone(), "listeners", move |k| {
            let shared = shared.clone();
            async move {
                let state = Rc::new(RefCell::new(CoreResult::new(0)));
                let tasks: Vec<_> = (0..shared.plan.listeners)
                    .filter(|i| i % cores == k)
                    .map(|i| glommio::spawn_local(listener(shared.clone(), i, state.clone())))
                    .collect();
                let reporter = report_p99(state.clone(), shared.progress.clone());
                for t in tasks {
                    t.await;
                }
                drop(reporter);
                Rc::try_unwrap(state)
                    .map(RefCell::into_inner)
                    .unwrap_or_else(|rc| rc.borrow().clone())
            }
        })?
    };
    let plan = &shared.plan;
    let wait_until = Instant::now() + Duration::from_secs(60);
    while shared.ready.load(Ordering::Relaxed) < plan.listeners {
        if Instant::now() > wait_until {
            return Err(format!(
                "only {} of {} listeners connected",
                shared.ready.load(Ordering::Relaxed),
                plan.listeners
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let printer = plan.progress.then(|| {
        let (shared, done) = (shared.clone(), done.clone());
        std::thread::spawn(move || progress_line(&shared.progress, &done, Some(duration), started))
    });
    if let Err(e) = publish(plan) {
        // Said at once: the listeners would wait out their deadline for notifications
        // that will never come (they end with the process).
        done.store(true, Ordering::Relaxed);
        drop(running);
        return Err(e);
    }
    let results = running.join();
    done.store(true, Ordering::Relaxed);
    if let Some(p) = printer {
        let _ = p.join();
    }
    Ok(report::merge(
        results?,
        "ws-broadcast",
        &[],
        Some(plan.rate),
        started.elapsed(),
        plan.listeners,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn notifications_carry_their_sequence() {
        let n = br#"{"type":"notification","payload":{"title":"lt-17","level":"info","published_at_us":5}}"#;
        assert_eq!(super::sequence(n), Some(17));
        assert_eq!(super::sequence(br#"{"title":"other"}"#), None);
    }
}
