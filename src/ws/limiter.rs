//! Per-connection priority rate limiting (docs/PROTOCOL.md "Priorities and rate limits"):
//! one sliding-window counter per connection counts every admitted message; a message is
//! admitted while the window's count is below `base × multiplier` of its own priority,
//! so low priority is squeezed first and heartbeats are almost never refused.
//! O(1) memory: the classic two-bucket sliding-window estimate, not a log of times.

use super::protocol::Priority;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub(crate) struct PriorityLimiter {
    base: f64,
    window_ms: u64,
    current_start: u64,
    current: u32,
    previous: u32,
}

impl PriorityLimiter {
    pub(crate) fn new(base_per_window: u32, window_ms: u64) -> Self {
        Self {
            base: f64::from(base_per_window),
            window_ms: window_ms.max(1),
            current_start: 0,
            current: 0,
            previous: 0,
        }
    }

    fn roll(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.current_start);
        if elapsed >= 2 * self.window_ms {
            self.previous = 0;
            self.current = 0;
            self.current_start = now_ms - now_ms % self.window_ms;
        } else if elapsed >= self.window_ms {
            self.previous = self.current;
            self.current = 0;
            self.current_start += self.window_ms;
        }
    }

    /// Weighted count over the last window.
    pub(crate) fn count(&mut self, now_ms: u64) -> f64 {
        self.roll(now_ms);
        let into = (now_ms - self.current_start) as f64 / self.window_ms as f64;
        f64::from(self.previous) * (1.0 - into) + f64::from(self.current)
    }

    /// Admits (and counts) a message, or says how long until it would be admitted.
    pub(crate) fn admit(&mut self, priority: Priority, now_ms: u64) -> Result<(), u64> {
        let limit = self.base * priority.multiplier();
        if self.count(now_ms) < limit {
            self.current += 1;
            return Ok(());
        }
        // Conservative: the estimate is below the limit by the next window at the latest.
        let next = self.current_start + self.window_ms;
        Err(next.saturating_sub(now_ms).max(1))
    }

    /// Share of this connection's own ceiling in use (for ConnectionInfo): the window's
    /// count over the most the limiter ever admits (the critical-priority limit), so
    /// 1.0 means even heartbeats are refused. Dividing by the base rate instead read 6.0
    /// for a client that was only sending pings, well within its limits.
    pub(crate) fn utilization(&mut self, now_ms: u64) -> f64 {
        (self.count(now_ms) / (self.base * Priority::Critical.multiplier())).min(1.0)
    }
}

/// One [`PriorityLimiter`] per client key (`cidr::client_key`) on this core, shared by
/// all of that client's connections: thirty sockets get one budget, not thirty. A
/// budget outlives its connections until its window has passed (closing and reopening
/// does not refill it); idle ones are swept when the table has doubled since the last
/// sweep, so the table stays within twice the clients with live budgets.
#[derive(Debug, Default)]
pub(crate) struct ClientBudgets {
    by_client: std::collections::HashMap<std::net::IpAddr, Rc<RefCell<PriorityLimiter>>>,
    swept_at_len: usize,
}

impl ClientBudgets {
    /// The budget of `client`, made with `base` per `window_ms` if it has none.
    pub(crate) fn of(
        &mut self,
        client: std::net::IpAddr,
        base: u32,
        window_ms: u64,
        now_ms: u64,
    ) -> Rc<RefCell<PriorityLimiter>> {
        if self.by_client.len() >= 2 * self.swept_at_len.max(512) {
            self.by_client
                .retain(|_, l| Rc::strong_count(l) > 1 || l.borrow_mut().count(now_ms) > 0.0);
            self.swept_at_len = self.by_client.len();
        }
        self.by_client
            .entry(client)
            .or_insert_with(|| Rc::new(RefCell::new(PriorityLimiter::new(base, window_ms))))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_is_squeezed_first_and_critical_last() {
        let mut l = PriorityLimiter::new(10, 60_000);
        let mut admitted = |p| (0..100).filter(|_| l.admit(p, 1000).is_ok()).count();
        assert_eq!(admitted(Priority::Low), 5);
        assert_eq!(admitted(Priority::Normal), 5, "up to base 10 in all");
        assert_eq!(admitted(Priority::High), 10, "up to 20");
        assert_eq!(admitted(Priority::Critical), 80, "up to 100");
        let mut l = PriorityLimiter::new(10, 1000);
        for _ in 0..10 {
            l.admit(Priority::Normal, 0).unwrap();
        }
        let wait = l.admit(Priority::Normal, 500).unwrap_err();
        assert_eq!(wait, 500);
        // Half a window later the previous window counts half.
        assert!(l.admit(Priority::Normal, 1500).is_ok());
        assert!(
            l.admit(Priority::Normal, 3500).is_ok(),
            "old windows expire"
        );
    }

    #[test]
    fn utilization_is_a_share_of_the_connections_own_ceiling() {
        // 600 pings in a window of a base-100 connection: within its critical limit
        // (1 000), so 0.6 of its ceiling, not "6.0" of the base rate.
        let mut l = PriorityLimiter::new(100, 60_000);
        for _ in 0..600 {
            l.admit(Priority::Critical, 10).unwrap();
        }
        assert!((l.utilization(10) - 0.6).abs() < 1e-9);
        for _ in 0..400 {
            l.admit(Priority::Critical, 10).unwrap();
        }
        assert!(l.admit(Priority::Critical, 10).is_err());
        assert_eq!(
            l.utilization(10),
            1.0,
            "at the ceiling: even heartbeats wait"
        );
    }
}
