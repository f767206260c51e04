//! Gapless information of an MP4 (`.m4a`) file that symphonia 0.5 does not apply: the
//! edit list (`moov/trak/edts/elst`, written by ffmpeg and most encoders: the priming
//! samples to skip and the real length) and Apple's `iTunSMPB` comment (delay, padding,
//! length, written by iTunes and afconvert).
//!
//! A small box walker over `Read + Seek`: every size from the file is checked against
//! its parent's end before it is used, and reads are bounded, so a hostile file costs
//! at most a few seeks and a few hundred bytes.

use std::io::{Read, Seek, SeekFrom};

/// What the file says about its priming and length, in the track's own samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Gapless {
    /// Decoded samples before the first real one (AAC: the encoder's priming, 1024+).
    pub skip: u64,
    /// Real samples after `skip`, when the file says.
    pub length: Option<u64>,
}

/// Boxes nest at most this deep on the way to `elst` (moov/trak/edts/elst).
const MAX_DEPTH: usize = 4;
/// Boxes looked at per level, at most: a hostile file of tiny boxes stops here.
const MAX_BOXES: usize = 4_096;

#[derive(Debug, Default)]
struct Found {
    movie_timescale: Option<u32>,
    media_timescale: Option<u32>,
    edit: Option<(u64, i64)>,
    sound: bool,
}

/// Reads the first sound track's edit list. `None` when there is none, it holds no
/// priming or the file is not MP4.
pub fn edit_list<R: Read + Seek>(file: &mut R) -> Option<Mp4Gapless> {
    let end = file.seek(SeekFrom::End(0)).ok()?;
    file.seek(SeekFrom::Start(0)).ok()?;
    let moov = find_child(file, 0, end, *b"moov")?;
    let mut movie_timescale = None;
    let mut pos = moov.0;
    for _ in 0..MAX_BOXES {
        let Some((kind, body, next)) = box_at(file, pos, moov.1) else {
            break;
        };
        match &kind {
            b"mvhd" => movie_timescale = header_timescale(file, body),
            b"trak" => {
                let mut found = Found::default();
                walk_trak(file, body, next, 1, &mut found);
                if found.sound {
                    found.movie_timescale = movie_timescale;
                    return to_gapless(&found);
                }
            }
            _ => {}
        }
        pos = next;
    }
    None
}

fn to_gapless(f: &Found) -> Option<Mp4Gapless> {
    let (duration, media_time) = f.edit?;
    let skip = u64::try_from(media_time).ok()?;
    let length = match (f.movie_timescale, f.media_timescale) {
        (Some(movie), Some(media)) if movie > 0 && duration > 0 => {
            Some((u128::from(duration) * u128::from(media)).div_ceil(u128::from(movie)) as u64)
        }
        _ => None,
    };
    (skip > 0 || length.is_some()).then_some(Mp4Gapless { skip, length })
}

fn walk_trak<R: Read + Seek>(r: &mut R, start: u64, end: u64, depth: usize, f: &mut Found) {
    let mut pos = start;
    for _ in 0..MAX_BOXES {
        let Some((kind, body, next)) = box_at(r, pos, end) else {
            return;
        };
        match &kind {
            b"edts" | b"mdia" if depth < MAX_DEPTH => walk_trak(r, body, next, depth + 1, f),
            b"elst" => f.edit = first_edit(r, body, next),
            b"mdhd" => f.media_timescale = header_timescale(r, body),
            b"hdlr" => f.sound = handler_is_sound(r, body),
            _ => {}
        }
        pos = next;
    }
}

/// The box at `pos` inside a parent ending at `end`: (type, body start, next box).
fn box_at<R: Read + Seek>(r: &mut R, pos: u64, end: u64) -> Option<([u8; 4], u64, u64)> {
    if end.checked_sub(pos)? < 8 {
        return None;
    }
    r.seek(SeekFrom::Start(pos)).ok()?;
    let mut head = [0u8; 8];
    r.read_exact(&mut head).ok()?;
    let size = u64::from(u32::from_be_bytes(head[..4].try_into().ok()?));
    let kind: [u8; 4] = head[4..].try_into().ok()?;
    let (size, header) = match size {
        0 => (end - pos, 8),
        1 => {
            let mut large = [0u8; 8];
            r.read_exact(&mut large).ok()?;
            (u64::from_be_bytes(large), 16)
        }
        n => (n, 8),
    };
    if size < header || size > end - pos {
        return None;
    }
    Some((kind, pos + header, pos + size))
}

fn find_child<R: Read + Seek>(
    r: &mut R,
    start: u64,
    end: u64,
    want: [u8; 4],
) -> Option<(u64, u64)> {
    let mut pos = start;
    for _ in 0..MAX_BOXES {
        let (kind, body, next) = box_at(r, pos, end)?;
        if kind == want {
            return Some((body, next));
        }
        pos = next;
    }
    None
}

fn read_at<R: Read + Seek, const N: usize>(r: &mut R, pos: u64) -> Option<[u8; N]> {
    r.seek(SeekFrom::Start(pos)).ok()?;
    let mut b = [0u8; N];
    r.read_exact(&mut b).ok()?;
    Some(b)
}

