//! The load harness's scenarios against the real server (bounded, loopback only):
//! ws-broadcast delivers everything, api-mix walks the real API without errors and
//! cleans up after itself, and listeners play without underruns at low load.

mod common;

use auralis_loadtest::apimix::ApiMix;
use auralis_loadtest::broadcast::{self, BroadcastPlan};
use auralis_loadtest::endpoint::Endpoint;
use auralis_loadtest::listeners::{self, ListenersPlan};
use auralis_loadtest::plan::{Model, Plan, parse_ip_range};
use common::*;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn ws_broadcast_delivers_every_notification_to_every_listener() {
    let s = Server::start(
        Opts::cores(2)
            .env("AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE", "1000000")
            .env("AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE", "5000"),
    );
    let report = broadcast::run(BroadcastPlan {
        server: Endpoint::plain(s.addr),
        publisher: None,
        listeners: 200,
        publishes: 5,
        warmup_publishes: 2,
        rate: 10.0,
        cores: vec![0],
        source_ips: parse_ip_range("127.0.0.2-127.0.0.11").unwrap(),
        progress: false,
    })
    .expect("scenario runs");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(
        report.requests, 1000,
        "200 listeners x 5 measured notifications (after 2 unmeasured), each delivered once"
    );
    assert_eq!(report.histogram.len(), 1000);
    assert_eq!(
        report.series.iter().map(|s| s.requests).sum::<u64>(),
        1000,
        "per-second series from the first publish"
    );
    assert!(report.latency_us.p50 > 0 && report.latency_us.p50 <= report.latency_us.p99);
}

fn engine_plan(s: &Server, mix: ApiMix, requests: u64) -> Plan {
    Plan {
        server: Endpoint::plain(s.addr),
        workload: Arc::new(mix),
        connections: 6,
        pipeline: 1,
        model: Model::Closed,
        duration: None,
        requests: Some(requests),
        warmup: Duration::ZERO,
        cores: vec![0],
        source_ips: Vec::new(),
        timeout: Duration::from_secs(10),
        progress: false,
    }
}

#[test]
fn api_mix_discovers_the_api_walks_cursors_and_removes_its_playlists() {
    let lib = temp_dir("lt-apimix");
    make_library(&lib, 0, 30);
    let s = Server::start(library_opts(&lib));
    wait_scan(&s);

    // Discovered from /api/openapi.json: every built-in operation the server documents.
    let mix = ApiMix::discover(&Endpoint::plain(s.addr), None).expect("discovery");
    let report = auralis_loadtest::run::run(engine_plan(&s, mix, 600)).expect("runs");
    assert_eq!(report.scenario, "api-mix");
    assert_eq!(report.requests, 600);
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    let names: Vec<&str> = report.operations.iter().map(|o| o.name.as_str()).collect();
    for op in [
        "tracks page",
        "search",
        "track",
        "album",
        "playlist add",
        "playlist create",
    ] {
        assert!(names.contains(&op), "{op} missing from {names:?}");
    }
    assert!(
        report
            .operations
            .iter()
            .find(|o| o.name == "playlist add")
            .unwrap()
            .requests
            > 0,
        "writes happened"
    );
    let left = ok_data(&get(&s, "/api/playlists"));
    assert_eq!(
        left.as_array().unwrap().len(),
        0,
        "harness playlists deleted: {left}"
    );

    // A mix file with small pages: 30 tracks in pages of 4 need the cursor; a bad or
    // stale cursor would answer 400.
    let file = lib.join("mix.toml");
    std::fs::write(
        &file,
        r#"
[[op]]
name = "tracks by 4"
path = "/api/tracks?limit=4"
follow_cursor = true
weight = 3

[[op]]
name = "artists by 1"
path = "/api/artists?limit=1&order_by=name"
follow_cursor = true
"#,
    )
    .unwrap();
    let mix = ApiMix::discover(&Endpoint::plain(s.addr), Some(&file)).expect("mix file");
    let report = auralis_loadtest::run::run(engine_plan(&s, mix, 300)).expect("runs");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    // 30 tracks in pages of 4 is 8 pages: a walk is one first page and 7 cursor pages,
    // so cursor pages outnumber first pages (each connection is mid-walk at the end).
    let count = |name: &str| {
        report
            .operations
            .iter()
            .find(|o| o.name == name)
            .map_or(0, |o| o.requests)
    };
    let (first, deep) = (count("tracks by 4"), count("tracks by 4 (cursor)"));
    assert!(
        first > 0 && deep >= 4 * first,
        "first pages {first}, cursor pages {deep}"
    );
    assert!(count("artists by 1 (cursor)") > 0);

    let bad = lib.join("bad.toml");
    std::fs::write(
        &bad,
        "[[op]]\nname = \"x\"\npath = \"/api/tracks/{song}\"\n",
    )
    .unwrap();
    let err = ApiMix::discover(&Endpoint::plain(s.addr), Some(&bad))
        .err()
        .expect("unknown placeholder refused");
    assert!(err.contains("placeholder"), "{err}");
}

