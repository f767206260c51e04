//! Reconnect pacing for the broker threads: 100 ms doubling to 5 s, reset by a
//! success, so a broker that is down costs a connect attempt every few seconds, not a
//! busy loop, and one that returns is used again within 5 s.

use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct Backoff {
    next_delay: Duration,
    not_before: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next_delay: FIRST,
            not_before: None,
        }
    }
}

impl Backoff {
    /// Whether an attempt may be made now.
    pub(crate) fn ready(&self) -> bool {
        self.not_before.is_none_or(|t| Instant::now() >= t)
    }

    /// How long until an attempt may be made.
    pub(crate) fn wait(&self) -> Duration {
        self.not_before
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// An attempt failed: the next waits longer.
    pub(crate) fn failed(&mut self) {
        self.not_before = Some(Instant::now() + self.next_delay);
        self.next_delay = (self.next_delay * 2).min(MAX);
    }

    /// An attempt succeeded: the next failure starts from the first delay again.
    pub(crate) fn succeeded(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        assert!(b.ready());
        for _ in 0..10 {
            b.failed();
        }
        assert!(!b.ready());
        assert!(b.wait() > Duration::from_secs(4) && b.wait() <= MAX);
        assert_eq!(b.next_delay, MAX);
        b.succeeded();
        assert!(b.ready() && b.next_delay == FIRST);
    }
}
