//! Sample-exact decoding of a frame range, keeping the reader open between calls so
//! sequential chunks of a track do not reopen the file. Blocking: runs on the decode
//! pool, never on a core.

use super::codec::{self, Block, Codec};
use super::downmix::Downmix;
use super::mp4_gapless;
use super::timeline::Timeline;
use std::path::{Path, PathBuf};
use symphonia::core::audio::Channels;
use symphonia::core::codecs::{
    CODEC_TYPE_AAC, CODEC_TYPE_ALAC, CODEC_TYPE_FLAC, CODEC_TYPE_MP1, CODEC_TYPE_MP2,
    CODEC_TYPE_MP3, CODEC_TYPE_OPUS, CODEC_TYPE_VORBIS, CodecParameters,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, Packet, SeekMode, SeekTo};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Why a file could not be decoded. `Clone`: one decode's failure is handed to every
/// request waiting on it. Causes are kept as text because symphonia's errors are not
/// `Clone`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot open audio file: {0}")]
    Open(String),
    #[error("unsupported or corrupt: {0}")]
    Unsupported(String),
    #[error("no audio track")]
    NoTrack,
    #[error("no decoder: {0}")]
    NoDecoder(String),
    #[error("unknown sample rate")]
    UnknownRate,
    #[error("seek failed: {0}")]
    Seek(String),
    #[error("cannot read packet: {0}")]
    Read(String),
    #[error("decode failed: {0}")]
    Decode(String),
    #[error("decoder resumed at frame {resumed} after frame {wanted}")]
    Resumed { resumed: u64, wanted: u64 },
    #[error("loudness meter: {0}")]
    Loudness(String),
    #[error("empty audio")]
    Empty,
    #[error("chunk {0} starts past the end of the decoded audio")]
    PastEnd(u32),
    #[error("the decoder crashed on this chunk")]
    Crashed,
    /// The format cannot carry the track (Opus here: mono or stereo).
    #[error("{format} cannot carry {channels} channels")]
    Channels {
        format: &'static str,
        channels: usize,
    },
    /// The chunk's encoder failed (its reason as text: encoder errors are not `Clone`).
    #[error("{format} encoder: {reason}")]
    Encode {
        format: &'static str,
        reason: String,
    },
}

/// An open track positioned somewhere in its stream.
///
/// Positions are track frames outside (frame 0 is the first real sample, see
/// [`Timeline`]) and raw decoder frames inside. Lossless formats continue from where
/// the last read stopped. A lossy codec's output depends on the packets before it, so
/// every read of a lossy track starts afresh at a fixed place: the first packet at or
/// after `preroll` frames before the wanted one, with the decoder reset. A chunk is
/// then the same samples whichever chunk was read before it, on any core, in any
/// order; and since MP3, AAC and Vorbis decoders forget everything older than their
/// warm-up, it equals a continuous decode of the whole file (Opus: within libopus's
/// convergence after 80 ms, RFC 7845 §4.6).
pub struct TrackDecoder {
    pub path: PathBuf,
    reader: Box<dyn FormatReader>,
    codec: Codec,
    params: CodecParameters,
    track_id: u32,
    pub sample_rate: u32,
    /// Channels handed out: the source's, or 2 when it has more (downmixed).
    pub channels: usize,
    timeline: Timeline,
    downmix: Option<(Channels, Downmix)>,
    /// One packet's samples, before the downmix.
    scratch: Vec<f32>,
    /// Decoded interleaved samples not yet handed out, from raw frame `pending_start`.
    pending: Vec<f32>,
    pending_start: u64,
    /// True once the reader hit the end of the stream.
    at_end: bool,
    /// A packet a restart read to find its place, to be decoded first.
    peeked: Option<Packet>,
}

/// Decoded PCM: interleaved f32 in [-1, 1].
#[derive(Debug, Clone)]
pub struct Pcm {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
}

impl Pcm {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }
}

