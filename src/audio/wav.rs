//! WAV (RIFF) writing: PCM 16-bit, with an optional LIST/INFO tag chunk.

use super::Tags;

fn push_chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0); // RIFF chunks are word-aligned
    }
}

fn info_chunk(tags: &Tags) -> Vec<u8> {
    let mut body = b"INFO".to_vec();
    let track = tags.track_number.to_string();
    let year = tags.year.to_string();
    for (id, value) in [
        (b"INAM", tags.title.as_str()),
        (b"IART", tags.artist.as_str()),
        (b"IPRD", tags.album.as_str()),
        (b"IGNR", tags.genre.as_str()),
        (b"ICRD", year.as_str()),
        // IPRT, not ITRK: the track-number id that symphonia (and foobar2000) read.
        (b"IPRT", track.as_str()),
    ] {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        push_chunk(&mut body, id, &v);
    }
    body
}

/// A complete WAV file of interleaved 16-bit samples.
pub fn encode_pcm16(
    samples: &[i16],
    channels: u16,
    sample_rate: u32,
    tags: Option<&Tags>,
) -> Vec<u8> {
    let data_len = samples.len() * 2;
    let mut out = Vec::with_capacity(data_len + 256);
    out.extend_from_slice(b"RIFF\0\0\0\0WAVE");
    let block_align = channels * 2;
    let mut fmt = Vec::with_capacity(16);
    fmt.extend_from_slice(&1u16.to_le_bytes()); // PCM
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&sample_rate.to_le_bytes());
    // A rate read from a file can be anything: the byte rate saturates rather than wrap.
    let byte_rate = sample_rate.saturating_mul(u32::from(block_align));
    fmt.extend_from_slice(&byte_rate.to_le_bytes());
    fmt.extend_from_slice(&block_align.to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    push_chunk(&mut out, b"fmt ", &fmt);
    if let Some(tags) = tags {
        push_chunk(&mut out, b"LIST", &info_chunk(tags));
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    let riff_len = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&riff_len.to_le_bytes());
    out
}
