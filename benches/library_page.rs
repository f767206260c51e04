//! `GET /api/tracks?limit=50` handling on a 100 000-track library (generated rows, no
//! audio): offset and cursor pages, first and deep. The full request path runs
//! (middleware, routing, SQLite on the core's reader, envelope, encode), no sockets.

mod common;

use auralis_server::config::Config;
use auralis_server::http::parse::{Limits, Parsed, parse_request};
use auralis_server::http::service::{Service, poll_once};
use auralis_server::library::Library;
use auralis_server::library::probe::Probed;
use auralis_server::library::scan::upsert_track;
use auralis_server::runtime::core_state::{CoreState, DriverKind};
use criterion::{Criterion, criterion_group, criterion_main};
use std::net::SocketAddr;
use std::rc::Rc;

const TRACKS: usize = 100_000;

fn build_library(dir: &std::path::Path) -> std::sync::Arc<Library> {
    let lib = Library::open(dir, None).expect("open library");
    lib.writer
        .run_blocking(|c| {
            let tx = c.transaction()?;
            for i in 0..TRACKS {
                let p = Probed {
                    format: "flac".into(),
                    codec: Some("flac".into()),
                    duration_ms: 30_000 + (i as i64 * 7919) % 300_000,
                    sample_rate: Some(44100),
                    channels: Some(2),
                    bit_depth: Some(16),
                    title: Some(format!("Track {:06}", (i * 7919) % TRACKS)),
                    artist: Some(format!("Artist {}", i % 500)),
                    album: Some(format!("Album {}", i % 5000)),
                    track_number: Some((i % 12) as i64 + 1),
                    year: Some(1960 + (i % 60) as i64),
                    genre: Some(["Rock", "Jazz", "Ambient", "Pop"][i % 4].into()),
                    ..Probed::default()
                };
                upsert_track(
                    &tx,
                    &format!("/music/{i}.flac"),
                    1_000_000,
                    1,
                    &p,
                    1_700_000_000_000 + i as i64,
                )?;
            }
            tx.commit()
        })
        .expect("writer")
        .expect("insert rows");
    lib
}

fn get(bench: &(Rc<CoreState>, Service), limits: &Limits, target: &str) -> (u16, Vec<u8>) {
    let (core, service) = bench;
    let wire = format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let Ok(Parsed::Complete { request, .. }) = parse_request(wire.as_bytes(), limits) else {
        panic!("request must parse");
    };
    let peer: SocketAddr = "127.0.0.2:40000".parse().unwrap();
    let resp = poll_once(service.handle(core, peer, request)).expect("sync handler");
    let mut out = Vec::with_capacity(32 * 1024);
    resp.encode(true, 1, &mut out);
    (resp.status, resp.body.to_vec())
}

fn library_page(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("auralis-bench-lib-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let lib = build_library(&dir);
    let mut cfg = Config::default();
    cfg.rate_limit.enabled = false;
    let core = common::core(cfg, Some(lib), DriverKind::IoUring);
    let limits = common::limits();
    // Walk 1 000 cursor pages once to get a real deep cursor.
    let mut cursor = String::new();
    for _ in 0..1000 {
        let target = if cursor.is_empty() {
            "/api/tracks?limit=50".to_string()
        } else {
            format!("/api/tracks?limit=50&cursor={cursor}")
        };
        let (status, body) = get(&core, &limits, &target);
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        cursor = v["meta"]["next_cursor"]
            .as_str()
            .expect("more pages")
            .to_string();
    }
    let deep_cursor = format!("/api/tracks?limit=50&cursor={cursor}");

    let mut group = c.benchmark_group("tracks_page_100k");
    for (name, target) in [
        ("cursor_page_1", "/api/tracks?limit=50".to_string()),
        ("cursor_page_1001", deep_cursor),
        ("offset_page_1", "/api/tracks?limit=50&offset=0".to_string()),
        (
            "offset_page_1001",
            "/api/tracks?limit=50&offset=50000".to_string(),
        ),
        (
            "cursor_page_1_order_year_desc",
            "/api/tracks?limit=50&order_by=-year".to_string(),
        ),
        (
            "search_page_1",
            "/api/tracks?limit=50&search=track%2000".to_string(),
        ),
    ] {
        assert_eq!(get(&core, &limits, &target).0, 200, "{target}");
        group.bench_function(name, |b| b.iter(|| get(&core, &limits, &target)));
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, library_page);
criterion_main!(benches);
