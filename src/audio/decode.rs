//! Sample-exact decoding of a frame range with symphonia, keeping the decoder open
//! between calls so sequential chunks of a track neither reopen nor re-seek the file.
//! Blocking: runs on the decode pool, never on a core.

use std::path::{Path, PathBuf};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
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
pub struct TrackDecoder {
    pub path: PathBuf,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    pub sample_rate: u32,
    pub channels: usize,
    /// Decoded interleaved samples not yet handed out, starting at `pending_start`.
    pending: Vec<f32>,
    pending_start: u64,
    /// True once the reader hit the end of the stream.
    at_end: bool,
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

impl TrackDecoder {
    pub fn open(path: &Path) -> Result<Self, DecodeError> {
        let file =
            super::regular::open_regular(path).map_err(|e| DecodeError::Open(e.to_string()))?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        // Gapless: the container's encoder delay and padding are trimmed, so frame 0 is
        // the first real sample (matters for MP3 and AAC).
        let opts = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &opts, &MetadataOptions::default())
            .map_err(|e| DecodeError::Unsupported(e.to_string()))?;
        let reader = probed.format;
        let track = reader.default_track().ok_or(DecodeError::NoTrack)?;
        let decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())
            .map_err(|e| DecodeError::NoDecoder(e.to_string()))?;
        let sample_rate = track
            .codec_params
            .sample_rate
            .ok_or(DecodeError::UnknownRate)?;
        let channels = track.codec_params.channels.map(|c| c.count()).unwrap_or(0);
        let track_id = track.id;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            decoder,
            track_id,
            sample_rate,
            channels,
            pending: Vec::new(),
            pending_start: 0,
            at_end: false,
        })
    }

    fn pending_end(&self) -> u64 {
        self.pending_start + (self.pending.len() / self.channels.max(1)) as u64
    }

    fn seek(&mut self, frame: u64) -> Result<(), DecodeError> {
        if frame < self.pending_start || self.at_end {
            // Backwards (or from the end of the stream): reopen rather than seek back.
            // symphonia 0.5's FLAC reader, seeked to frame 0 after reaching the end,
            // yields one packet and then end-of-stream; a fresh reader has no such state.
            *self = TrackDecoder::open(&self.path)?;
            if frame == 0 {
                return Ok(());
            }
        }
        let seeked = self
            .reader
            .seek(
                SeekMode::Accurate,
                SeekTo::TimeStamp {
                    ts: frame,
                    track_id: self.track_id,
                },
            )
            .map_err(|e| DecodeError::Seek(e.to_string()))?;
        self.decoder.reset();
        self.pending.clear();
        self.pending_start = seeked.actual_ts;
        self.at_end = false;
        Ok(())
    }

    /// Decodes the next packet into `pending`. Returns false at the end of the stream.
    fn decode_next(&mut self) -> Result<bool, DecodeError> {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.at_end = true;
                    return Ok(false);
                }
                Err(SymError::ResetRequired) => {
                    self.decoder.reset();
                    continue;
                }
                Err(e) => return Err(DecodeError::Read(e.to_string())),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                // A corrupt packet in a lossy stream: skip it, as players do.
                Err(SymError::DecodeError(_)) => continue,
                Err(e) => return Err(DecodeError::Decode(e.to_string())),
            };
            let spec = *decoded.spec();
            if self.channels == 0 {
                self.channels = spec.channels.count();
            }
            let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
            buf.copy_interleaved_ref(decoded);
            let ts = packet.ts();
            // Keep `pending` contiguous: a packet that starts where pending ends extends
            // it; anything else (first packet after a seek) restarts it at `ts`.
            if self.pending.is_empty() || ts != self.pending_end() {
                if !self.pending.is_empty() && ts < self.pending_end() {
                    // Overlap (some demuxers repeat after an accurate seek): drop the overlap.
                    let skip = ((self.pending_end() - ts) as usize * self.channels)
                        .min(buf.samples().len());
                    self.pending.extend_from_slice(&buf.samples()[skip..]);
                    return Ok(true);
                }
                self.pending.clear();
                self.pending_start = ts;
            }
            self.pending.extend_from_slice(buf.samples());
            return Ok(true);
        }
    }

    /// Exactly the frames `[start, start + frames)` (fewer at the end of the track).
    pub fn read_range(&mut self, start: u64, frames: u64) -> Result<Pcm, DecodeError> {
        self.read_span(start, frames, start + frames)
    }

    /// As `read_range`, keeping the frames from `keep_from` on buffered: the next read
    /// may start there without a seek (an Opus chunk reads into its successor's
    /// pre-roll, so consecutive spans overlap).
    pub fn read_span(
        &mut self,
        start: u64,
        frames: u64,
        keep_from: u64,
    ) -> Result<Pcm, DecodeError> {
        let end = start + frames;
        let contiguous = start >= self.pending_start && start <= self.pending_end();
        if !contiguous {
            self.seek(start)?;
        }
        while self.pending_end() < end && !self.at_end {
            if !self.decode_next()? {
                break;
            }
            // Drop what lies before `start` as we go, so memory stays one chunk.
            if self.pending_start < start {
                let drop_frames = ((start - self.pending_start) as usize)
                    .min(self.pending.len() / self.channels.max(1));
                self.pending.drain(..drop_frames * self.channels);
                self.pending_start += drop_frames as u64;
            }
        }
        if self.pending_start > start {
            return Err(DecodeError::Resumed {
                resumed: self.pending_start,
                wanted: start,
            });
        }
        let ch = self.channels.max(1);
        let from = (start - self.pending_start) as usize * ch;
        let to = ((end.min(self.pending_end()) - self.pending_start) as usize * ch).max(from);
        let samples = self.pending[from..to].to_vec();
        // Keep what follows (from `keep_from`) for the next sequential read.
        let keep_at = keep_from.clamp(self.pending_start, self.pending_start + (to / ch) as u64);
        let cut = (keep_at - self.pending_start) as usize * ch;
        self.pending.drain(..cut);
        self.pending_start = keep_at;
        Ok(Pcm {
            samples,
            sample_rate: self.sample_rate,
            channels: ch,
        })
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
