//! Chunked streaming and the two-tier cache against the real server: sample-exact
//! chunks, lossy tolerance against committed reference decodes, the tier sequence across
//! cores, budgets, single-flight, prefetch, presets, Range requests and every error.

mod common;

use auralis_server::runtime::listener::core_for_ipv4;
use common::*;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::Path;

/// Reads the PCM16 samples of a WAV file by walking its RIFF chunks (independent of the
/// server's decoder).
fn wav_pcm16(bytes: &[u8]) -> Vec<i16> {
    assert_eq!(&bytes[..4], b"RIFF");
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if id == b"data" {
            return bytes[pos + 8..pos + 8 + len]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        pos += 8 + len + (len & 1);
    }
    panic!("no data chunk");
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A server over a copy of some fixture files, with short chunks.
fn fixture_server(
    files: &[&str],
    chunk_s: &str,
    extra: &[(&str, &str)],
) -> (Server, std::path::PathBuf) {
    let lib = temp_dir("stream");
    for f in files {
        std::fs::copy(Path::new("tests/fixtures/formats").join(f), lib.join(f)).unwrap();
    }
    let mut opts = library_opts(&lib).env("AURALIS_CACHE__CHUNK_DURATION_S", chunk_s);
    for (k, v) in extra {
        opts = opts.env(k, v);
    }
    let s = Server::start(opts);
    wait_scan(&s);
    (s, lib)
}

fn track_id(s: &Server, format: &str) -> i64 {
    let tracks = ok_data(&get(s, "/api/tracks?limit=100"));
    tracks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["format"] == format && t["codec"] != "alac")
        .unwrap_or_else(|| panic!("no {format} track"))["id"]
        .as_i64()
        .unwrap()
}

