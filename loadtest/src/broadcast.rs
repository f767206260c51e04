//! `ws-broadcast`: N WebSocket listeners subscribed to `notifications`, spread over the
//! executors; the controller publishes M notifications at a rate through
//! `POST /api/notifications`; every listener records publish → receipt latency (from the
//! server's `published_at_us` stamp to its own clock: same machine). Reports the merged
//! delivery latency. The server under test needs a rate limit above the publish rate.

use crate::report::{self, CoreResult, Errors, Report};
use crate::ws::{WsClient, published_at_us};
use glommio::net::TcpStream;
use glommio::{LocalExecutorBuilder, Placement};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
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

async fn connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> std::io::Result<TcpStream> {
    match source {
        None => TcpStream::connect(addr)
            .await
            .map_err(|e| std::io::Error::other(e.to_string())),
        Some(ip) => {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            sock.bind(&SocketAddr::from((ip, 0)).into())?;
            sock.connect(&addr.into())?;
            sock.set_nonblocking(true)?;
            // SAFETY: a connected TCP socket we own, handed to glommio.
            Ok(unsafe { TcpStream::from_raw_fd(sock.into_raw_fd()) })
        }
    }
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
    let mut ws = match connect(plan.server, source).await {
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

/// Publishes through plain blocking HTTP/1.1 on the calling thread, at `rate`.
fn publish(plan: &BroadcastPlan) -> Result<(), String> {
    let mut s = std::net::TcpStream::connect(plan.server)
        .map_err(|e| format!("publisher cannot connect: {e}"))?;
    s.set_nodelay(true).ok();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    for k in 0..plan.publishes {
        let due = start + Duration::from_secs_f64(k as f64 / plan.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let body = format!(r#"{{"title":"lt-{k}","level":"info"}}"#);
        let req = format!(
            "POST /api/notifications HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            plan.server,
            body.len()
        );
        s.write_all(req.as_bytes())
            .map_err(|e| format!("publish failed: {e}"))?;
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("publish answer: {e}"))?;
        if !buf[..n].starts_with(b"HTTP/1.1 202") {
            return Err(format!(
                "publish refused: {}",
                String::from_utf8_lossy(&buf[..n.min(200)])
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
    let mut handles = Vec::new();
    for (k, cpu) in plan.cores.iter().copied().enumerate() {
        let (plan, ready) = (plan.clone(), ready.clone());
        let h = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("listeners-{k}"))
            .spawn(move || async move {
                let mine: Vec<usize> = (0..plan.listeners).filter(|i| i % cores == k).collect();
                let tasks: Vec<_> = mine
                    .into_iter()
                    .map(|i| {
                        glommio::spawn_local(listener(plan.clone(), i, ready.clone(), deadline))
                    })
                    .collect();
                let mut result = CoreResult {
                    hist: report::histogram(),
                    seconds: Vec::new(),
                    requests: 0,
                    errors: Errors::default(),
                    bytes: 0,
                };
                for t in tasks {
                    let (h, e, b) = t.await;
                    result.requests += h.len();
                    let _ = result.hist.add(&h);
                    result.errors.add(&e);
                    result.bytes += b;
                }
                result
            })
            .map_err(|e| format!("cannot start executor on CPU {cpu}: {e}"))?;
        handles.push(h);
    }
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
    let mut results = Vec::new();
    for h in handles {
        results.push(h.join().map_err(|e| format!("executor failed: {e}"))?);
    }
    Ok(report::merge(
        results,
        "ws-broadcast",
        Some(plan.rate),
        started.elapsed(),
        plan.listeners,
    ))
}
