//! Tags in WAV and AIFF files wherever they sit. Symphonia reads a RIFF `LIST/INFO` chunk only
//! when it precedes `data`; libsndfile and many editors write it (and `id3 ` chunks)
//! after the audio. This walks the chunk list (seeking over `data`) and reads both:
//! INFO's `INAM IART IPRD ITRK ICRD IGNR`, and an ID3v2.3/2.4 tag's text frames
//! (`TIT2 TPE1 TALB TPE2 TRCK TYER/TDRC TCON`). AIFF (big-endian sizes, which symphonia
//! reads no tags from at all): its `ID3 ` chunk (what iTunes and taggers write), and
//! the `NAME`/`AUTH` text chunks (what ffmpeg writes by default).

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Tags found in a WAV file's chunks, and which chunk held them.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct RiffTags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track_number: Option<i64>,
    pub year: Option<i64>,
    pub genre: Option<String>,
    /// `"riff_info"` or `"id3"`: where the last field read came from.
    pub source: Option<&'static str>,
}

/// Largest metadata chunk read (a LIST or an ID3 tag with cover art can be big; the
/// text is at its start, and anything larger is skipped).
const MAX_CHUNK: u32 = 4 << 20;

/// Reads the tags of the WAV or AIFF file at `path` (`Ok(default)` when it has none).
pub(crate) fn read(path: &Path) -> io::Result<RiffTags> {
    let mut f = crate::audio::regular::open_regular(path)?;
    let mut head = [0u8; 12];
    f.read_exact(&mut head)?;
    let mut tags = RiffTags::default();
    let aiff = &head[0..4] == b"FORM" && matches!(&head[8..12], b"AIFF" | b"AIFC");
    if !aiff && (&head[0..4] != b"RIFF" || &head[8..12] != b"WAVE") {
        return Ok(tags);
    }
    let len = f.metadata()?.len();
    let mut pos = 12u64;
    while pos + 8 <= len {
        f.seek(SeekFrom::Start(pos))?;
        let mut h = [0u8; 8];
        f.read_exact(&mut h)?;
        let size = if aiff {
            u32::from_be_bytes([h[4], h[5], h[6], h[7]])
        } else {
            u32::from_le_bytes([h[4], h[5], h[6], h[7]])
        };
        let id = [h[0], h[1], h[2], h[3]];
        if matches!(&id, b"LIST" | b"id3 " | b"ID3 " | b"NAME" | b"AUTH") && size <= MAX_CHUNK {
            let mut body = vec![0u8; size as usize];
            f.read_exact(&mut body)?;
            match &id {
                b"LIST" if body.starts_with(b"INFO") => info(&body[4..], &mut tags),
                b"LIST" => {}
                b"NAME" | b"AUTH" => aiff_text(&id, &body, &mut tags),
                _ => id3(&body, &mut tags),
            }
        }
        // Chunks are word-aligned: an odd size has a pad byte.
        pos += 8 + u64::from(size) + u64::from(size & 1);
    }
    Ok(tags)
}

fn text(bytes: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_string())
}

/// The leading integer of `s` ("07/12" → 7, "2019-05-01" → 2019).
pub(crate) fn leading_int(s: &str) -> Option<i64> {
    let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn set(tags: &mut RiffTags, key: &[u8], value: String, source: &'static str) {
    match key {
        b"INAM" | b"TIT2" => tags.title = Some(value),
        b"IART" | b"TPE1" => tags.artist = Some(value),
        b"IPRD" | b"TALB" => tags.album = Some(value),
        b"TPE2" => tags.album_artist = Some(value),
        b"ITRK" | b"IPRT" | b"TRCK" => tags.track_number = leading_int(&value),
        b"ICRD" | b"TYER" | b"TDRC" => {
            tags.year = leading_int(&value).filter(|y| (1000..=9999).contains(y));
        }
        b"IGNR" | b"TCON" => tags.genre = Some(value),
        _ => return,
    }
    tags.source = Some(source);
}

/// AIFF's `NAME` (title) and `AUTH` (author): plain text. An ID3 chunk read before
/// or after them wins for the same field only if it comes later in the file.
fn aiff_text(id: &[u8; 4], body: &[u8], tags: &mut RiffTags) {
    if let Some(v) = text(body) {
        let key: &[u8] = if id == b"NAME" { b"INAM" } else { b"IART" };
        set(tags, key, v, "aiff_text");
    }
}

/// LIST/INFO subchunks: 4-byte id, LE size, NUL-terminated text, padded to even.
fn info(mut b: &[u8], tags: &mut RiffTags) {
    while b.len() >= 8 {
        let size = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let Some(value) = b.get(8..8 + size) else {
            return;
        };
        if let Some(v) = text(value) {
            set(tags, &b[..4], v, "riff_info");
        }
        let next = 8 + size + (size & 1);
        b = b.get(next..).unwrap_or(&[]);
    }
}

/// An ID3v2.3/2.4 tag: 10-byte header, then frames (id, size, flags, body). Text
/// frames start with an encoding byte: 0 Latin-1, 1 UTF-16 with BOM, 2 UTF-16BE, 3 UTF-8.
fn id3(b: &[u8], tags: &mut RiffTags) {
    if b.len() < 10 || &b[..3] != b"ID3" || !(3..=4).contains(&b[3]) {
        return;
    }
    let v4 = b[3] == 4;
    let size = syncsafe(&b[6..10]);
    let end = (10 + size).min(b.len());
    let mut pos = 10;
    while pos + 10 <= end {
        let id = &b[pos..pos + 4];
        if id[0] == 0 {
            break;
        }
        let raw = [b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]];
        let len = if v4 {
            syncsafe(&raw)
        } else {
            u32::from_be_bytes(raw) as usize
        };
        let Some(body) = b.get(pos + 10..pos + 10 + len) else {
            return;
        };
        if id[0] == b'T'
            && let Some(v) = id3_text(body)
        {
            set(tags, id, v, "id3");
        }
        pos += 10 + len;
    }
}