fn all_chunks(s: &Server, id: i64, query: &str) -> (Vec<u8>, Value) {
    let meta = ok_data(&get(s, &format!("/api/stream/{id}/metadata")));
    let mut out = Vec::new();
    for i in 0..meta["total_chunks"].as_u64().unwrap() {
        let r = get(s, &format!("/api/stream/{id}/chunk/{i}?{query}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("X-Chunk-Index"), Some(i.to_string().as_str()));
        out.extend_from_slice(&r.body);
    }
    (out, meta)
}

#[test]
fn lossless_chunks_concatenate_to_the_original_pcm() {
    let (s, lib) = fixture_server(&["tone.wav", "tone.flac"], "0.4", &[]);
    let reference = wav_pcm16(&std::fs::read(lib.join("tone.wav")).unwrap());
    assert_eq!(reference.len(), 33075, "1.5 s at 22.05 kHz mono");
    for format in ["wav", "flac"] {
        let id = track_id(&s, format);
        let (raw, meta) = all_chunks(&s, id, "format=f32");
        assert_eq!(meta["total_chunks"], 4, "ceil(33075 / 8820)");
        assert_eq!(meta["chunk_frames"], 8820);
        let got = f32s(&raw);
        let want: Vec<f32> = reference.iter().map(|&x| f32::from(x) / 32768.0).collect();
        assert_eq!(got.len(), want.len(), "{format}: every frame exactly once");
        assert!(
            got == want,
            "{format}: f32 chunks equal the source PCM sample for sample"
        );
        // WAV chunks: each a complete file; their PCM concatenated is the source.
        let meta = ok_data(&get(&s, &format!("/api/stream/{id}/metadata")));
        let mut pcm = Vec::new();
        for i in 0..meta["total_chunks"].as_u64().unwrap() {
            let r = get(&s, &format!("/api/stream/{id}/chunk/{i}?format=wav"));
            assert_eq!(r.header("Content-Type"), Some("audio/wav"));
            assert_eq!(
                r.header("Content-Length")
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
                r.body.len()
            );
            pcm.extend(wav_pcm16(&r.body));
        }
        assert!(
            pcm == reference,
            "{format}: WAV chunks concatenate to the source PCM"
        );
    }
}

#[test]
fn lossy_chunks_match_a_reference_decode_within_tolerance() {
    let (s, _lib) = fixture_server(&["tone.mp3", "tone.ogg"], "0.4", &[]);
    for (format, reference) in [
        ("mp3", "tests/fixtures/tone.mp3.ref.f32"),
        ("ogg", "tests/fixtures/tone.ogg.ref.f32"),
    ] {
        let id = track_id(&s, format);
        let (raw, _) = all_chunks(&s, id, "format=f32");
        let got = f32s(&raw);
        let want = f32s(&std::fs::read(reference).unwrap());
        // Stated tolerance: same length within 1 %, RMS difference below 1 % of full
        // scale after gapless trimming (two different decoders, ffmpeg's and symphonia's).
        let n = got.len().min(want.len());
        assert!(
            got.len().abs_diff(want.len()) <= want.len() / 100,
            "{format}: {} vs {} samples",
            got.len(),
            want.len()
        );
        let rms = (got[..n]
            .iter()
            .zip(&want[..n])
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            / n as f64)
            .sqrt();
        assert!(rms < 0.01, "{format}: RMS difference {rms}");
    }
}

fn get_from(s: &Server, ip: Ipv4Addr, path: &str) -> Resp {
    let mut c = Raw::connect_from(ip, s.addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
    c.read_response().unwrap()
}

#[test]
fn tier_sequence_miss_then_tier1_then_tier2_on_the_other_core() {
    let (s, _lib) = fixture_server(&["tone.wav"], "0.4", &[]);
    let id = track_id(&s, "wav");
    let (a, b) = two_cores();
    let path = format!("/api/stream/{id}/chunk/2?format=f32");
    let seq: Vec<(String, String)> = [a, a, b, b]
        .iter()
        .map(|ip| {
            let r = get_from(&s, *ip, &path);
            (
                r.header("X-Served-By")
                    .and_then(|v| v.rsplit('/').next())
                    .unwrap()
                    .to_string(),
                r.header("X-Cache-Tier").unwrap().to_string(),
            )
        })
        .collect();
    let (ca, cb) = (
        core_for_ipv4(a, 2).to_string(),
        core_for_ipv4(b, 2).to_string(),
    );
    assert_eq!(
        seq,
        vec![
            (ca.clone(), "miss".into()),
            (ca, "tier1".into()),
            (cb.clone(), "tier2".into()),
            (cb, "tier1".into())
        ]
    );
    // The next chunk was prefetched after the first request: the other core finds it
    // in tier 2 without a request having decoded it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let r = get_from(&s, b, &format!("/api/stream/{id}/chunk/3?format=f32"));
    assert_eq!(r.header("X-Cache-Tier"), Some("tier2"));
    let stats = ok_data(&get(&s, "/api/cache/stats"));
    assert_eq!(
        stats["decodes"], 2,
        "chunk 2 on request, chunk 3 by prefetch"
    );
    assert_eq!(stats["merged"]["tier1"]["hits"], 2);
    assert_eq!(stats["merged"]["tier2"]["hits"], 2);
}

#[test]
fn budgets_hold_under_a_workload_larger_than_both_tiers() {
    let lib = temp_dir("budget");
    make_library(&lib, 0, 12);
    let s = Server::start(
        library_opts(&lib)
            .env("AURALIS_CACHE__CHUNK_DURATION_S", "0.01")
            .env("AURALIS_CACHE__TIER1_BYTES_PER_CORE", "1500")
            .env("AURALIS_CACHE__TIER2_BYTES", "2500"),
    );
    wait_scan(&s);
    let ids = track_ids(&s, "/api/tracks?limit=100");
    let mut served = 0usize;
    for id in &ids {
        for i in 0..5 {
            for fmt in ["f32", "wav"] {
                let r = get(&s, &format!("/api/stream/{id}/chunk/{i}?format={fmt}"));
                assert_eq!(r.status, 200);
                served += r.body.len();
                let st = ok_data(&get(&s, "/api/cache/stats"));
                assert!(
                    st["merged"]["tier2"]["bytes"].as_u64().unwrap() <= 2500,
                    "{st}"
                );
                for c in st["per_core"].as_array().unwrap() {
                    assert!(c["tier1"]["bytes"].as_u64().unwrap() <= 1500, "{st}");
                }
            }
        }
    }
    assert!(
        served > 4 * 4000,
        "the workload ({served} bytes) is several times both budgets"
    );
    let st = ok_data(&get(&s, "/api/cache/stats"));
    assert!(st["merged"]["tier2"]["evictions"].as_u64().unwrap() > 0);
    assert!(st["merged"]["tier1"]["evictions"].as_u64().unwrap() > 0);
    let h = ok_data(&get(&s, "/api/cache/health"));
    assert!(h["tier2"]["use"].as_f64().unwrap() <= 1.0);
}

#[test]
fn concurrent_misses_for_one_key_decode_once() {
    // A longer track (20 s stereo 44.1 kHz) so the decode is slow enough to overlap.
    let lib = temp_dir("flight");
    let samples = auralis_server::library::demo::synthesize(3, 20, 44_100);
    std::fs::write(
        lib.join("long.wav"),
        auralis_server::audio::wav::encode_pcm16(&samples, 2, 44_100, None),
    )
    .unwrap();
    let s = Server::start(library_opts(&lib).env("AURALIS_CACHE__CHUNK_DURATION_S", "10"));
    wait_scan(&s);
    let id = track_id(&s, "wav");
    let before = ok_data(&get(&s, "/api/cache/stats"))["decodes"]
        .as_u64()
        .unwrap();
    let (a, b) = two_cores();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let results: Vec<(String, Vec<u8>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let barrier = barrier.clone();
                let s = &s;
                sc.spawn(move || {
                    let ip = if i % 2 == 0 { a } else { b };
                    let mut c = Raw::connect_from(ip, s.addr);
                    barrier.wait();
                    // The last chunk: no prefetch follows it, so every decode counted is ours.
                    c.send(
                        format!(
                            "GET /api/stream/{id}/chunk/1?format=f32 HTTP/1.1\r\nHost: t\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    let r = c.read_response().unwrap();
                    (r.header("X-Cache-Tier").unwrap().to_string(), r.body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let after = ok_data(&get(&s, "/api/cache/stats"))["decodes"]
        .as_u64()
        .unwrap();
    assert_eq!(
        after - before,
        1,
        "8 concurrent requests, tiers seen: {:?}",
        results.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .all(|r| r.1 == results[0].1 && r.1.len() == 10 * 44_100 * 2 * 4)
    );
}

#[test]
fn normalized_preset_measures_loudness_once_and_never_clips() {
    let (s, _lib) = fixture_server(&["tone.wav"], "0.4", &[]);
    let id = track_id(&s, "wav");
    let (orig, _) = all_chunks(&s, id, "format=f32");
    let (zero, _) = all_chunks(&s, id, "format=f32&preset=normalized&intensity=0.0");
    assert!(orig == zero, "intensity 0 leaves a quiet track untouched");
    let meta = ok_data(&get(&s, &format!("/api/stream/{id}/metadata")));
    let lufs = meta["loudness_lufs"]
        .as_f64()
        .expect("loudness stored after first use");
    let (full, _) = all_chunks(&s, id, "format=f32&preset=normalized&intensity=1.0");
    let (o, f) = (f32s(&orig), f32s(&full));
    let rms =
        |v: &[f32]| (v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let expected_gain = 10f64.powf((-14.0 - lufs) / 20.0);
    let peak_after = f.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(peak_after < 1.0, "limited: peak {peak_after}");
    if o.iter().all(|x| (x.abs() as f64) * expected_gain <= 0.9) {
        assert!(
            (rms(&f) / rms(&o) - expected_gain).abs() < 0.01 * expected_gain,
            "gain {} vs {expected_gain}",
            rms(&f) / rms(&o)
        );
    }
    let r = get(
        &s,
        &format!("/api/stream/{id}/chunk/0?format=f32&preset=normalized&intensity=0.54"),
    );
    let r2 = get(
        &s,
        &format!("/api/stream/{id}/chunk/0?format=f32&preset=normalized&intensity=0.5"),
    );
    assert_eq!(
        r2.header("X-Cache-Tier"),
        Some("tier1"),
        "intensity rounds to one decimal in the key"
    );
    assert!(r.body == r2.body);
}

#[test]
fn whole_file_with_range_requests() {
    let (s, lib) = fixture_server(&["tone.flac"], "10", &[]);
    let id = track_id(&s, "flac");
    let file = std::fs::read(lib.join("tone.flac")).unwrap();
    let r = get(&s, &format!("/api/tracks/{id}/file"));
    assert_eq!(
        (
            r.status,
            r.header("Accept-Ranges"),
            r.header("Content-Type")
        ),
        (200, Some("bytes"), Some("audio/flac"))
    );
    assert!(r.body == file);
    assert_eq!(
        r.header("Content-Disposition"),
        Some("attachment; filename=\"tone.flac\"; filename*=UTF-8''tone.flac")
    );
    let etag = r.header("ETag").expect("ETag").to_string();
    let modified = r
        .header("Last-Modified")
        .expect("Last-Modified")
        .to_string();
    assert!(modified.ends_with(" GMT"), "{modified}");
    let conditional = |header: &str| {
        let mut c = Raw::connect(s.addr);
        c.send(
            format!("GET /api/tracks/{id}/file HTTP/1.1\r\nHost: t\r\n{header}\r\n\r\n").as_bytes(),
        );
        c.read_response().unwrap()
    };
    let r = conditional(&format!("If-None-Match: {etag}"));
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(
        conditional(&format!("If-Modified-Since: {modified}")).status,
        304
    );
    assert_eq!(conditional("If-None-Match: \"other\"").status, 200);
    // The file's bytes are counted where operators look for bandwidth.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = String::from_utf8(get(&s, "/metrics").body).unwrap();
        if metric_sum(&text, "auralis_response_bytes_total") >= 2.0 * file.len() as f64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "file bytes never counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let ranged = |range: &str| {
        let mut c = Raw::connect(s.addr);
        c.send(
            format!("GET /api/tracks/{id}/file HTTP/1.1\r\nHost: t\r\nRange: {range}\r\n\r\n")
                .as_bytes(),
        );
        c.read_response().unwrap()
    };
    let n = file.len();
    let r = ranged("bytes=0-99");
    assert_eq!(
        (r.status, r.header("Content-Range")),
        (206, Some(format!("bytes 0-99/{n}").as_str()))
    );
    assert!(r.body == file[..100]);
    let r = ranged("bytes=-50");
    assert!(r.status == 206 && r.body == file[n - 50..]);
    let r = ranged("bytes=1000-");
    assert!(r.status == 206 && r.body == file[1000..]);
    let r = ranged(&format!("bytes={n}-"));
    assert_eq!(
        (r.status, r.header("Content-Range")),
        (416, Some(format!("bytes */{n}").as_str()))
    );
    assert_eq!(r.json()["error"], "range_not_satisfiable");
    // An end or suffix past u64 is an overshoot like any other: clamped, 206.
    let r = ranged("bytes=0-99999999999999999999");
    assert_eq!((r.status, r.body.len()), (206, n));
    let r = ranged("bytes=-99999999999999999999");
    assert_eq!((r.status, r.body.len()), (206, n));
    let r = ranged("bytes=0-+5");
    assert_eq!(r.status, 416, "digits only");
    let head = request(&s, "HEAD", &format!("/api/tracks/{id}/file"), None);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("Content-Length"), Some(n.to_string().as_str()));
}

#[test]
fn chunk_errors_and_cache_management() {
    let (s, lib) = fixture_server(&["tone.wav", "tone.ogg"], "0.4", &[]);
    let id = track_id(&s, "wav");
    assert_eq!(get(&s, "/api/stream/99999/chunk/0").status, 404);
    assert_eq!(get(&s, "/api/stream/99999/metadata").status, 404);
    // A chunk past the end names no resource: 404 (416 is for a Range header).
    let r = get(&s, &format!("/api/stream/{id}/chunk/4"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(
        error_fields(&get(&s, &format!("/api/stream/{id}/chunk/0?preset=loud"))),
        vec!["preset"]
    );
    assert_eq!(
        error_fields(&get(&s, &format!("/api/stream/{id}/chunk/0?format=mp3"))),
        vec!["format"]
    );
    assert_eq!(
        error_fields(&get(&s, &format!("/api/stream/{id}/chunk/0?intensity=1.5"))),
        vec!["intensity"]
    );
    assert_eq!(
        error_fields(&get(&s, &format!("/api/stream/{id}/chunk/x"))),
        vec!["index"]
    );

    // Cache management: status, per-track delete, clear.
    for i in 0..4 {
        assert_eq!(
            get(&s, &format!("/api/stream/{id}/chunk/{i}?format=f32")).status,
            200
        );
    }
    let st = ok_data(&get(&s, &format!("/api/cache/track/{id}/status")));
    assert_eq!(st["total_chunks"], 4);
    assert_eq!(st["variants"][0]["variant"], "original@1.0/f32");
    assert_eq!(st["variants"][0]["completion_percent"], 100.0);
    let d = ok_data(&delete_req(&s, &format!("/api/cache/track/{id}")));
    assert_eq!(d["tier2_entries_removed"], 4);
    std::thread::sleep(std::time::Duration::from_millis(100));
    // The last chunk: it triggers no prefetch that could land after the clear below
    // (a clear does not cancel decodes already running).
    let r = get(&s, &format!("/api/stream/{id}/chunk/3?format=f32"));
    assert_eq!(
        r.header("X-Cache-Tier"),
        Some("miss"),
        "gone from both tiers"
    );
    let c = ok_data(&request(&s, "POST", "/api/cache/clear", None));
    assert!(c["tier2_entries_removed"].as_u64().unwrap() >= 1);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let st = ok_data(&get(&s, "/api/cache/stats"));
    assert_eq!(st["merged"]["tier1"]["entries"], 0);
    assert_eq!(st["merged"]["tier2"]["entries"], 0);

    // A file that no longer decodes: 422 with the decoder's reason.
    let ogg = track_id(&s, "ogg");
    std::fs::write(lib.join("tone.ogg"), b"OggS but nothing else of use here").unwrap();
    let r = get(&s, &format!("/api/stream/{ogg}/chunk/0"));
    assert_eq!(r.status, 422);
    let e = &r.json()["details"]["errors"][0];
    assert_eq!(
        (e["field"].as_str(), e["type"].as_str()),
        (Some("track_id"), Some("undecodable"))
    );
    assert!(!e["message"].as_str().unwrap().is_empty());
    assert_eq!(
        get(&s, &format!("/api/stream/{id}/chunk/0")).status,
        200,
        "other tracks unaffected"
    );
}

fn delete_req(s: &Server, path: &str) -> Resp {
    request(s, "DELETE", path, None)
}

#[test]
fn a_head_of_a_chunk_logs_and_counts_no_body() {
    let (s, _lib) = fixture_server(&["tone.wav"], "10", &[("RUST_LOG", "info")]);
    let id = track_id(&s, "wav");
    let path = format!("/api/stream/{id}/chunk/0?format=wav");
    let get_len = get(&s, &path).body.len();
    assert!(get_len > 10_000);
    let head = request(&s, "HEAD", &path, None);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(
        head.header("Content-Length"),
        Some(get_len.to_string().as_str())
    );
    // The access log says what went out: the GET's body, then nothing for the HEAD.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let lines = loop {
        let log = s.log();
        let lines: Vec<String> = log
            .lines()
            .filter(|l| l.contains("/api/stream/{track_id}/chunk/{index}"))
            .map(String::from)
            .collect();
        if lines.len() >= 2 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains(&format!("bytes={get_len}")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("HEAD") && lines[1].contains("bytes=0"),
        "{}",
        lines[1]
    );
}

/// Issue 14's cache pathology, end to end: a working set of requested chunks (80 % of
/// tier 2) cycled twice while every request prefetches a neighbour nobody asks for.
/// Prefetched chunks wait on probation, so the second pass is served from tier 2; the
/// cache stats count the prefetch waste.
#[test]
fn prefetch_does_not_evict_a_cycling_working_set_from_tier2() {
    let lib = temp_dir("cycle-lib");
    long_tracks(&lib, 16, 4);
    // 1 s chunks of 22.05 kHz mono PCM16: 44 144 bytes each.
    let chunk = 44_144u64;
    let requested = 16 * 2 * chunk; // chunks 0 and 2 of every track
    let s = Server::start(
        library_opts(&lib)
            .env("AURALIS_CACHE__CHUNK_DURATION_S", "1")
            .env("AURALIS_CACHE__TIER1_BYTES_PER_CORE", "1024")
            .env(
                "AURALIS_CACHE__TIER2_BYTES",
                &(requested * 5 / 4).to_string(),
            ),
    );
    wait_scan(&s);
    let ids = track_ids(&s, "/api/tracks?limit=50");
    assert_eq!(ids.len(), 16);
    let mut tiers = Vec::new();
    for _pass in 0..2 {
        let mut pass = Vec::new();
        for index in [0, 2] {
            for id in &ids {
                let r = get(&s, &format!("/api/stream/{id}/chunk/{index}?format=wav"));
                assert_eq!(r.status, 200);
                assert_eq!(r.body.len() as u64, chunk);
                pass.push(r.header("x-cache-tier").unwrap().to_string());
                // Let the prefetch of index + 1 land before the next request.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        tiers.push(pass);
    }
    let hits = tiers[1].iter().filter(|t| *t == "tier2").count();
    println!(
        "second pass: {hits} of {} chunks from tier 2",
        tiers[1].len()
    );
    assert!(
        hits * 10 >= tiers[1].len() * 9,
        "second pass: {hits} of {} from tier 2: {:?}",
        tiers[1].len(),
        tiers[1]
    );
    let stats = ok_data(&get(&s, "/api/cache/stats"));
    let p = &stats["prefetch"];
    assert!(p["admitted"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(p["hits"], 0, "nobody asked for the odd chunks: {stats}");
    assert!(p["wasted"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["merged"]["tier2"]["bytes"].as_u64().unwrap() <= requested * 5 / 4);
}
