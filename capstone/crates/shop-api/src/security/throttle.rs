//! Login throttling: brute force against one account, and password spraying from one
//! network (book chapter 06, "Brute-force protection for the login"; ASVS 5.0 requirements
//! 6.1.1 and 6.3.1).
//!
//! The policy is the chapter's, argued there once: a capped, doubling back-off per account,
//! which an address that has signed in to the account before does not share, and a sliding
//! window per client network. In this service's settings:
//!
//! - **per account** (the normalised address, whether or not an account has it, so the
//!   throttle itself does not reveal which addresses exist): after `login_max_failures`
//!   failures, each attempt waits, 1 second after that failure and twice as long after each
//!   further one, up to `login_lockout`. Even the right password waits, and is not checked.
//!   At the cap a guesser gets four tries an hour; a person who mistypes never notices.
//! - **known addresses**: an address that has signed in to the account (within
//!   [`KNOWN_FOR`]; for IPv6, any address of its /64) keeps a count of its own, with the same
//!   rule, and the shared count never applies to it. Strangers failing on purpose can slow
//!   sign-ins from new places, but never lock the owner out of the device they always use. A success resets only its own
//!   address's count: the failures from elsewhere were not the owner's.
//! - **per client network** (the IPv4 address, or the /64 of an IPv6 one, which one machine
//!   may hold whole), over all accounts: at most `login_max_failures_per_ip` failures in any
//!   `login_lockout`. A spray tries one or two common passwords against thousands of
//!   addresses, which no per-account count sees. Successes do not reset it, or the attacker
//!   would sign in to their own account between guesses.
//!
//! A count with no new failure for [`forget_after`] starts over. That is far longer than the
//! cap, so an attacker who paces guesses at one per cap stays at the cap.
//!
//! In memory, like the rate limiter, for the same reasons and with the same caveat: with
//! several instances each counts on its own, and a restart forgets (known addresses too;
//! lesson 09 moves this to Redis). Time comes from a [`Clock`], so tests move it by hand.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::SecuritySettings;

/// The first wait, after the failure that uses up the free ones; each further failure doubles it.
pub const BASE_DELAY: Duration = Duration::from_secs(1);
/// How long an address stays known after it last signed in to an account.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// A count is forgotten after a quiet day, or twice the cap if the cap is longer.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Entries kept per map before stale ones are swept.
const MAX_TRACKED: usize = 100_000;
/// The least time between two sweeps: when every entry is live, sweeping again on the next
/// failure would cost a pass over the whole map per request and free nothing.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How long a count lasts without a new failure: [`FORGET_AFTER`], or twice `max_delay` if
/// that is longer, so that waiting out one cap never wipes the count.
pub fn forget_after(max_delay: Duration) -> Duration {
    FORGET_AFTER.max(max_delay.saturating_mul(2))
}

// ANCHOR: clock
/// Where the throttle reads the time: the system's monotonic clock in the service, a
/// [`ManualClock`] in tests, which then cross a 15-minute cap without waiting.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Instant;
}

/// [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until [`advance`](Self::advance)d. Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    /// Starts at the present moment.
    pub fn new() -> Self {
        ManualClock(Arc::new(Mutex::new(Instant::now())))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: clock

/// The throttle's settings, from the service's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures a count takes before sign-ins wait (`login_max_failures`).
    pub max_failures: u32,
    /// The longest wait (`login_lockout`), and the length of the per-network window.
    pub max_delay: Duration,
    /// Failures one network may have within `max_delay`, over all accounts
    /// (`login_max_failures_per_ip`).
    pub max_failures_per_network: u32,
}

impl From<&SecuritySettings> for ThrottlePolicy {
    fn from(settings: &SecuritySettings) -> Self {
        ThrottlePolicy {
            max_failures: settings.login_max_failures,
            max_delay: settings.login_lockout,
            max_failures_per_network: settings.login_max_failures_per_ip,
        }
    }
}

// ANCHOR: backoff
/// Failures of one count, and when the last one happened.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    last: Instant,
}

impl Backoff {
    fn new(now: Instant) -> Self {
        Backoff {
            failures: 0,
            last: now,
        }
    }

    fn is_forgotten(&self, policy: &ThrottlePolicy, now: Instant) -> bool {
        now.saturating_duration_since(self.last) >= forget_after(policy.max_delay)
    }

