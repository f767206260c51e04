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

impl Haproxy {
    /// HAProxy with deploy/haproxy.cfg in front of three nodes, once it listens and
    /// has seen every node healthy (rise 2 × 500 ms).
    fn front(nodes: &[Server]) -> (Haproxy, SocketAddr) {
        let front: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let h = Haproxy(
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
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(front).is_err() {
            assert!(Instant::now() < deadline, "HAProxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1500));
        (h, front)
    }
}

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
    let nodes = three_nodes(
        ["n1", "n2", "n3"],
        &lib,
        &[
            ("AURALIS_SERVER__PROXY_PROTOCOL", "optional"),
            ("AURALIS_CLUSTER__DRAIN_DELAY_MS", "2500"),
            ("AURALIS_CACHE__CHUNK_DURATION_S", "1"),
        ],
    );
    let (_haproxy, front) = Haproxy::front(&nodes);

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
    let url = redis.url();
    let mut nodes = three_nodes(
        ["a", "b", "c"],
        &lib,
        &[("AURALIS_CLUSTER__BROKER_URL", &url)],
    );
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

    // The harness measures the same across nodes: listeners on B, publishes on A.
    let report = auralis_loadtest::broadcast::run(auralis_loadtest::broadcast::BroadcastPlan {
        server: auralis_loadtest::endpoint::Endpoint::plain(nodes[1].addr),
        publisher: Some(auralis_loadtest::endpoint::Endpoint::plain(nodes[0].addr)),
        listeners: 20,
        publishes: 5,
        warmup_publishes: 1,
        rate: 20.0,
        cores: vec![0],
        source_ips: Vec::new(),
        progress: false,
    })
    .expect("cross-node broadcast run");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(
        report.requests, 100,
        "every listener on B got every publish made on A"
    );

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

    // A blip: the broker restarts at once, between the publishers' keep-alives. Once C
    // has subscribed again, the next notification from B reaches C: B's publisher finds
    // its connection dead on that message and sends it again on a fresh one, instead
    // of counting it lost (it used to be, while health already said `ok`).
    blip(&mut redis, &nodes[1], &nodes[2], &mut listeners[2]);

    // The broker dies: B and C report the cluster degraded, go on serving and
    // delivering locally, count what they could not forward, and recover by themselves.
    redis.stop();
    let (b, c) = (&nodes[1], &nodes[2]);
    wait_cluster(b, "degraded", Duration::from_secs(5));
    assert_eq!(get(b, "/api/health").json()["data"]["status"], "degraded");
    notify(b, "local-only");
    notification_titled(&mut listeners[1], "local-only");
    // Counted once the publishing thread has tried (its write may still succeed into a
    // dead socket; the missing reply fails it).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let broker = get(b, "/api/health").json()["data"]["cluster"]["broker"].clone();
        if broker["not_forwarded"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "never counted: {broker}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(get(b, "/api/version").status, 200);
    redis.start_again();
    wait_cluster(b, "ok", Duration::from_secs(10));
    wait_cluster(c, "ok", Duration::from_secs(10));
    notify(b, "after-recovery");
    notification_titled(&mut listeners[2], "after-recovery");
    // What C missed while the broker was down was never silently lost: B counted it.
    drop(nodes);
}

/// The broker stopped and started again at once; a notification published on `from`
/// right after `to` has subscribed again reaches `listener` on `to`, and nothing is
/// counted lost.
fn blip(redis: &mut engines::Redis, from: &Server, to: &Server, listener: &mut Ws) {
    let broker = |s: &Server| get(s, "/api/health").json()["data"]["cluster"]["broker"].clone();
    let lost_before = broker(from)["not_forwarded"].as_u64();
    let subscribed_before = broker(to)["subscribes"].as_u64().expect("subscribes");
    redis.stop();
    redis.start_again();
    let deadline = Instant::now() + Duration::from_secs(10);
    while broker(to)["subscribes"].as_u64() <= Some(subscribed_before)
        || broker(to)["subscribed"] != true
    {
        assert!(
            Instant::now() < deadline,
            "never subscribed again: {}",
            broker(to)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    notify(from, "after-blip");
    notification_titled(listener, "after-blip");
    assert_eq!(
        broker(from)["not_forwarded"].as_u64(),
        lost_before,
        "{}",
        broker(from)
    );
    // The link as Prometheus sees it.
    // The exposition is rendered by the monitor's first tick (a second after start;
    // these nodes may be younger).
    let t0 = Instant::now();
    let mut metrics = String::new();
    while t0.elapsed() < Duration::from_secs(10) && !metrics.contains("auralis_build_info") {
        metrics = String::from_utf8(get(from, "/metrics").body).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    for family in [
        "auralis_cluster_broker_up",
        "auralis_cluster_broker_published_total",
        "auralis_cluster_broker_not_forwarded_total",
        "auralis_cluster_broker_reconnects_total",
    ] {
        assert!(
            metrics.contains(&format!("\n{family} ")),
            "{family} missing: {}",
            metrics
                .lines()
                .filter(|l| l.contains("cluster") || l.contains("build"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn post_json(s: &Server, path: &str, body: serde_json::Value) -> Resp {
    request(s, "POST", path, Some(&body.to_string()))
}

/// Polls `path` on `s` until `ok` holds of its JSON body (another node's change
/// arrives by the feed within milliseconds); returns how long it took.
fn eventually(s: &Server, path: &str, ok: impl Fn(&serde_json::Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let r = get(s, path);
        if r.status == 200 && ok(&r.json()) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{path} on {} never became as expected: {} {}",
            s.addr,
            r.status,
            r.json()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn shared_nodes(
    lib: &std::path::Path,
    pg: &engines::Postgres,
    extra: &[(&str, &str)],
) -> Vec<Server> {
    let url = pg.url();
    let mut env = vec![
        ("AURALIS_SERVER__PROXY_PROTOCOL", "optional"),
        ("AURALIS_LIBRARY__DATABASE_URL", url.as_str()),
    ];
    env.extend_from_slice(extra);
    three_nodes(["a", "b", "c"], lib, &env)
}

/// Three nodes named `names` serving `lib` (two cores each), each with `env`, once
/// each has scanned it.
fn three_nodes(names: [&str; 3], lib: &std::path::Path, env: &[(&str, &str)]) -> Vec<Server> {
    names
        .iter()
        .map(|name| {
            let mut opts = library_opts(lib).env("AURALIS_CLUSTER__NODE", name);
            for (k, v) in env {
                opts = opts.env(k, v);
            }
            let s = Server::start(opts);
            wait_scan(&s);
            s
        })
        .collect()
}

#[test]
fn the_library_lives_in_postgresql_and_every_node_serves_it() {
    let Some(mut pg) = engines::Postgres::start() else {
        println!("SKIPPED: PostgreSQL is not installed (apt-get install postgresql)");
        return;
    };
    let lib = temp_dir("pg-lib");
    tone_tracks(&lib, 6, 1, 22_050, 1);
    let mut nodes = shared_nodes(&lib, &pg, &[]);
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    for n in &nodes {
        wait_cluster(n, "ok", Duration::from_secs(5));
    }

    // One library: the same tracks under the same ids on every node, though all three
    // scanned the folder at once.
    let listing = |s: &Server| -> Vec<(i64, String)> {
        ok_data(&get(s, "/api/tracks?limit=100&order_by=title"))
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_i64().unwrap(),
                    t["title"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let ids = listing(a);
    assert_eq!(ids.len(), 6, "{ids:?}");
    for n in [b, c] {
        eventually(n, "/api/tracks?limit=100", |j| {
            j["data"].as_array().map(Vec::len) == Some(6)
        });
        assert_eq!(listing(n), ids);
    }
    let first = ids[0].0;

    // A playlist made through A is read through C; its name is taken on B too.
    let (mut on_c, _) = ws_connect(c, Ipv4Addr::LOCALHOST);
    assert_eq!(
        subscribed(&mut on_c, serde_json::json!(["library"]))["type"],
        "subscribed"
    );
    let made = post_json(
        a,
        "/api/playlists",
        serde_json::json!({"name": "Shared Mix"}),
    );
    assert_eq!(made.status, 201);
    let pid = made.json()["data"]["id"].as_i64().unwrap();
    let lag = eventually(c, &format!("/api/playlists/{pid}"), |j| {
        j["data"]["name"] == "Shared Mix"
    });
    println!("playlist visible on C {lag:?} after A answered");
    let heard = ws_until(&mut on_c, |m| m["type"] == "library_changed");
    assert_eq!(heard["payload"]["event"], "playlist_created");
    assert_eq!(heard["payload"]["playlist_id"], pid);
    assert_eq!(
        post_json(
            b,
            "/api/playlists",
            serde_json::json!({"name": "shared mix"})
        )
        .status,
        409,
        "names stay unique across nodes"
    );
    // Entries added through B, in order, read through C.
    let add = post_json(
        b,
        &format!("/api/playlists/{pid}/tracks"),
        serde_json::json!({"track_ids": [ids[2].0, ids[1].0]}),
    );
    assert_eq!(add.status, 200, "{}", add.json());
    eventually(c, &format!("/api/playlists/{pid}"), |j| {
        j["data"]["track_count"] == 2
    });

    // A favorite set through B reaches C's library topic and C's reads.
    assert_eq!(
        post_json(
            b,
            &format!("/api/tracks/{first}/favorite"),
            serde_json::json!({})
        )
        .status,
        200
    );
    let heard = ws_until(&mut on_c, |m| m["payload"]["event"] == "favorite_changed");
    assert_eq!(heard["payload"]["track_id"], first);
    eventually(c, &format!("/api/tracks/{first}"), |j| {
        j["data"]["favorite"] == true
    });

    // An atomic batch that fails changes nothing anywhere.
    let items = serde_json::json!([
        {"id": "x1", "action": "favorite", "data": {"track_id": ids[3].0}},
        {"id": "x2", "action": "favorite", "data": {"track_id": 987654}}
    ]);
    let r = post_json(
        a,
        "/api/batch",
        serde_json::json!({"atomic": true, "items": items}),
    );
    assert_eq!(r.json()["data"]["status"], "failed");
    // A later change through A is visible on C: the failed batch came before it.
    let later = post_json(a, "/api/playlists", serde_json::json!({"name": "After"}));
    let later = later.json()["data"]["id"].as_i64().unwrap();
    eventually(c, &format!("/api/playlists/{later}"), |_| true);
    assert_eq!(
        ok_data(&get(c, &format!("/api/tracks/{}", ids[3].0)))["favorite"],
        false
    );

    // A keyset cursor issued by A continues on C.
    let page = get(a, "/api/tracks?limit=2&order_by=title").json();
    let cursor = page["meta"]["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_string();
    let next = get(
        c,
        &format!("/api/tracks?limit=2&order_by=title&cursor={cursor}"),
    );
    assert_eq!(next.status, 200, "{}", next.json());
    assert_eq!(next.json()["data"][0]["id"], ids[2].0);

    // One scan updates every node: a file added and scanned through A is listed on C,
    // and C's library topic hears the scan finish.
    make_library(&lib, 100, 1);
    assert_eq!(
        post_json(a, "/api/library/scan", serde_json::json!({})).status,
        202
    );
    ws_until(&mut on_c, |m| {
        m["payload"]["event"] == "scan_finished" && m["payload"]["added"] == 1
    });
    eventually(c, "/api/tracks?limit=100", |j| {
        j["data"].as_array().map(Vec::len) == Some(7)
    });

    // The database goes away: writes are refused (nothing half-done), reads go on from
    // each node's copy, health says degraded; it comes back and writes work again.
    pg.stop();
    let refused = post_json(a, "/api/playlists", serde_json::json!({"name": "Lost?"}));
    assert_eq!(refused.status, 503, "{}", refused.json());
    assert_eq!(get(c, &format!("/api/playlists/{pid}")).status, 200);
    wait_cluster(a, "degraded", Duration::from_secs(5));
    // Still ready (reads and streams go on), and it says writes would fail, so a
    // balancer that routes writes can hold them back.
    let ready = get(a, "/api/health/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["data"]["writable"], false, "{}", ready.json());
    pg.start_again();
    wait_cluster(a, "ok", Duration::from_secs(15));
    wait_cluster(c, "ok", Duration::from_secs(15));
    assert_eq!(get(a, "/api/health/ready").json()["data"]["writable"], true);
    let back = post_json(a, "/api/playlists", serde_json::json!({"name": "Lost?"}));
    assert_eq!(back.status, 201, "{}", back.json());
    let back = back.json()["data"]["id"].as_i64().unwrap();
    eventually(c, &format!("/api/playlists/{back}"), |_| true);
    eventually(b, "/api/playlists?limit=100", |j| {
        j["data"].as_array().map(Vec::len) == Some(3)
    });
    restarts_resume_from_the_feed(&lib, &pg, &mut nodes);
}

fn shared_database(s: &Server) -> serde_json::Value {
    get(s, "/api/health").json()["data"]["cluster"]["database"].clone()
}

/// C stops, A writes meanwhile, C starts again on its own copy: it applies only the
/// commits it missed (no whole copy), after a clean stop and after SIGKILL alike.
fn restarts_resume_from_the_feed(
    lib: &std::path::Path,
    pg: &engines::Postgres,
    nodes: &mut [Server],
) {
    assert_eq!(
        shared_database(&nodes[2])["full_copies"],
        1,
        "a new node copies once"
    );
    for (round, kill) in [(1, false), (2, true)] {
        let victim = nodes.len() - 1;
        if kill {
            let _ = nodes[victim].child.kill();
        } else {
            nodes[victim].terminate();
        }
        assert!(nodes[victim].wait_exit(Duration::from_secs(10)).is_some() || kill);
        let _ = nodes[victim].child.wait();
        let name = format!("Made while C was away {round}");
        let made = post_json(
            &nodes[0],
            "/api/playlists",
            serde_json::json!({"name": name}),
        );
        assert_eq!(made.status, 201);
        let id = made.json()["data"]["id"].as_i64().unwrap();
        let url = pg.url();
        let again = Server::start(
            library_opts(lib)
                .env("AURALIS_CLUSTER__NODE", "c")
                .env("AURALIS_SERVER__PROXY_PROTOCOL", "optional")
                .env("AURALIS_LIBRARY__DATABASE_URL", &url)
                .data_dir(&nodes[victim].data_dir),
        );
        wait_scan(&again);
        let db = shared_database(&again);
        assert_eq!(
            db["full_copies"], 0,
            "round {round}: resumed, not copied: {db}"
        );
        assert!(db["remote_commits"].as_u64() >= Some(1), "{db}");
        assert_eq!(
            ok_data(&get(&again, &format!("/api/playlists/{id}")))["name"],
            name.as_str()
        );
        let metrics = String::from_utf8(get(&again, "/metrics").body).unwrap_or_default();
        assert!(
            !metrics.contains("auralis_library_full_copies_total 1"),
            "{metrics}"
        );
        // The old handle's data dir is the new node's: keep it until the test ends.
        let old = std::mem::replace(&mut nodes[victim], again);
        std::mem::forget(old);
    }
}

/// One POST through the front from `src`: (status, node, body), or `None` when the
/// connection failed before an answer (not acknowledged).
fn post_via(
    front: SocketAddr,
    src: Ipv4Addr,
    path: &str,
    body: &serde_json::Value,
) -> Option<(u16, String, serde_json::Value)> {
    use std::io::Write;
    let body = body.to_string();
    let mut c = Raw::connect_from(src, front);
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.stream.write_all(req.as_bytes()).ok()?;
    let r = c.read_response()?;
    let node = r
        .header("X-Served-By")
        .and_then(|v| v.split('/').next())
        .unwrap_or("")
        .to_string();
    let json = serde_json::from_slice(&r.body).unwrap_or_default();
    Some((r.status, node, json))
}

#[test]
fn a_node_killed_behind_haproxy_moves_its_clients_and_loses_nothing_acknowledged() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        println!("SKIPPED: haproxy is not installed (apt-get install haproxy)");
        return;
    }
    let Some((redis, pg)) = broker_and_database() else {
        return;
    };
    let lib = temp_dir("full-lib");
    tone_tracks(&lib, 3, 1, 22_050, 1);
    let mut nodes = shared_nodes(&lib, &pg, &[("AURALIS_CLUSTER__BROKER_URL", &redis.url())]);
    for n in &nodes {
        wait_cluster(n, "ok", Duration::from_secs(5));
    }
    let (_haproxy, front) = Haproxy::front(&nodes);
    let mut listeners: Vec<Ws> = nodes
        .iter()
        .map(|n| {
            let (mut ws, _) = ws_connect(n, Ipv4Addr::LOCALHOST);
            subscribed(&mut ws, serde_json::json!(["notifications"]));
            ws
        })
        .collect();

    // One client writes through the front; its node is killed (SIGKILL) midway. Every
    // write is retried until acknowledged; a retry answered 409 means the unanswered
    // attempt had committed, and it is found by name below.
    let client = Ipv4Addr::new(127, 0, 6, 2);
    let mut acked: Vec<(String, String)> = Vec::new();
    let (mut unanswered, mut victim) = (0, String::new());
    for i in 0..40 {
        if i == 15 {
            victim = acked.last().unwrap().1.clone();
            let k = ["a", "b", "c"].iter().position(|n| *n == victim).unwrap();
            let _ = nodes[k].child.kill();
            let _ = nodes[k].child.wait();
        }
        let name = format!("ack-{i:02}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let body = serde_json::json!({ "name": name });
            match post_via(front, client, "/api/playlists", &body) {
                Some((201 | 409, node, _)) => {
                    acked.push((name.clone(), node));
                    break;
                }
                Some((status, _, j)) => {
                    assert!([502, 503, 504].contains(&status), "{status} {j}");
                    unanswered += 1;
                }
                None => unanswered += 1,
            }
            assert!(Instant::now() < deadline, "{name} was never acknowledged");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let after: std::collections::BTreeSet<&str> =
        acked[15..].iter().map(|(_, n)| n.as_str()).collect();
    assert!(
        !after.contains(victim.as_str()),
        "the client left {victim}: {after:?}"
    );
    println!("killed {victim}; {unanswered} attempts unanswered; then served by {after:?}");

    // Every acknowledged playlist is on every surviving node.
    let survivors = ["a", "b", "c"]
        .iter()
        .zip(&nodes)
        .filter(|(name, _)| **name != victim);
    for (_, n) in survivors {
        eventually(n, "/api/playlists?limit=100", |j| {
            let have: std::collections::BTreeSet<&str> = j["data"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            acked.iter().all(|(name, _)| have.contains(name.as_str()))
        });
    }

    // A notification through the front reaches the listeners of the surviving nodes.
    let body = serde_json::json!({"title": "after-kill", "message": "m", "level": "info"});
    let (status, _, _) = post_via(front, client, "/api/notifications", &body).unwrap();
    assert_eq!(status, 202);
    for (k, ws) in listeners.iter_mut().enumerate() {
        if ["a", "b", "c"][k] != victim {
            notification_titled(ws, "after-kill");
        }
    }
}

#[test]
fn a_shared_library_needs_a_music_folder_and_a_reachable_database() {
    let data = temp_dir("shared-cli");
    let run = |library: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_auralis-server"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cores",
            "1",
            "--data-dir",
        ])
        .arg(&data)
        .env(
            "AURALIS_LIBRARY__DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none",
        );
        if let Some(l) = library {
            cmd.arg("--library").arg(l);
        }
        let out = cmd.output().expect("run auralis-server");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // Each node's own demo library would put three copies of it in the shared one.
    assert!(run(None).contains("needs --library"));
    let lib = temp_dir("shared-cli-lib");
    let err = run(Some(&lib));
    assert!(err.contains("library.database_url"), "{err}");
}

#[test]
fn behind_haproxy_each_client_is_rate_limited_and_pinned_as_itself() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        println!("SKIPPED: haproxy is not installed (apt-get install haproxy)");
        return;
    }
    let lib = temp_dir("proxy-lib");
    tone_tracks(&lib, 1, 1, 22_050, 1);
    let nodes = three_nodes(
        ["n1", "n2", "n3"],
        &lib,
        &[
            ("AURALIS_SERVER__PROXY_PROTOCOL", "optional"),
            ("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "20"),
        ],
    );
    let (_haproxy, front) = Haproxy::front(&nodes);
    let served = |ip: Ipv4Addr| -> (u16, String, u32) {
        let mut c = Raw::connect_from(ip, front);
        c.send(b"GET /api/version HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let r = c.read_response().expect("a response through HAProxy");
        let by = r.header("X-Served-By").unwrap_or("").to_string();
        let (node, core) = by.split_once('/').unwrap_or(("", ""));
        (r.status, node.to_string(), core.parse().unwrap_or(u32::MAX))
    };

    // Each client lands on the core its own address hashes to, as if it had connected
    // directly: the balancer's address is not what the node pins by.
    let mut seen: Vec<(Ipv4Addr, String, u32)> = Vec::new();
    for last in 2..14u8 {
        let ip = Ipv4Addr::new(127, 0, 7, last);
        let (status, node, core) = served(ip);
        assert_eq!(status, 200);
        assert_eq!(
            core,
            auralis_server::runtime::listener::core_for_ipv4(ip, 2),
            "{ip} on {node}/{core}"
        );
        seen.push((ip, node, core));
    }
    let cores: BTreeSet<u32> = seen.iter().map(|s| s.2).collect();
    assert_eq!(cores.len(), 2, "clients on both cores: {seen:?}");

    // Rate limits are per client, exact: one client's 20 requests a minute run out,
    // another client on the same node is untouched.
    let (a, node_a) = (seen[0].0, seen[0].1.clone());
    let b = seen[1..]
        .iter()
        .find(|s| s.1 == node_a)
        .map(|s| s.0)
        .expect("two clients on one node among twelve");
    let statuses: Vec<u16> = (0..24).map(|_| served(a).0).collect();
    let ok = 1 + statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 20, "exactly the limit passed: {statuses:?}");
    assert!(statuses.ends_with(&[429, 429, 429]), "{statuses:?}");
    assert_eq!(served(b).0, 200, "{b} has its own budget on {node_a}");

    // Direct connections still work (optional mode); a malformed header is refused and
    // counted.
    assert_eq!(get(&nodes[0], "/api/version").status, 200);
    let mut bad = Raw::connect(nodes[0].addr);
    bad.send(b"PROXY TCP4 not-an-address 1.1.1.1 1 2\r\nGET / HTTP/1.1\r\n\r\n");
    assert!(bad.closed_within(Duration::from_secs(5)));
    // Counted at the monitor's next tick.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = String::from_utf8(get(&nodes[0], "/metrics").body).unwrap();
        if metric_sum(&metrics, "auralis_proxy_refused_total{") >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "never counted: {metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Connections moved to their client's core (counted at each node's next tick).
    let handed = || -> f64 {
        nodes
            .iter()
            .map(|n| {
                let text = String::from_utf8(get(n, "/metrics").body).unwrap();
                metric_sum(&text, "auralis_proxy_handed_off_total{")
            })
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while handed() < 1.0 {
        assert!(Instant::now() < deadline, "no connection was handed off");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_required_proxy_header_is_read_in_either_version_and_its_absence_refused() {
    let s = Server::start(Opts::cores(2).env("AURALIS_SERVER__PROXY_PROTOCOL", "required"));
    // No header: closed without an answer.
    let mut direct = Raw::connect(s.addr);
    direct.send(b"GET /api/version HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(direct.closed_within(Duration::from_secs(5)));
    // v1, then v2, each naming a client that hashes to one core: served on that core,
    // the request behind the header intact.
    let client = Ipv4Addr::new(203, 0, 113, 9);
    let core = auralis_server::runtime::listener::core_for_ipv4(client, 2);
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[203, 0, 113, 9, 127, 0, 0, 1, 0x13, 0x88, 0x00, 0x50]);
    for header in [b"PROXY TCP4 203.0.113.9 127.0.0.1 5000 80\r\n".to_vec(), v2] {
        let mut c = Raw::connect(s.addr);
        let mut bytes = header;
        bytes.extend_from_slice(
            b"GET /api/version HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        c.send(&bytes);
        let r = c.read_response().expect("an answer after the header");
        assert_eq!(r.status, 200);
        let by = r.header("X-Served-By").unwrap_or("");
        assert!(
            by.ends_with(&format!("/{core}")),
            "{by} (client core {core})"
        );
    }
}

/// A POST carrying a W3C `traceparent`.
fn traced_post(s: &Server, path: &str, body: &str, traceparent: &str) -> Resp {
    let mut c = Raw::connect(s.addr);
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\ntraceparent: {traceparent}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.send(req.as_bytes());
    c.read_response().expect("response")
}

#[test]
fn one_trace_crosses_nodes_through_the_broker_and_the_shared_database() {
    use common::otlp::{Collector, attr};
    let Some((redis, pg)) = broker_and_database() else {
        return;
    };
    let Some(collector) = Collector::start() else {
        return common::otlp::skip(
            "one_trace_crosses_nodes_through_the_broker_and_the_shared_database",
        );
    };
    let lib = temp_dir("trace-lib");
    make_library(&lib, 0, 2);
    let endpoint = collector.endpoint();
    let nodes = shared_nodes(
        &lib,
        &pg,
        &[
            ("AURALIS_CLUSTER__BROKER_URL", &redis.url()),
            ("AURALIS_TRACING__OTLP_ENDPOINT", &endpoint),
            ("AURALIS_TRACING__EXPORT_INTERVAL_MS", "100"),
        ],
    );
    for n in &nodes {
        wait_cluster(n, "ok", Duration::from_secs(5));
    }
    let (mut on_b, _) = ws_connect(&nodes[1], Ipv4Addr::LOCALHOST);
    subscribed(&mut on_b, serde_json::json!(["notifications"]));
    let wait = Duration::from_secs(10);

    // A notification published on A reaches B's delivery as the same trace.
    let trace = "6bf92f3577b34da6a3ce929d0e0e4736";
    let tp = format!("00-{trace}-00f067aa0ba902b7-01");
    let body = serde_json::json!({"title": "traced", "message": "m", "level": "info"}).to_string();
    assert_eq!(
        traced_post(&nodes[0], "/api/notifications", &body, &tp).status,
        202
    );
    notification_titled(&mut on_b, "traced");
    let consumers = collector.wait(wait, |s| {
        s["trace_id"] == trace && s["kind"] == 5 && s["resource"]["service.instance.id"] == "b"
    });
    assert_eq!(consumers.len(), 1, "{consumers:?}");
    // Each node exports on its own clock: B's span may arrive before A's.
    for kind in [2, 4] {
        collector.wait(wait, |s| {
            s["trace_id"] == trace
                && s["kind"] == kind
                && s["resource"]["service.instance.id"] == "a"
        });
    }
    let spans = collector.spans();
    let of = |kind: u64, node: &str| -> Vec<&serde_json::Value> {
        spans
            .iter()
            .filter(|s| s["trace_id"] == trace && s["kind"] == kind)
            .filter(|s| s["resource"]["service.instance.id"] == node)
            .collect()
    };
    let server = of(2, "a");
    let producer = of(4, "a");
    assert_eq!((server.len(), producer.len()), (1, 1), "{spans:?}");
    assert_eq!(producer[0]["parent_span_id"], server[0]["span_id"]);
    assert_eq!(producer[0]["name"], "publish notifications");
    assert_eq!(
        attr(producer[0], "messaging.destination.name"),
        "auralis:t:notifications"
    );
    assert_eq!(
        consumers[0]["parent_span_id"], producer[0]["span_id"],
        "B's delivery is A's publish's child"
    );
    assert_eq!(consumers[0]["name"], "process notifications");
    let on_c = collector.wait(wait, |s| {
        s["trace_id"] == trace && s["kind"] == 5 && s["resource"]["service.instance.id"] == "c"
    });
    assert_eq!(on_c.len(), 1, "every other node's delivery joins the trace");

    // A library write on A, shipped through PostgreSQL, joins the trace on B's apply.
    let trace = "7bf92f3577b34da6a3ce929d0e0e4736";
    let tp = format!("00-{trace}-00f067aa0ba902b7-01");
    let body = serde_json::json!({"name": "traced list"}).to_string();
    assert_eq!(
        traced_post(&nodes[0], "/api/playlists", &body, &tp).status,
        201
    );
    let applied = collector.wait(wait, |s| {
        s["trace_id"] == trace
            && s["name"] == "apply library commit"
            && s["resource"]["service.instance.id"] == "b"
    });
    assert_eq!(applied.len(), 1, "{:?}", collector.spans());
    for name in ["library write", "ship library commit"] {
        collector.wait(wait, |s| s["trace_id"] == trace && s["name"] == name);
    }
    let spans = collector.spans();
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s["trace_id"] == trace && s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} span: {spans:?}"))
    };
    let write = named("library write");
    let ship = named("ship library commit");
    assert_eq!(write["resource"]["service.instance.id"], "a");
    assert_eq!(ship["parent_span_id"], write["span_id"]);
    assert_eq!(ship["kind"], 3, "CLIENT");
    assert_eq!(attr(ship, "db.system.name"), "postgresql");
    assert_eq!(applied[0]["parent_span_id"], write["span_id"]);
    assert_eq!(applied[0]["kind"], 5, "CONSUMER");
}

/// Redis and PostgreSQL, or `None` with the skip printed.
fn broker_and_database() -> Option<(engines::Redis, engines::Postgres)> {
    let Some(redis) = engines::Redis::start() else {
        println!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
        return None;
    };
    let Some(pg) = engines::Postgres::start() else {
        println!("SKIPPED: PostgreSQL is not installed (apt-get install postgresql)");
        return None;
    };
    Some((redis, pg))
}
