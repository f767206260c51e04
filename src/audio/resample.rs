//! To 48 kHz for Opus, chunk by chunk, so that chunks resampled apart still line up.
//!
//! Each chunk resamples its own span of the source (rubato's FFT resampler, exact
//! rational ratio). The span starts on a source frame whose 48 kHz position is a whole
//! number (a multiple of `rate / gcd(rate, 48000)` frames), so every chunk's output
//! falls on the same 48 kHz grid; the filter's edge effects stay in a margin that is
//! cut away, so two chunks agree sample for sample where they meet. rubato reports its
//! delay in whole frames; the output sits a constant ~0.55 frame (11 µs) early against
//! the ideal, the same for every chunk, so joins are unaffected.

use rubato::{FftFixedInOut, Resampler};

const OUT: u32 = 48_000;
/// Source frames read beyond what a span needs, on both sides, for the filter.
const MARGIN: u64 = 512;
/// Input frames per resampler call (rubato rounds it to a multiple of the ratio).
const CHUNK_IN: usize = 1_024;

#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("resampler: {0}")]
    Construction(#[from] rubato::ResamplerConstructionError),
    #[error("resampling: {0}")]
    Process(#[from] rubato::ResampleError),
}

/// The 48 kHz frame where source frame `frames` at `rate` Hz falls (rounded down).
pub fn to_48k(frames: u64, rate: u32) -> u64 {
    (u128::from(frames) * u128::from(OUT) / u128::from(rate)) as u64
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The source frames `[start, end)` that cover 48 kHz frames `[from, to)`, margins
/// included; `start` sits on the 48 kHz grid.
pub fn source_span(from: u64, to: u64, rate: u32) -> (u64, u64) {
    if rate == OUT {
        return (from, to);
    }
    let step = u64::from(rate / gcd(rate, OUT));
    let lo = (u128::from(from) * u128::from(rate) / u128::from(OUT)) as u64;
    let start = lo.saturating_sub(MARGIN) / step * step;
    let hi = (u128::from(to) * u128::from(rate)).div_ceil(u128::from(OUT)) as u64;
    (start, hi + MARGIN)
}

/// `frames` interleaved 48 kHz frames from 48 kHz position `first`, made from `source`
/// (interleaved at `rate`, its first frame being source frame `src_start`, which
/// `source_span` chose). Past the end of `source` is silence.
pub fn span_48k(
    source: &[f32],
    channels: usize,
    rate: u32,
    src_start: u64,
    first: u64,
    frames: usize,
) -> Result<Vec<f32>, ResampleError> {
    let ch = channels.max(1);
    let origin = to_48k(src_start, rate);
    let skip = (first - origin) as usize;
    if rate == OUT {
        let mut out = vec![0.0; frames * ch];
        let from = (skip * ch).min(source.len());
        let avail = (source.len() - from).min(out.len());
        out[..avail].copy_from_slice(&source[from..from + avail]);
        return Ok(out);
    }
    let mut r = FftFixedInOut::<f32>::new(rate as usize, OUT as usize, CHUNK_IN, ch)?;
    let wanted = r.output_delay() + skip + frames;
    let mut planes: Vec<Vec<f32>> = vec![Vec::with_capacity(wanted + CHUNK_IN * 2); ch];
    let mut input: Vec<Vec<f32>> = vec![Vec::new(); ch];
    let mut at = 0;
    while planes[0].len() < wanted {
        let n = r.input_frames_next();
        for (c, plane) in input.iter_mut().enumerate() {
            plane.clear();
            plane.extend((at..at + n).map(|f| source.get(f * ch + c).copied().unwrap_or(0.0)));
        }
        at += n;
        for (plane, out) in planes.iter_mut().zip(r.process(&input, None)?) {
            plane.extend_from_slice(&out);
        }
    }
    let from = r.output_delay() + skip;
    let mut out = Vec::with_capacity(frames * ch);
    for f in from..from + frames {
        out.extend(planes.iter().map(|p| p[f]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, frames: usize, hz: f64) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let v = (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin() as f32;
                [v * 0.5, -v * 0.5]
            })
            .collect()
    }

    #[test]
    fn two_spans_resampled_apart_agree_where_they_meet_and_match_the_tone() {
        let rate = 44_100;
        let src = sine(rate, 88_200, 997.0);
        // Two neighbouring 48 kHz ranges, each made from its own source span.
        let (a, b) = (10_000u64, 50_000u64);
        let make = |from: u64, to: u64| {
            let (s, e) = source_span(from, to, rate);
            let part = &src[(s as usize * 2).min(src.len())..(e as usize * 2).min(src.len())];
            span_48k(part, 2, rate, s, from, (to - from) as usize).unwrap()
        };
        let left = make(a, b);
        let right = make(b - 1_000, b + 20_000);
        // The 1 000 frames both cover are the same samples.
        let overlap_l = &left[(b - 1_000 - a) as usize * 2..];
        let overlap_r = &right[..2_000];
        let worst = overlap_l
            .iter()
            .zip(overlap_r)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "chunks disagree by {worst}");
        // And each is the tone at 48 kHz: rubato reports its delay in whole frames, so
        // the output sits a constant fraction of a frame early; the same fraction for
        // every span, so joins are exact (above), and under one frame (21 µs).
        let fit = |out: &[f32], from: u64| {
            (-20..=20)
                .map(|d| {
                    let shift = f64::from(d) * 0.05;
                    let worst = out
                        .chunks_exact(2)
                        .enumerate()
                        .map(|(i, f)| {
                            let t = (from as f64 + i as f64 + shift) / 48_000.0;
                            let ideal =
                                ((2.0 * std::f64::consts::PI * 997.0 * t).sin() * 0.5) as f32;
                            (f[0] - ideal).abs()
                        })
                        .fold(0.0f32, f32::max);
                    (d, worst)
                })
                .min_by(|x, y| x.1.total_cmp(&y.1))
                .unwrap()
        };
        let (shift_l, worst_l) = fit(&left, a);
        let (shift_r, worst_r) = fit(&right, b - 1_000);
        assert_eq!(shift_l, shift_r, "the same offset in every span");
        assert!(
            worst_l < 1e-3 && worst_r < 1e-3,
            "off the tone by {worst_l}, {worst_r}"
        );
    }
}
