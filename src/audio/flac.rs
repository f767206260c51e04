//! FLAC writing through `flacenc`, plus a VORBIS_COMMENT block for tags (flacenc writes
//! only STREAMINFO; a metadata block is a 4-byte header and a little-endian body, RFC 9639 §8).

use super::Tags;
use flacenc::component::BitRepr;
use flacenc::error::Verify;

/// Why a FLAC stream could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum FlacError {
    #[error("flac encoder config: {0}")]
    Config(flacenc::error::VerifyError),
    #[error("flac encode: {0}")]
    Encode(flacenc::error::EncodeError),
    #[error("flac write: {0}")]
    Write(flacenc::error::OutputError<flacenc::bitsink::ByteSink>),
    /// The encoder's output did not have the metadata layout RFC 9639 §8 describes.
    #[error("encoder output is not a well-formed FLAC stream")]
    Malformed,
    #[error("flac samples: {0}")]
    Samples(flacenc::error::SourceError),
}

/// Compression levels a client may ask for (`level`): 0 is the fastest, 8 the smallest.
pub const LEVELS: std::ops::RangeInclusive<u8> = 0..=8;
/// The default level.
pub const DEFAULT_LEVEL: u8 = 5;

/// The encoder settings of a level, in the spirit of libFLAC's presets: 0–2 small
/// blocks and fixed predictors only (0 without stereo decorrelation), 3–8 LPC of a
/// growing order over 4096-sample blocks. One thread: the decode pool is the parallelism.
fn level_config(level: u8) -> flacenc::config::Encoder {
    let mut c = flacenc::config::Encoder::default();
    c.multithread = false;
    c.block_size = if level <= 2 { 1152 } else { 4096 };
    let stereo = level >= 1;
    c.stereo_coding.use_leftside = stereo;
    c.stereo_coding.use_rightside = stereo;
    c.stereo_coding.use_midside = stereo;
    c.subframe_coding.use_lpc = level >= 3;
    c.subframe_coding.qlpc.lpc_order = match level {
        0..=3 => 6,
        4..=5 => 8,
        6 => 10,
        _ => 12,
    };
    c
}

/// One chunk as a complete FLAC file at compression `level` (no tags): the same 16-bit
/// samples as the WAV chunk, losslessly.
pub fn encode_chunk(
    samples: &[i16],
    channels: u16,
    sample_rate: u32,
    level: u8,
) -> Result<Vec<u8>, FlacError> {
    encode_with(level_config(level), samples, channels, sample_rate, None)
}

/// Encodes interleaved 16-bit samples as FLAC, tagged when `tags` is given.
pub fn encode_pcm16(
    samples: &[i16],
    channels: u16,
    sample_rate: u32,
    tags: Option<&Tags>,
) -> Result<Vec<u8>, FlacError> {
    encode_with(
        flacenc::config::Encoder::default(),
        samples,
        channels,
        sample_rate,
        tags,
    )
}

fn encode_with(
    config: flacenc::config::Encoder,
    samples: &[i16],
    channels: u16,
    sample_rate: u32,
    tags: Option<&Tags>,
) -> Result<Vec<u8>, FlacError> {
    let config = config
        .into_verified()
        .map_err(|(_, e)| FlacError::Config(e))?;
    let wide: Vec<i32> = samples.iter().map(|&s| i32::from(s)).collect();
    let source = flacenc::source::MemSource::from_samples(
        &wide,
        channels as usize,
        16,
        sample_rate as usize,
    );
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(FlacError::Encode)?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(FlacError::Write)?;
    let mut bytes = sink.as_slice().to_vec();
    fix_min_block_size(&mut bytes);
    Ok(match tags {
        Some(t) => insert_vorbis_comment(bytes, t)?,
        None => bytes,
    })
}

/// Samples per channel in each frame of a whole-track stream (but its last).
pub const STREAM_BLOCK: usize = 4096;

/// The head of a whole-track FLAC stream sent as it is made: `fLaC` and a STREAMINFO
/// naming the track's length and block size. The MD5 is left all zeros, which RFC 9639
/// §8.2 reserves for "not computed": the samples are not all known when it is sent.
pub fn stream_head(
    channels: u16,
    sample_rate: u32,
    total_samples: u64,
) -> Result<Vec<u8>, FlacError> {
    let mut stream = flacenc::component::Stream::new(sample_rate as usize, channels as usize, 16)
        .map_err(FlacError::Config)?;
    let info = stream.stream_info_mut();
    info.set_block_sizes(STREAM_BLOCK, STREAM_BLOCK)
        .map_err(FlacError::Config)?;
    info.set_total_samples(total_samples as usize);
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(FlacError::Write)?;
    Ok(sink.as_slice().to_vec())
}

