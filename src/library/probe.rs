//! Probing one audio file with symphonia: container, codec, duration and tags.
//! Pure and blocking: runs on scan threads, never on a core.

use std::path::Path;
use symphonia::core::meta::{StandardTagKey, Tag};

/// What a probe learns about a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probed {
    pub format: String,
    pub codec: Option<String>,
    pub duration_ms: i64,
    /// Length in frames (samples per channel).
    pub frames: Option<i64>,
    pub sample_rate: Option<i64>,
    pub channels: Option<i64>,
    pub bit_depth: Option<i64>,
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track_number: Option<i64>,
    pub disc_number: Option<i64>,
    pub year: Option<i64>,
    pub genre: Option<String>,
    /// Where each tag came from: `embedded` (the container's own tags), `riff_info`
    /// or `id3` (WAV/AIFF chunks), `aiff_text`, `path` (the `Artist/Album/NN Title.ext` layout).
    pub tag_source: std::collections::BTreeMap<&'static str, &'static str>,
    /// The audio's identity apart from its name and tags (see [`fingerprint`]).
    pub fingerprint: Option<String>,
    /// Loudness (LUFS) the file's ReplayGain or R128 tags imply, track and album.
    pub loudness_lufs: Option<f64>,
    pub album_loudness_lufs: Option<f64>,
    /// Where its cover art is: `embedded`, or a picture file's name beside it.
    pub cover: Option<String>,
}

impl Probed {
    /// Records `source` for every tag present and not yet attributed.
    fn attribute(&mut self, source: &'static str) {
        let present = [
            ("title", self.title.is_some()),
            ("artist", self.artist.is_some()),
            ("album", self.album.is_some()),
            ("album_artist", self.album_artist.is_some()),
            ("track_number", self.track_number.is_some()),
            ("year", self.year.is_some()),
            ("genre", self.genre.is_some()),
        ];
        for (field, is) in present {
            if is {
                self.tag_source.entry(field).or_insert(source);
            }
        }
    }

    /// Symphonia stops reading a WAV at `data` (and reads no AIFF tags); INFO, `id3 `
    /// and AIFF text chunks often come after it. Read them when a main tag is missing.
    fn fill_wav_chunks(&mut self, path: &Path) {
        if self.title.is_some() && self.artist.is_some() && self.album.is_some() {
            return;
        }
        if let Ok(t) = super::riff_tags::read(path) {
            self.fill_from_riff(t);
        }
    }

    /// Fills tags the file lacks from a WAV's RIFF INFO or `id3 ` chunk.
    fn fill_from_riff(&mut self, t: super::riff_tags::RiffTags) {
        fill(&mut self.title, t.title);
        fill(&mut self.artist, t.artist);
        fill(&mut self.album, t.album);
        fill(&mut self.album_artist, t.album_artist);
        fill(&mut self.track_number, t.track_number);
        fill(&mut self.year, t.year);
        fill(&mut self.genre, t.genre);
        if let Some(source) = t.source {
            self.attribute(source);
        }
    }

    /// Fills tags still missing from the file's place under `root`:
    /// `Artist/Album/NN Title.ext` (any of the three levels may be absent).
    pub(crate) fn fill_from_path(&mut self, root: &Path, path: &Path) {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let dirs: Vec<String> = rel
            .parent()
            .map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let stem = rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (number, title) = split_number(&stem);
        if let [.., artist, album] = dirs.as_slice() {
            fill(&mut self.artist, Some(artist.clone()));
            fill(&mut self.album, Some(album.clone()));
        } else if let [album] = dirs.as_slice() {
            fill(&mut self.album, Some(album.clone()));
        }
        fill(&mut self.track_number, number);
        fill(
            &mut self.title,
            (!title.is_empty()).then(|| title.to_string()),
        );
        self.attribute("path");
    }
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// `"07 Zephyrine Loop"`, `"07 - Title"`, `"07. Title"`, `"07_Title"` → (7, title);
/// a stem without a leading number is all title.
fn split_number(stem: &str) -> (Option<i64>, &str) {
    let digits = stem.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return (None, stem.trim());
    }
    let rest = stem[digits..].trim_start_matches([' ', '-', '.', '_']);
    if rest.is_empty() {
        return (None, stem.trim());
    }
    (stem[..digits].parse().ok(), rest.trim())
}

