//! Where a track's real samples lie in what its decoder emits.
//!
//! Lossy encoders add samples that are not music: MP3's encoder delay plus the
//! decoder's 529, AAC's 1024+ priming, Opus's pre-skip, and padding to a whole frame at
//! the end. Files say how many (LAME/Xing header, MP4 edit list or `iTunSMPB`, Ogg
//! granule positions and OpusHead). The decoder is opened *without* symphonia's own
//! gapless trimming (it misses MP4 edit lists and Opus pre-skip), so every format goes
//! through the one rule here: frame `f` of the track is frame `f + skip` of the raw
//! decode, and there are exactly `frames` of them. The scanner and the chunk decoder
//! both use it, so `frames` in the library is what a decode delivers, to the sample.

use super::mp4_gapless::{self, Mp4Gapless};
use symphonia::core::codecs::{
    CODEC_TYPE_AAC, CODEC_TYPE_MP1, CODEC_TYPE_MP2, CODEC_TYPE_MP3, CODEC_TYPE_OPUS,
    CODEC_TYPE_VORBIS, CodecParameters, CodecType,
};
use symphonia::core::meta::Tag;

/// A track's real samples within its raw decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// Raw frames before the first real one.
    pub skip: u64,
    /// Real frames: the track's exact length.
    pub frames: u64,
    /// Raw frames a decoder must run before a wanted frame, after a seek, to have
    /// converged (0 for lossless codecs, which have no state across packets).
    pub preroll: u64,
}

/// Decoder warm-up, in raw frames, by codec. MP3: four frames (the bit reservoir
/// reaches back up to 511 bytes, the hybrid filterbank one granule, the polyphase
/// synthesis 512 samples). AAC: four frames of 1024 (the MDCT overlaps one).
/// Vorbis: the longest block (8192), whose first half overlaps the previous one.
/// Opus: 80 ms, RFC 7845 §4.6's recommendation for its decoder to converge.
pub fn preroll(codec: CodecType) -> u64 {
    match codec {
        c if c == CODEC_TYPE_MP3 || c == CODEC_TYPE_MP2 || c == CODEC_TYPE_MP1 => 4 * 1_152,
        c if c == CODEC_TYPE_AAC => 4 * 1_024,
        c if c == CODEC_TYPE_VORBIS => 8_192,
        c if c == CODEC_TYPE_OPUS => 3_840,
        _ => 0,
    }
}

impl Timeline {
    /// The timeline of a track whose raw decode is `raw_frames` long (the container's
    /// count, or the packets' durations summed). `mp4` is the file's edit list, read
    /// only for MP4 files; `tags` may hold an `iTunSMPB` comment.
    pub fn new(
        params: &CodecParameters,
        raw_frames: u64,
        mp4: Option<Mp4Gapless>,
        tags: &[Tag],
    ) -> Self {
        let preroll = preroll(params.codec);
        // MP3 (LAME), Ogg (granule positions, OpusHead pre-skip): symphonia reads them
        // into the parameters even with its own trimming off.
        let delay = u64::from(params.delay.unwrap_or(0));
        let padding = u64::from(params.padding.unwrap_or(0));
        let edits = mp4.or_else(|| {
            tags.iter()
                .find(|t| t.key.ends_with("iTunSMPB"))
                .and_then(|t| mp4_gapless::itunsmpb(&t.value.to_string()))
        });
        let (skip, frames) = match edits {
            Some(g) => {
                let room = raw_frames.saturating_sub(g.skip);
                (
                    g.skip.min(raw_frames),
                    g.length.map_or(room, |l| l.min(room)),
                )
            }
            None => (
                delay.min(raw_frames),
                raw_frames.saturating_sub(delay + padding),
            ),
        };
        Self {
            skip,
            frames,
            preroll,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lame_delay_and_padding_are_cut_and_an_edit_list_wins_over_the_container_length() {
        let mut mp3 = CodecParameters::new();
        mp3.for_codec(CODEC_TYPE_MP3)
            .with_delay(1_105)
            .with_padding(479);
        let t = Timeline::new(&mp3, 883_584, None, &[]);
        assert_eq!((t.skip, t.frames, t.preroll), (1_105, 882_000, 4_608));
        let mut aac = CodecParameters::new();
        aac.for_codec(CODEC_TYPE_AAC);
        let edit = Mp4Gapless {
            skip: 1_024,
            length: Some(882_000),
        };
        let t = Timeline::new(&aac, 883_024, Some(edit), &[]);
        assert_eq!((t.skip, t.frames), (1_024, 882_000));
        // A length past what the file holds is cut to what it holds.
        let long = Mp4Gapless {
            skip: 1_024,
            length: Some(u64::MAX),
        };
        assert_eq!(Timeline::new(&aac, 2_000, Some(long), &[]).frames, 976);
        // Delay and padding larger than the file: empty, never an underflow.
        mp3.with_delay(u32::MAX).with_padding(u32::MAX);
        assert_eq!(Timeline::new(&mp3, 10, None, &[]).frames, 0);
    }
}
