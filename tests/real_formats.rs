//! Real encoders' files (made by ffmpeg at test time): exact lengths, every chunk to the
//! end, any chunk in any order equal to playing from the start, and agreement with
//! ffmpeg's own decode.

mod common;

use auralis_server::audio::decode::TrackDecoder;
use common::corpus::{self, Entry};

fn corpus_or_skip(tag: &str) -> Option<Vec<Entry>> {
    let dir = common::temp_dir(tag);
    let c = corpus::build(&dir);
    if c.is_none() {
        eprintln!(
            "SKIPPED {tag}: ffmpeg is not installed (apt-get install ffmpeg; .ci/run installs it)"
        );
    }
    c
}

/// Chunk length in frames: not a multiple of any codec's packet, so chunk starts fall
/// inside packets.
fn chunk_frames(rate: u32) -> u64 {
    u64::from(rate) * 13 / 10 + 7
}

/// Panics with where and how much two decodes differ (never the whole vectors).
fn same(a: &[f32], b: &[f32], what: &str) {
    if a == b {
        return;
    }
    let first = a.iter().zip(b).position(|(x, y)| x != y);
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    panic!(
        "{what}: lengths {} and {}, first difference at sample {first:?}, largest {max}",
        a.len(),
        b.len()
    );
}

fn chunks(d: &mut TrackDecoder, order: &[u64], len: u64) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); order.len()];
    for &k in order {
        out[k as usize] = d.read_range(k * len, len).unwrap().samples;
    }
    out
}

#[test]
fn every_format_decodes_to_its_exact_length_and_any_chunk_order_gives_the_same_samples() {
    let Some(corpus) = corpus_or_skip("real-formats") else {
        return;
    };
    let aac51 = corpus::make(corpus[0].path.parent().unwrap(), &corpus::AAC_51);
    let refused = auralis_server::library::probe::probe(&aac51.path)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("no decoder") && refused.contains("aac"),
        "{refused}"
    );
    std::fs::remove_file(&aac51.path).unwrap();
    for e in &corpus {
        let probed = auralis_server::library::probe::probe(&e.path).unwrap();
        let frames = probed.frames.unwrap() as u64;
        let out_ch = e.channels.min(2);
        let theirs = corpus::ffmpeg_decode(&e.path, out_ch);
        let their_frames = (theirs.len() / out_ch) as u64;
        let rate = probed.sample_rate.unwrap() as u32;
        let source = (corpus::SECONDS * f64::from(rate)).round() as u64;
        if e.name.starts_with("aac") {
            // The edit list says the source's length; ffmpeg's decode keeps the last
            // packet whole (its sample table entry is shorter), so it may be longer.
            assert_eq!(frames, source, "{}: the edit list's length", e.name);
            assert!(
                their_frames >= frames && their_frames - frames < 1_024,
                "{}: ffmpeg {their_frames}",
                e.name
            );
        } else {
            assert_eq!(
                frames, their_frames,
                "{}: frames = what ffmpeg decodes",
                e.name
            );
        }
        // One continuous decode of the whole file.
        let mut d = TrackDecoder::open(&e.path).unwrap();
        assert_eq!(d.channels, out_ch, "{}", e.name);
        let whole = d.read_range(0, frames + 10_000).unwrap().samples;
        assert_eq!(
            whole.len() as u64,
            frames * out_ch as u64,
            "{}: the whole decode",
            e.name
        );
        // Chunks in order, then in a scattered order on a fresh decoder.
        let len = chunk_frames(rate);
        let n = frames.div_ceil(len);
        let seq: Vec<u64> = (0..n).collect();
        let mut scattered: Vec<u64> = (0..n).map(|i| (i * 7 + 3) % n).collect();
        scattered.sort_by_key(|k| (k * 5 + 1) % n);
        let a = chunks(&mut TrackDecoder::open(&e.path).unwrap(), &seq, len);
        let mut fresh = TrackDecoder::open(&e.path).unwrap();
        let last = fresh.read_range((n - 1) * len, len).unwrap().samples;
        same(
            &last,
            &a[(n - 1) as usize],
            &format!("{}: the last chunk read first", e.name),
        );
        let b = chunks(&mut fresh, &scattered, len);
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            same(
                x,
                y,
                &format!("{}: chunk {k} scattered vs sequential", e.name),
            );
        }
        let joined: Vec<f32> = a.concat();
        assert_eq!(
            joined.len(),
            whole.len(),
            "{}: chunk lengths sum to frames",
            e.name
        );
        let snr_self = corpus::snr_db(&whole, &joined);
        let snr_ffmpeg = corpus::snr_db(&theirs, &joined);
        eprintln!(
            "{}: frames {frames}, chunks {n}, vs continuous {snr_self:.1} dB, vs ffmpeg {snr_ffmpeg:.1} dB",
            e.name
        );
        if e.exact {
            same(
                &joined,
                &whole,
                &format!("{}: chunks = continuous decode", e.name),
            );
        } else {
            assert!(
                snr_self > 25.0,
                "{}: chunks vs continuous {snr_self:.1} dB",
                e.name
            );
            assert_eq!(
                corpus::best_lag(&whole, &joined, out_ch, 3),
                0,
                "{}",
                e.name
            );
        }
        // Aligned with ffmpeg's decode to the sample, and close to it.
        assert_eq!(
            corpus::best_lag(&theirs, &joined, out_ch, 3),
            0,
            "{}: lag vs ffmpeg",
            e.name
        );
        assert!(
            snr_ffmpeg > 25.0,
            "{}: vs ffmpeg {snr_ffmpeg:.1} dB",
            e.name
        );
    }
}

