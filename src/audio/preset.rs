//! Presets applied to decoded chunks. Stateless per sample, so every chunk of a track
//! is processed identically whatever order chunks are decoded in (cacheable, and
//! concatenated chunks equal the whole track processed at once).

/// Loudness the `normalized` preset moves toward (streaming services use about -14).
pub const TARGET_LUFS: f64 = -14.0;
/// Above this level the limiter bends samples smoothly toward full scale.
const KNEE: f32 = 0.9;

/// A processing preset (part of the cache key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Original,
    /// Toward the target by the track's loudness (ReplayGain/R128 track gain, else
    /// measured).
    Normalized,
    /// The same by the album's loudness (album gain), so an album's tracks keep their
    /// levels relative to each other; the track's when the file has no album gain.
    NormalizedAlbum,
}

impl Preset {
    pub fn parse(s: &str) -> Option<Preset> {
        match s {
            "original" => Some(Preset::Original),
            "normalized" => Some(Preset::Normalized),
            "normalized_album" => Some(Preset::NormalizedAlbum),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Original => "original",
            Preset::Normalized => "normalized",
            Preset::NormalizedAlbum => "normalized_album",
        }
    }

    /// Every preset's name, as requests give them.
    pub const NAMES: [&'static str; 3] = ["original", "normalized", "normalized_album"];

    /// True for the presets that change the level (and need a loudness).
    pub fn normalizes(self) -> bool {
        self != Preset::Original
    }
}

/// Gain (linear) of `normalized` for a track of `lufs`, blended by `intensity` (0..=1)
/// in dB: 0 leaves the track alone, 1 moves it all the way to the target.
pub fn normalization_gain(lufs: f64, intensity: f64) -> f32 {
    if !lufs.is_finite() {
        return 1.0; // silence or unmeasurable: leave as is
    }
    let db = (TARGET_LUFS - lufs) * intensity.clamp(0.0, 1.0);
    10f64.powf(db / 20.0) as f32
}

/// Soft-knee limiter: identity below the knee, then a tanh curve that approaches but
/// never reaches full scale, so no sample clips.
pub fn limit(x: f32) -> f32 {
    let a = x.abs();
    if a <= KNEE {
        x
    } else {
        let room = 1.0 - KNEE;
        x.signum() * (KNEE + room * ((a - KNEE) / room).tanh() * 0.999)
    }
}

/// Applies a preset in place.
pub fn apply(samples: &mut [f32], preset: Preset, gain: f32) {
    if preset == Preset::Original {
        return;
    }
    for s in samples {
        *s = limit(*s * gain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_never_clips_and_keeps_quiet_samples() {
        for i in -4000..=4000 {
            let x = i as f32 / 1000.0;
            let y = limit(x);
            assert!(y.abs() < 1.0, "{x} -> {y}");
            if x.abs() <= 0.9 {
                assert_eq!(y, x);
            }
        }
        assert!((normalization_gain(-20.0, 1.0) - 10f32.powf(6.0 / 20.0)).abs() < 1e-5);
        assert_eq!(normalization_gain(-20.0, 0.0), 1.0);
    }
}
