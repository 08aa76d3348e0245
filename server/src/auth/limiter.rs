//! Sign-in attempt limits: failed attempts are counted per client address and per account over a sliding window;
//! past the limit, further attempts are refused (before the password is even checked) until old failures age out.
//! Time is a parameter, so tests step it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Account(String),
}

#[derive(Debug)]
pub struct AttemptLimiter {
    window: Duration,
    max_per_ip: usize,
    max_per_account: usize,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

/// Entries kept before stale ones are swept, bounding memory under a spray of addresses or names.
const SWEEP_AT: usize = 10_000;

impl AttemptLimiter {
    pub fn new(window: Duration, max_per_ip: usize, max_per_account: usize) -> Self {
        AttemptLimiter {
            window,
            max_per_ip,
            max_per_account,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when either the address or the account has too many recent failures.
    pub fn check(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, max) in [
            (Key::Ip(ip), self.max_per_ip),
            (Key::Account(account.to_lowercase()), self.max_per_account),
        ] {
            if let Some(times) = failures.get_mut(&key) {
                prune(times, now, self.window);
                if times.len() >= max {
                    // Allowed again once enough of the oldest failures leave the window.
                    let oldest_blocking = times[times.len() - max];
                    wait = wait.max((oldest_blocking + self.window).saturating_duration_since(now));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    pub fn record_failure(&self, ip: IpAddr, account: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, times| {
                prune(times, now, self.window);
                !times.is_empty()
            });
        }
        for key in [Key::Ip(ip), Key::Account(account.to_lowercase())] {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// A successful sign-in clears the account's failures (not the address's: one good password must not reset a
    /// spray over many accounts).
    pub fn record_success(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&Key::Account(account.to_lowercase()));
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(900);

    #[test]
    fn an_account_is_locked_after_its_limit_and_unlocks_when_failures_age_out() {
        let limiter = AttemptLimiter::new(WINDOW, 100, 3);
        let t0 = Instant::now();
        let ip = IpAddr::from([10, 0, 0, 1]);
        for i in 0..3 {
            assert!(
                limiter.check(ip, "alice", t0).is_ok(),
                "attempt {i} allowed"
            );
            limiter.record_failure(ip, "Alice", t0 + Duration::from_secs(i));
        }
        let wait = limiter
            .check(
                IpAddr::from([10, 0, 0, 2]),
                "ALICE",
                t0 + Duration::from_secs(5),
            )
            .unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(895),
            "locked for every address, case-insensitively"
        );
        assert!(
            limiter.check(ip, "bob", t0).is_ok(),
            "other accounts are unaffected"
        );
        assert!(
            limiter.check(ip, "alice", t0 + WINDOW).is_ok(),
            "unlocked once the first failure ages out"
        );
    }

    #[test]
    fn an_address_is_limited_across_accounts() {
        let limiter = AttemptLimiter::new(WINDOW, 4, 100);
        let t0 = Instant::now();
        let ip = IpAddr::from([192, 0, 2, 7]);
        for name in ["a", "b", "c", "d"] {
            limiter.record_failure(ip, name, t0);
        }
        assert!(limiter.check(ip, "e", t0).is_err());
        assert!(limiter.check(IpAddr::from([192, 0, 2, 8]), "e", t0).is_ok());
    }

    #[test]
    fn success_clears_the_account_only() {
        let limiter = AttemptLimiter::new(WINDOW, 2, 2);
        let t0 = Instant::now();
        let ip = IpAddr::from([192, 0, 2, 9]);
        limiter.record_failure(ip, "carol", t0);
        limiter.record_failure(ip, "carol", t0);
        limiter.record_success("carol");
        assert!(limiter
            .check(IpAddr::from([192, 0, 2, 1]), "carol", t0)
            .is_ok());
        assert!(
            limiter.check(ip, "dave", t0).is_err(),
            "the address keeps its failures"
        );
    }
}
