#![no_main]
//! Structure-aware HTTP framing: a valid request line and headers, then a body framed
//! by Content-Length or chunks whose sizes are drawn near every boundary a sum can
//! cross (u64::MAX, usize::MAX, 2^63, 2^32, the body limit), with extensions, trailers
//! and bytes after — then the whole fed in the pieces the input chooses. Random bytes
//! almost never form `size CRLF data CRLF`, which is why `http_request` never reached
//! the chunk-size overflow this target finds at once.
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 4] = ["POST", "PUT", "GET", "PATCH"];
const PATHS: [&str; 4] = ["/api/playlists", "/api/batch", "/x", "/api/notifications"];
const EXTS: [&str; 6] = ["", ";a", ";a=b", ";a=\"q\\\"r\"", ";a\"b", " ; a = b"];

fn size_near(u: &mut Unstructured, real: u64) -> Result<u64> {
    let limit = auralis_server::fuzz_api::MAX_BODY_BYTES as u64;
    let d = u.int_in_range(0u64..=3)?;
    Ok(match u.int_in_range(0u8..=6)? {
        0 => u64::MAX - d,
        1 => usize::MAX as u64 - d,
        2 => (1 << 63) - 1 + d,
        3 => (1 << 32) - 2 + d,
        4 => limit - 2 + d,
        _ => real,
    })
}

fn chunked(u: &mut Unstructured, out: &mut Vec<u8>) -> Result<()> {
    for _ in 0..u.int_in_range(0..=6)? {
        let data: Vec<u8> = (0..u.int_in_range(0usize..=40)?)
            .map(|_| u.arbitrary())
            .collect::<Result<_>>()?;
        let size = size_near(u, data.len() as u64)?;
        let zeros = "0".repeat(u.int_in_range(0..=3)?);
        let ext = EXTS[u.choose_index(EXTS.len())?];
        out.extend_from_slice(format!("{zeros}{size:x}{ext}\r\n").as_bytes());
        out.extend_from_slice(&data);
        out.extend_from_slice(if u.arbitrary()? { b"\r\n" } else { b"\n" });
    }
    out.extend_from_slice(b"0\r\n");
    if u.arbitrary()? {
        out.extend_from_slice(b"X-Trailer: v\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn request(u: &mut Unstructured) -> Result<(Vec<u8>, Vec<usize>)> {
    let method = METHODS[u.choose_index(METHODS.len())?];
    let path = PATHS[u.choose_index(PATHS.len())?];
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n").into_bytes();
    if u.arbitrary()? {
        out.extend_from_slice(b"Content-Type: application/json\r\n");
    }
    if u.arbitrary()? {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        chunked(u, &mut out)?;
    } else {
        let body: Vec<u8> = (0..u.int_in_range(0usize..=40)?)
            .map(|_| u.arbitrary())
            .collect::<Result<_>>()?;
        let len = size_near(u, body.len() as u64)?;
        out.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
        out.extend_from_slice(&body);
    }
    let after: Vec<u8> = u.arbitrary()?;
    out.extend_from_slice(&after);
    let cuts = (0..u.int_in_range(0..=8)?)
        .map(|_| u.int_in_range(0..=out.len()))
        .collect::<Result<_>>()?;
    Ok((out, cuts))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok((bytes, cuts)) = request(&mut u) {
        auralis_server::fuzz_api::http_request_pieces(&bytes, &cuts);
    }
});
