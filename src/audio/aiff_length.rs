//! The real length of an AIFF file. symphonia 0.5 counts the `SSND` chunk's 8-byte
//! offset/block-size header as audio (its reader starts after the header but ends 8
//! bytes past the chunk), so it reports one to four frames too many, read from
//! whatever follows the chunk. The chunk's own size minus that header is the truth.

use std::io::{Read, Seek, SeekFrom};

/// Chunks looked at before giving up (a hostile file of empty chunks stops here).
const MAX_CHUNKS: usize = 1_024;

/// Frames in the `SSND` chunk of an AIFF/AIFF-C file, `None` when it is not one.
/// `frame_bytes`: bytes per frame (channels × bytes per sample).
pub fn frames<R: Read + Seek>(file: &mut R, frame_bytes: u64) -> Option<u64> {
    if frame_bytes == 0 {
        return None;
    }
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut head = [0u8; 12];
    file.read_exact(&mut head).ok()?;
    if &head[..4] != b"FORM" || !(&head[8..] == b"AIFF" || &head[8..] == b"AIFC") {
        return None;
    }
    let mut pos = 12u64;
    for _ in 0..MAX_CHUNKS {
        file.seek(SeekFrom::Start(pos)).ok()?;
        let mut chunk = [0u8; 8];
        file.read_exact(&mut chunk).ok()?;
        let len = u64::from(u32::from_be_bytes(chunk[4..].try_into().ok()?));
        if &chunk[..4] == b"SSND" {
            return Some(len.saturating_sub(8) / frame_bytes);
        }
        // Chunks are padded to an even length.
        pos = pos.checked_add(8 + len + (len & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn the_ssnd_header_is_not_counted_and_other_files_are_not_aiff() {
        let mut f = b"FORM\0\0\0\0AIFFCOMM\0\0\0\x03abc\0SSND".to_vec();
        f.extend_from_slice(&(8u32 + 40).to_be_bytes());
        f.extend_from_slice(&[0u8; 48]);
        assert_eq!(frames(&mut Cursor::new(f.clone()), 4), Some(10));
        assert_eq!(frames(&mut Cursor::new(f), 0), None);
        assert_eq!(
            frames(&mut Cursor::new(b"RIFF\0\0\0\0WAVE".to_vec()), 4),
            None
        );
        let mut endless = b"FORM\0\0\0\0AIFF".to_vec();
        endless.extend_from_slice(b"JUNK\xff\xff\xff\xff");
        assert_eq!(frames(&mut Cursor::new(endless), 4), None);
    }
}
