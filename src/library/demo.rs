//! The demo library: generated, tagged WAV and FLAC files so that `serve` with no
//! `--library` serves real audio at once. Deterministic (same files every time), made
//! once per data dir.

use crate::audio::{Tags, flac, wav};
use std::path::{Path, PathBuf};

/// Why the demo library could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Flac(#[from] flac::FlacError),
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One demo track: (artist, album, year, genre, title, seconds, flac?).
const TRACKS: &[(&str, &str, u32, &str, &str, u32, bool)] = &[
    (
        "Aurora Lines",
        "Low Tide",
        2021,
        "Ambient",
        "First Light",
        45,
        true,
    ),
    (
        "Aurora Lines",
        "Low Tide",
        2021,
        "Ambient",
        "Harbour Bells",
        30,
        false,
    ),
    (
        "Aurora Lines",
        "Night Shift",
        2023,
        "Ambient",
        "Sodium Lamps",
        240,
        false,
    ),
    (
        "Brass Meridian",
        "Copper Sun",
        2019,
        "Jazz",
        "Opening Fanfare",
        60,
        true,
    ),
    (
        "Brass Meridian",
        "Copper Sun",
        2019,
        "Jazz",
        "Slow Burn",
        90,
        false,
    ),
    (
        "Brass Meridian",
        "Second Wind",
        2022,
        "Jazz",
        "Riverside",
        35,
        true,
    ),
    (
        "Cinder & Ash",
        "Embers",
        2020,
        "Electronic",
        "Pulse Width",
        50,
        true,
    ),
    (
        "Cinder & Ash",
        "Embers",
        2020,
        "Electronic",
        "Square Dance",
        120,
        false,
    ),
];

pub const SAMPLE_RATE: u32 = 44_100;
const MARKER: &str = ".demo-complete";

/// Deterministic xorshift, so the demo is identical on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A little tune: pentatonic notes with a soft envelope, a bass drone, stereo spread.
pub fn synthesize(seed: u64, seconds: u32, sample_rate: u32) -> Vec<i16> {
    const PENTA: [f32; 5] = [0.0, 2.0, 4.0, 7.0, 9.0];
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let root = 196.0 * 2f32.powf((seed % 7) as f32 / 12.0);
    let note_len = (sample_rate as f32 * (0.2 + (seed % 4) as f32 * 0.08)) as usize;
    let frames = (seconds * sample_rate) as usize;
    let mut out = Vec::with_capacity(frames * 2);
    let mut freq = root;
    let mut phase = 0f32;
    let mut bass_phase = 0f32;
    for i in 0..frames {
        let pos = i % note_len;
        if pos == 0 {
            let step = PENTA[(rng.next() % 5) as usize] + 12.0 * (rng.next() % 2) as f32;
            freq = root * 2f32.powf(step / 12.0);
        }
        let t = pos as f32 / note_len as f32;
        let env = (t * 20.0).min(1.0) * (1.0 - t).powf(1.5);
        phase = (phase + freq / sample_rate as f32) % 1.0;
        bass_phase = (bass_phase + root / 2.0 / sample_rate as f32) % 1.0;
        let lead = (phase * std::f32::consts::TAU).sin() * env * 0.35;
        let bass = (bass_phase * std::f32::consts::TAU).sin() * 0.15;
        let pan = 0.5 + 0.3 * ((i as f32 / sample_rate as f32) * 0.25).sin();
        out.push(((lead * (1.0 - pan) + bass) * 32767.0) as i16);
        out.push(((lead * pan + bass) * 32767.0) as i16);
    }
    out
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Creates the demo library under `dir` unless already complete; returns its root.
/// True when `data_dir` already holds a library of tracks outside `demo_dir` (a
/// `scan ~/Music` or `serve --library` used it): the demo must not be added to it.
pub fn data_dir_has_other_tracks(data_dir: &Path, demo_dir: &Path) -> bool {
    let db = data_dir.join("library.db");
    if !db.is_file() {
        return false;
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(conn) = rusqlite::Connection::open_with_flags(&db, flags) else {
        return false;
    };
    let prefix = format!("{}/", demo_dir.display());
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM tracks WHERE substr(path, 1, length(?1)) <> ?1)",
        [prefix],
        |r| r.get::<_, bool>(0),
    )
    .unwrap_or(false)
}

pub fn ensure(dir: &Path) -> Result<PathBuf, DemoError> {
    if dir.join(MARKER).exists() {
        return Ok(dir.to_path_buf());
    }
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    for (n, (artist, album, year, genre, title, seconds, is_flac)) in TRACKS.iter().enumerate() {
        let track_number = TRACKS[..n].iter().filter(|t| t.1 == *album).count() as u32 + 1;
        let tags = Tags {
            title: title.to_string(),
            artist: artist.to_string(),
            album: album.to_string(),
            album_artist: Some(artist.to_string()),
            track_number,
            year: *year,
            genre: genre.to_string(),
        };
        let samples = synthesize(n as u64 + 1, *seconds, SAMPLE_RATE);
        let album_dir = dir.join(slug(artist)).join(slug(album));
        std::fs::create_dir_all(&album_dir).map_err(io_at(&album_dir))?;
        let (bytes, ext) = if *is_flac {
            (
                flac::encode_pcm16(&samples, 2, SAMPLE_RATE, Some(&tags))?,
                "flac",
            )
        } else {
            (
                wav::encode_pcm16(&samples, 2, SAMPLE_RATE, Some(&tags)),
                "wav",
            )
        };
        let path = album_dir.join(format!("{track_number:02}-{}.{ext}", slug(title)));
        std::fs::write(&path, bytes).map_err(io_at(&path))?;
    }
    let marker = dir.join(MARKER);
    std::fs::write(&marker, b"ok").map_err(io_at(&marker))?;
    Ok(dir.to_path_buf())
}
