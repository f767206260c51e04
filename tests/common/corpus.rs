//! A music library made at test time by Debian's `ffmpeg`: each file is a real
//! encoder's output (LAME, libvorbis, libopus, the native AAC and ALAC encoders, FLAC)
//! from a music-like source (a tone plus noise: a misaligned decode of noise shows).
//! Tests needing it call [`build`], which returns `None` (and the test prints SKIPPED)
//! when ffmpeg is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One file of the corpus.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    /// Short name (`mp3`, `aac`, `flac24`, …).
    pub name: &'static str,
    /// Chunks equal a continuous decode sample for sample: the decoder forgets its
    /// past within the pre-roll. Not AAC (its noise substitution draws from a random
    /// generator: every decode of a noisy band differs) nor Opus (its decoder
    /// converges within 80 ms without becoming identical).
    pub exact: bool,
    /// Source channels (6 for the 5.1 files; chunks carry 2).
    pub channels: usize,
}

/// (name, file name, ffmpeg output options, channels, sample rate).
pub type Spec = (
    &'static str,
    &'static str,
    &'static [&'static str],
    usize,
    u32,
);

/// 5.1 AAC: symphonia 0.5 decodes AAC-LC in mono and stereo only; the scan must
/// say so for this file, not list a track that cannot play.
pub const AAC_51: Spec = (
    "aac51",
    "Surround/13 Surround Aac.m4a",
    &["-c:a", "aac", "-b:a", "256k"],
    6,
    48_000,
);

#[rustfmt::skip]
const SPECS: &[Spec] = &[
    ("mp3", "Lame Artist/Lame Album/01 Lame Song.mp3", &["-c:a", "libmp3lame", "-b:a", "192k"], 2, 44_100),
    ("mp3_48k_vbr", "Vbr/02 Vbr Song.mp3", &["-c:a", "libmp3lame", "-q:a", "4"], 2, 48_000),
    ("aac", "Aac/03 Aac Song.m4a", &["-c:a", "aac", "-b:a", "160k"], 2, 44_100),
    ("alac", "Alac/04 Alac Song.m4a", &["-c:a", "alac"], 2, 44_100),
    ("vorbis", "Vorbis/05 Vorbis Song.ogg", &["-c:a", "libvorbis", "-q:a", "5"], 2, 44_100),
    ("opus", "Opus/06 Opus Song.opus", &["-c:a", "libopus", "-b:a", "128k"], 2, 48_000),
    ("flac16", "Flac/07 Flac Song.flac", &["-c:a", "flac", "-sample_fmt", "s16"], 2, 44_100),
    ("flac24_96", "Flac/08 Hires Song.flac", &["-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24"], 2, 96_000),
    ("wav", "Wav/09 Wav Song.wav", &["-c:a", "pcm_s16le"], 2, 44_100),
    ("aiff", "Aiff/10 Aiff Song.aiff", &["-c:a", "pcm_s16be", "-write_id3v2", "1"], 2, 44_100),
    ("flac51", "Surround/11 Surround Flac.flac", &["-c:a", "flac"], 6, 48_000),
    ("vorbis51", "Surround/12 Surround Vorbis.ogg", &["-c:a", "libvorbis", "-q:a", "4"], 6, 48_000),
    ("mono_mp3", "Mono/13 Mono Song.mp3", &["-c:a", "libmp3lame", "-b:a", "96k"], 1, 22_050),
];

/// Seconds of audio in each file (odd, so the end is never on a chunk boundary).
pub const SECONDS: f64 = 7.3;

pub fn ffmpeg() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn make(dir: &Path, spec: &Spec) -> Entry {
    let (name, file, codec, channels, rate) = *spec;
    let exact_not = ["aac", "opus"];
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let layout = match channels {
        1 => "mono",
        2 => "stereo",
        _ => "5.1",
    };
    // A 440 Hz tone in the left, 660 Hz in the right, pink noise in both (upmixed into
    // the front pair of a 5.1 layout).
    let source = format!(
        "sine=frequency=440:sample_rate={rate}:duration={SECONDS}[a];\
         sine=frequency=660:sample_rate={rate}:duration={SECONDS}[b];\
         anoisesrc=color=pink:amplitude=0.08:sample_rate={rate}:duration={SECONDS}:seed=7,asplit=2[n1][n2];\
         [a][n1]amix=inputs=2:normalize=0[l];[b][n2]amix=inputs=2:normalize=0[r];\
         [l][r]join=inputs=2:channel_layout=stereo,aformat=channel_layouts={layout}"
    );
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-filter_complex", &source])
        .args(codec)
        .args(["-metadata", &format!("title={} Song", name.to_uppercase())])
        .args([
            "-metadata",
            "artist=Corpus Band",
            "-metadata",
            "album=Real Encoders",
        ])
        .args(["-metadata", "date=2021", "-metadata", "genre=Noise"])
        .arg(&path)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Entry {
        path,
        name,
        exact: !exact_not.contains(&name),
        channels,
    }
}

/// Builds the corpus under `dir` (a library root). `None` without ffmpeg.
pub fn build(dir: &Path) -> Option<Vec<Entry>> {
    if !ffmpeg() {
        return None;
    }
    Some(SPECS.iter().map(|s| make(dir, s)).collect())
}

/// What ffmpeg decodes from `path`, as interleaved f32 with `channels` channels (a
/// 5.1 file downmixed by ffmpeg when `channels` is 2).
pub fn ffmpeg_decode(path: &Path, channels: usize) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-ac", &channels.to_string(), "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The offset (in frames, within ±`max`) at which `b` best matches `a`: 0 when the two
/// decodes are aligned to the sample.
pub fn best_lag(a: &[f32], b: &[f32], channels: usize, max: usize) -> isize {
    let n = a.len().min(b.len()) / channels - 2 * max;
    let err = |lag: isize| -> f64 {
        (0..n * channels)
            .map(|i| {
                let j = (i as isize + (max as isize + lag) * channels as isize) as usize;
                f64::from(a[i + max * channels] - b[j]).powi(2)
            })
            .sum()
    };
    (-(max as isize)..=max as isize)
        .min_by(|x, y| err(*x).total_cmp(&err(*y)))
        .unwrap_or(0)
}

/// Signal-to-difference ratio in dB of `b` against `a` over their common length.
pub fn snr_db(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (mut sig, mut err) = (0f64, 0f64);
    for i in 0..n {
        sig += f64::from(a[i]).powi(2);
        err += f64::from(a[i] - b[i]).powi(2);
    }
    10.0 * (sig / err.max(1e-30)).log10()
}