/// File extensions the scanner considers audio.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "flac", "mp3", "ogg", "oga", "opus", "m4a", "mp4", "aac", "aif", "aiff", "aifc",
];

/// Container name from the extension (what the API reports as `format`).
fn format_name(ext: &str) -> String {
    match ext {
        "oga" => "ogg".into(),
        "aif" | "aifc" => "aiff".into(),
        "mp4" | "aac" => "m4a".into(),
        other => other.into(),
    }
}

fn leading_int(s: &str) -> Option<i64> {
    let digits: String = s
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn apply_tags(p: &mut Probed, tags: &[Tag]) {
    for tag in tags {
        let value = tag.value.to_string();
        // RIFF INFO strings carry their C terminator; strip it with the whitespace.
        let value = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if value.is_empty() {
            continue;
        }
        let text = Some(value.to_string());
        match tag.std_key {
            Some(StandardTagKey::TrackTitle) => p.title = text,
            Some(StandardTagKey::Artist) => p.artist = text,
            Some(StandardTagKey::Album) => p.album = text,
            Some(StandardTagKey::AlbumArtist) => p.album_artist = text,
            Some(StandardTagKey::TrackNumber) => p.track_number = leading_int(value),
            Some(StandardTagKey::DiscNumber) => p.disc_number = leading_int(value),
            Some(StandardTagKey::Date)
            | Some(StandardTagKey::ReleaseDate)
            | Some(StandardTagKey::OriginalDate)
                if p.year.is_none() =>
            {
                p.year = leading_int(value).filter(|y| (1000..=9999).contains(y));
            }
            Some(StandardTagKey::Genre) => p.genre = text,
            _ => gain_tag(p, tag, value),
        }
    }
}

/// ReplayGain 2 gains are relative to −18 LUFS; Opus R128 gains (Q7.8 dB, RFC 7845
/// §5.2.1) to −23 LUFS. Either way the file says how loud it is: the `normalized`
/// preset uses that instead of measuring.
fn gain_tag(p: &mut Probed, tag: &Tag, value: &str) {
    let key = tag
        .key
        .rsplit(':')
        .next()
        .unwrap_or(&tag.key)
        .to_ascii_uppercase();
    let rg = || {
        let db = value
            .trim()
            .trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace());
        db.parse::<f64>()
            .ok()
            .filter(|g| g.is_finite() && g.abs() < 64.0)
            .map(|g| -18.0 - g)
    };
    let r128 = || {
        value
            .trim()
            .parse::<i16>()
            .ok()
            .map(|q| -23.0 - f64::from(q) / 256.0)
    };
    let std = tag.std_key;
    if std == Some(StandardTagKey::ReplayGainTrackGain) || key == "REPLAYGAIN_TRACK_GAIN" {
        p.loudness_lufs = p.loudness_lufs.or(rg());
    } else if std == Some(StandardTagKey::ReplayGainAlbumGain) || key == "REPLAYGAIN_ALBUM_GAIN" {
        p.album_loudness_lufs = p.album_loudness_lufs.or(rg());
    } else if key == "R128_TRACK_GAIN" {
        p.loudness_lufs = r128().or(p.loudness_lufs);
    } else if key == "R128_ALBUM_GAIN" {
        p.album_loudness_lufs = r128().or(p.album_loudness_lufs);
    }
}

