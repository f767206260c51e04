//! k6-style pass/fail thresholds on a finished run: `--threshold 'p99<5ms'`,
//! `--threshold 'errors<0.1%'`, `--threshold 'rate>=900'` (repeatable). Each is
//! judged against the report and printed on its own line; any crossed one makes the
//! process exit 99, so a CI job can gate on a load test.

use crate::report::Report;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency percentile (`p50`, `p90`, `p99`, `p999`) or `max`, in µs.
    Latency(&'static str),
    /// Failed requests (transport failures, 4xx and 5xx) over all requests.
    Errors,
    /// Achieved requests (or deliveries) per second.
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    metric: Metric,
    op: Op,
    /// In the metric's unit: µs, a share (0.001 for 0.1 %), per second.
    limit: f64,
}

/// A threshold's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub text: String,
    pub value: f64,
    pub passed: bool,
}

/// Why a threshold does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("threshold {0:?}: expected METRIC<VALUE, e.g. p99<5ms, errors<0.1%, rate>=900")]
    Syntax(String),
    #[error("threshold {0:?}: unknown metric (p50, p90, p99, p999, max, errors, rate)")]
    Metric(String),
    #[error("threshold {0:?}: {1}")]
    Value(String, &'static str),
}

fn metric(name: &str) -> Option<Metric> {
    Some(match name {
        "p50" => Metric::Latency("p50"),
        "p90" => Metric::Latency("p90"),
        "p99" => Metric::Latency("p99"),
        "p999" | "p99.9" => Metric::Latency("p999"),
        "max" => Metric::Latency("max"),
        "errors" => Metric::Errors,
        "rate" => Metric::Rate,
        _ => return None,
    })
}

/// The largest latency a threshold may name: an hour (a run is bounded far below).
const MAX_MICROS: f64 = 3.6e9;
/// The largest rate a threshold may name.
const MAX_RATE: f64 = 1e9;

/// A duration in µs: `250us` (or `µs`), `5ms`, `1.5s` (a bare number is ms).
fn micros(v: &str) -> Option<f64> {
    let micro = ["us", "\u{b5}s", "\u{3bc}s"]
        .iter()
        .find_map(|u| v.strip_suffix(u));
    let (num, scale) = if let Some(n) = micro {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        (v, 1e3)
    };
    num.parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|us| *us <= MAX_MICROS)
}

/// A share: `0.1%` or `0.001`, at most all of them.
fn share(v: &str) -> Option<f64> {
    match v.strip_suffix('%') {
        Some(p) => p.parse::<f64>().ok().map(|p| p / 100.0),
        None => v.parse().ok(),
    }
    .filter(|s| *s <= 1.0)
}

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Self, ThresholdError> {
        // White space anywhere (a shell's stray newline included) is not part of it.
        let t: String = text.split_whitespace().collect();
        let at = t
            .find(['<', '>'])
            .ok_or_else(|| ThresholdError::Syntax(text.into()))?;
        let (name, rest) = t.split_at(at);
        let (op, value) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'<', ..] => (Op::Lt, &rest[1..]),
            _ => (Op::Gt, &rest[1..]),
        };
        let metric = metric(name).ok_or_else(|| ThresholdError::Metric(text.into()))?;
        let limit = match metric {
            Metric::Latency(_) => micros(value),
            Metric::Errors => share(value),
            Metric::Rate => value.parse().ok().filter(|r| *r <= MAX_RATE),
        }
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or(ThresholdError::Value(
            text.into(),
            "not a number in the metric's unit and range (latency: 0 to 1 h in us/µs/ms/s; \
             errors: 0 to 100 %; rate: 0 to 1e9 per second)",
        ))?;
        Ok(Threshold {
            text: text.to_string(),
            metric,
            op,
            limit,
        })
    }
}

impl Threshold {
    fn value(&self, r: &Report) -> f64 {
        let l = &r.latency_us;
        match self.metric {
            Metric::Latency(p) => {
                (match p {
                    "p50" => l.p50,
                    "p90" => l.p90,
                    "p99" => l.p99,
                    "p999" => l.p999,
                    _ => l.max,
                }) as f64
            }
            Metric::Errors => r.errors.total() as f64 / r.requests.max(1) as f64,
            Metric::Rate => r.achieved_rate,
        }
    }

    /// Judges the run.
    pub fn judge(&self, r: &Report) -> Verdict {
        let value = self.value(r);
        let passed = match self.op {
            Op::Lt => value < self.limit,
            Op::Le => value <= self.limit,
            Op::Gt => value > self.limit,
            Op::Ge => value >= self.limit,
        };
        Verdict {
            text: self.text.clone(),
            value,
            passed,
        }
    }

    /// The measured value in the threshold's own unit, for the summary line.
    pub fn show(&self, value: f64) -> String {
        match self.metric {
            Metric::Latency(_) => format!("{:.3}ms", value / 1e3),
            Metric::Errors => format!("{:.3}%", value * 100.0),
            Metric::Rate => format!("{value:.1}/s"),
        }
    }
}

/// The summary: one line per threshold; `true` when every one passed.
pub fn summary(thresholds: &[Threshold], r: &Report) -> (String, bool) {
    let mut out = String::new();
    let mut all = true;
    for t in thresholds {
        let v = t.judge(r);
        all &= v.passed;
        out.push_str(&format!(
            "threshold {:<20} {} (measured {})\n",
            v.text,
            if v.passed { "passed" } else { "CROSSED" },
            t.show(v.value)
        ));
    }
    (out, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_style_thresholds() {
        let t: Threshold = "p99<5ms".parse().unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::Latency("p99"), Op::Lt, 5000.0)
        );
        let t: Threshold = "errors < 0.1%".parse().unwrap();
        assert_eq!((t.metric, t.op), (Metric::Errors, Op::Lt));
        assert!((t.limit - 0.001).abs() < 1e-12);
        let t: Threshold = "rate>=900".parse().unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Rate, Op::Ge, 900.0));
        let t: Threshold = "max<=1.5s".parse().unwrap();
        assert_eq!((t.op, t.limit), (Op::Le, 1.5e6));
        assert!(matches!(
            "p98<1ms".parse::<Threshold>(),
            Err(ThresholdError::Metric(_))
        ));
        assert!(matches!(
            "p99".parse::<Threshold>(),
            Err(ThresholdError::Syntax(_))
        ));
        assert!(matches!(
            "p99<fast".parse::<Threshold>(),
            Err(ThresholdError::Value(..))
        ));
        assert!(matches!(
            "p99<-1ms".parse::<Threshold>(),
            Err(ThresholdError::Value(..))
        ));
        // Out of the metric's range: a usage error, not a verdict.
        for bad in [
            "errors<200%",
            "errors<1.5",
            "p99<1e20s",
            "p99<2h",
            "rate>1e300",
        ] {
            assert!(
                matches!(bad.parse::<Threshold>(), Err(ThresholdError::Value(..))),
                "{bad}"
            );
        }
        // µs in either spelling, white space anywhere (a trailing newline too).
        for same in ["p99<5µs", "p99<5\u{3bc}s", "p99 < 5us", "p99<5us\n"] {
            let t: Threshold = same.parse().unwrap();
            assert_eq!(t.limit, 5.0, "{same:?}");
        }
    }
}
