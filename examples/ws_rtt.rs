//! WebSocket round trips against a running server (loopback only): C connections, each
//! sending M `ping` messages one after another and waiting for each `pong`. Prints
//! messages/s and round-trip percentiles. Used by tuning/ws-transport.sh to compare the
//! two WebSocket transports; bounded by M, so it stops by itself.
//!
//! cargo run --release --example ws_rtt -- 127.0.0.1:8080 [connections] [messages]

use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::Message;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let conns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let msgs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    assert!(
        addr.starts_with("127.") || addr.starts_with("[::1]") || addr.starts_with("localhost"),
        "loopback only"
    );
    let start = Instant::now();
    let mut rtts: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|_| {
                let addr = addr.clone();
                s.spawn(move || {
                    let stream = TcpStream::connect(&addr).expect("connect");
                    stream.set_nodelay(true).ok();
                    let (mut ws, _) =
                        tungstenite::client(format!("ws://{addr}/ws").as_str(), stream)
                            .expect("handshake");
                    ws.read().expect("welcome");
                    let mut out = Vec::with_capacity(msgs);
                    for i in 0..msgs {
                        let t = Instant::now();
                        ws.send(Message::text(format!(
                            r#"{{"type":"ping","correlation_id":"r{i}"}}"#
                        )))
                        .expect("send");
                        loop {
                            if let Message::Text(m) = ws.read().expect("reply")
                                && m.as_str().contains("\"pong\"")
                            {
                                break;
                            }
                        }
                        out.push(t.elapsed());
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let elapsed = start.elapsed();
    rtts.sort();
    let p = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize].as_micros();
    println!(
        "messages {} in {:.2}s = {:.0}/s; rtt us p50 {} p99 {} max {}",
        rtts.len(),
        elapsed.as_secs_f64(),
        rtts.len() as f64 / elapsed.as_secs_f64(),
        p(0.50),
        p(0.99),
        rtts.last().map(|d| d.as_micros()).unwrap_or(0)
    );
}
