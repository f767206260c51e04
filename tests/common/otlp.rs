//! A real OTLP/HTTP receiver for the tracing tests: `tests/otlp/receiver.py`, which
//! decodes the exported protobuf with the OpenTelemetry project's Python classes.
//! `None` (and the caller prints why it skips) when python3 or the
//! `opentelemetry-proto` package is missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Collector {
    child: Child,
    pub port: u16,
}

impl Collector {
    pub fn start() -> Option<Collector> {
        Self::start_with(&[])
    }

    /// With receiver options (`--status 503`, `--partial-reject 2`).
    pub fn start_with(args: &[&str]) -> Option<Collector> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let stdout = child.stdout.take()?;
        BufReader::new(stdout).read_line(&mut line).ok()?;
        let Some(port) = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        Some(Collector { child, port })
    }

    /// The `[tracing] otlp_endpoint` that reaches it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/spans", self.port);
        let text = ureq::get(&url)
            .call()
            .expect("collector answers")
            .into_string()
            .expect("collector's JSON");
        serde_json::from_str::<Vec<serde_json::Value>>(&text).expect("span list")
    }

    /// Waits (at most `within`) until some span matches `want`; returns the matches.
    pub fn wait(
        &self,
        within: Duration,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let got: Vec<_> = self.spans().into_iter().filter(|s| want(s)).collect();
            if !got.is_empty() || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A span's attribute.
pub fn attr<'a>(span: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    &span["attributes"][key]
}

/// The collector test's skip message (printed, never silent).
pub fn skip(test: &str) {
    eprintln!(
        "SKIPPED {test}: needs python3 with the opentelemetry-proto package (pip install opentelemetry-proto; .ci/run installs it)"
    );
}
