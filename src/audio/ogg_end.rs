//! The end of an Ogg stream from its last complete page: the granule position of the
//! last page of the file's first logical stream whose bytes are all there. For Opus
//! that is the stream's length plus the pre-skip (RFC 7845 §4), for Vorbis its length.
//! Read from the file's tail (an Ogg page is at most 65 307 bytes), so it holds for a
//! truncated download too, and for a stream of one page, which symphonia 0.5 miscounts
//! (a 10 ms Opus file: 792 frames instead of 480).

use std::io::{Read, Seek, SeekFrom};

/// Bytes read from the end: two of the largest pages.
const TAIL: u64 = 2 * 65_307;

/// The last complete page's granule position, `None` when the file is not Ogg or no
/// complete page with a granule is found in its tail.
pub fn last_granule<R: Read + Seek>(file: &mut R) -> Option<u64> {
    let len = file.seek(SeekFrom::End(0)).ok()?;
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut first = [0u8; 27];
    file.read_exact(&mut first).ok()?;
    if &first[..4] != b"OggS" {
        return None;
    }
    let serial = &first[14..18];
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.take(TAIL).read_to_end(&mut tail).ok()?;
    let mut best = None;
    let mut at = 0;
    while let Some(i) = tail[at..].windows(4).position(|w| w == b"OggS") {
        let p = at + i;
        at = p + 1;
        if let Some((granule, end)) = page(&tail[p..])
            && &tail[p + 14..p + 18] == serial
            && granule != u64::MAX
        {
            best = Some(granule);
            at = p + end;
        }
    }
    best
}

/// A complete page at the start of `b`: (granule position, length in bytes).
fn page(b: &[u8]) -> Option<(u64, usize)> {
    if b.len() < 27 || b[4] != 0 {
        return None;
    }
    let segments = usize::from(b[26]);
    let table = b.get(27..27 + segments)?;
    let body: usize = table.iter().map(|s| usize::from(*s)).sum();
    let end = 27 + segments + body;
    if end > b.len() {
        return None;
    }
    Some((u64::from_le_bytes(b[6..14].try_into().ok()?), end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn page_bytes(serial: u32, granule: u64, body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&[0u8; 8]);
        p.push(1);
        p.push(body.len() as u8);
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn the_last_complete_page_of_the_first_stream_counts() {
        let mut f = page_bytes(7, 0, b"head");
        f.extend(page_bytes(7, 1_000, b"audio"));
        f.extend(page_bytes(9, 50_000, b"other stream"));
        f.extend(page_bytes(7, 2_000, b"audio"));
        assert_eq!(last_granule(&mut Cursor::new(f.clone())), Some(2_000));
        // Cut inside the last page: the one before it counts.
        f.truncate(f.len() - 2);
        assert_eq!(last_granule(&mut Cursor::new(f)), Some(1_000));
        assert_eq!(last_granule(&mut Cursor::new(b"RIFF....".to_vec())), None);
        assert_eq!(last_granule(&mut Cursor::new(b"OggS".to_vec())), None);
    }
}
