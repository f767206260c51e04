//! Entry points for the fuzz targets (`fuzz/`) and the property tests below: each takes
//! arbitrary input, runs one parser or validator the server exposes to clients or
//! operators, and must return — never panic, never hang. Built for tests and with
//! `--features fuzzing` only; nothing here is the server's API.

use crate::http::parse::{Limits, Parsed, RequestParser, parse_request};
use crate::http::validate::{BodyFields, QueryFields};

const LIMITS: Limits = Limits {
    max_header_bytes: 16 * 1024,
    max_headers: 96,
    max_body_bytes: 1 << 20,
};

/// An HTTP request as a connection sees it: parse, route, then read its query and
/// body the way handlers do.
pub fn http_request(bytes: &[u8]) {
    let Ok(Parsed::Complete { request, consumed }) = parse_request(bytes, &LIMITS) else {
        return;
    };
    assert!(consumed <= bytes.len());
    let routes = crate::http::router::Router::new(crate::api::routes());
    let _ = routes.resolve(request.method, request.path());
    let mut q = QueryFields::from_request(&request);
    let _ = q.int("limit", 1, 500);
    let _ = q.float("intensity", 0.0, 1.0);
    let _ = q.string("search", 200);
    let _ = q.finish();
    if let Ok(mut b) = BodyFields::from_request(&request) {
        let _ = b.string("name", true, 200);
        let _ = b.id_list("track_ids", false, 100);
        let _ = b.finish();
    }
}

/// The body limit of the fuzzed parser, for generators that aim sizes at it.
pub const MAX_BODY_BYTES: usize = LIMITS.max_body_bytes;

/// The same request fed to one parser in pieces (a connection's reads, cut at `cuts`)
/// must end exactly as one parse of the whole: each byte is looked at once, and no
/// piece boundary may change the answer. Then the whole goes through `http_request`.
pub fn http_request_pieces(bytes: &[u8], cuts: &[usize]) {
    let whole = format!("{:?}", parse_request(bytes, &LIMITS));
    let mut parser = RequestParser::default();
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    ends.sort_unstable();
    ends.push(bytes.len());
    let mut last = None;
    for end in ends {
        let outcome = parser.parse(&bytes[..end], &LIMITS);
        let done = !matches!(outcome, Ok(Parsed::Partial { .. }));
        last = Some(format!("{outcome:?}"));
        if done {
            break;
        }
    }
    assert_eq!(last.as_deref(), Some(whole.as_str()), "pieces at {cuts:?}");
    http_request(bytes);
}

/// A WebSocket text message: the envelope, then its typed payload.
pub fn ws_message(bytes: &[u8]) {
    let mut text = bytes.to_vec();
    if let Ok(msg) = crate::ws::protocol::parse(&mut text, || "fuzz".into()) {
        let _ = crate::ws::payload::parse::<crate::ws::payload::Empty>(&msg.payload);
    }
}

/// Bytes a WebSocket client sends: frame after frame until one is refused or incomplete.
/// Each frame taken must have used bytes that were there, and at least its header.
pub fn ws_frames(mut bytes: &[u8]) {
    while let Ok(Some((frame, used))) = crate::ws::frame::take(bytes, 1 << 16) {
        assert!(used >= 6 + frame.payload.len() && used <= bytes.len());
        bytes = &bytes[used..];
    }
}

/// A pagination cursor as a client may send it back (tampered, truncated, foreign).
pub fn cursor(token: &str) {
    let codec = crate::library::page::CursorCodec::new([7; 32]);
    let _ = codec.decode("tracks|title|000000000000", token);
}

/// A configuration file's text.
pub fn config(text: &str) {
    if let Ok(table) = text.parse::<toml::Table>() {
        let _ = crate::config::Config::from_table(table);
    }
}

/// A WAV file's chunk list as `riff_tags` walks it (our own parser: seeks over `data`,
/// reads INFO and ID3v2 text frames).
pub fn wav_tags(bytes: &[u8]) {
    with_file(bytes, |path| {
        let _ = crate::library::riff_tags::read(path);
    });
}