/// An open format reader and its audio track: what both the scanner and the decoder
/// start from. symphonia's own gapless trimming stays off ([`Timeline`] does it).
pub(crate) struct Opened {
    pub reader: Box<dyn FormatReader>,
    pub track: symphonia::core::formats::Track,
    /// The container's tags (where `iTunSMPB` lives), first revision seen.
    pub tags: Vec<symphonia::core::meta::Tag>,
    /// Embedded pictures (ID3 APIC, FLAC PICTURE, MP4 `covr`, Vorbis
    /// METADATA_BLOCK_PICTURE), front cover first when one says so.
    pub visuals: Vec<symphonia::core::meta::Visual>,
}

/// Opens and probes `path` (a regular file, opened without blocking on a FIFO).
pub(crate) fn open_reader(path: &Path) -> Result<Opened, DecodeError> {
    let file = super::regular::open_regular(path).map_err(|e| DecodeError::Open(e.to_string()))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| DecodeError::Unsupported(e.to_string()))?;
    let (mut tags, mut visuals) = (Vec::new(), Vec::new());
    let mut take = |rev: &symphonia::core::meta::MetadataRevision| {
        tags.extend_from_slice(rev.tags());
        visuals.extend_from_slice(rev.visuals());
    };
    if let Some(meta) = probed.metadata.get()
        && let Some(rev) = meta.current()
    {
        take(rev);
    }
    let mut reader = probed.format;
    if let Some(rev) = reader.metadata().current() {
        take(rev);
    }
    let track = reader.default_track().ok_or(DecodeError::NoTrack)?.clone();
    visuals.sort_by_key(|v| v.usage != Some(symphonia::core::meta::StandardVisualKey::FrontCover));
    Ok(Opened {
        reader,
        track,
        tags,
        visuals,
    })
}

/// The timeline of an opened track: from the container's counts, MP4's edit list,
/// Ogg's last granule position, AIFF's own chunk size; checked against the file's
/// real end (a truncated download claims more than it holds), except for MP3, whose
/// check would read every frame header of every file. `opened`'s reader is not moved.
pub(crate) fn timeline(path: &Path, opened: &Opened) -> Result<Timeline, DecodeError> {
    let params = opened.track.codec_params.clone();
    let ogg = params.codec == CODEC_TYPE_OPUS || params.codec == CODEC_TYPE_VORBIS;
    if ogg
        && let Some(end) = std::fs::File::open(path)
            .ok()
            .and_then(|mut f| super::ogg_end::last_granule(&mut f))
    {
        // The granule position is where the real samples end: no padding to cut. Opus
        // starts after OpusHead's pre-skip (symphonia replaces it with its own start
        // bound on a one-page stream).
        let mut p = params;
        p.padding = None;
        if let Some(head) = p
            .extra_data
            .as_deref()
            .filter(|h| h.starts_with(b"OpusHead") && h.len() >= 12)
        {
            p.delay = Some(u32::from(u16::from_le_bytes([head[10], head[11]])));
        }
        return Ok(Timeline::new(&p, end, None, &opened.tags));
    }
    let frame_bytes = u64::from(params.bits_per_sample.unwrap_or(0).div_ceil(8))
        * params.channels.map_or(0, |c| c.count() as u64);
    // PCM only (the codecs symphonia reads from WAV, AIFF): no other file is opened
    // for an AIFF walk.
    let pcm = frame_bytes > 0 && ![CODEC_TYPE_FLAC, CODEC_TYPE_ALAC].contains(&params.codec);
    let aiff = pcm
        .then(|| std::fs::File::open(path).ok())
        .flatten()
        .and_then(|mut f| super::aiff_length::frames(&mut f, frame_bytes));
    let raw = match aiff.or(params.n_frames) {
        Some(n) => n,
        None => count_packets(path, None)?,
    };
    let mp4 = if params.codec == CODEC_TYPE_AAC || params.codec == CODEC_TYPE_ALAC {
        std::fs::File::open(path)
            .ok()
            .and_then(|mut f| mp4_gapless::edit_list(&mut f))
    } else {
        None
    };
    let claimed = Timeline::new(&params, raw, mp4, &opened.tags);
    let mp3 = [CODEC_TYPE_MP3, CODEC_TYPE_MP2, CODEC_TYPE_MP1].contains(&params.codec);
    if mp3 || claimed.frames == 0 || holds(path, claimed.skip + claimed.frames - 1)? {
        return Ok(claimed);
    }
    // Shorter than its header says: what its packets hold, without the end padding
    // (it was in the part that is gone).
    let counted = count_packets(path, pcm.then_some(frame_bytes))?;
    let mut p = params;
    p.padding = None;
    let mp4 = mp4.map(|g| mp4_gapless::Mp4Gapless { length: None, ..g });
    Ok(Timeline::new(&p, counted, mp4, &opened.tags))
}

