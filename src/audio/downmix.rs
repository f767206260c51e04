//! More than two channels → stereo, for every chunk format and the player.
//!
//! ITU-R BS.775's Lo/Ro coefficients: front left and right at 1, the centre and the
//! surrounds at −3 dB (0.7071) into their side (the centre into both), the LFE left
//! out. Not scaled down: as ffmpeg (float output) and mpv do by default, so a 5.1
//! film mix keeps the level of its front pair instead of dropping 7.7 dB; the rare
//! frame where every channel peaks at once is clipped by the chunk encoder.

use symphonia::core::audio::Channels;

const MINUS_3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// (left, right) weight of one input channel.
fn weights(ch: Channels) -> [f32; 2] {
    let left = Channels::FRONT_LEFT
        | Channels::FRONT_LEFT_WIDE
        | Channels::FRONT_LEFT_HIGH
        | Channels::TOP_FRONT_LEFT;
    let right = Channels::FRONT_RIGHT
        | Channels::FRONT_RIGHT_WIDE
        | Channels::FRONT_RIGHT_HIGH
        | Channels::TOP_FRONT_RIGHT;
    let left_back = Channels::REAR_LEFT
        | Channels::SIDE_LEFT
        | Channels::FRONT_LEFT_CENTRE
        | Channels::REAR_LEFT_CENTRE
        | Channels::TOP_REAR_LEFT;
    let right_back = Channels::REAR_RIGHT
        | Channels::SIDE_RIGHT
        | Channels::FRONT_RIGHT_CENTRE
        | Channels::REAR_RIGHT_CENTRE
        | Channels::TOP_REAR_RIGHT;
    if left.contains(ch) {
        [1.0, 0.0]
    } else if right.contains(ch) {
        [0.0, 1.0]
    } else if left_back.contains(ch) {
        [MINUS_3DB, 0.0]
    } else if right_back.contains(ch) {
        [0.0, MINUS_3DB]
    } else if ch == Channels::LFE1 || ch == Channels::LFE2 {
        [0.0, 0.0]
    } else {
        // Centres (front, rear, top): into both sides.
        [MINUS_3DB, MINUS_3DB]
    }
}

/// A downmix matrix for a layout of more than two channels, in interleaving order
/// (symphonia interleaves by ascending channel bit).
#[derive(Debug, Clone, PartialEq)]
pub struct Downmix {
    rows: Vec<[f32; 2]>,
}

impl Downmix {
    /// `None` for mono and stereo (passed through as they are).
    pub fn for_layout(layout: Channels) -> Option<Self> {
        if layout.count() <= 2 {
            return None;
        }
        Some(Self {
            rows: layout.iter().map(weights).collect(),
        })
    }

    /// Input channels per frame.
    pub fn inputs(&self) -> usize {
        self.rows.len()
    }

    /// Interleaved frames of `inputs()` channels → interleaved stereo, appended to `out`.
    pub fn apply(&self, input: &[f32], out: &mut Vec<f32>) {
        out.reserve(input.len() / self.rows.len().max(1) * 2);
        for frame in input.chunks_exact(self.rows.len()) {
            let (mut l, mut r) = (0.0f32, 0.0f32);
            for (x, w) in frame.iter().zip(&self.rows) {
                l += x * w[0];
                r += x * w[1];
            }
            out.push(l);
            out.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five_one() -> Channels {
        Channels::FRONT_LEFT
            | Channels::FRONT_RIGHT
            | Channels::FRONT_CENTRE
            | Channels::LFE1
            | Channels::REAR_LEFT
            | Channels::REAR_RIGHT
    }

    #[test]
    fn five_one_uses_itu_weights() {
        let d = Downmix::for_layout(five_one()).unwrap();
        // Order: FL FR FC LFE RL RR. The front pair passes at unity.
        let mut out = Vec::new();
        d.apply(&[0.5, -0.25, 0.0, 0.0, 0.0, 0.0], &mut out);
        assert_eq!(out, vec![0.5, -0.25]);
        // The centre alone lands in both sides at −3 dB relative to a front channel.
        out.clear();
        d.apply(
            &[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            &mut out,
        );
        assert!((out[0] - out[1]).abs() < 1e-6);
        assert!((out[0] / out[2] - MINUS_3DB).abs() < 1e-6, "{out:?}");
        assert_eq!(out[3], 0.0);
        // The LFE is left out.
        out.clear();
        d.apply(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &mut out);
        assert_eq!(out, vec![0.0, 0.0]);
        assert!(Downmix::for_layout(Channels::FRONT_LEFT | Channels::FRONT_RIGHT).is_none());
    }
}