/// Every chunk of every track of `s`, fetched in `order` of chunk index, as bytes.
fn all_chunks(s: &common::Server, id: i64, total: u64, reverse: bool, query: &str) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new(); total as usize];
    let order: Vec<u64> = if reverse {
        (0..total).rev().collect()
    } else {
        (0..total).collect()
    };
    for k in order {
        let r = common::get(s, &format!("/api/stream/{id}/chunk/{k}?{query}"));
        assert_eq!(
            r.status,
            200,
            "track {id} chunk {k}: {}",
            String::from_utf8_lossy(&r.body)
        );
        out[k as usize] = r.body;
    }
    out
}

/// Frames in a 16-bit PCM WAV chunk (its `data` chunk's size / block align).
fn wav_frames(bytes: &[u8], channels: u64) -> u64 {
    let at = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("a data chunk");
    u64::from(u32::from_le_bytes(
        bytes[at + 4..at + 8].try_into().unwrap(),
    )) / (2 * channels)
}

#[test]
fn a_library_of_real_encoders_files_streams_every_chunk_to_the_end_in_any_order() {
    let dir = common::temp_dir("real-library");
    let Some(corpus) = corpus::build(&dir) else {
        eprintln!(
            "SKIPPED a_library_of_real_encoders_files_streams_every_chunk_to_the_end_in_any_order: ffmpeg is not installed"
        );
        return;
    };
    let opts = common::library_opts(&dir).env("AURALIS_CACHE__CHUNK_DURATION_S", "2");
    let (a, b) = (
        common::Server::start(opts.clone()),
        common::Server::start(opts),
    );
    for s in [&a, &b] {
        let scan = common::wait_scan(s);
        assert_eq!(scan["state"], "completed", "{scan}");
        assert_eq!(scan["failed"], 0, "{scan}");
    }
    let tracks = common::ok_data(&common::get(&a, "/api/tracks?limit=100"));
    let tracks = tracks
        .as_array()
        .unwrap_or_else(|| tracks["items"].as_array().unwrap())
        .clone();
    assert_eq!(tracks.len(), corpus.len(), "every file is a track");
    for t in &tracks {
        let id = t["id"].as_i64().unwrap();
        let title = t["title"].as_str().unwrap().to_string();
        let e = corpus
            .iter()
            .find(|e| title == format!("{} Song", e.name.to_uppercase()))
            .unwrap_or_else(|| panic!("tags read: {t}"));
        assert_eq!(t["artist"], "Corpus Band", "{t}");
        assert_eq!(t["album"], "Real Encoders", "{t}");
        let meta = common::ok_data(&common::get(&a, &format!("/api/stream/{id}/metadata")));
        let out_ch = e.channels.min(2) as u64;
        assert_eq!(meta["channels"], out_ch, "{}: {meta}", e.name);
        let frames = meta["frames"].as_u64().unwrap();
        let total = meta["total_chunks"].as_u64().unwrap();
        // Server A from the last chunk back, server B in order: the same bytes.
        let back = all_chunks(&a, id, total, true, "format=wav");
        let fwd = all_chunks(&b, id, total, false, "format=wav");
        for k in 0..total as usize {
            assert!(
                back[k] == fwd[k],
                "{}: chunk {k} differs between orders",
                e.name
            );
        }
        let sum: u64 = fwd.iter().map(|c| wav_frames(c, out_ch)).sum();
        assert_eq!(sum, frames, "{}: chunk frames sum to the track's", e.name);
        // The last chunk in Opus (48 kHz): its granule position says its exact length.
        let r = common::get(
            &a,
            &format!("/api/stream/{id}/chunk/{}?format=opus", total - 1),
        );
        assert_eq!(
            r.status,
            200,
            "{}: opus {}",
            e.name,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("x-sample-rate"), Some("48000"));
        assert_eq!(
            r.header("x-channels").map(str::to_string),
            Some(out_ch.to_string())
        );
    }
}

