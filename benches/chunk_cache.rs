//! The chunk path's costs: a tier-1 hit through the whole request path (no sockets),
//! tier-2 lookups while another thread hammers the same map, and decoding a 10 s FLAC
//! chunk and encoding one in each format (reported as time per chunk; × real time =
//! 10 s / that).

mod common;

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

use auralis_server::audio::decode::TrackDecoder;
use auralis_server::audio::encode::{ChunkFormat, encode};
use auralis_server::audio::preset::Preset;
use auralis_server::cache::ChunkKey;
use auralis_server::cache::tier2::{Admission, TierTwo};
use auralis_server::config::Config;
use auralis_server::http::parse::{Parsed, parse_request};
use auralis_server::http::service::poll_once;
use auralis_server::library::{Library, demo, scan};
use auralis_server::runtime::core_state::DriverKind;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn chunk_cache(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("auralis-bench-chunks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let music = dir.join("music");
    std::fs::create_dir_all(&music).unwrap();
    let samples = demo::synthesize(5, 30, 44_100);
    let flac = auralis_server::audio::flac::encode_pcm16(&samples, 2, 44_100, None).unwrap();
    std::fs::write(music.join("bench.flac"), &flac).unwrap();
    let lib = Library::open(&dir.join("data"), Some(music.clone())).unwrap();
    scan::scan_blocking(&lib.writer, &music, &lib.scan, lib.scan_policy).unwrap();

    // Tier-1 hit through parse → middleware → route → handler → encode.
    let mut cfg = Config::default();
    cfg.rate_limit.enabled = false;
    let (core, service) = common::core(cfg, Some(lib), DriverKind::Legacy);
    let limits = common::limits();
    let wire: &[u8] = b"GET /api/stream/1/chunk/0?format=wav HTTP/1.1\r\nHost: bench\r\n\r\n";
    let peer: SocketAddr = "127.0.0.2:40000".parse().unwrap();
    let request = || match parse_request(wire, &limits) {
        Ok(Parsed::Complete { request, .. }) => request,
        _ => panic!("request must parse"),
    };
    // The first request misses and waits for the decode pool: run it on a runtime.
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let first = rt.block_on(service.handle(&core, peer, request()));
    assert_eq!(first.status, 200);
    let mut out = Vec::with_capacity(2 << 20);
    let (allocs, bytes) = common::alloc::per_call(10_000, || {
        out.clear();
        let resp = poll_once(service.handle(&core, peer, request())).expect("a tier-1 hit");
        resp.encode_head(true, 1, &mut out);
    });
    println!("chunk_tier1_hit_request_path: {allocs:.1} allocations, {bytes:.0} bytes per request");
    c.bench_function("chunk_tier1_hit_request_path", |b| {
        b.iter(|| {
            out.clear();
            let resp = poll_once(service.handle(&core, peer, request()))
                .expect("a tier-1 hit never waits");
            debug_assert_eq!(resp.status, 200);
            // As the connection loop does: a large body is written from its shared buffer
            // after the head, so only the head is encoded.
            assert!(resp.body_separate());
            resp.encode_head(true, 1, &mut out);
            black_box(out.len())
        })
    });

    // Tier 2 under contention: this thread reads while another reads and inserts.
    let t2 = Arc::new(TierTwo::new(64 << 20, 8 << 20));
    let key = |i: u32| ChunkKey {
        track: i64::from(i % 50),
        revision: 1,
        preset: Preset::Original,
        intensity_tenths: 10,
        index: i,
        format: ChunkFormat::Wav,
    };
    for i in 0..1000 {
        t2.insert(key(i), Bytes::from(vec![0u8; 4096]), Admission::Requested);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (t2, stop) = (t2.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                black_box(t2.get(&key(i % 1000)));
                if i.is_multiple_of(64) {
                    t2.insert(
                        key(1000 + i % 5000),
                        Bytes::from(vec![0u8; 4096]),
                        Admission::Requested,
                    );
                }
                i = i.wrapping_add(7);
            }
        })
    };
    let mut i = 0u32;
    c.bench_function("tier2_get_with_2_threads", |b| {
        b.iter(|| {
            i = i.wrapping_add(13);
            black_box(t2.get(&key(i % 1000)))
        })
    });
    stop.store(true, Ordering::Relaxed);
    let _ = other.join();

    // Decoding one 10 s chunk of 44.1 kHz stereo FLAC (a fresh decoder each time, seeked).
    let path = music.join("bench.flac");
    let mut group = c.benchmark_group("decode");
    group.sample_size(20);
    group.bench_function("flac_10s_chunk_44k1_stereo", |b| {
        b.iter(|| {
            let mut d = TrackDecoder::open(&path).unwrap();
            let pcm = d.read_range(441_000, 441_000).unwrap();
            assert_eq!(pcm.frames(), 441_000);
            black_box(pcm.samples.len())
        })
    });
    group.finish();

    // Encoding one 10 s chunk (44.1 kHz stereo) in each format; × real time = 10 s / that.
    let pcm = TrackDecoder::open(&path)
        .unwrap()
        .read_range(441_000, 441_000)
        .unwrap();
    let mut group = c.benchmark_group("encode_10s_chunk_44k1_stereo");
    group.sample_size(10);
    let formats = [
        ("wav", ChunkFormat::Wav),
        ("flac_level5", ChunkFormat::Flac { level: 5 }),
        ("flac_level0", ChunkFormat::Flac { level: 0 }),
        ("opus_128k", ChunkFormat::Opus { kbps: 128 }),
    ];
    for (name, format) in formats {
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = encode(&pcm.samples, 2, 44_100, format).unwrap();
                black_box(out.len())
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, chunk_cache);
criterion_main!(benches);