/// Runs `f` on `bytes` written to a file of its own (these parsers read paths), then
/// removes it. One name per call: property tests run in parallel threads.
fn with_file(bytes: &[u8], f: impl FnOnce(&std::path::Path)) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("auralis-fuzz-{}-{n}.wav", std::process::id()));
    if std::fs::write(&path, bytes).is_ok() {
        f(&path);
    }
    let _ = std::fs::remove_file(&path);
}

/// Audio of any bytes, as the scanner meets a file: probe it, read WAV chunks, and
/// open a decoder on it.
pub fn audio(bytes: &[u8]) {
    with_file(bytes, |path| {
        let _ = crate::library::probe::probe_guarded(path);
        let _ = crate::library::riff_tags::read(path);
        // Decoding runs on the pool, which catches a job's panic (it costs that job only).
        let _ = std::panic::catch_unwind(|| {
            if let Ok(mut d) = crate::audio::decode::TrackDecoder::open(path) {
                let _ = d.read_range(0, 4096);
            }
        });
    });
}

#[cfg(test)]
mod regressions {
    //! Inputs the fuzzers found, kept as tests of the normal suite.

    /// `fuzz/` target `audio`, 7 s in: symphonia panics (`step_by(0)`) while probing
    /// these ADTS-looking bytes; the scanner now catches it per file.
    #[test]
    fn audio_symphonia_step_by_zero() {
        super::audio(include_bytes!(
            "../tests/fixtures/fuzz/audio-symphonia-step-by-zero.bin"
        ));
        // The same panic, found again by a second run.
        super::audio(include_bytes!(
            "../tests/fixtures/fuzz/audio-symphonia-step-by-zero-2.bin"
        ));
    }

    /// `fuzz/` target `audio`, 29 s into a 10-minute run: 86 bytes with `fLaC` inside
    /// make symphonia's FLAC reader `vec![0; len]` a Vorbis comment of 4 GiB straight
    /// from an untrusted 32-bit length field. It is a zeroed allocation that is never
    /// touched past the 86 bytes read (Linux maps it lazily; RSS does not move), so the
    /// scanner rejects the file and goes on; libFuzzer's malloc limit flagged it, which
    /// is why `fuzz/run.sh` gives `audio` a malloc limit above 4 GiB and keeps the RSS
    /// limit at 2 GiB.
    #[test]
    fn audio_symphonia_flac_comment_claims_4_gib() {
        super::audio(include_bytes!(
            "../tests/fixtures/fuzz/audio-symphonia-flac-comment-4gib.bin"
        ));
    }
}

#[cfg(test)]
mod properties {
    //! The same entry points under proptest, in the normal test command: random and
    //! mutated-valid inputs, a few hundred cases each.
    use proptest::prelude::*;