/// Picture files looked for beside a track without embedded art, in this order
/// (case-insensitive).
const COVER_FILES: &[&str] = &[
    "cover.jpg",
    "cover.jpeg",
    "cover.png",
    "folder.jpg",
    "folder.jpeg",
    "folder.png",
    "front.jpg",
    "front.jpeg",
    "front.png",
];

/// The name of the picture file beside `path`, if one of [`COVER_FILES`] is there.
fn sidecar_cover(path: &Path) -> Option<String> {
    let dir = path.parent()?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .take(4_096)
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    COVER_FILES.iter().find_map(|want| {
        names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(want) && super::cover::file_usable(&dir.join(n)))
            .cloned()
    })
}

fn first_packet_channels(
    format: &mut Box<dyn symphonia::core::formats::FormatReader>,
    track: &symphonia::core::formats::Track,
) -> Option<i64> {
    let mut decoder = symphonia::default::get_codecs()
        .make(
            &track.codec_params,
            &symphonia::core::codecs::DecoderOptions::default(),
        )
        .ok()?;
    for _ in 0..8 {
        let packet = format.next_packet().ok()?;
        if packet.track_id() != track.id {
            continue;
        }
        if let Ok(buf) = decoder.decode(&packet) {
            return Some(buf.spec().channels.count() as i64);
        }
    }
    None
}

/// Why a file could not be probed; shown per file in the scan report.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Opening, probing or measuring the file failed (the decoder's words).
    #[error(transparent)]
    Decode(#[from] crate::audio::decode::DecodeError),
    #[error("cannot rewind after probing channels: {0}")]
    Rewind(symphonia::core::errors::Error),
    #[error("unknown sample rate")]
    UnknownSampleRate,
    /// The decoder library panicked on this file (caught: the scan goes on).
    #[error("the decoder crashed on this file: {0}")]
    Crashed(String),
}

/// [`probe`] with the decoder library's panics caught: a hostile or broken file must
/// cost its own entry in the scan report, not the scan (found by `fuzz/` target
/// `audio`: symphonia hits `step_by(0)` on some ADTS-looking bytes).
pub fn probe_guarded(path: &Path) -> Result<Probed, ProbeError> {
    std::panic::catch_unwind(|| probe(path)).unwrap_or_else(|panic| {
        let what = crate::panics::message(&*panic);
        tracing::warn!(path = %path.display(), panic = %what, "decoder panicked while probing");
        Err(ProbeError::Crashed(what))
    })
}

/// Probes a file. Errors carry the decoder's own words, for the scan report.
pub fn probe(path: &Path) -> Result<Probed, ProbeError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let mut opened = crate::audio::decode::open_reader(path)?;
    let mut out = Probed {
        format: format_name(&ext),
        ..Probed::default()
    };
    apply_tags(&mut out, &opened.tags);
    out.attribute("embedded");
    // Only a picture that can be served counts (a JPEG or PNG within the size limit):
    // `has_cover` never promises a 404.
    let embedded = opened
        .visuals
        .iter()
        .any(|v| super::cover::usable(&v.data, v.data.len() as u64));
    out.cover = if embedded {
        Some("embedded".into())
    } else {
        sidecar_cover(path)
    };
    if matches!(ext.as_str(), "wav" | "aif" | "aiff" | "aifc") {
        out.fill_wav_chunks(path);
    }
    let track = opened.track.clone();
    let params = &track.codec_params;
    // A track is listed only if it can play: a codec (or profile, e.g. HE-AAC or 5.1
    // AAC in symphonia 0.5) without a decoder is this file's scan error.
    crate::audio::codec::Codec::new(params)?;
    out.codec = codec_name(params.codec);
    out.sample_rate = params.sample_rate.map(i64::from);
    out.channels = params.channels.map(|c| c.count() as i64);
    if out.channels.is_none() {
        // MP4 (AAC, ALAC) headers may leave the layout to the codec: decode one packet.
        out.channels = first_packet_channels(&mut opened.reader, &track);
        opened
            .reader
            .seek(
                symphonia::core::formats::SeekMode::Coarse,
                symphonia::core::formats::SeekTo::TimeStamp {
                    ts: 0,
                    track_id: track.id,
                },
            )
            .map_err(ProbeError::Rewind)?;
    }
    out.bit_depth = params.bits_per_sample.map(i64::from);
    let rate = params.sample_rate.unwrap_or(0);
    if rate == 0 {
        return Err(ProbeError::UnknownSampleRate);
    }
    // The real samples, encoder delay and padding cut: what a decode delivers.
    let timeline = crate::audio::decode::timeline(path, &opened)?;
    let frames = timeline.frames;
    out.duration_ms = (frames as i128 * 1000 / rate as i128) as i64;
    out.frames = Some(frames as i64);
    out.fingerprint = fingerprint(&mut opened.reader, track.id, frames);
    Ok(out)
}

