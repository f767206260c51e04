//! Per-client-IP fixed-window request counters, one table per core.
//!
//! Correct without sharing only because the socket filter pins every connection of a
//! client IP to one core. Bounded: expired windows are swept, and past the bound the
//! table evicts an arbitrary entry rather than growing (an attacker spraying source
//! addresses can then at worst reset someone's window, never exhaust memory).

use super::context::RateDecision;
use super::router::RouteClass;
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    count: u32,
}

/// The buckets of one core.
#[derive(Debug)]
pub(crate) struct ClientLimiter {
    windows: HashMap<(IpAddr, RouteClass), Window>,
    window_ms: u64,
    max_entries: usize,
}

impl ClientLimiter {
    pub(crate) fn new(window_ms: u64, max_entries: usize) -> Self {
        Self {
            windows: HashMap::new(),
            window_ms,
            max_entries,
        }
    }

    /// Counts one request of `ip` in `class` at time `now_ms` against `limit`.
    pub(crate) fn check(
        &mut self,
        ip: IpAddr,
        class: RouteClass,
        limit: u32,
        now_ms: u64,
    ) -> RateDecision {
        let key = (ip, class);
        if !self.windows.contains_key(&key) && self.windows.len() >= self.max_entries {
            self.sweep(now_ms);
            if self.windows.len() >= self.max_entries
                && let Some(victim) = self.windows.keys().next().copied()
            {
                self.windows.remove(&victim);
            }
        }
        let w = self.windows.entry(key).or_insert(Window {
            start_ms: now_ms,
            count: 0,
        });
        if now_ms >= w.start_ms + self.window_ms {
            *w = Window {
                start_ms: now_ms,
                count: 0,
            };
        }
        let allowed = w.count < limit;
        if allowed {
            w.count += 1;
        }
        let reset_ms = (w.start_ms + self.window_ms).saturating_sub(now_ms);
        RateDecision {
            limit,
            remaining: limit.saturating_sub(w.count),
            reset_s: reset_ms.div_ceil(1000).max(1),
            allowed,
        }
    }

    /// Drops windows that have expired; run periodically and when full.
    pub(crate) fn sweep(&mut self, now_ms: u64) {
        let window = self.window_ms;
        self.windows.retain(|_, w| now_ms < w.start_ms + window);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.windows.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_resets_and_stays_bounded() {
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let mut l = ClientLimiter::new(1000, 2);
        for i in 0..3 {
            let d = l.check(ip, RouteClass::Api, 3, 10);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2 - i);
        }
        let d = l.check(ip, RouteClass::Api, 3, 500);
        assert!(!d.allowed);
        assert_eq!(d.reset_s, 1);
        assert!(
            l.check(ip, RouteClass::Stream, 3, 500).allowed,
            "classes are separate"
        );
        assert!(
            l.check(ip, RouteClass::Api, 3, 1010).allowed,
            "window reset"
        );
        for n in 0..10u8 {
            l.check(IpAddr::from([10, 0, 0, n]), RouteClass::Api, 3, 1020);
        }
        assert!(l.len() <= 2);
        l.sweep(5000);
        assert!(l.is_empty());
    }
}