/// Frames `first_frame`, `first_frame + 1`, … of a whole-track stream from 16-bit
/// little-endian interleaved samples (a WAV chunk's bytes): whole [`STREAM_BLOCK`]s,
/// but for the track's last run, whose final frame may be short. Numbered frames
/// continue where the previous run stopped, so the runs join into one stream.
pub fn stream_frames(
    pcm_le: &[u8],
    channels: u16,
    sample_rate: u32,
    first_frame: usize,
    level: u8,
) -> Result<Vec<u8>, FlacError> {
    use flacenc::source::Fill;
    let config = level_config(level)
        .into_verified()
        .map_err(|(_, e)| FlacError::Config(e))?;
    let info = flacenc::component::StreamInfo::new(sample_rate as usize, channels as usize, 16)
        .map_err(FlacError::Config)?;
    let frame_bytes = usize::from(channels) * 2;
    let mut buf = flacenc::source::FrameBuf::with_size(usize::from(channels), STREAM_BLOCK)
        .map_err(FlacError::Config)?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    for (i, block) in pcm_le.chunks(STREAM_BLOCK * frame_bytes).enumerate() {
        let samples = block.len() / frame_bytes;
        if samples == 0 {
            break;
        }
        if samples < STREAM_BLOCK {
            buf.resize(samples);
        }
        buf.fill_le_bytes(&block[..samples * frame_bytes], 2)
            .map_err(FlacError::Samples)?;
        let frame = flacenc::encode_fixed_size_frame(&config, &buf, first_frame + i, &info)
            .map_err(FlacError::Encode)?;
        frame.write(&mut sink).map_err(FlacError::Write)?;
    }
    Ok(sink.as_slice().to_vec())
}

/// flacenc records the short final block as STREAMINFO's minimum block size; RFC 9639
/// §8.2 excludes the last block, and decoders that check frame sizes against the range
/// (symphonia) then reject every frame. A fixed-block-size stream has min = max.
fn fix_min_block_size(flac: &mut [u8]) {
    if flac.len() >= 12 && &flac[..4] == b"fLaC" && flac[4] & 0x7f == 0 {
        let (min, max) = flac[8..12].split_at_mut(2);
        min.copy_from_slice(max);
    }
}

fn vorbis_comment(tags: &Tags) -> Vec<u8> {
    let vendor = b"auralis-server";
    let mut fields = vec![
        format!("TITLE={}", tags.title),
        format!("ARTIST={}", tags.artist),
        format!("ALBUM={}", tags.album),
        format!("TRACKNUMBER={}", tags.track_number),
        format!("DATE={}", tags.year),
        format!("GENRE={}", tags.genre),
    ];
    if let Some(aa) = &tags.album_artist {
        fields.push(format!("ALBUMARTIST={aa}"));
    }
    let mut body = Vec::new();
    body.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    body.extend_from_slice(vendor);
    body.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for f in fields {
        body.extend_from_slice(&(f.len() as u32).to_le_bytes());
        body.extend_from_slice(f.as_bytes());
    }
    body
}

/// Inserts a VORBIS_COMMENT block after STREAMINFO, moving the "last block" flag.
fn insert_vorbis_comment(flac: Vec<u8>, tags: &Tags) -> Result<Vec<u8>, FlacError> {
    if flac.len() < 42 || &flac[..4] != b"fLaC" {
        return Err(FlacError::Malformed);
    }
    // Walk the metadata blocks to find where they end and which is last.
    let mut pos = 4;
    let mut last_header = 4;
    loop {
        let header = flac.get(pos..pos + 4).ok_or(FlacError::Malformed)?;
        let is_last = header[0] & 0x80 != 0;
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        last_header = if is_last { pos } else { last_header };
        pos += 4 + len;
        if is_last {
            break;
        }
    }
    let body = vorbis_comment(tags);
    let mut out = Vec::with_capacity(flac.len() + body.len() + 4);
    out.extend_from_slice(&flac[..pos]);
    out[last_header] &= 0x7f;
    let len = body.len() as u32;
    out.push(0x80 | 4);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&body);
    out.extend_from_slice(&flac[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs cut at block boundaries (and a short last one) join into one stream that
    /// decodes to exactly the samples given, at the length the head names.
    #[test]
    fn a_stream_made_run_by_run_decodes_to_every_sample() {
        let frames = STREAM_BLOCK * 3 + 1000;
        let pcm: Vec<i16> = (0..frames * 2)
            .map(|i| ((i as f32 * 0.01).sin() * 9000.0) as i16)
            .collect();
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let cut = STREAM_BLOCK * 2 * 4;
        let mut file = stream_head(2, 44_100, frames as u64).unwrap();
        file.extend(stream_frames(&bytes[..cut], 2, 44_100, 0, 5).unwrap());
        file.extend(stream_frames(&bytes[cut..], 2, 44_100, 2, 5).unwrap());
        let dir = std::env::temp_dir().join(format!("flac-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.flac");
        std::fs::write(&path, &file).unwrap();
        let mut d = crate::audio::decode::TrackDecoder::open(&path).unwrap();
        assert_eq!(d.frames(), frames as u64);
        let got = d.read_range(0, frames as u64).unwrap();
        assert_eq!(got.frames(), frames);
        let back: Vec<i16> = got
            .samples
            .iter()
            .map(|&x| crate::audio::encode::to_pcm16(x))
            .collect();
        assert_eq!(back, pcm, "lossless across the runs");
        std::fs::remove_dir_all(&dir).ok();
    }
}