    fn request_like() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just("GET /api/tracks?limit=5&search=a HTTP/1.1\r\n".to_string()),
            Just("POST /api/playlists HTTP/1.1\r\n".to_string()),
            "[A-Z]{1,7} /[ -~]{0,40} HTTP/1\\.[01]\r\n",
        ];
        let header = "[A-Za-z-]{1,12}: [ -~]{0,30}\r\n";
        (
            line,
            prop::collection::vec(header, 0..8),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(l, hs, body)| {
                let mut b = l.into_bytes();
                b.extend_from_slice(b"Host: t\r\n");
                for h in hs {
                    b.extend_from_slice(h.as_bytes());
                }
                b.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                b.extend_from_slice(&body);
                b
            })
    }

    /// Chunk sizes a client may send: the real one, or one near a boundary a sum can
    /// cross (`u64::MAX`, `usize::MAX`, 2^32, 2^63, the body limit).
    fn chunk_size() -> impl Strategy<Value = Option<u64>> {
        let limit = super::MAX_BODY_BYTES as u64;
        prop_oneof![
            3 => Just(None),
            1 => (0u64..4).prop_map(|d| Some(u64::MAX - d)),
            1 => (0u64..4).prop_map(|d| Some((1u64 << 63) - 1 + d)),
            1 => (0u64..4).prop_map(|d| Some((1u64 << 32) - 2 + d)),
            1 => (0u64..4).prop_map(move |d| Some(limit - 2 + d)),
        ]
    }

    /// A chunked request: chunks of real or boundary sizes, maybe with extensions,
    /// maybe a trailer, and what follows.
    fn chunked_request() -> impl Strategy<Value = Vec<u8>> {
        let chunk = (
            chunk_size(),
            prop::collection::vec(any::<u8>(), 0..24),
            prop_oneof![
                Just(""),
                Just(";a"),
                Just(";a=b"),
                Just(";a=\"q\""),
                Just(";a\"b")
            ],
            any::<bool>(),
        );
        (
            prop::collection::vec(chunk, 0..5),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(|(chunks, trailer, after)| {
                let mut b = b"POST /api/playlists HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for (size, data, ext, upper) in chunks {
                    let n = size.unwrap_or(data.len() as u64);
                    let hex = if upper { format!("{n:X}") } else { format!("{n:x}") };
                    b.extend_from_slice(format!("{hex}{ext}\r\n").as_bytes());
                    b.extend_from_slice(&data);
                    b.extend_from_slice(b"\r\n");
                }
                b.extend_from_slice(if trailer { b"0\r\nX-T: 1\r\n\r\n" } else { b"0\r\n\r\n" });
                b.extend_from_slice(&after);
                b
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// The review's `decode_chunked` bug (sizes near `u64::MAX` wrapping a sum):
        /// any framing, cut at any points, parses as the whole does and never panics.
        #[test]
        fn chunked_bodies_parse_the_same_in_any_pieces(
            bytes in chunked_request(),
            cuts in prop::collection::vec(0usize..400, 0..6),
        ) {
            super::http_request_pieces(&bytes, &cuts);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn http_requests_never_panic(bytes in prop_oneof![request_like(), prop::collection::vec(any::<u8>(), 0..512)]) {
            super::http_request(&bytes);
        }

        #[test]
        fn ws_messages_never_panic(text in prop_oneof![
            "\\{\"type\": \"[a-z_]{0,14}\", \"correlation_id\": \"[ -~]{0,20}\", \"payload\": \\{\\}\\}",
            "[ -~]{0,200}",
        ]) {
            super::ws_message(text.as_bytes());
        }

        #[test]
        fn ws_frames_never_panic(bytes in prop_oneof![
            // Masked frames with any first byte and short lengths, back to back.
            prop::collection::vec((any::<u8>(), 0u8..130, any::<[u8; 4]>(), prop::collection::vec(any::<u8>(), 0..140)), 1..4)
                .prop_map(|frames| frames.into_iter().flat_map(|(b0, len, mask, body)| {
                    let mut f = vec![b0, 0x80 | len.min(127)];
                    f.extend_from_slice(&mask);
                    f.extend_from_slice(&body);
                    f
                }).collect::<Vec<u8>>()),
            prop::collection::vec(any::<u8>(), 0..512),
        ]) {
            super::ws_frames(&bytes);
        }

        #[test]
        fn cursors_never_panic(token in "[A-Za-z0-9_-]{0,120}") {
            super::cursor(&token);
        }

        #[test]
        fn configs_never_panic(text in "(\\[[a-z_]{1,10}\\]\n)?([a-z_]{1,20} = ([0-9]{1,12}|\"[ -~]{0,10}\"|true|-1)\n){0,4}") {
            super::config(&text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn audio_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..2048), riff in any::<bool>()) {
            let mut bytes = if riff { b"RIFF\xff\xff\x00\x00WAVEfmt ".to_vec() } else { Vec::new() };
            bytes.extend_from_slice(&tail);
            super::audio(&bytes);
            super::wav_tags(&bytes);
        }
    }
}
