//! Failed Subsonic logins, limited per user and per client address, process-wide (a
//! papaya map in `Shared`, read without a lock on every login; written on failures
//! only). A guesser gets [`PER_USER`] wrong passwords a minute against one user and
//! [`PER_ADDRESS`] from one address (an IPv6 client's whole /64); past either, every
//! login of that user or address is refused, right password or not, until the minute
//! ends. What is refused is counted and logged, never silent.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Failed logins one user may take per window.
pub(crate) const PER_USER: u32 = 10;
/// Failed logins one address may make per window.
pub(crate) const PER_ADDRESS: u32 = 30;
/// The window, seconds.
pub(crate) const WINDOW_S: u64 = 60;
/// Keys kept before expired ones are swept (bounds memory under a spray of names).
const MAX_KEYS: usize = 100_000;

/// A key's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started_s: u64,
    failures: u32,
}

pub(crate) struct LoginThrottle {
    epoch: Instant,
    keys: papaya::HashMap<String, Window>,
    /// Wrong credentials, all time.
    pub(crate) failures: AtomicU64,
    /// Logins refused because a limit was reached, all time.
    pub(crate) refused: AtomicU64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            keys: papaya::HashMap::new(),
            failures: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }
}

fn user_key(user: &str) -> String {
    format!("u:{user}")
}

/// An address as the throttle counts it: IPv4 whole, IPv6 by its /64 (one host's
/// usual allotment, so rotating addresses inside it gains nothing).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("a:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("a:{v4}"),
            None => {
                let s = v6.segments();
                format!("a:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl LoginThrottle {
    fn now_s(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }

    fn over(&self, key: &str, limit: u32, now: u64) -> Option<u64> {
        let keys = self.keys.pin();
        let w = keys.get(key)?;
        let ends = w.started_s + WINDOW_S;
        (now < ends && w.failures >= limit).then_some(ends - now)
    }

    /// `Some(seconds)`: this login is refused for that long (a limit was reached).
    pub(crate) fn check(&self, user: Option<&str>, ip: IpAddr) -> Option<u64> {
        let now = self.now_s();
        let wait = user
            .and_then(|u| self.over(&user_key(u), PER_USER, now))
            .or_else(|| self.over(&address_key(ip), PER_ADDRESS, now));
        if wait.is_some() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        wait
    }

    /// Counts a failed login against the user (when named) and the address.
    pub(crate) fn failed(&self, user: Option<&str>, ip: IpAddr) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = self.now_s();
        let keys = self.keys.pin();
        if keys.len() >= MAX_KEYS {
            keys.retain(|_, w| now < w.started_s + WINDOW_S);
        }
        for (key, limit) in [
            (user.map(user_key), PER_USER),
            (Some(address_key(ip)), PER_ADDRESS),
        ] {
            let Some(key) = key else { continue };
            let w = keys.update_or_insert(
                key.clone(),
                |w| match now < w.started_s + WINDOW_S {
                    true => Window {
                        failures: w.failures.saturating_add(1),
                        ..*w
                    },
                    false => Window {
                        started_s: now,
                        failures: 1,
                    },
                },
                Window {
                    started_s: now,
                    failures: 1,
                },
            );
            if w.failures == limit {
                tracing::warn!(key = %key, limit, window_s = WINDOW_S, "subsonic: failed-login limit reached; logins refused until the window ends");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_locked_after_its_limit_and_an_address_after_its_own() {
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..PER_USER {
            assert_eq!(t.check(Some("alice"), a), None);
            t.failed(Some("alice"), a);
        }
        assert!(
            t.check(Some("alice"), "10.9.9.9".parse().unwrap())
                .is_some(),
            "the user, from anywhere"
        );
        assert_eq!(t.check(Some("bob"), "10.0.0.2".parse().unwrap()), None);
        for i in 0..PER_ADDRESS {
            t.failed(Some(&format!("n{i}")), "2001:db8::1".parse().unwrap());
        }
        assert!(
            t.check(Some("carol"), "2001:db8::ffff".parse().unwrap())
                .is_some(),
            "the whole /64"
        );
        assert_eq!(t.check(Some("carol"), "2001:db9::1".parse().unwrap()), None);
        assert_eq!(
            t.failures.load(Ordering::Relaxed),
            u64::from(PER_USER + PER_ADDRESS)
        );
        assert_eq!(t.refused.load(Ordering::Relaxed), 2);
    }
}
