//! Per-client priority rate limiting (docs/PROTOCOL.md "Priorities and rate limits"):
//! each priority has its own budget of `base × multiplier` messages per window
//! (critical 10×, high 2×, normal 1×, low 0.5×), so a client's keepalive pings never
//! eat into its playback control, nor its status polling into its queue edits.
//! O(1) memory per budget: the classic two-bucket sliding-window estimate, not a log
//! of times.

use super::protocol::Priority;
use std::cell::RefCell;
use std::rc::Rc;

/// One sliding-window counter.
#[derive(Debug, Clone, Default)]
struct Window {
    current_start: u64,
    current: u32,
    previous: u32,
}

impl Window {
    fn roll(&mut self, now_ms: u64, window_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.current_start);
        if elapsed >= 2 * window_ms {
            self.previous = 0;
            self.current = 0;
            self.current_start = now_ms - now_ms % window_ms;
        } else if elapsed >= window_ms {
            self.previous = self.current;
            self.current = 0;
            self.current_start += window_ms;
        }
    }

    /// Weighted count over the last window.
    fn count(&mut self, now_ms: u64, window_ms: u64) -> f64 {
        self.roll(now_ms, window_ms);
        let into = (now_ms - self.current_start) as f64 / window_ms as f64;
        f64::from(self.previous) * (1.0 - into) + f64::from(self.current)
    }
}

/// The four budgets of one client.
#[derive(Debug, Clone)]
pub(crate) struct PriorityLimiter {
    base: f64,
    window_ms: u64,
    /// By `Priority as usize`.
    windows: [Window; 4],
}

impl PriorityLimiter {
    pub(crate) fn new(base_per_window: u32, window_ms: u64) -> Self {
        Self {
            base: f64::from(base_per_window),
            window_ms: window_ms.max(1),
            windows: Default::default(),
        }
    }

    /// Messages of `priority` admitted per window.
    pub(crate) fn budget(&self, priority: Priority) -> f64 {
        self.base * priority.multiplier()
    }

    /// Weighted count of `priority` over the last window.
    pub(crate) fn count(&mut self, priority: Priority, now_ms: u64) -> f64 {
        self.windows[priority as usize].count(now_ms, self.window_ms)
    }

    /// Admits (and counts) a message, or says how long until it would be admitted.
    pub(crate) fn admit(&mut self, priority: Priority, now_ms: u64) -> Result<(), u64> {
        let limit = self.budget(priority);
        let window = &mut self.windows[priority as usize];
        if window.count(now_ms, self.window_ms) < limit {
            window.current += 1;
            return Ok(());
        }
        // Conservative: the estimate is below the limit by the next window at the latest.
        let next = window.current_start + self.window_ms;
        Err(next.saturating_sub(now_ms).max(1))
    }

    /// Share of the fullest budget in use (for ConnectionInfo): 1.0 means some priority
    /// is being refused.
    pub(crate) fn utilization(&mut self, now_ms: u64) -> f64 {
        Priority::ALL
            .iter()
            .map(|p| self.count(*p, now_ms) / self.budget(*p))
            .fold(0.0, f64::max)
            .min(1.0)
    }

    /// Whether any budget still counts a message (an idle one can be swept).
    fn in_use(&mut self, now_ms: u64) -> bool {
        Priority::ALL.iter().any(|p| self.count(*p, now_ms) > 0.0)
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
                .retain(|_, l| Rc::strong_count(l) > 1 || l.borrow_mut().in_use(now_ms));
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
    fn each_priority_has_its_own_budget() {
        let mut l = PriorityLimiter::new(10, 60_000);
        let mut admitted = |p| (0..200).filter(|_| l.admit(p, 1000).is_ok()).count();
        assert_eq!(admitted(Priority::Critical), 100, "10×");
        assert_eq!(admitted(Priority::High), 20, "2×, untouched by the pings");
        assert_eq!(admitted(Priority::Normal), 10, "1×");
        assert_eq!(admitted(Priority::Low), 5, "0.5×");
        let mut l = PriorityLimiter::new(10, 1000);
        for _ in 0..10 {
            l.admit(Priority::Normal, 0).unwrap();
        }
        let wait = l.admit(Priority::Normal, 500).unwrap_err();
        assert_eq!(wait, 500);
        assert!(l.admit(Priority::High, 500).is_ok(), "another budget");
        // Half a window later the previous window counts half.
        assert!(l.admit(Priority::Normal, 1500).is_ok());
        assert!(
            l.admit(Priority::Normal, 3500).is_ok(),
            "old windows expire"
        );
    }

    #[test]
    fn utilization_is_the_fullest_budgets_share() {
        let mut l = PriorityLimiter::new(100, 60_000);
        for _ in 0..600 {
            l.admit(Priority::Critical, 10).unwrap();
        }
        assert!((l.utilization(10) - 0.6).abs() < 1e-9);
        for _ in 0..100 {
            l.admit(Priority::Normal, 10).unwrap();
        }
        assert!(l.admit(Priority::Normal, 10).is_err());
        assert_eq!(l.utilization(10), 1.0, "normal is being refused");
    }
}