/// Subsonic apps on one harness core: log in, browse to a song, stream it, play it out.
#[test]
fn subsonic_apps_browse_and_stream_without_underruns_at_low_load() {
    use auralis_loadtest::subsonic::{self, SubsonicPlan};
    let lib = temp_dir("lt-subsonic");
    long_tracks(&lib, 4, 4);
    let s = Server::start(
        library_opts(&lib).env("AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE", "1000000"),
    );
    wait_scan(&s);
    create_user(&s, "app", "listener", "app-pass");
    let plan = SubsonicPlan {
        server: Endpoint::plain(s.addr),
        listeners: 6,
        duration: Duration::from_secs(4),
        warmup: Duration::ZERO,
        speed: 4.0,
        ramp: Duration::from_millis(300),
        user: "app".into(),
        password: "app-pass".into(),
        format: "wav".into(),
        max_bit_rate: 0,
        cores: vec![0],
        source_ips: Vec::new(),
        timeout: Duration::from_secs(10),
        progress: false,
    };
    let report = subsonic::run(plan.clone()).expect("runs");
    let l = report.subsonic.clone().expect("subsonic figures");
    assert_eq!(report.errors.total(), 0, "{}", report.table());
    assert_eq!(
        l.underruns,
        0,
        "no underruns at low load: {}",
        report.table()
    );
    // 4 s songs at 4x play in 1 s: each app streams about one a second.
    assert!(l.songs >= 6 * 3, "songs {}", l.songs);
    let ops: Vec<&str> = report.operations.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(ops, ["getArtists", "getArtist", "getAlbum", "stream"]);
    assert!(
        l.stream_bytes >= l.songs * 4 * 22_050 * 2,
        "whole WAV songs"
    );
    let refused = subsonic::run(SubsonicPlan {
        password: "wrong".into(),
        ..plan
    });
    assert!(
        refused
            .err()
            .is_some_and(|e| e.contains("refused the login"))
    );
}

/// A small listeners run on one harness core: 4 listeners for 3 s at 4x, `format`.
fn listeners_plan(s: &Server, format: &str) -> ListenersPlan {
    ListenersPlan {
        server: Endpoint::plain(s.addr),
        listeners: 4,
        duration: Duration::from_secs(3),
        warmup: Duration::ZERO,
        speed: 4.0,
        ramp: Duration::from_millis(200),
        format: format.into(),
        bitrate: None,
        preset: "original".into(),
        tracks: None,
        cores: vec![0],
        source_ips: Vec::new(),
        timeout: Duration::from_secs(10),
        progress: false,
    }
}

#[test]
fn listeners_play_without_underruns_at_low_load() {
    let lib = temp_dir("lt-listeners");
    long_tracks(&lib, 4, 4);
    let s = Server::start(
        library_opts(&lib)
            .env("AURALIS_CACHE__CHUNK_DURATION_S", "1.0")
            .env("AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE", "1000000")
            // Server pings every 500 ms: the listeners must answer to stay connected.
            .env("AURALIS_WS__HEARTBEAT_INTERVAL_MS", "500")
            .env("AURALIS_WS__HEARTBEAT_TIMEOUT_MS", "2000"),
    );
    wait_scan(&s);
    let report = listeners::run(ListenersPlan {
        listeners: 8,
        duration: Duration::from_secs(5),
        ramp: Duration::from_millis(500),
        ..listeners_plan(&s, "wav")
    })
    .expect("runs");
    let l = report.listeners.clone().expect("listener figures");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(
        l.underruns,
        0,
        "no underruns at low load: {}",
        report.table()
    );
    assert_eq!(l.ws_connected, 8, "every listener holds a control channel");
    assert_eq!(
        l.ws_errors, 0,
        "no control channel was closed under a listener"
    );
    assert!(
        l.ws_pings_answered >= 8 * 4,
        "pings answered {}",
        l.ws_pings_answered
    );
    // 4 s tracks in 1 s chunks at 4x: a track plays in 1 s, so each listener starts
    // several in 5 s and pulls about 4 chunks a second.
    assert!(l.sessions >= 8 * 3, "sessions {}", l.sessions);
    assert!(l.chunks >= 8 * 12, "chunks {}", l.chunks);
    assert!(l.time_to_first_chunk_us.p50 > 0);
    assert_eq!(
        l.tiers.tier1 + l.tiers.tier2 + l.tiers.miss,
        l.chunks,
        "every chunk names its tier"
    );
    assert!(
        l.tiers.miss >= 1 && l.tiers.tier1 + l.tiers.tier2 >= 1,
        "{:?}",
        l.tiers
    );
    assert_eq!(report.model, "playback");
}

