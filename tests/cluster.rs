//! Three nodes behind a real HAProxy (deploy/haproxy.cfg) on loopback: API traffic by
//! client IP, chunks by track (each track's chunks cached on one node), every response
//! naming its node, and a node stopped with SIGTERM leaving rotation through its
//! readiness check before it stops accepting, without a failed request. Skipped with a
//! message where `haproxy` is not installed (`.ci/run` installs it as root).

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET through the front from `src`; (status, node name, cache tier).
fn via(front: SocketAddr, src: Ipv4Addr, path: &str) -> (u16, String, Option<String>) {
    let mut c = Raw::connect_from(src, front);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
    let r = c.read_response().expect("a response through HAProxy");
    let node = r
        .header("X-Served-By")
        .and_then(|v| v.split('/').next())
        .unwrap_or("")
        .to_string();
    (r.status, node, r.header("X-Cache-Tier").map(String::from))
}

/// 600 `GET /api/version` from 24 connections over 24 client addresses, through the front.
fn harness_through(front: SocketAddr) -> auralis_loadtest::report::Report {
    use auralis_loadtest::endpoint::Endpoint;
    use auralis_loadtest::plan::{Model, Plan, parse_ip_range, parse_target};
    use auralis_loadtest::workload::FixedMix;
    let target = parse_target(&format!("http://{front}/api/version")).unwrap();
    let (mix, _) = FixedMix::new(&[target]).unwrap();
    auralis_loadtest::run::run(Plan {
        server: Endpoint::plain(front),
        workload: std::sync::Arc::new(mix),
        connections: 24,
        pipeline: 1,
        model: Model::Closed,
        duration: None,
        requests: Some(600),
        warmup: Duration::ZERO,
        cores: vec![0],
        source_ips: parse_ip_range("127.0.5.2-127.0.5.25").unwrap(),
        timeout: Duration::from_secs(10),
        progress: false,
    })
    .expect("the harness runs through HAProxy")
}

#[test]
fn haproxy_routes_by_client_and_by_track_and_a_draining_node_leaves_first() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        println!("SKIPPED: haproxy is not installed (apt-get install haproxy)");
        return;
    }
    let lib = temp_dir("cluster-lib");
    tone_tracks(&lib, 8, 2, 22_050, 1);
    let nodes: Vec<Server> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| {
            let s = Server::start(
                library_opts(&lib)
                    .env("AURALIS_CLUSTER__NODE", name)
                    .env("AURALIS_CLUSTER__DRAIN_DELAY_MS", "2500")
                    .env("AURALIS_CACHE__CHUNK_DURATION_S", "1"),
            );
            wait_scan(&s);
            s
        })
        .collect();
    let front: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _haproxy = Haproxy(
        Command::new("haproxy")
            .args(["-db", "-f", "deploy/haproxy.cfg"])
            .env("AURALIS_FRONT", front.to_string())
            .env("AURALIS_N1", nodes[0].addr.to_string())
            .env("AURALIS_N2", nodes[1].addr.to_string())
            .env("AURALIS_N3", nodes[2].addr.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy"),
    );
    // Until HAProxy listens and has seen every node healthy (rise 2 × 500 ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(front).is_err() {
        assert!(Instant::now() < deadline, "HAProxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));

    // API: one client IP, one node; many client IPs, every node.
    let mut by_client: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
    for last in 2..40u8 {
        let ip = Ipv4Addr::new(127, 0, 3, last);
        let seen: BTreeSet<String> = (0..3)
            .map(|_| {
                let (status, node, _) = via(front, ip, "/api/version");
                assert_eq!(status, 200);
                node
            })
            .collect();
        assert_eq!(seen.len(), 1, "{ip} moved between nodes: {seen:?}");
        by_client.insert(ip, seen.into_iter().next().unwrap());
    }
    let api_nodes: BTreeSet<&String> = by_client.values().collect();
    assert_eq!(
        api_nodes.len(),
        3,
        "clients spread over the nodes: {by_client:?}"
    );

    // Chunks: a track's chunks are served by one node whatever the client, and hit its
    // cache after the first request; the tracks spread over the nodes.
    let mut by_track: BTreeMap<u32, String> = BTreeMap::new();
    for track in 1..=8u32 {
        let path = format!("/api/stream/{track}/chunk/0?format=wav");
        let answers: Vec<_> = (0..4)
            .map(|k| via(front, Ipv4Addr::new(127, 0, 4, 2 + k), &path))
            .collect();
        let nodes_seen: BTreeSet<&String> = answers.iter().map(|a| &a.1).collect();
        assert_eq!(nodes_seen.len(), 1, "track {track}: {answers:?}");
        assert!(answers.iter().all(|a| a.0 == 200));
        assert_eq!(answers[0].2.as_deref(), Some("miss"), "track {track}");
        assert!(
            answers[1..].iter().all(|a| a.2.as_deref() != Some("miss")),
            "track {track}: later requests hit the node's cache: {answers:?}"
        );
        by_track.insert(track, answers[0].1.clone());
    }
    let chunk_nodes: BTreeSet<&String> = by_track.values().collect();
    assert!(
        chunk_nodes.len() >= 2,
        "tracks spread over the nodes: {by_track:?}"
    );

    // The load harness through the front reports how the requests spread per node.
    let report = harness_through(front);
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    let total: u64 = report.nodes.iter().map(|n| n.requests).sum();
    assert_eq!(total, report.requests, "every answer named its node");
    assert!(report.nodes.len() >= 2, "{:?}", report.nodes);
    assert!(
        report
            .nodes
            .iter()
            .all(|n| ["n1", "n2", "n3"].contains(&n.node.as_str())),
        "{:?}",
        report.nodes
    );
    println!("{}", report.table());

    // SIGTERM on the node of one client: its readiness fails at once while it still
    // serves; HAProxy moves the client to another node before the node stops accepting.
    let ip = Ipv4Addr::new(127, 0, 3, 2);
    let victim = by_client[&ip].clone();
    let index = ["n1", "n2", "n3"]
        .iter()
        .position(|n| *n == victim)
        .unwrap();
    nodes[index].terminate();
    let deadline = Instant::now() + Duration::from_secs(2);
    while get(&nodes[index], "/api/health/ready").status != 503 {
        assert!(
            Instant::now() < deadline,
            "a draining node fails readiness first"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        get(&nodes[index], "/api/version").status,
        200,
        "and still serves while it drains"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let moved_to = loop {
        let (status, node, _) = via(front, ip, "/api/version");
        assert_eq!(status, 200, "no request fails while the node drains");
        if node != victim {
            break node;
        }
        assert!(Instant::now() < deadline, "{ip} never left {victim}");
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("{ip}: {victim} drained, now on {moved_to}");
    for _ in 0..10 {
        assert_eq!(via(front, ip, "/api/version").0, 200);
    }
}