/// The codec's short name (`mp3`, `aac`, `opus`, …), as the API reports it.
fn codec_name(codec: symphonia::core::codecs::CodecType) -> Option<String> {
    if codec == symphonia::core::codecs::CODEC_TYPE_OPUS {
        // Decoded by libopus, not symphonia: not in symphonia's registry.
        return Some("opus".into());
    }
    symphonia::default::get_codecs()
        .get_codec(codec)
        .map(|d| d.short_name.to_string())
}

/// Packets hashed for a fingerprint, at most.
const FINGERPRINT_PACKETS: usize = 64;
const FINGERPRINT_BYTES: usize = 256 * 1024;

/// A content fingerprint: a hash of the first packets of audio as the container holds
/// them (never the tags, so a re-tagged file keeps it) and the length in frames. A
/// file moved or renamed while the library was not looking is found again by it.
fn fingerprint(
    format: &mut Box<dyn symphonia::core::formats::FormatReader>,
    track_id: u32,
    frames: u64,
) -> Option<String> {
    use symphonia::core::formats::{SeekMode, SeekTo};
    format
        .seek(SeekMode::Coarse, SeekTo::TimeStamp { ts: 0, track_id })
        .ok()?;
    let mut h = blake3::Hasher::new();
    h.update(&frames.to_le_bytes());
    let (mut packets, mut bytes) = (0, 0);
    while packets < FINGERPRINT_PACKETS && bytes < FINGERPRINT_BYTES {
        let Ok(packet) = format.next_packet() else {
            break;
        };
        if packet.track_id() != track_id {
            continue;
        }
        h.update(packet.buf());
        packets += 1;
        bytes += packet.buf().len();
    }
    (packets > 0).then(|| {
        h.finalize().as_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphonia::core::meta::Value;

    fn tag(key: &str, value: &str) -> Tag {
        Tag::new(None, key, Value::String(value.into()))
    }

    #[test]
    fn replaygain_and_r128_tags_become_loudness_whatever_the_container_calls_them() {
        let mut p = Probed::default();
        apply_tags(
            &mut p,
            &[
                tag("com.apple.iTunes:replaygain_track_gain", "-6.50 dB"),
                tag("REPLAYGAIN_ALBUM_GAIN", "+1.25 dB"),
            ],
        );
        assert_eq!(p.loudness_lufs, Some(-11.5));
        assert_eq!(p.album_loudness_lufs, Some(-19.25));
        // Opus: Q7.8 dB relative to −23 LUFS; wins over ReplayGain in the same file.
        apply_tags(&mut p, &[tag("R128_TRACK_GAIN", "-1280")]);
        assert_eq!(p.loudness_lufs, Some(-18.0));
        let mut q = Probed::default();
        apply_tags(
            &mut q,
            &[
                tag("REPLAYGAIN_TRACK_GAIN", "loud"),
                tag("R128_ALBUM_GAIN", "x"),
            ],
        );
        assert_eq!((q.loudness_lufs, q.album_loudness_lufs), (None, None));
    }
}
