//! Exercise 06, security practices: a token bucket, a login throttle, and the address checks
//! that stop server-side request forgery (SSRF).
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-06`
//! passes; run one part at a time with `cargo test -p exercise-06 part_a` (or `part_b`,
//! `part_c`). The brief is book chapter 06, section "Exercise", and the doc comments below.
//! Stuck? `cargo xtask hint 06 a` (or `b`, `c`) shows that part's hints one level at a time.
//!
//! Three parts, independent of each other:
//! - (a) [`TokenBucket`]: a rate limiter with an injected [`Clock`], exact to the nanosecond,
//!   checked by property tests over random traffic.
//! - (b) [`LoginThrottle`]: failed logins counted per account (a lock that doubles) and per
//!   address (a sliding log of failure times).
//! - (c) [`internal_kind`], [`check_url`] and [`pin`]: the checks a server that fetches URLs
//!   for its users (webhooks, link previews, image imports) makes so that nobody can point it
//!   at its own network. Pure functions: the DNS answer is an argument, and no test needs the
//!   network.
//!
//! The given code (the clock, the policy, the error enums, the types of part (c)) is in
//! `src/given.rs`: read it, it is part of the brief. Here, besides the `todo!()`s, the bucket's
//! and the throttle's fields and constructors are a starting point: add private helper
//! functions and change private fields as you like; the tests use only the public API. The
//! crates at hand are `thiserror` and `url` (`url::Url::parse`, then `Url::scheme`,
//! `username`, `password`, `host` and `port`).

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Part (a): the token bucket
// ---------------------------------------------------------------------------------------------

// ANCHOR: bucket
/// A token bucket that gains one token every `period`, up to `capacity`.
///
/// The rules, which the tests check exactly:
///
/// - A new bucket is full.
/// - Tokens are whole and arrive at whole periods: one token `period` after the last one
///   arrived, the next `period` after that, and so on. Nothing is rounded, so over any
///   stretch of time the bucket hands out at most `capacity + elapsed / period` tokens
///   (integer division), the property the tests check on random traffic.
/// - A full bucket earns nothing: when the bucket becomes (or already is) full, time spent
///   full does not count towards the next token. After taking a token from a full bucket,
///   the next one arrives `period` later, not sooner.
/// - However long the bucket sat idle (billions of periods), it is simply full again.
/// - Time comes from the clock `C` only. Read it once per call.
#[derive(Debug)]
pub struct TokenBucket<C: Clock> {
    capacity: u32,
    period: Duration,
    /// Tokens in the bucket as of `last`.
    tokens: u32,
    /// When the tokens were last brought up to date: the moment the last counted token
    /// arrived (so a partly earned token is not lost), or the moment the bucket was full.
    last: Duration,
    clock: C,
}

impl<C: Clock> TokenBucket<C> {
    /// A full bucket.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 or `period` is zero: such a bucket is a configuration mistake.
    pub fn new(capacity: u32, period: Duration, clock: C) -> Self {
        assert!(
            capacity > 0,
            "a token bucket needs a capacity of at least 1"
        );
        assert!(
            !period.is_zero(),
            "a token bucket needs a non-zero refill period"
        );
        let last = clock.now();
        TokenBucket {
            capacity,
            period,
            tokens: capacity,
            last,
            clock,
        }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// How many tokens the bucket holds now (0 to `capacity`).
    pub fn available(&mut self) -> u32 {
        todo!(
            "exercise 06, part a, TokenBucket::available: see book chapter 06, section 'Exercise'"
        )
    }

    /// How long until the bucket holds `n` tokens: `Duration::ZERO` if it holds them now.
    /// `Denied::TooMany` if `n` is more than the capacity. Takes nothing.
    pub fn time_until(&mut self, n: u32) -> Result<Duration, Denied> {
        todo!(
            "exercise 06, part a, TokenBucket::time_until: see book chapter 06, section 'Exercise'"
        )
    }

    /// Takes `n` tokens if the bucket holds them and returns how many are left. Otherwise
    /// takes nothing and returns `Denied::Wait` with [`time_until`](Self::time_until)`(n)`,
    /// or `Denied::TooMany` if `n` is more than the capacity. `try_acquire(0)` always succeeds.
    pub fn try_acquire(&mut self, n: u32) -> Result<u32, Denied> {
        todo!(
            "exercise 06, part a, TokenBucket::try_acquire: see book chapter 06, section 'Exercise'"
        )
    }
}
// ANCHOR_END: bucket

// ---------------------------------------------------------------------------------------------
// Part (b): the login throttle
// ---------------------------------------------------------------------------------------------

// ANCHOR: throttle
#[derive(Debug, Clone, Default)]
struct AccountRecord {
    failures: u32,
    locked_until: Duration,
}

/// Counts failed logins per account and per address. Times are `Duration`s from a clock's
/// epoch, passed in by the caller; they never go backwards.
///
/// A login endpoint calls [`check`](Self::check) first, and checks the password only if it
/// passes; then [`record_failure`](Self::record_failure) or
/// [`record_success`](Self::record_success). Attempts that run at the same time can all pass
/// `check` before any of them records its failure, so an address can end up with more than
/// `ip_limit` failures in its window.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    accounts: HashMap<String, AccountRecord>,
    /// Per address, the times of its failures within the window, oldest first.
    addresses: HashMap<IpAddr, VecDeque<Duration>>,
}

impl LoginThrottle {
    /// # Panics
    ///
    /// If `policy.ip_limit` is 0: it would refuse every address before its first attempt.
    pub fn new(policy: ThrottlePolicy) -> Self {
        assert!(
            policy.ip_limit > 0,
            "an ip_limit of 0 refuses every login; allow at least 1 failure"
        );
        LoginThrottle {
            policy,
            accounts: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// May this attempt be checked at `now`? Two checks, the address first:
    ///
    /// - If `ip` has `ip_limit` or more failures in the window `(now - ip_window, now]` (a
    ///   failure at exactly `now - ip_window` has left it): `Refused::Address`, whatever the
    ///   account. Its `retry_after` is exactly how long until fewer than `ip_limit` of them
    ///   are left in the window, if no more are recorded: waiting it is always enough, and a
    ///   moment less is not.
    /// - Then the account: if it is locked after `now`, `Refused::Account` with the time left.
    ///
    /// Account names are compared after trimming whitespace and lower-casing: `" Ada"` and
    /// `"ada"` are one account.
    pub fn check(&mut self, account: &str, ip: IpAddr, now: Duration) -> Result<(), Refused> {
        todo!("exercise 06, part b, LoginThrottle::check: see book chapter 06, section 'Exercise'")
    }

    /// A failed login at `now`: counts against `ip` and against `account`.
    ///
    /// The account's `free_failures` first failures cost nothing. Failure number
    /// `free_failures + k` (k = 1, 2, ...) locks the account until
    /// `now + base_lockout × 2^(k-1)`, capped at `max_lockout` (mind overflow: thousands of
    /// failures, or `free_failures` of `u32::MAX`, must not panic).
    pub fn record_failure(&mut self, account: &str, ip: IpAddr, now: Duration) {
        todo!(
            "exercise 06, part b, LoginThrottle::record_failure: see book chapter 06, section 'Exercise'"
        )
    }

    /// A successful login: the account's failures and lock are forgotten. The address's
    /// failures are not (one success in a spray must not wipe the slate).
    pub fn record_success(&mut self, account: &str) {
        todo!(
            "exercise 06, part b, LoginThrottle::record_success: see book chapter 06, section 'Exercise'"
        )
    }
}

// ANCHOR_END: throttle

// ---------------------------------------------------------------------------------------------
// Part (c): SSRF, the address checks of a server that fetches URLs for its users
// ---------------------------------------------------------------------------------------------

// ANCHOR: ssrf
/// Which kind of internal address `ip` is, or `None` for a public one: the ranges listed on
/// [`Internal`], and nothing else.
///
/// An IPv4-mapped IPv6 address, `::ffff:a.b.c.d`, is the IPv4 address `a.b.c.d` written for an
/// IPv6 socket, and a connection to it reaches that IPv4 address: judge it as that address.
pub fn internal_kind(ip: IpAddr) -> Option<Internal> {
    todo!("exercise 06, part c, internal_kind: see book chapter 06, section 'Exercise'")
}

/// The first checks of a URL a user asked the server to fetch, before any DNS lookup, in this
/// order:
///
/// 1. `raw` parses with [`url::Url::parse`], else `FetchRefused::BadUrl`. That parser follows the
///    WHATWG URL standard, as browsers and `reqwest` do, so every later check judges what the
///    client will really connect to, never the text: `http://2130706433/`, `http://0x7f.1/`
///    and `http://127.1/` all have the host 127.0.0.1, and in `http://127.0.0.1\@example.com/`
///    the host is 127.0.0.1, not example.com.
/// 2. The scheme is `http` or `https`, else `FetchRefused::Scheme` with the scheme as the
///    parser has it (lower case): no `file:`, `gopher:`, `ftp:`, `javascript:`.
/// 3. No user name and no password (`Url::username` empty, `Url::password` `None`), else
///    `FetchRefused::Credentials`: `http://trusted.example@169.254.169.254/` is a request to
///    169.254.169.254 that a reader of the text may take for one to `trusted.example`.
/// 4. An IP address as the host must be public ([`internal_kind`] is `None`), else
///    `FetchRefused::Internal` with the address and its kind; a public one is
///    `Target::Addr` with the port. A domain name is `Target::Name` with the host as the
///    parser normalised it (lower case, international names in punycode) and the port.
///
/// The port is the URL's, or the scheme's default: 80 for `http`, 443 for `https`.
pub fn check_url(raw: &str) -> Result<Target, FetchRefused> {
    todo!("exercise 06, part c, check_url: see book chapter 06, section 'Exercise'")
}

/// The last check before connecting to a `Target::Name`: `resolved` is the DNS answer for the
/// name, in the resolver's order, and `port` the target's.
///
/// Every address must be public, not only the first: a client may try any of them. The first
/// internal one, in order, is `FetchRefused::Internal`; an empty answer is
/// `FetchRefused::Unresolved`. Otherwise the answer is the first address with `port`: connect
/// to that address and no other. Resolving the name a second time, as an HTTP client given the
/// URL would, could answer differently (DNS rebinding) and undo the check.
pub fn pin(port: u16, resolved: &[IpAddr]) -> Result<SocketAddr, FetchRefused> {
    todo!("exercise 06, part c, pin: see book chapter 06, section 'Exercise'")
}
// ANCHOR_END: ssrf
