//! `ws-broadcast`: N WebSocket listeners subscribed to `notifications`, spread over the
//! executors; the controller publishes M notifications at a rate through
//! `POST /api/notifications`; every listener records publish → receipt latency (from the
//! server's `published_at_us` stamp to its own clock: same machine). Reports the merged
//! delivery latency. The server under test needs a rate limit above the publish rate.

use crate::blocking::SetupClient;
use crate::exec;
use crate::report::{self, CoreResult, Errors, Report};
use crate::ws::{WsClient, published_at_us};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct BroadcastPlan {
    pub server: SocketAddr,
    pub listeners: usize,
    pub publishes: u64,
    pub rate: f64,
    pub cores: Vec<usize>,
    pub source_ips: Vec<Ipv4Addr>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

async fn listener(
    plan: Arc<BroadcastPlan>,
    index: usize,
    ready: Arc<AtomicUsize>,
    deadline: Instant,
) -> (hdrhistogram::Histogram<u64>, Errors, u64) {
    let mut hist = report::histogram();
    let mut errors = Errors::default();
    let source =
        (!plan.source_ips.is_empty()).then(|| plan.source_ips[index % plan.source_ips.len()]);
    let host = plan.server.to_string();
    let mut ws = match crate::client::open(plan.server, source).await {
        Ok(s) => match WsClient::handshake(s, &host).await {
            Ok(ws) => ws,
            Err(_) => {
                errors.protocol += 1;
                ready.fetch_add(1, Ordering::Relaxed);
                return (hist, errors, 0);
            }
        },
        Err(_) => {
            errors.connect += 1;
            ready.fetch_add(1, Ordering::Relaxed);
            return (hist, errors, 0);
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
    ready.fetch_add(1, Ordering::Relaxed);
    if subscribed.is_err() {
        errors.protocol += 1;
        return (hist, errors, 0);
    }
    let mut got = 0u64;
    let mut bytes = 0u64;
    while got < plan.publishes && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = futures_lite::future::or(async { ws.next().await.map(Some) }, async {
            glommio::timer::sleep(left).await;
            Ok(None)
        })
        .await;
        match frame {
            Ok(Some(Some(f))) if f.opcode == 1 => {
                if let Some(t) = published_at_us(&f.payload) {
                    hist.saturating_record(now_us().saturating_sub(t).clamp(1, report::MAX_US));
                    got += 1;
                    bytes += f.payload.len() as u64;
                }
            }
            Ok(Some(Some(_))) => {}
            Ok(Some(None)) => {
                errors.protocol += 1;
                break;
            }
            Ok(None) => {
                errors.timeout += 1;
                break;
            }
            Err(_) => {
                errors.protocol += 1;
                break;
            }
        }
    }
    (hist, errors, bytes)
}

/// Publishes through a plain blocking connection on the calling thread, at `rate`.
fn publish(plan: &BroadcastPlan) -> Result<(), String> {
    let mut client = SetupClient::connect(plan.server)?;
    let start = Instant::now();
    for k in 0..plan.publishes {
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
    let plan = Arc::new(plan);
    let ready = Arc::new(AtomicUsize::new(0));
    let cores = plan.cores.len().max(1);
    let deadline = Instant::now()
        + Duration::from_secs(60)
        + Duration::from_secs_f64(plan.publishes as f64 / plan.rate);
    let running = {
        let (plan, ready) = (plan.clone(), ready.clone());
        exec::start(&plan.cores.clone(), "listeners", move |k| {
            let (plan, ready) = (plan.clone(), ready.clone());
            async move {
                let mine: Vec<usize> = (0..plan.listeners).filter(|i| i % cores == k).collect();
                let tasks: Vec<_> = mine
                    .into_iter()
                    .map(|i| {
                        glommio::spawn_local(listener(plan.clone(), i, ready.clone(), deadline))
                    })
                    .collect();
                let mut result = CoreResult::new(0);
                for t in tasks {
                    let (h, e, b) = t.await;
                    result.requests += h.len();
                    let _ = result.hist.add(&h);
                    result.errors.add(&e);
                    result.bytes += b;
                }
                result
            }
        })?
    };
    let wait_until = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Relaxed) < plan.listeners {
        if Instant::now() > wait_until {
            return Err(format!(
                "only {} of {} listeners connected",
                ready.load(Ordering::Relaxed),
                plan.listeners
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    publish(&plan)?;
    let results = running.join()?;
    Ok(report::merge(
        results,
        "ws-broadcast",
        &[],
        Some(plan.rate),
        started.elapsed(),
        plan.listeners,
    ))
}
