//! Cover art: the picture a track carries (ID3 APIC, FLAC PICTURE, MP4 `covr`, Vorbis
//! METADATA_BLOCK_PICTURE, as symphonia reads them) or the picture file beside it
//! (`cover.jpg`, `folder.jpg`, `front.png`, …, found at scan), and thumbnails of it.
//!
//! Blocking and CPU-bound (reading a file, decoding and resizing an image): runs on the
//! decode pool, never on a core. Results are files in `<data dir>/covers/`, written
//! once (to a temporary name, then renamed), so every core serves them as plain files.

use std::path::{Path, PathBuf};

/// Thumbnail edges served: a requested `size` is rounded up to the next one, so a
/// client cannot make the server keep a file per pixel size.
pub const SIZES: [u32; 5] = [64, 128, 256, 512, 1024];
/// The largest picture read from a file (embedded or beside it).
const MAX_PICTURE: u64 = 32 << 20;
/// The largest image decoded (width × height): a small file claiming 60 000 × 60 000
/// pixels must not allocate gigabytes.
const MAX_PIXELS: u64 = 40_000_000;

#[derive(Debug, thiserror::Error)]
pub enum CoverError {
    #[error("the track has no cover art")]
    None,
    #[error("cannot read the cover: {0}")]
    Io(#[from] std::io::Error),
    #[error("the cover is larger than {MAX_PICTURE} bytes")]
    TooLarge,
    #[error("the cover is not an image this server reads (JPEG, PNG): {0}")]
    Image(#[from] image::ImageError),
    #[error("the cover file is not a JPEG or PNG picture")]
    NotAnImage,
}

/// A picture and its media type.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
}

/// The smallest of [`SIZES`] at least `asked` (the largest for anything bigger).
pub fn snap(asked: u32) -> u32 {
    SIZES
        .iter()
        .copied()
        .find(|s| *s >= asked)
        .unwrap_or(SIZES[SIZES.len() - 1])
}

/// Media type by magic bytes: what the picture is, not what a tag claims.
fn media_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        _ => "application/octet-stream",
    }
}

/// True when `bytes` (at least a picture's first 4) start a JPEG or PNG of at most
/// the size served: what the scan records and what is ever sent.
pub fn usable(bytes: &[u8], len: u64) -> bool {
    len > 4 && len <= MAX_PICTURE && media_type(bytes) != "application/octet-stream"
}

/// The first embedded picture that is [`usable`] (front covers come first).
pub fn first_usable(visuals: Vec<symphonia::core::meta::Visual>) -> Option<Vec<u8>> {
    visuals
        .into_iter()
        .map(|v| v.data.into_vec())
        .find(|d| usable(d, d.len() as u64))
}

/// True when `file` is a regular file (a FIFO is not; a link is followed) holding a
/// usable picture, read no further than its first bytes.
pub fn file_usable(file: &Path) -> bool {
    let Ok(mut f) = crate::audio::regular::open_regular(file) else {
        return false;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 4];
    std::io::Read::read_exact(&mut f, &mut head).is_ok() && usable(&head, len)
}

/// The cover of the track at `path`, whose scan recorded `cover` (`embedded` or a
/// file name in the track's folder).
pub fn picture(path: &Path, cover: &str) -> Result<Picture, CoverError> {
    let bytes = if cover == "embedded" {
        let opened = crate::audio::decode::open_reader(path).map_err(|_| CoverError::None)?;
        first_usable(opened.visuals).ok_or(CoverError::None)?
    } else {
        // Only a bare file name (as the scan stores it): never a path elsewhere.
        if cover.contains(['/', '\\']) || cover.starts_with('.') {
            return Err(CoverError::None);
        }
        let file = path.parent().ok_or(CoverError::None)?.join(cover);
        // A regular file only (a FIFO named cover.jpg must not hang a decode thread).
        let f = crate::audio::regular::open_regular(&file)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_PICTURE + 1), &mut bytes)?;
        bytes
    };
    if bytes.len() as u64 > MAX_PICTURE {
        return Err(CoverError::TooLarge);
    }
    // Only pictures are served: a `cover.jpg` that is a link to some other file of
    // the server's (or just not an image) is refused, never sent.
    let media_type = media_type(&bytes);
    if media_type == "application/octet-stream" {
        return Err(CoverError::NotAnImage);
    }
    Ok(Picture { media_type, bytes })
}

/// `picture` scaled to fit a `size` × `size` square (aspect kept; never enlarged),
/// as JPEG (quality 85).
pub fn thumbnail(picture: &Picture, size: u32) -> Result<Picture, CoverError> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(&picture.bytes))
        .with_guessed_format()
        .map_err(CoverError::Io)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let (w, h) = reader.into_dimensions()?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(CoverError::TooLarge);
    }
    let img = image::load_from_memory(&picture.bytes)?;
    let img = if w.max(h) > size {
        img.thumbnail(size, size)
    } else {
        img
    };
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    img.to_rgb8().write_with_encoder(encoder)?;
    Ok(Picture {
        bytes: out,
        media_type: "image/jpeg",
    })
}

/// Where the cover of track `id` at `revision` in `size` (0: the original) is kept.
pub fn cache_path(dir: &Path, id: i64, revision: i64, size: u32) -> PathBuf {
    dir.join(format!("t{id}-{revision:x}-{size}"))
}

/// Writes `bytes` to `path` whole or not at all (temporary file, then rename).
pub fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn thumbnails_fit_the_square_and_keep_the_aspect() {
        let p = Picture {
            media_type: media_type(&png(400, 200)),
            bytes: png(400, 200),
        };
        assert_eq!(p.media_type, "image/png");
        let t = thumbnail(&p, 128).unwrap();
        assert_eq!(t.media_type, "image/jpeg");
        let img = image::load_from_memory(&t.bytes).unwrap();
        assert_eq!((img.width(), img.height()), (128, 64));
        // Never enlarged.
        let small = thumbnail(&p, 1024).unwrap();
        assert_eq!(image::load_from_memory(&small.bytes).unwrap().width(), 400);
        assert_eq!(
            (snap(1), snap(64), snap(65), snap(100_000)),
            (64, 64, 128, 1024)
        );
    }

    #[test]
    fn a_picture_claiming_huge_dimensions_is_refused_before_decoding() {
        // A PNG header claiming 60 000 × 60 000 pixels, and nothing behind it.
        let mut bytes = png(1, 1);
        bytes[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let p = Picture {
            media_type: "image/png",
            bytes,
        };
        // Refused before any pixel buffer exists: by the pixel limit, or by the
        // decoder on the header (its CRC no longer matches the forged size).
        assert!(matches!(
            thumbnail(&p, 64),
            Err(CoverError::TooLarge | CoverError::Image(_))
        ));
        let junk = Picture {
            media_type: "application/octet-stream",
            bytes: b"not an image".to_vec(),
        };
        assert!(thumbnail(&junk, 64).is_err());
        assert!(matches!(
            picture(Path::new("/tmp/x.flac"), "../etc/passwd"),
            Err(CoverError::None)
        ));
    }
}