/// True when the file has a packet at raw frame `last`. On a reader of its own:
/// symphonia 0.5's FLAC reader, seeked back to the start after reading its last
/// packet, soon reports the end of the stream.
fn holds(path: &Path, last: u64) -> Result<bool, DecodeError> {
    let mut probe = open_reader(path)?;
    let track_id = probe.track.id;
    let to = SeekTo::TimeStamp { ts: last, track_id };
    Ok(probe.reader.seek(SeekMode::Accurate, to).is_ok()
        && std::iter::from_fn(|| probe.reader.next_packet().ok())
            .take(64)
            .any(|p| p.track_id() == track_id && p.ts() + p.dur() > last))
}

/// The sum of the track's packet durations (reads the file, decodes nothing), or for
/// PCM of their bytes over `frame_bytes` (a cut file's last packet is short, though
/// its duration says a whole one). On a reader of its own, as [`holds`].
fn count_packets(path: &Path, frame_bytes: Option<u64>) -> Result<u64, DecodeError> {
    let mut own = open_reader(path)?;
    let (mut total, mut bytes) = (0u64, 0u64);
    while let Ok(p) = own.reader.next_packet() {
        if p.track_id() == own.track.id {
            total = total.saturating_add(p.dur);
            bytes = bytes.saturating_add(p.buf().len() as u64);
        }
    }
    Ok(frame_bytes.map_or(total, |fb| bytes / fb))
}

impl TrackDecoder {
    pub fn open(path: &Path) -> Result<Self, DecodeError> {
        let opened = open_reader(path)?;
        let timeline = timeline(path, &opened)?;
        let params = &opened.track.codec_params;
        let codec = Codec::new(params)?;
        let sample_rate = params.sample_rate.ok_or(DecodeError::UnknownRate)?;
        let channels = params.channels.map(|c| c.count().min(2)).unwrap_or(0);
        let mut d = Self {
            path: path.to_path_buf(),
            track_id: opened.track.id,
            reader: opened.reader,
            codec,
            params: opened.track.codec_params.clone(),
            sample_rate,
            channels,
            timeline,
            downmix: None,
            scratch: Vec::new(),
            pending: Vec::new(),
            pending_start: 0,
            at_end: false,
            peeked: None,
        };
        if d.channels == 0 {
            // MP4 headers may leave the layout to the codec: learn it from the start.
            d.read_range(0, 1)?;
        }
        Ok(d)
    }

    /// The track's exact length in frames.
    pub fn frames(&self) -> u64 {
        self.timeline.frames
    }

    fn pending_end(&self) -> u64 {
        self.pending_start + (self.pending.len() / self.channels.max(1)) as u64
    }

    /// Positions the reader so the next packet decoded is the one holding raw frame
    /// `raw - preroll`, with a reset decoder. A seek that lands past `from` (Ogg's can) is
    /// retried further back, down to reopening the file at its start.
    fn restart(&mut self, raw: u64) -> Result<(), DecodeError> {
        let mut back = self.timeline.preroll;
        loop {
            let from = raw.saturating_sub(back);
            if from == 0 || raw < self.timeline.preroll {
                return self.reopen();
            }
            match self.first_packet_from(from)? {
                Some(packet) => {
                    // A new decoder, not `reset()`: symphonia's AAC decoder keeps its
                    // noise generator's state across a reset, so the same chunk would
                    // come out differently depending on what was decoded before.
                    self.codec = Codec::new(&self.params)?;
                    self.pending.clear();
                    self.pending_start = packet.ts();
                    self.peeked = Some(packet);
                    self.at_end = false;
                    return Ok(());
                }
                None => back = back.saturating_mul(2).max(4_096),
            }
        }
    }