/// `listeners --format`: the same playback in WAV, FLAC and Opus; the report's bytes per
/// listener follow the format (44.1 kHz stereo WAV is 1 411 kbit/s, Opus 128 kbit/s).
#[test]
fn listeners_report_the_bandwidth_of_each_format() {
    let lib = temp_dir("lt-formats");
    tone_tracks(&lib, 2, 4, 44_100, 2);
    let s = Server::start(
        library_opts(&lib)
            .env("AURALIS_CACHE__CHUNK_DURATION_S", "1.0")
            .env("AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE", "1000000"),
    );
    wait_scan(&s);
    let run = |format: &str| {
        let report = listeners::run(listeners_plan(&s, format)).expect("runs");
        assert_eq!(report.errors.total(), 0, "{format}: {:?}", report.errors);
        let l = report.listeners.expect("listener figures");
        assert!(l.chunks >= 8, "{format}: chunks {}", l.chunks);
        println!(
            "{format}: {:.0} kbit/s per listener at real time",
            l.kbit_per_listener_real_time
        );
        l.kbit_per_listener_real_time
    };
    let (wav, flac, opus) = (run("wav"), run("flac"), run("opus"));
    // Playback has pauses (metadata, the ramp), so the rates sit somewhat under the
    // formats' own; their ratios do not depend on that.
    assert!((700.0..1_600.0).contains(&wav), "wav {wav:.0} kbit/s");
    assert!(flac < wav * 0.9, "flac {flac:.0} vs wav {wav:.0}");
    let ratio = wav / opus;
    assert!((7.0..16.0).contains(&ratio), "wav/opus {ratio:.1}");
}

/// The harness binary, built beside this test by `cargo test --workspace`.
fn loadtest_bin() -> Option<std::path::PathBuf> {
    let dir = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .to_path_buf();
    Some(dir.join("auralis-loadtest")).filter(|p| p.exists())
}

#[test]
fn every_scenario_takes_a_token_and_a_refused_publish_is_said_at_once() {
    let Some(bin) = loadtest_bin() else {
        eprintln!(
            "SKIPPED every_scenario_takes_a_token_and_a_refused_publish_is_said_at_once: target/*/auralis-loadtest is not built (cargo test --workspace builds it)"
        );
        return;
    };
    let s = Server::start(Opts::cores(1));
    let token = create(&s, "admin", "loadtest");
    let base = format!("http://{}", s.addr);
    let broadcast = |token: Option<&str>| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args([
            "ws-broadcast",
            &base,
            "--listeners",
            "4",
            "--publishes",
            "3",
        ])
        .args(["--rate", "20", "--quiet"]);
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        let started = std::time::Instant::now();
        let out = cmd.output().unwrap();
        (out, started.elapsed())
    };
    // A token exists, so publishing needs one: refused, and said before the listeners'
    // 60 s deadline.
    let (out, took) = broadcast(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("publish refused (401)"), "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let (out, _) = broadcast(Some(&token));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same token on plain HTTP requests (an unknown one would be a 401 each).
    let http = |token: &str| {
        std::process::Command::new(&bin)
            .args(["http", &format!("{base}/api/version"), "--requests", "20"])
            .args(["--connections", "2", "--quiet", "--token", token])
            .args(["--threshold", "errors<0.1%"])
            .output()
            .unwrap()
    };
    let out = http(&token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("threshold errors<0.1%"), "{stdout}");
    let out = http("not-a-token");
    assert_eq!(
        out.status.code(),
        Some(2),
        "every request is a 401: the run failed"
    );
}