/// `mvhd`/`mdhd` timescale: after version/flags and the creation and modification
/// times (4 or 8 bytes each by version).
fn header_timescale<R: Read + Seek>(r: &mut R, body: u64) -> Option<u32> {
    let [version] = read_at::<_, 1>(r, body)?;
    let at = body + 4 + if version == 1 { 16 } else { 8 };
    Some(u32::from_be_bytes(read_at::<_, 4>(r, at)?))
}

fn handler_is_sound<R: Read + Seek>(r: &mut R, body: u64) -> bool {
    read_at::<_, 4>(r, body + 8).is_some_and(|h| &h == b"soun")
}

/// The first edit that plays media: (segment duration in the movie timescale, media
/// time where it starts). An empty edit (media time -1) before it is a delay of
/// silence, which no encoder of music writes; it is skipped.
fn first_edit<R: Read + Seek>(r: &mut R, body: u64, end: u64) -> Option<(u64, i64)> {
    let [version, ..] = read_at::<_, 8>(r, body)?;
    let count = u32::from_be_bytes(read_at::<_, 4>(r, body + 4)?);
    let entry = if version == 1 { 20 } else { 12 };
    for i in 0..u64::from(count.min(16)) {
        let at = body + 8 + i * entry;
        if at + entry > end {
            return None;
        }
        let (duration, media_time) = if version == 1 {
            let e = read_at::<_, 16>(r, at)?;
            (
                u64::from_be_bytes(e[..8].try_into().ok()?),
                i64::from_be_bytes(e[8..].try_into().ok()?),
            )
        } else {
            let e = read_at::<_, 8>(r, at)?;
            (
                u64::from(u32::from_be_bytes(e[..4].try_into().ok()?)),
                i64::from(i32::from_be_bytes(e[4..].try_into().ok()?)),
            )
        };
        if media_time >= 0 {
            return Some((duration, media_time));
        }
    }
    None
}

/// Apple's `iTunSMPB` text: `" 00000000 00000840 000001CA 00000000003F31F6 …"` —
/// reserved, delay, padding, original length, all hexadecimal.
pub fn itunsmpb(text: &str) -> Option<Mp4Gapless> {
    let mut fields = text.split_whitespace().skip(1);
    let delay = u64::from_str_radix(fields.next()?, 16).ok()?;
    let _padding = u64::from_str_radix(fields.next()?, 16).ok()?;
    let length = u64::from_str_radix(fields.next()?, 16).ok()?;
    Some(Mp4Gapless {
        skip: delay,
        length: (length > 0).then_some(length),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn timescale_header(scale: u32) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&scale.to_be_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b
    }

    fn file(elst_body: &[u8]) -> Vec<u8> {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"soun");
        hdlr.extend_from_slice(&[0u8; 12]);
        let mdia = [bx(b"mdhd", &timescale_header(44_100)), bx(b"hdlr", &hdlr)].concat();
        let trak = [bx(b"edts", &bx(b"elst", elst_body)), bx(b"mdia", &mdia)].concat();
        let moov = [bx(b"mvhd", &timescale_header(1_000)), bx(b"trak", &trak)].concat();
        [
            bx(b"ftyp", b"M4A \0\0\0\0"),
            bx(b"mdat", &[0u8; 32]),
            bx(b"moov", &moov),
        ]
        .concat()
    }

    #[test]
    fn an_ffmpeg_style_edit_list_gives_priming_and_length() {
        // Version 0, one entry: 20 000 ms from media time 1024 at rate 1.
        let mut elst = vec![0u8, 0, 0, 0, 0, 0, 0, 1];
        elst.extend_from_slice(&20_000u32.to_be_bytes());
        elst.extend_from_slice(&1_024i32.to_be_bytes());
        elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        let g = edit_list(&mut Cursor::new(file(&elst))).unwrap();
        assert_eq!(
            g,
            Mp4Gapless {
                skip: 1_024,
                length: Some(882_000)
            }
        );
    }

    #[test]
    fn hostile_sizes_and_counts_end_the_walk_without_a_panic() {
        let mut elst = vec![0u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        elst.extend_from_slice(&[0u8; 4]);
        assert_eq!(edit_list(&mut Cursor::new(file(&elst))), None);
        for bytes in [
            vec![0xffu8; 64],
            bx(
                b"moov",
                &[0, 0, 0, 1, b't', b'r', b'a', b'k', 0xff, 0xff, 0xff, 0xff],
            ),
            vec![0, 0, 0, 4, b'm', b'o', b'o', b'v'],
        ] {
            assert_eq!(edit_list(&mut Cursor::new(bytes)), None);
        }
    }

    #[test]
    fn itunsmpb_text_reads_delay_and_length() {
        let g = itunsmpb(" 00000000 00000840 000001CA 00000000003F31F6 00000000 00000000").unwrap();
        assert_eq!(g.skip, 0x840);
        assert_eq!(g.length, Some(0x3F31F6));
        assert_eq!(itunsmpb("garbage"), None);
    }
}
