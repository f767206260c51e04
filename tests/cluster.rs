//! Three nodes behind a real HAProxy (deploy/haproxy.cfg) on loopback: API traffic by
//! client IP, chunks by track (each track's chunks cached on one node), every response
//! naming its node, and a node stopped with SIGTERM leaving rotation through its
//! readiness check before it stops accepting, without a failed request. Skipped with a
//! message where `haproxy` is not installed (`.ci/run` installs it as root).

mod common;

use common::engines;
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

/// The cluster's health as `/api/health` reports it (`ok`, `degraded`, or null).
fn cluster_status(s: &Server) -> serde_json::Value {
    get(s, "/api/health").json()["data"]["cluster"]["status"].clone()
}

fn wait_cluster(s: &Server, want: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while cluster_status(s) != want {
        assert!(
            Instant::now() < deadline,
            "cluster never {want}: {}",
            get(s, "/api/health").json()["data"]["cluster"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn subscribed(ws: &mut Ws, topics: serde_json::Value) -> serde_json::Value {
    ws_rpc(ws, "subscribe", serde_json::json!({ "topics": topics }))
}

fn notify(s: &Server, title: &str) {
    let body = serde_json::json!({"title": title, "message": "m", "level": "info"}).to_string();
    assert_eq!(
        request(s, "POST", "/api/notifications", Some(&body)).status,
        202
    );
}

fn notification_titled(ws: &mut Ws, title: &str) -> serde_json::Value {
    ws_until(ws, |m| {
        m["type"] == "notification" && m["payload"]["title"] == title
    })
}

/// Subscribes to a session made on another node, once this node has heard of it.
fn subscribe_session(ws: &mut Ws, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = subscribed(ws, serde_json::json!([format!("session:{id}")]));
        if r["type"] == "subscribed" {
            return;
        }
        assert_eq!(r["payload"]["error"], "not_found", "{r}");
        assert!(
            Instant::now() < deadline,
            "session {id} never reached this node"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_broker_carries_topics_and_sessions_across_nodes_and_its_loss_only_degrades() {
    let Some(mut redis) = engines::Redis::start() else {
        println!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
        return;
    };
    let lib = temp_dir("broker-lib");
    tone_tracks(&lib, 3, 2, 22_050, 1);
    let mut nodes: Vec<Server> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let s = Server::start(
                library_opts(&lib)
                    .env("AURALIS_CLUSTER__NODE", name)
                    .env("AURALIS_CLUSTER__BROKER_URL", &redis.url()),
            );
            wait_scan(&s);
            s
        })
        .collect();
    for n in &nodes {
        wait_cluster(n, "ok", Duration::from_secs(5));
    }
    let ip = Ipv4Addr::LOCALHOST;

    // A notification published through A reaches listeners on A, B and C.
    let mut listeners: Vec<Ws> = nodes
        .iter()
        .map(|n| {
            let (mut ws, _) = ws_connect(n, ip);
            assert_eq!(
                subscribed(&mut ws, serde_json::json!(["notifications"]))["type"],
                "subscribed"
            );
            ws
        })
        .collect();
    notify(&nodes[0], "from-a");
    for ws in &mut listeners {
        notification_titled(ws, "from-a");
    }

    // A session made and controlled on A updates its listener on C.
    let (mut control, _) = ws_connect(&nodes[0], ip);
    let id = ws_rpc(&mut control, "session_create", serde_json::json!({}))["payload"]["session_id"]
        .as_str()
        .expect("a session id")
        .to_string();
    let (mut on_c, _) = ws_connect(&nodes[2], ip);
    subscribe_session(&mut on_c, &id);
    ws_rpc(
        &mut control,
        "queue_add",
        serde_json::json!({"track_ids": [1, 2, 3]}),
    );
    let played = ws_rpc(&mut control, "play", serde_json::json!({}));
    let seen = ws_until(&mut on_c, |m| {
        m["type"] == "status_update" && m["payload"]["state"] == "playing"
    });
    assert_eq!(seen["payload"]["session_id"], id.as_str());
    assert_eq!(seen["payload"]["seq"], played["payload"]["seq"]);
    let (mut on_b, _) = ws_connect(&nodes[1], ip);
    subscribe_session(&mut on_b, &id);

    // A dies (SIGKILL): the session's state outlives it; C takes control, B hears it.
    let _ = nodes[0].child.kill();
    let _ = nodes[0].child.wait();
    let joined = ws_rpc(
        &mut on_c,
        "session_join",
        serde_json::json!({"session_id": id}),
    );
    assert_eq!(joined["type"], "status_update", "{joined}");
    assert_eq!(joined["payload"]["queue"], serde_json::json!([1, 2, 3]));
    assert_eq!(joined["payload"]["state"], "playing");
    assert_eq!(joined["payload"]["seq"], played["payload"]["seq"]);
    let next = ws_rpc(&mut on_c, "next", serde_json::json!({}));
    let heard = ws_until(&mut on_b, |m| {
        m["type"] == "status_update" && m["payload"]["index"] == 1
    });
    assert_eq!(heard["payload"]["seq"], next["payload"]["seq"]);
    assert_eq!(
        next["payload"]["seq"].as_u64(),
        played["payload"]["seq"].as_u64().map(|s| s + 1)
    );
    let unknown = ws_rpc(
        &mut on_b,
        "session_join",
        serde_json::json!({"session_id": "nope"}),
    );
    assert_eq!(unknown["payload"]["error"], "not_found");

    // The broker dies: B and C report the cluster degraded, go on serving and
    // delivering locally, count what they could not forward, and recover by themselves.
    redis.stop();
    let (b, c) = (&nodes[1], &nodes[2]);
    wait_cluster(b, "degraded", Duration::from_secs(5));
    assert_eq!(get(b, "/api/health").json()["data"]["status"], "degraded");
    notify(b, "local-only");
    notification_titled(&mut listeners[1], "local-only");
    let broker = get(b, "/api/health").json()["data"]["cluster"]["broker"].clone();
    assert!(broker["not_forwarded"].as_u64() >= Some(1), "{broker}");
    assert_eq!(get(b, "/api/version").status, 200);
    redis.start_again();
    wait_cluster(b, "ok", Duration::from_secs(10));
    wait_cluster(c, "ok", Duration::from_secs(10));
    notify(b, "after-recovery");
    notification_titled(&mut listeners[2], "after-recovery");
    // What C missed while the broker was down was never silently lost: B counted it.
    drop(nodes);
}