    /// How long an attempt must still wait, if at all.
    fn wait(&self, policy: &ThrottlePolicy, now: Instant) -> Option<Duration> {
        let beyond = self.failures.checked_sub(policy.max_failures)?;
        if self.is_forgotten(policy, now) {
            return None;
        }
        // 1 s, 2 s, 4 s, ... up to the cap; `checked_pow` keeps a huge count from overflowing.
        let delay = 2u32
            .checked_pow(beyond)
            .and_then(|factor| BASE_DELAY.checked_mul(factor))
            .map_or(policy.max_delay, |delay| delay.min(policy.max_delay));
        let until = self.last + delay;
        (now < until).then(|| until - now)
    }

    fn fail(&mut self, policy: &ThrottlePolicy, now: Instant) {
        if self.is_forgotten(policy, now) {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last = self.last.max(now);
    }
}
// ANCHOR_END: backoff

/// An address that has signed in to an account: until when it counts as the owner's, and its
/// own failures.
#[derive(Debug, Clone, Copy)]
struct Known {
    until: Instant,
    failures: Backoff,
}

// ANCHOR: window
/// Failures of one network in a sliding window, estimated from two fixed windows: the
/// previous window's count, weighted by how much of it still overlaps the last `len`, plus
/// the current one's. Two numbers per network instead of a timestamp per failure, and no
/// burst of twice the limit across a window boundary, as a fixed window allows.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    current: u32,
    previous: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            start: now,
            current: 0,
            previous: 0,
        }
    }

    /// Moves to the window `now` falls in; returns how far into it `now` is, from 0 to 1.
    fn roll(&mut self, len: Duration, now: Instant) -> f64 {
        let len_nanos = len.as_nanos().max(1);
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let windows = elapsed / len_nanos;
        let into = elapsed % len_nanos;
        if windows > 0 {
            self.previous = if windows == 1 { self.current } else { 0 };
            self.current = 0;
            // `into` is below `len`, which is a `Duration`: it fits in one.
            self.start = now - Duration::from_nanos(u64::try_from(into).unwrap_or(u64::MAX));
        }
        into as f64 / len_nanos as f64
    }

    /// `Err(wait)` while one more failure would take the estimate past `limit`.
    fn check(&mut self, limit: u32, len: Duration, now: Instant) -> Result<(), Duration> {
        let into = self.roll(len, now);
        let room = f64::from(limit) - 1.0 - f64::from(self.current);
        if f64::from(self.previous) * (1.0 - into) <= room {
            return Ok(());
        }
        let len_secs = len.as_secs_f64();
        // Room in this window: wait until enough of the previous one has slid out.
        if room >= 0.0 {
            let needed = 1.0 - room / f64::from(self.previous);
            return Err(Duration::from_secs_f64((needed - into) * len_secs));
        }
        // None before the next window, where this one's count slides out in turn.
        let needed = 1.0 - (f64::from(limit) - 1.0) / f64::from(self.current);
        Err(Duration::from_secs_f64((1.0 - into + needed) * len_secs))
    }

    fn record(&mut self, len: Duration, now: Instant) {
        self.roll(len, now);
        self.current = self.current.saturating_add(1);
    }

    fn is_empty(&self, len: Duration, now: Instant) -> bool {
        now.saturating_duration_since(self.start) >= len.saturating_mul(2)
    }
}
// ANCHOR_END: window

/// The throttle's counts, behind one lock: a check and an update touch several of them, and
/// each holds the lock for a few map operations, never across an `.await`.
#[derive(Debug, Default)]
struct Counts {
    /// Per account: the failures from every address that is not known for it.
    strangers: HashMap<String, Backoff>,
    /// Per account and known address (its network, as for `networks`).
    known: HashMap<(String, IpAddr), Known>,
    /// Per client network, over all accounts.
    networks: HashMap<IpAddr, Window>,
    /// When the maps were last swept.
    swept: Option<Instant>,
}

