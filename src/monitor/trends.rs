//! Trends over the window. Rule: with at least 20 samples, compare the mean of the last
//! 10 with the mean of the whole window; more than 10 % worse is `degrading`, more than
//! 10 % better is `improving`, else `stable` (fewer samples: `stable`). "Worse" depends
//! on the metric: higher latency or error rate is worse, lower hit rate or throughput is.

use serde::Serialize;

pub(crate) const MIN_SAMPLES: usize = 20;
pub(crate) const RECENT: usize = 10;
pub(crate) const BAND: f64 = 0.10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Trend {
    Improving,
    Degrading,
    Stable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    Lower,
    Higher,
}

pub(crate) fn trend(samples: &[f64], better: Better) -> Trend {
    if samples.len() < MIN_SAMPLES {
        return Trend::Stable;
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let window = mean(samples);
    let recent = mean(&samples[samples.len() - RECENT..]);
    if window.abs() < f64::EPSILON {
        return if recent.abs() < f64::EPSILON {
            Trend::Stable
        } else if better == Better::Lower {
            Trend::Degrading
        } else {
            Trend::Improving
        };
    }
    let change = (recent - window) / window.abs();
    let worse = match better {
        Better::Lower => change > BAND,
        Better::Higher => change < -BAND,
    };
    let better_now = match better {
        Better::Lower => change < -BAND,
        Better::Higher => change > BAND,
    };
    if worse {
        Trend::Degrading
    } else if better_now {
        Trend::Improving
    } else {
        Trend::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_ramp_degrades_then_improves() {
        // p99 flat at 2 ms, then ramping up to 6 ms...
        let mut s: Vec<f64> = vec![2000.0; 30];
        assert_eq!(trend(&s, Better::Lower), Trend::Stable);
        s.extend((1..=10).map(|i| 2000.0 + 400.0 * f64::from(i)));
        assert_eq!(trend(&s, Better::Lower), Trend::Degrading);
        // ...then back down and settling below where it started: the last ten samples
        // (1 000) are well under the window mean.
        s.extend((1..=10).map(|i| 6000.0 - 500.0 * f64::from(i)));
        s.extend([1000.0; 10]);
        assert_eq!(trend(&s, Better::Lower), Trend::Improving);
        // Direction-aware: the same falling series is degrading for a hit rate.
        let hits: Vec<f64> = (0..40).map(|i| if i < 30 { 0.9 } else { 0.6 }).collect();
        assert_eq!(trend(&hits, Better::Higher), Trend::Degrading);
        assert_eq!(
            trend(&hits[..15], Better::Higher),
            Trend::Stable,
            "too few samples"
        );
    }
}