fn syncsafe(b: &[u8]) -> usize {
    b.iter()
        .fold(0usize, |a, &x| (a << 7) | usize::from(x & 0x7f))
}

fn id3_text(body: &[u8]) -> Option<String> {
    let (&enc, rest) = body.split_first()?;
    match enc {
        0 => text(
            &rest
                .iter()
                .map(|&c| c as char)
                .collect::<String>()
                .into_bytes(),
        ),
        3 => text(rest),
        1 | 2 => {
            let (big, data) = match rest {
                [0xFE, 0xFF, d @ ..] => (true, d),
                [0xFF, 0xFE, d @ ..] => (false, d),
                d => (enc == 2, d),
            };
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| {
                    if big {
                        u16::from_be_bytes([c[0], c[1]])
                    } else {
                        u16::from_le_bytes([c[0], c[1]])
                    }
                })
                .collect();
            text(String::from_utf16_lossy(&units).as_bytes())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&(body.len() as u32).to_le_bytes());
        c.extend_from_slice(body);
        if body.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    /// The server's own WAV writer's output with `after_data` chunks appended.
    fn wav_with(after_data: &[Vec<u8>]) -> Vec<u8> {
        let mut out = crate::audio::wav::encode_pcm16(&[0i16; 200], 1, 8000, None);
        for c in after_data {
            out.extend_from_slice(c);
        }
        let riff = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&riff.to_le_bytes());
        out
    }

    #[test]
    fn info_after_data_is_read() {
        let mut info = b"INFO".to_vec();
        info.extend(chunk(b"INAM", b"Zephyrine Loop\0"));
        info.extend(chunk(b"IART", b"Aurora Lines\0"));
        info.extend(chunk(b"IPRD", b"Low Tide\0"));
        info.extend(chunk(b"ITRK", b"7\0"));
        let path = std::env::temp_dir().join(format!("riff-info-{}.wav", std::process::id()));
        std::fs::write(&path, wav_with(&[chunk(b"LIST", &info)])).unwrap();
        let t = read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(t.title.as_deref(), Some("Zephyrine Loop"));
        assert_eq!(t.artist.as_deref(), Some("Aurora Lines"));
        assert_eq!(t.album.as_deref(), Some("Low Tide"));
        assert_eq!(t.track_number, Some(7));
        assert_eq!(t.source, Some("riff_info"));
    }

    #[test]
    fn an_id3_chunk_is_read() {
        let frame = |id: &[u8; 4], enc: u8, s: &[u8]| {
            let mut f = id.to_vec();
            f.extend_from_slice(&((s.len() + 1) as u32).to_be_bytes());
            f.extend_from_slice(&[0, 0, enc]);
            f.extend_from_slice(s);
            f
        };
        let mut frames = frame(b"TIT2", 3, "Ünder".as_bytes());
        frames.extend(frame(b"TPE1", 0, b"Caf\xe9"));
        frames.extend(frame(b"TRCK", 3, b"3/9"));
        let mut tag = b"ID3\x03\x00\x00".to_vec();
        let n = frames.len();
        tag.extend_from_slice(&[
            (n >> 21) as u8 & 0x7f,
            (n >> 14) as u8 & 0x7f,
            (n >> 7) as u8 & 0x7f,
            n as u8 & 0x7f,
        ]);
        tag.extend(frames);
        let path = std::env::temp_dir().join(format!("riff-id3-{}.wav", std::process::id()));
        std::fs::write(&path, wav_with(&[chunk(b"id3 ", &tag)])).unwrap();
        let t = read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(t.title.as_deref(), Some("Ünder"));
        assert_eq!(t.artist.as_deref(), Some("Café"));
        assert_eq!(t.track_number, Some(3));
        assert_eq!(t.source, Some("id3"));
    }
}
