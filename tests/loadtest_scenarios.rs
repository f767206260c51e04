//! The load harness's scenarios against the real server (bounded, loopback only).

mod common;

use auralis_loadtest::broadcast::{BroadcastPlan, run};
use common::*;

#[test]
fn ws_broadcast_delivers_every_notification_to_every_listener() {
    let s = Server::start(
        Opts::cores(2)
            .env("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "1000000")
            .env("AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE", "5000"),
    );
    let report = run(BroadcastPlan {
        server: s.addr,
        listeners: 200,
        publishes: 5,
        rate: 10.0,
        cores: vec![0],
        source_ips: auralis_loadtest::plan::parse_ip_range("127.0.0.2-127.0.0.11").unwrap(),
    })
    .expect("scenario runs");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(
        report.requests, 1000,
        "200 listeners x 5 notifications, each delivered once"
    );
    assert_eq!(report.histogram.len(), 1000);
    assert!(report.latency_us.p50 > 0 && report.latency_us.p50 <= report.latency_us.p99);
}