    /// Seeks to `from` and reads up to the packet that holds it. `None` when
    /// the first packet after the seek already lies past `from` (or the seek failed):
    /// the caller seeks further back.
    fn first_packet_from(&mut self, from: u64) -> Result<Option<Packet>, DecodeError> {
        let to = SeekTo::TimeStamp {
            ts: from,
            track_id: self.track_id,
        };
        if self.reader.seek(SeekMode::Accurate, to).is_err() {
            return Ok(None);
        }
        let mut first = true;
        loop {
            let Some(packet) = self.next_packet()? else {
                return Ok(None);
            };
            if packet.ts() > from && first {
                return Ok(None);
            }
            first = false;
            if packet.ts() + packet.dur() > from {
                return Ok(Some(packet));
            }
        }
    }

    /// Back to the start of the file with a fresh reader (symphonia 0.5's FLAC
    /// reader, seeked to frame 0 after reaching the end, yields one packet and then
    /// end-of-stream; a fresh reader has no such state). The timeline is kept.
    fn reopen(&mut self) -> Result<(), DecodeError> {
        let opened = open_reader(&self.path)?;
        self.codec = Codec::new(&opened.track.codec_params)?;
        self.params = opened.track.codec_params;
        self.reader = opened.reader;
        self.track_id = opened.track.id;
        self.pending.clear();
        self.pending_start = 0;
        self.peeked = None;
        self.at_end = false;
        Ok(())
    }