fn ffmpeg(args: &[&str]) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Width and height of a JPEG or PNG, by asking ffprobe (an independent reader).
fn image_size(bytes: &[u8], dir: &std::path::Path) -> (u32, u32) {
    let f = dir.join("probe-image");
    std::fs::write(&f, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.trim().split(',').map(|v| v.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

#[test]
fn cover_art_embedded_or_beside_the_files_and_replaygain_tags_are_used() {
    if !corpus::ffmpeg() {
        eprintln!(
            "SKIPPED cover_art_embedded_or_beside_the_files_and_replaygain_tags_are_used: ffmpeg is not installed"
        );
        return;
    }
    let lib = common::temp_dir("covers");
    let work = common::temp_dir("covers-work");
    let art = work.join("art.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=600x400",
        "-frames:v",
        "1",
        art.to_str().unwrap(),
    ]);
    let tone = [
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=3:sample_rate=44100",
    ];
    let with_art = [
        "-i",
        art.to_str().unwrap(),
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-disposition:v",
        "attached_pic",
    ];
    std::fs::create_dir_all(lib.join("A/Embedded")).unwrap();
    std::fs::create_dir_all(lib.join("B/Beside")).unwrap();
    std::fs::create_dir_all(lib.join("C/None")).unwrap();
    // Embedded: MP3 (ID3 APIC), FLAC (PICTURE), M4A (covr); with ReplayGain tags.
    for (file, codec, vcodec) in [
        ("01 Mp3.mp3", "libmp3lame", "copy"),
        ("02 Flac.flac", "flac", "copy"),
        ("03 Aac.m4a", "aac", "mjpeg"),
    ] {
        let path = lib.join("A/Embedded").join(file);
        let mut args: Vec<&str> = tone.to_vec();
        args.extend(with_art);
        args.extend([
            "-c:a",
            codec,
            "-c:v",
            vcodec,
            "-metadata",
            "REPLAYGAIN_TRACK_GAIN=-6.00 dB",
            "-metadata",
            "REPLAYGAIN_ALBUM_GAIN=-3.50 dB",
        ]);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
    }
    // Beside: Folder.jpg (as Windows writes it) next to an untagged Vorbis file.
    let vorbis = lib.join("B/Beside/01 Vorbis.ogg");
    let mut args = tone.to_vec();
    args.extend(["-c:a", "libvorbis", vorbis.to_str().unwrap()]);
    ffmpeg(&args);
    ffmpeg(&[
        "-i",
        art.to_str().unwrap(),
        lib.join("B/Beside/Folder.jpg").to_str().unwrap(),
    ]);
    let plain = lib.join("C/None/01 Plain.flac");
    let mut args = tone.to_vec();
    args.extend(["-c:a", "flac", plain.to_str().unwrap()]);
    ffmpeg(&args);
    // Hostile: a Cover.jpg linked to a system file, a folder.jpg that is a FIFO and a
    // front.png that is no picture: none is a cover, none is ever sent.
    std::fs::create_dir_all(lib.join("D/Bad")).unwrap();
    let bad = lib.join("D/Bad/01 Bad.flac");
    let mut args = tone.to_vec();
    args.extend(["-c:a", "flac", bad.to_str().unwrap()]);
    ffmpeg(&args);
    std::os::unix::fs::symlink("/etc/passwd", lib.join("D/Bad/Cover.jpg")).unwrap();
    let fifo = lib.join("D/Bad/folder.jpg");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(lib.join("D/Bad/front.png"), b"not a picture at all").unwrap();
    let s = common::Server::start(common::library_opts(&lib));
    let scan = common::wait_scan(&s);
    assert_eq!(scan["failed"], 0, "{scan}");
    let tracks = common::ok_data(&common::get(&s, "/api/tracks?limit=100"));
    let by_title = |t: &str| common::by_title(&tracks, t);
    for (title, covered) in [
        ("Mp3", true),
        ("Flac", true),
        ("Aac", true),
        ("Vorbis", true),
        ("Plain", false),
        ("Bad", false),
    ] {
        let t = by_title(title);
        assert_eq!(t["has_cover"], covered, "{t}");
        let id = t["id"].as_i64().unwrap();
        let whole = common::get(&s, &format!("/api/tracks/{id}/cover"));
        if !covered {
            assert_eq!(whole.status, 404, "{title}");
            continue;
        }
        assert_eq!(
            whole.status,
            200,
            "{title}: {}",
            String::from_utf8_lossy(&whole.body)
        );
        assert_eq!(
            image_size(&whole.body, &work),
            (600, 400),
            "{title}: the picture as stored"
        );
        let thumb = common::get(&s, &format!("/api/tracks/{id}/cover?size=100"));
        assert_eq!(thumb.status, 200);
        assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
        assert_eq!(
            image_size(&thumb.body, &work),
            (128, 85),
            "{title}: fits 128 (100 rounded up), aspect kept"
        );
        let etag = thumb.header("etag").unwrap().to_string();
        let mut raw = common::Raw::connect(s.addr);
        raw.send(format!("GET /api/tracks/{id}/cover?size=100 HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes());
        assert_eq!(
            raw.read_response().unwrap().status,
            304,
            "{title}: revalidated"
        );
        let meta = common::ok_data(&common::get(&s, &format!("/api/stream/{id}/metadata")));
        // ffmpeg's MP4 muxer drops unknown tags (taggers write ReplayGain there as
        // `----:com.apple.iTunes:replaygain_*` atoms: a unit test in probe.rs).
        if title == "Mp3" || title == "Flac" {
            // ReplayGain 2: −6 dB track gain means −12 LUFS (reference −18): no measuring.
            assert_eq!(meta["loudness_lufs"], -12.0, "{title}: {meta}");
        }
    }
    let albums = common::ok_data(&common::get(&s, "/api/albums"));
    for a in albums.as_array().unwrap() {
        let id = a["id"].as_i64().unwrap();
        let r = common::get(&s, &format!("/api/albums/{id}/cover?size=64"));
        assert_eq!(
            r.status,
            if a["has_cover"] == true { 200 } else { 404 },
            "{a}"
        );
        assert_eq!(
            a["has_cover"],
            a["title"] != "None" && a["title"] != "Bad",
            "{a}"
        );
    }
    // Album gain on request: −3.5 dB album gain (−14.5 LUFS) vs −6 dB track gain (−12).
    let id = by_title("Flac")["id"].as_i64().unwrap();
    let track = common::get(
        &s,
        &format!("/api/stream/{id}/chunk/0?format=f32&preset=normalized"),
    );
    let album = common::get(
        &s,
        &format!("/api/stream/{id}/chunk/0?format=f32&preset=normalized_album"),
    );
    let peak = |b: &[u8]| {
        b.chunks_exact(4)
            .map(|x| f32::from_le_bytes(x.try_into().unwrap()).abs())
            .fold(0f32, f32::max)
    };
    let ratio_db = 20.0 * (peak(&album.body) / peak(&track.body)).log10();
    // normalized: −14 − (−12) = −2 dB; normalized_album: −14 − (−14.5) = +0.5 dB.
    assert!(
        (ratio_db - 2.5).abs() < 0.05,
        "album gain 2.5 dB above the track's: {ratio_db}"
    );
}

#[test]
fn truncated_downloads_and_one_page_streams_report_what_they_hold() {
    let Some(corpus) = corpus_or_skip("truncated") else {
        return;
    };
    let dir = common::temp_dir("truncated-out");
    // Tiny: a 10 ms Opus file is one Ogg page (symphonia alone counted 792 frames).
    let tiny = dir.join("tiny.opus");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000:duration=0.01",
        "-c:a",
        "libopus",
        tiny.to_str().unwrap(),
    ]);
    let mut cases = vec![(tiny, 1usize)];
    // Half of each file (an interrupted download); MP3 is not checked at scan (its
    // check would read every frame header), nor MP4 (its index is at the end).
    for e in corpus
        .iter()
        .filter(|e| ["flac16", "flac24_96", "wav", "aiff", "vorbis", "opus"].contains(&e.name))
    {
        let bytes = std::fs::read(&e.path).unwrap();
        let half = dir.join(format!(
            "half-{}",
            e.path.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
        cases.push((half, e.channels.min(2)));
    }
    for (path, ch) in cases {
        let probed = auralis_server::library::probe::probe(&path).unwrap();
        let frames = probed.frames.unwrap() as u64;
        let theirs = (corpus::ffmpeg_decode(&path, ch).len() / ch) as u64;
        assert_eq!(
            frames,
            theirs,
            "{}: frames = what ffmpeg decodes",
            path.display()
        );
        let mut d = TrackDecoder::open(&path).unwrap();
        let all = d.read_range(0, frames + 100_000).unwrap();
        assert_eq!(
            all.frames() as u64,
            frames,
            "{}: a decode delivers frames",
            path.display()
        );
    }
}