// ANCHOR: login_throttle
/// Failed sign-ins per account, per known address and per client network. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    clock: Arc<dyn Clock>,
    counts: Arc<Mutex<Counts>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy, clock: Arc<dyn Clock>) -> Self {
        LoginThrottle {
            policy,
            clock,
            counts: Arc::default(),
        }
    }

    /// Before checking a password: `Err(wait)` while this account is throttled for this
    /// address, or this address's network is. `account` is the normalised email address.
    pub fn check(&self, account: &str, ip: IpAddr) -> Result<(), Duration> {
        let (policy, now) = (&self.policy, self.clock.now());
        let mut counts = self.lock();
        let network = counts
            .networks
            .get_mut(&network_of(ip))
            .map_or(Ok(()), |window| {
                window.check(policy.max_failures_per_network, policy.max_delay, now)
            });
        let account_wait = match counts.known.get(&(account.to_owned(), network_of(ip))) {
            // The owner's address answers to its own failures only.
            Some(known) if known.until > now => known.failures.wait(policy, now),
            _ => counts
                .strangers
                .get(account)
                .and_then(|failures| failures.wait(policy, now)),
        };
        match (network, account_wait) {
            (Ok(()), None) => Ok(()),
            (Err(a), Some(b)) => Err(a.max(b)),
            (Err(wait), None) | (Ok(()), Some(wait)) => Err(wait),
        }
    }

    /// After a wrong password (or an unknown address: the same thing, seen from outside).
    pub fn record_failure(&self, account: &str, ip: IpAddr) {
        let (policy, now) = (&self.policy, self.clock.now());
        let mut counts = self.lock();
        counts.sweep_if_full(policy, now);
        counts
            .networks
            .entry(network_of(ip))
            .or_insert_with(|| Window::new(now))
            .record(policy.max_delay, now);
        match counts.known.get_mut(&(account.to_owned(), network_of(ip))) {
            Some(known) if known.until > now => known.failures.fail(policy, now),
            _ => counts
                .strangers
                .entry(account.to_owned())
                .or_insert_with(|| Backoff::new(now))
                .fail(policy, now),
        }
    }

    /// After a successful sign-in: this address becomes (or stays) known for the account, and
    /// its own count starts over. Strangers' failures and the network's stay counted.
    pub fn record_success(&self, account: &str, ip: IpAddr) {
        let now = self.clock.now();
        let mut counts = self.lock();
        counts.sweep_if_full(&self.policy, now);
        counts.known.insert(
            (account.to_owned(), network_of(ip)),
            Known {
                until: now + KNOWN_FOR,
                failures: Backoff::new(now),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: login_throttle

impl Counts {
    /// Past [`MAX_TRACKED`] entries in a map, and at most once per [`SWEEP_INTERVAL`], drops
    /// the entries that no longer affect any answer: forgotten counts, expired known
    /// addresses, networks quiet for two windows.
    fn sweep_if_full(&mut self, policy: &ThrottlePolicy, now: Instant) {
        let full = [self.strangers.len(), self.known.len(), self.networks.len()]
            .into_iter()
            .any(|len| len >= MAX_TRACKED);
        let due = self
            .swept
            .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_INTERVAL);
        if !(full && due) {
            return;
        }
        self.swept = Some(now);
        self.strangers.retain(|_, f| !f.is_forgotten(policy, now));
        self.known.retain(|_, k| k.until > now);
        self.networks
            .retain(|_, w| !w.is_empty(policy.max_delay, now));
    }
}

/// The key of the per-network count: an IPv4 address, or the /64 network of an IPv6 one. A
/// single customer line or server is routinely handed a whole /64, so counting IPv6 addresses
/// one by one would give such a sprayer 2^64 fresh counts.
fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const CAP: Duration = Duration::from_secs(900);
    const SECOND: Duration = Duration::from_secs(1);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from(Ipv4Addr::new(192, 0, 2, last))
    }

    fn throttle(max_failures: u32, per_network: u32) -> (LoginThrottle, ManualClock) {
        let clock = ManualClock::new();
        let policy = ThrottlePolicy {
            max_failures,
            max_delay: CAP,
            max_failures_per_network: per_network,
        };
        (LoginThrottle::new(policy, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn the_wait_doubles_after_the_free_failures_up_to_the_cap() {
        let (throttle, clock) = throttle(3, 1_000);
        for _ in 0..2 {
            throttle.record_failure("ada@example.com", ip(1));
            assert_eq!(throttle.check("ada@example.com", ip(1)), Ok(()));
        }
        let mut expected = SECOND;
        for _ in 0..14 {
            throttle.record_failure("ada@example.com", ip(1));
            assert_eq!(throttle.check("ada@example.com", ip(1)), Err(expected));
            assert_eq!(throttle.check("ada@example.com", ip(9)), Err(expected));
            clock.advance(expected);
            assert_eq!(throttle.check("ada@example.com", ip(1)), Ok(()));
            expected = (expected * 2).min(CAP);
        }
        assert_eq!(expected, CAP, "fourteen doublings reach the cap");
        assert_eq!(throttle.check("bob@example.com", ip(1)), Ok(()));
    }

    #[test]
    fn a_known_address_answers_only_to_its_own_failures() {
        let (throttle, _clock) = throttle(3, 1_000);
        throttle.record_success("ada@example.com", ip(1));
        for n in 0..20 {
            throttle.record_failure("ada@example.com", ip(100 + n));
        }
        assert!(throttle.check("ada@example.com", ip(50)).is_err());
        assert_eq!(
            throttle.check("ada@example.com", ip(1)),
            Ok(()),
            "the owner's address"
        );
        for _ in 0..3 {
            throttle.record_failure("ada@example.com", ip(1));
        }
        assert_eq!(throttle.check("ada@example.com", ip(1)), Err(SECOND));
    }

    #[test]
    fn a_success_keeps_the_strangers_count() {
        let (throttle, _clock) = throttle(3, 1_000);
        for _ in 0..3 {
            throttle.record_failure("ada@example.com", ip(66));
        }
        throttle.record_success("ada@example.com", ip(1));
        assert!(throttle.check("ada@example.com", ip(66)).is_err());
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_day_but_not_after_a_cap() {
        let (throttle, clock) = throttle(1, 1_000);
        for _ in 0..20 {
            throttle.record_failure("ada@example.com", ip(1));
        }
        clock.advance(CAP);
        throttle.record_failure("ada@example.com", ip(1));
        assert_eq!(
            throttle.check("ada@example.com", ip(1)),
            Err(CAP),
            "still at the cap"
        );
        clock.advance(forget_after(CAP));
        throttle.record_failure("ada@example.com", ip(1));
        assert_eq!(
            throttle.check("ada@example.com", ip(1)),
            Err(SECOND),
            "a new count"
        );
    }

    #[test]
    fn a_spray_is_caught_per_network_in_a_sliding_window() {
        let (throttle, clock) = throttle(100, 10);
        for n in 0..10 {
            throttle.record_failure(&format!("user{n}@example.com"), ip(7));
        }
        assert!(throttle.check("fresh@example.com", ip(7)).is_err());
        assert!(throttle.check("fresh@example.com", ip(8)).is_ok());
        // Ten failures at the very end of one window still count at the start of the next.
        clock.advance(CAP + SECOND);
        assert!(throttle.check("fresh@example.com", ip(7)).is_err());
        clock.advance(CAP);
        assert!(throttle.check("fresh@example.com", ip(7)).is_ok());
    }

    #[test]
    fn the_network_wait_is_when_a_failure_fits_again() {
        let (throttle, clock) = throttle(100, 10);
        for n in 0..10 {
            throttle.record_failure(&format!("user{n}@example.com"), ip(7));
        }
        let wait = throttle.check("x@example.com", ip(7)).unwrap_err();
        clock.advance(wait - SECOND);
        assert!(throttle.check("x@example.com", ip(7)).is_err(), "not early");
        clock.advance(SECOND * 2);
        assert!(
            throttle.check("x@example.com", ip(7)).is_ok(),
            "not late: {wait:?}"
        );
    }

    #[test]
    fn stale_counts_are_swept_once_a_map_is_full() {
        let (throttle, clock) = throttle(3, u32::MAX);
        for n in 0..MAX_TRACKED {
            throttle.record_failure(&format!("user{n}@example.com"), ip(1));
        }
        clock.advance(forget_after(CAP));
        throttle.record_failure("fresh@example.com", ip(2));
        assert_eq!(throttle.lock().strangers.len(), 1);
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_network_count() {
        let (throttle, _clock) = throttle(100, 2);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        throttle.record_failure("x@example.com", a);
        throttle.record_failure("y@example.com", b);
        assert!(throttle.check("z@example.com", a).is_err());
        assert!(throttle.check("z@example.com", elsewhere).is_ok());
    }
}