    /// The next packet of this track; `None` at the end of the stream.
    fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        loop {
            match self.reader.next_packet() {
                Ok(p) if p.track_id() == self.track_id => return Ok(Some(p)),
                Ok(_) => continue,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.at_end = true;
                    return Ok(None);
                }
                Err(SymError::ResetRequired) => self.codec.reset()?,
                Err(e) => return Err(DecodeError::Read(e.to_string())),
            }
        }
    }

    /// Decodes the next packet into `pending`. Returns false at the end of the stream.
    fn decode_next(&mut self) -> Result<bool, DecodeError> {
        let packet = match self.peeked.take() {
            Some(p) => p,
            None => match self.next_packet()? {
                Some(p) => p,
                None => return Ok(false),
            },
        };
        self.scratch.clear();
        let (block, layout) = self.codec.decode(&packet, &mut self.scratch)?;
        if matches!(block, Block::Skipped) || self.scratch.is_empty() {
            return Ok(true);
        }
        codec::to_stereo(&mut self.scratch, layout, &mut self.downmix);
        if let Some(l) = layout
            && self.channels == 0
        {
            self.channels = l.count().min(2);
        }
        self.place(packet.ts());
        Ok(true)
    }

    /// Appends `scratch` (a packet decoded at raw frame `ts`) to `pending`, which stays
    /// contiguous: a packet that starts where it ends extends it, one that overlaps it
    /// has the overlap cut, anything else (after a gap: a skipped corrupt packet)
    /// starts it again at `ts`.
    fn place(&mut self, ts: u64) {
        let ch = self.channels.max(1);
        let end = self.pending_end();
        if !self.pending.is_empty() && ts < end {
            let skip = ((end - ts) as usize * ch).min(self.scratch.len());
            self.pending.extend_from_slice(&self.scratch[skip..]);
            return;
        }
        if self.pending.is_empty() || ts != end {
            self.pending.clear();
            self.pending_start = ts;
        }
        self.pending.extend_from_slice(&self.scratch);
    }

    /// Exactly the frames `[start, start + frames)` (fewer at the end of the track;
    /// none from its end on).
    pub fn read_range(&mut self, start: u64, frames: u64) -> Result<Pcm, DecodeError> {
        self.read_span(start, frames, start.saturating_add(frames))
    }

    /// As `read_range`, keeping the frames from `keep_from` on buffered: the next read
    /// of a lossless track may start there without a seek (an Opus chunk reads into
    /// its successor's pre-roll, so consecutive spans overlap).
    pub fn read_span(
        &mut self,
        start: u64,
        frames: u64,
        keep_from: u64,
    ) -> Result<Pcm, DecodeError> {
        let total = self.timeline.frames;
        let skip = self.timeline.skip;
        let end = start.saturating_add(frames).min(total);
        if start >= end {
            return Ok(self.pcm(Vec::new()));
        }
        let (raw_start, raw_end) = (start + skip, end + skip);
        let contiguous = raw_start >= self.pending_start && raw_start <= self.pending_end();
        if self.timeline.preroll > 0 || !contiguous {
            self.restart(raw_start)?;
        }
        while self.pending_end() < raw_end && !self.at_end {
            if !self.decode_next()? {
                break;
            }
            self.drop_before(raw_start);
        }
        if self.pending_start > raw_start {
            return Err(DecodeError::Resumed {
                resumed: self.pending_start - skip.min(self.pending_start),
                wanted: start,
            });
        }
        let ch = self.channels.max(1);
        let have = self.pending.len() / ch;
        let from = ((raw_start - self.pending_start) as usize).min(have);
        let to = ((raw_end.min(self.pending_end()) - self.pending_start) as usize).max(from);
        let samples = self.pending[from * ch..to * ch].to_vec();
        // Keep what follows (from `keep_from`) for the next sequential read.
        let keep = keep_from.saturating_add(skip);
        let keep_at = keep.clamp(self.pending_start, self.pending_start + to as u64);
        self.drop_before(keep_at);
        Ok(self.pcm(samples))
    }

    /// Drops buffered frames before raw frame `raw`, so memory stays one chunk.
    fn drop_before(&mut self, raw: u64) {
        if self.pending_start < raw {
            let ch = self.channels.max(1);
            let n = ((raw - self.pending_start) as usize).min(self.pending.len() / ch);
            self.pending.drain(..n * ch);
            self.pending_start += n as u64;
        }
    }

    fn pcm(&self, samples: Vec<f32>) -> Pcm {
        Pcm {
            samples,
            sample_rate: self.sample_rate,
            channels: self.channels.max(1),
        }
    }
}

/// Integrated loudness (EBU R128, LUFS) and sample peak of a whole file.
pub fn measure_loudness(path: &Path) -> Result<(f64, f64), DecodeError> {
    let mut dec = TrackDecoder::open(path)?;
    let mut meter: Option<ebur128::EbuR128> = None;
    let mut start = 0u64;
    let step = u64::from(dec.sample_rate) * 10;
    loop {
        let pcm = dec.read_range(start, step)?;
        if pcm.samples.is_empty() {
            break;
        }
        let m = match &mut meter {
            Some(m) => m,
            None => meter.insert(
                ebur128::EbuR128::new(
                    pcm.channels as u32,
                    pcm.sample_rate,
                    ebur128::Mode::I | ebur128::Mode::SAMPLE_PEAK,
                )
                .map_err(|e| DecodeError::Loudness(format!("{e:?}")))?,
            ),
        };
        m.add_frames_f32(&pcm.samples)
            .map_err(|e| DecodeError::Loudness(format!("{e:?}")))?;
        start += pcm.frames() as u64;
        if (pcm.frames() as u64) < step {
            break;
        }
    }
    let m = meter.ok_or(DecodeError::Empty)?;
    let lufs = m
        .loudness_global()
        .map_err(|e| DecodeError::Loudness(format!("{e:?}")))?;
    let peak = (0..dec.channels.max(1) as u32)
        .filter_map(|c| m.sample_peak(c).ok())
        .fold(0.0f64, f64::max);
    Ok((lufs, peak))
}
