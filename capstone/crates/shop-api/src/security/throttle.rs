//! Login throttling: brute force against one account, and password spraying from one
//! address (book chapter 06; ASVS 5.0 requirements 6.1.1 and 6.3.1).
//!
//! Two counters of failed sign-ins, each in a window that starts with the first failure:
//!
//! - **per account** (the normalised address, whether or not an account has it, so the
//!   throttle itself does not reveal which addresses exist): after `max_failures`, sign-ins
//!   for that address are refused with 429 until the window ends. A success resets it.
//! - **per client IP**, over all accounts, with a higher limit: a spray tries one or two
//!   common passwords against thousands of addresses, which no per-account counter sees.
//!   A success does *not* reset it, or the attacker would sign in to their own account
//!   between guesses.
//!
//! While throttled, even the right password is refused, and the password is not checked at
//! all: that is what stops the guessing, and it saves the argon2 work.
//!
//! The trade-off, written down as ASVS 6.1.1 asks: anyone can lock a victim's address for one
//! window by failing on purpose. The window is short (15 minutes by default), the lock does
//! not grow, and the victim's existing sessions keep working, so the damage is an annoyance.
//! A per-account lock that grew without bound would be a denial-of-service tool.
//!
//! In memory, like the rate limiter, for the same reasons and with the same caveat: with
//! several instances, each counts on its own (lesson 09 moves this to Redis). Time is a
//! parameter, so the tests below cross windows without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Entries kept per map before expired ones are swept.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// One kind of counter: failures per key within a window.
#[derive(Debug)]
struct Counter<K> {
    max: u32,
    window: Duration,
    entries: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> Counter<K> {
    fn new(max: u32, window: Duration) -> Self {
        Counter {
            max,
            window,
            entries: Mutex::default(),
        }
    }

    /// `Err(wait)` while `key` has used up its failures in the current window.
    fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(key) {
            Some(f) if f.count >= self.max => {
                let ends = f.since + self.window;
                if now < ends { Err(ends - now) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }

    fn fail(&self, key: K, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&key) {
            let window = self.window;
            entries.retain(|_, f| now.saturating_duration_since(f.since) < window);
        }
        let entry = entries.entry(key).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now.saturating_duration_since(entry.since) >= self.window {
            // The old window is over: this failure starts a new one.
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }

    fn reset(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

// ANCHOR: login_throttle
/// Failed sign-ins per account and per client IP. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    accounts: Arc<Counter<String>>,
    ips: Arc<Counter<IpAddr>>,
}

impl LoginThrottle {
    pub fn new(per_account: u32, per_ip: u32, window: Duration) -> Self {
        LoginThrottle {
            accounts: Arc::new(Counter::new(per_account, window)),
            ips: Arc::new(Counter::new(per_ip, window)),
        }
    }

    /// Before checking a password: `Err(wait)` if this address or this IP is throttled.
    /// `account` is the normalised email address the client typed.
    pub fn check(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let by_account = self.accounts.check(&account.to_owned(), now);
        let by_ip = self.ips.check(&ip, now);
        match (by_account, by_ip) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(wait), Ok(())) | (Ok(()), Err(wait)) => Err(wait),
        }
    }

    /// After a wrong password (or an unknown address: the same thing, seen from outside).
    pub fn record_failure(&self, account: &str, ip: IpAddr, now: Instant) {
        self.accounts.fail(account.to_owned(), now);
        self.ips.fail(ip, now);
    }

    /// After a successful sign-in: the account's count starts over; the IP's does not.
    pub fn record_success(&self, account: &str) {
        self.accounts.reset(&account.to_owned());
    }
}
// ANCHOR_END: login_throttle

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const WINDOW: Duration = Duration::from_secs(900);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn an_account_is_throttled_after_its_failures_until_the_window_ends() {
        let throttle = LoginThrottle::new(3, 100, WINDOW);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(throttle.check("ada@example.com", ip(1), start).is_ok());
            throttle.record_failure("ada@example.com", ip(1), start);
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(
            throttle.check("ada@example.com", ip(9), later),
            Err(WINDOW - Duration::from_secs(60)),
            "from any address"
        );
        assert!(throttle.check("bob@example.com", ip(1), later).is_ok());
        assert!(
            throttle
                .check("ada@example.com", ip(1), start + WINDOW)
                .is_ok()
        );
    }

    #[test]
    fn success_resets_the_account_but_not_the_ip() {
        let throttle = LoginThrottle::new(3, 4, WINDOW);
        let now = Instant::now();
        for _ in 0..2 {
            throttle.record_failure("ada@example.com", ip(1), now);
        }
        throttle.record_success("ada@example.com");
        for _ in 0..2 {
            throttle.record_failure("ada@example.com", ip(1), now);
        }
        assert!(
            throttle.check("ada@example.com", ip(1), now).is_err(),
            "four failures from one IP"
        );
        assert!(
            throttle.check("ada@example.com", ip(2), now).is_ok(),
            "the account itself has only two since its last success"
        );
    }

    #[test]
    fn a_spray_over_many_accounts_is_caught_by_the_ip_counter() {
        let throttle = LoginThrottle::new(3, 10, WINDOW);
        let now = Instant::now();
        for n in 0..10 {
            throttle.record_failure(&format!("user{n}@example.com"), ip(7), now);
        }
        assert!(throttle.check("fresh@example.com", ip(7), now).is_err());
        assert!(throttle.check("fresh@example.com", ip(8), now).is_ok());
    }

    #[test]
    fn failures_after_the_window_start_a_new_count() {
        let throttle = LoginThrottle::new(2, 100, WINDOW);
        let start = Instant::now();
        throttle.record_failure("ada@example.com", ip(1), start);
        let next_window = start + WINDOW + Duration::from_secs(1);
        throttle.record_failure("ada@example.com", ip(1), next_window);
        assert!(
            throttle
                .check("ada@example.com", ip(1), next_window)
                .is_ok(),
            "one failure in each window is not two in one"
        );
    }
}
