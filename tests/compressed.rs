//! FLAC and Opus chunks against the real server: FLAC decodes (symphonia) to exactly the
//! WAV chunk's samples; Opus chunks, each decoded on its own by libopus (the `opus`
//! binding's decoder over our Ogg pages read by the `ogg` crate), join into the
//! continuous signal; parameters are validated; `Accept` picks the format; the cache
//! keeps each format apart and reports them; the WebSocket streams them.

mod common;

use common::*;
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// Interleaved 16-bit samples of a WAV chunk (this server writes a 44-byte header).
fn wav_pcm16(bytes: &[u8]) -> Vec<i16> {
    assert_eq!(&bytes[..4], b"RIFF");
    bytes[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// A FLAC file decoded by symphonia, as interleaved 16-bit samples.
fn flac_pcm16(bytes: &[u8]) -> Vec<i16> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let mss = MediaSourceStream::new(
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        Default::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("flac");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .expect("a FLAC stream");
    let mut format = probed.format;
    let track = format.default_track().unwrap().clone();
    let mut dec = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .unwrap();
    let mut out = Vec::new();
    while let Ok(packet) = format.next_packet() {
        let buf = dec.decode(&packet).unwrap();
        let mut s = SampleBuffer::<i16>::new(buf.capacity() as u64, *buf.spec());
        s.copy_interleaved_ref(buf);
        out.extend_from_slice(s.samples());
    }
    out
}

/// An Ogg Opus file decoded by libopus: (channels, pre-skip, 48 kHz interleaved samples
/// with the pre-skip dropped and the end trimmed at the last granule position).
fn opus_decode(bytes: &[u8]) -> (usize, u64, Vec<f32>) {
    assert_eq!(&bytes[..4], b"OggS");
    let mut r = ogg::PacketReader::new(std::io::Cursor::new(bytes.to_vec()));
    let head = r.read_packet().unwrap().expect("OpusHead");
    assert_eq!(&head.data[..8], b"OpusHead");
    let channels = usize::from(head.data[9]);
    let pre_skip = u64::from(u16::from_le_bytes([head.data[10], head.data[11]]));
    let tags = r.read_packet().unwrap().expect("OpusTags");
    assert_eq!(&tags.data[..8], b"OpusTags");
    let layout = if channels == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut dec = opus::Decoder::new(48_000, layout).unwrap();
    let mut pcm = Vec::new();
    let mut end = 0;
    let mut buf = vec![0f32; 5760 * channels];
    while let Some(p) = r.read_packet().unwrap() {
        let n = dec.decode_float(&p.data, &mut buf, false).unwrap();
        pcm.extend_from_slice(&buf[..n * channels]);
        end = p.absgp_page();
        if p.last_in_stream() {
            break;
        }
    }
    let keep = (end - pre_skip) as usize * channels;
    let pcm = pcm[pre_skip as usize * channels..][..keep].to_vec();
    (channels, pre_skip, pcm)
}

/// The tone `tone_tracks` writes for track 0, channel `c`, at time `t` seconds
/// (sample k of the interleaved stream is sin(0.02 k), k = 2 n + c at `rate` Hz).
fn tone(rate: f64, t: f64, c: usize) -> f32 {
    ((2.0 * t * rate + c as f64) * 0.02).sin() as f32 * 6000.0 / 32768.0
}

fn server(rate: u32, seconds: usize) -> Server {
    let lib = temp_dir("compressed");
    tone_tracks(&lib, 1, seconds, rate, 2);
    let s = Server::start(
        library_opts(&lib)
            .env("AURALIS_CACHE__CHUNK_DURATION_S", "1")
            .env("AURALIS_CACHE__DECODE_THREADS", "2"),
    );
    wait_scan(&s);
    s
}

fn chunk(s: &Server, query: &str, index: u32) -> Resp {
    let r = get(s, &format!("/api/stream/1/chunk/{index}?{query}"));
    assert_eq!(
        r.status,
        200,
        "{query} chunk {index}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r
}

#[test]
fn flac_chunks_are_bit_exact_with_the_wav_chunks() {
    let s = server(44_100, 3);
    for level in [0, 5, 8] {
        for index in 0..3 {
            let wav = wav_pcm16(&chunk(&s, "format=wav", index).body);
            let r = chunk(&s, &format!("format=flac&level={level}"), index);
            assert_eq!(r.header("Content-Type"), Some("audio/flac"));
            assert!(r.body.len() < wav.len() * 2, "FLAC is smaller than the PCM");
            assert_eq!(flac_pcm16(&r.body), wav, "level {level} chunk {index}");
        }
    }
}

/// Decodes every Opus chunk of the track on its own and joins them.
fn joined_opus(s: &Server, query: &str, chunks: u32) -> (Vec<f32>, Vec<usize>) {
    let mut joined = Vec::new();
    let mut lens = Vec::new();
    for index in 0..chunks {
        let r = chunk(s, query, index);
        assert_eq!(r.header("Content-Type"), Some("audio/ogg; codecs=opus"));
        let (channels, _, pcm) = opus_decode(&r.body);
        assert_eq!(channels, 2);
        lens.push(pcm.len() / 2);
        joined.extend_from_slice(&pcm);
    }
    (joined, lens)
}

/// Signal-to-noise ratio (dB) of `got` (48 kHz stereo) against the tone at `rate`.
fn snr_db(got: &[f32], rate: f64, frames: std::ops::Range<usize>) -> f64 {
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for n in frames {
        for c in 0..2 {
            let want = f64::from(tone(rate, n as f64 / 48_000.0, c));
            let e = f64::from(got[n * 2 + c]) - want;
            sig += want * want;
            err += e * e;
        }
    }
    10.0 * (sig / err.max(1e-20)).log10()
}

#[test]
fn opus_chunks_decode_apart_and_join_into_the_continuous_signal() {
    for rate in [48_000u32, 44_100] {
        let s = server(rate, 3);
        let (joined, lens) = joined_opus(&s, "format=opus&bitrate=128", 3);
        // Gapless: exactly the track's length at 48 kHz, 48 000 frames per 1 s chunk.
        assert_eq!(lens, [48_000, 48_000, 48_000], "{rate} Hz");
        let whole = snr_db(&joined, f64::from(rate), 0..joined.len() / 2);
        // The 20 ms either side of each join, where a gap or a click would show.
        for join in [48_000usize, 96_000] {
            let near = snr_db(&joined, f64::from(rate), join - 960..join + 960);
            println!("{rate} Hz: SNR whole {whole:.1} dB, at the join at {join}: {near:.1} dB");
            assert!(near > 20.0, "{rate} Hz: join at {join}: {near:.1} dB");
        }
        assert!(whole > 20.0, "{rate} Hz: {whole:.1} dB");
    }
}

#[test]
fn bitrate_changes_the_size_and_each_variant_is_cached_apart() {
    let s = server(44_100, 2);
    let low = chunk(&s, "format=opus&bitrate=32", 0);
    let high = chunk(&s, "format=opus&bitrate=256", 0);
    let default = chunk(&s, "format=opus", 0);
    assert!(
        low.body.len() * 3 < high.body.len(),
        "{} vs {}",
        low.body.len(),
        high.body.len()
    );
    // 1 s at 128 kbit/s is about 16 kB (Ogg adds a little).
    assert!(
        (12_000..22_000).contains(&default.body.len()),
        "{}",
        default.body.len()
    );
    assert_eq!(
        chunk(&s, "format=opus&bitrate=32", 0).header("X-Cache-Tier"),
        Some("tier1")
    );
    assert_ne!(low.header("ETag"), high.header("ETag"));
    let stats = get(&s, "/api/cache/stats").json();
    let by = &stats["data"]["by_format"];
    assert_eq!(by["opus"]["requests"], 4, "{by}");
    assert_eq!(by["opus"]["tier1_hits"], 1, "{by}");
    assert!(
        by["opus"]["tier2_bytes"].as_u64().unwrap() >= (low.body.len() + high.body.len()) as u64
    );
    assert_eq!(by["wav"]["requests"], 0);
    let served: u64 = [&low, &high, &default, &low]
        .iter()
        .map(|r| r.body.len() as u64)
        .sum();
    assert_eq!(by["opus"]["bytes_served"], served);
    // Metadata names every format and its parameters.
    let meta = get(&s, "/api/stream/1/metadata").json();
    assert_eq!(
        meta["data"]["formats"],
        json!(["wav", "f32", "flac", "opus"])
    );
    let params = &meta["data"]["format_parameters"];
    assert_eq!(params["opus"]["bitrate"]["default"], 128);
    assert_eq!(params["flac"]["level"]["max"], 8);
    assert_eq!(params["opus"]["content_type"], "audio/ogg; codecs=opus");
}

#[test]
fn bad_parameters_and_unknown_formats_are_refused_by_name() {
    let s = server(44_100, 1);
    let cases = [
        ("format=mp3", "format", "wav, f32, flac, opus"),
        ("format=opus&bitrate=8", "bitrate", "32"),
        ("format=opus&bitrate=999", "bitrate", "256"),
        ("format=opus&bitrate=fast", "bitrate", "integer"),
        ("format=flac&level=9", "level", "8"),
        ("format=wav&level=3", "level", "flac"),
        ("format=flac&bitrate=64", "bitrate", "opus"),
    ];
    for (query, field, says) in cases {
        let r = get(&s, &format!("/api/stream/1/chunk/0?{query}"));
        assert_eq!(error_fields(&r), [field], "{query}");
        let msg = r.json()["details"]["errors"][0]["message"].to_string();
        assert!(msg.contains(says), "{query}: {msg}");
    }
}

fn get_accept(s: &Server, path: &str, accept: &str) -> Resp {
    let mut c = Raw::connect(s.addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nAccept: {accept}\r\n\r\n").as_bytes());
    c.read_response().unwrap()
}

#[test]
fn accept_picks_the_format_when_the_query_does_not() {
    let s = server(44_100, 1);
    let path = "/api/stream/1/chunk/0";
    let cases = [
        ("audio/ogg; codecs=opus", "audio/ogg; codecs=opus"),
        ("audio/flac", "audio/flac"),
        ("audio/wav", "audio/wav"),
        (
            "audio/flac;q=0.4, audio/ogg;codecs=opus;q=0.8",
            "audio/ogg; codecs=opus",
        ),
        ("*/*", "audio/wav"),
    ];
    for (accept, want) in cases {
        let r = get_accept(&s, path, accept);
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.header("Content-Type"), Some(want), "{accept}");
        assert_eq!(
            r.header("Vary"),
            Some("Accept"),
            "{accept}: caches key on it"
        );
        // Opus is 48 kHz whatever the source's rate.
        let rate = if want.contains("opus") {
            "48000"
        } else {
            "44100"
        };
        assert_eq!(r.header("X-Sample-Rate"), Some(rate), "{accept}");
    }
    // The query wins over Accept.
    let r = get_accept(&s, &format!("{path}?format=flac"), "audio/ogg; codecs=opus");
    assert_eq!(r.header("Content-Type"), Some("audio/flac"));
    assert_eq!(r.header("Vary"), None, "the URL names the format");
    // Nothing we can make: 406 listing what we can.
    let r = get_accept(&s, path, "audio/mpeg");
    assert_eq!(r.status, 406);
    let body = r.json();
    assert_eq!(body["error"], "not_acceptable");
    assert_eq!(
        body["details"]["available"],
        json!([
            "audio/wav",
            "application/octet-stream",
            "audio/flac",
            "audio/ogg; codecs=opus"
        ])
    );
}

#[test]
fn the_websocket_streams_encoded_chunks_with_their_codec_and_length() {
    let s = server(44_100, 2);
    let (mut ws, _) = ws_connect(&s, Ipv4Addr::LOCALHOST);
    let bad = ws_rpc(
        &mut ws,
        "stream_start",
        json!({"track_id": 1, "format": "opus", "bitrate": 8}),
    );
    assert_eq!(bad["type"], "error");
    assert!(bad.to_string().contains("bitrate"), "{bad}");
    for (format, codec, magic) in [
        ("opus", "opus", &b"OggS"[..]),
        ("flac", "flac", &b"fLaC"[..]),
    ] {
        let start = ws_rpc(
            &mut ws,
            "stream_start",
            json!({"track_id": 1, "format": format, "window": 4}),
        );
        assert_eq!(start["type"], "audio_stream_start", "{start}");
        assert_eq!(start["payload"]["codec"], codec);
        let mut got = 0;
        let mut meta: Option<Value> = None;
        while got < 2 {
            match ws.read().unwrap() {
                tungstenite::Message::Text(t) => {
                    let m: Value = serde_json::from_str(t.as_str()).unwrap();
                    if m["type"] == "audio_chunk_meta" {
                        meta = Some(m);
                    }
                }
                tungstenite::Message::Binary(b) => {
                    let m = meta.take().expect("a meta before each binary frame");
                    assert_eq!(m["payload"]["codec"], codec);
                    assert_eq!(m["payload"]["byte_length"], b.len());
                    assert_eq!(m["payload"]["sample_count"], 44_100 * 2);
                    assert_eq!(&b[..4], magic);
                    // The same bytes as the HTTP chunk.
                    let http = chunk(&s, &format!("format={format}"), got);
                    assert_eq!(http.body, b.to_vec(), "{format} chunk {got}");
                    got += 1;
                }
                _ => {}
            }
        }
    }
}

#[test]
fn the_player_plays_across_chunk_boundaries_without_a_gap_in_chromium() {
    let s = server(44_100, 3);
    let page = get(&s, "/player");
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("decodeAudioData") && !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED: no headless Chromium (apt-get install chromium); the page itself was checked"
        );
        return;
    };
    for format in ["opus", "flac", "wav"] {
        let mut page = BrowserPage::open(
            chromium,
            &s.url(&format!("/player?track=1&format={format}&autoplay=1")),
            &["--autoplay-policy=no-user-gesture-required"],
        );
        // Web Audio's clock runs on real time: wait until playback is past the first
        // 1 s chunk boundary (or 20 s).
        let state = |page: &mut BrowserPage| {
            page.eval("JSON.stringify(document.getElementById('state').dataset)")
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let figures = loop {
            let v: Value =
                serde_json::from_str(state(&mut page).as_str().unwrap_or("{}")).unwrap_or_default();
            let played: f64 = v["played"]
                .as_str()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0.0);
            if played > 1.5 || std::time::Instant::now() > deadline {
                break v;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let n = |k: &str| -> f64 {
            figures[k]
                .as_str()
                .and_then(|p| p.parse().ok())
                .unwrap_or(-1.0)
        };
        println!("{format}: {figures}");
        assert!(
            n("played") > 1.5,
            "{format}: playback reached {} s",
            n("played")
        );
        assert_eq!(n("errors"), 0.0, "{format}: {figures}");
        assert!(
            n("chunks") >= 2.0 && n("boundaries") >= 1.0,
            "{format}: {figures}"
        );
        assert_eq!(n("gaps"), 0.0, "{format}: a chunk came late: {figures}");
        // The first chunk (a cold decode: a fresh format) is start-up latency, shown
        // apart, not a gap.
        assert!(n("startupMs") >= 0.0, "{format}: {figures}");
        // The bytes column shows each chunk's size (read before decoding detaches it).
        let sizes = page.eval(
            "JSON.stringify(Array.from(document.querySelectorAll('#chunks tr')).map(tr => Number(tr.children[2].textContent)))",
        );
        let sizes: Vec<f64> = serde_json::from_str(sizes.as_str().unwrap_or("[]")).unwrap();
        assert!(
            !sizes.is_empty() && sizes.iter().all(|b| *b > 100.0),
            "{format}: bytes column {sizes:?}"
        );
        assert_eq!(
            n("mismatches"),
            0.0,
            "{format}: a chunk's decoded length is off: {figures}"
        );
    }

    // A shared listening session: the page joins `session:<id>` and plays what the
    // session plays when another connection starts it.
    let (mut ctl, _) = ws_connect(&s, Ipv4Addr::LOCALHOST);
    let sid = ws_rpc(&mut ctl, "session_create", json!({}))["payload"]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut page = BrowserPage::open(
        chromium,
        &s.url(&format!("/player?session={sid}&format=opus")),
        &["--autoplay-policy=no-user-gesture-required"],
    );
    let until = |page: &mut BrowserPage, js: &str, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while page.eval(js) != Value::Bool(true) {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    until(
        &mut page,
        "document.getElementById('sessionState').dataset.joined === '1'",
        "the page joined the session",
    );
    ws_rpc(&mut ctl, "queue_add", json!({"track_ids": [1]}));
    assert_eq!(ws_rpc(&mut ctl, "play", json!({}))["type"], "status_update");
    until(
        &mut page,
        "Number(document.getElementById('state').dataset.played) > 1.2",
        "the page plays what the session plays, past a chunk boundary",
    );
    let text = page.eval("document.getElementById('sessionState').textContent");
    assert!(text.as_str().unwrap_or("").contains("playing"), "{text}");
    assert_eq!(
        page.eval("document.getElementById('state').dataset.gaps"),
        json!("0")
    );
}

#[test]
fn each_format_decodes_once_under_concurrent_misses_and_prefetches_its_own_next_chunk() {
    let s = server(44_100, 3);
    let (a, b) = two_cores();
    for format in ["opus", "flac"] {
        let decodes = || {
            get(&s, "/api/cache/stats").json()["data"]["decodes"]
                .as_u64()
                .unwrap()
        };
        let before = decodes();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        // The last chunk: no prefetch follows it, so every decode counted is ours.
        let bodies: Vec<Vec<u8>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let barrier = barrier.clone();
                    let s = &s;
                    sc.spawn(move || {
                        let mut c = Raw::connect_from(if i % 2 == 0 { a } else { b }, s.addr);
                        barrier.wait();
                        c.send(
                            format!("GET /api/stream/1/chunk/2?format={format} HTTP/1.1\r\nHost: t\r\n\r\n")
                                .as_bytes(),
                        );
                        c.read_response().unwrap().body
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            decodes() - before,
            1,
            "{format}: six concurrent misses, one decode"
        );
        assert!(
            bodies.iter().all(|x| x == &bodies[0] && !x.is_empty()),
            "{format}"
        );
    }
    // Chunk 0 in Opus prefetches chunk 1 in Opus (same bitrate), not in another format.
    chunk(&s, "format=opus&bitrate=96", 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let cached_variants = loop {
        let st = get(&s, "/api/cache/track/1/status").json();
        let variants: Vec<(String, Vec<u64>)> = st["data"]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let t2 = v["tier2_chunks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_u64)
                    .collect();
                (v["variant"].as_str().unwrap().to_string(), t2)
            })
            .collect();
        let done = variants
            .iter()
            .any(|(v, t2)| v == "original@1.0/opus-96k" && t2.contains(&1));
        if done || std::time::Instant::now() > deadline {
            break variants;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let opus96 = cached_variants
        .iter()
        .find(|(v, _)| v == "original@1.0/opus-96k");
    assert_eq!(
        opus96.map(|(_, t2)| t2.clone()),
        Some(vec![0, 1]),
        "{cached_variants:?}"
    );
}

#[test]
fn the_player_lists_past_the_first_hundred_tracks_and_searches() {
    let s = lib_server(130, &[]);
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED the_player_lists_past_the_first_hundred_tracks_and_searches: no headless Chromium (apt-get install chromium)"
        );
        return;
    };
    // A link to a track past the first page still selects it.
    let last = track_ids(&s, "/api/tracks?order_by=-title&limit=1")[0];
    let mut page = BrowserPage::open(chromium, &s.url(&format!("/player?track={last}")), &[]);
    let until = |page: &mut BrowserPage, js: &str, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let v = page.eval(js);
            if v == Value::Bool(true) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {v}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let options = "document.getElementById('track').options.length";
    until(
        &mut page,
        &format!("{options} === 101"),
        "100 listed and the linked one",
    );
    until(
        &mut page,
        &format!("document.getElementById('track').value === '{last}'"),
        "the linked track is selected",
    );
    // More follows the cursor to the end.
    page.eval("document.getElementById('more').click()");
    until(
        &mut page,
        &format!("{options} >= 130"),
        "More lists the rest",
    );
    until(
        &mut page,
        "document.getElementById('more').disabled === true",
        "nothing more",
    );
    // A search replaces the list with what it finds: Song 120 … Song 129.
    page.eval(
        "(() => { const i = document.getElementById('search'); i.value = 'song 12'; i.dispatchEvent(new Event('input')); })()",
    );
    until(
        &mut page,
        &format!("{options} === 10"),
        "the search's ten tracks",
    );
}
