//! Exercise 06, security practices: a token bucket, a login throttle, and the address checks
//! that stop server-side request forgery (SSRF).
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-06`
//! passes; run one part at a time with `--test part_a_token_bucket`, `--test
//! part_b_login_throttle` or `--test part_c_ssrf`. The brief is book chapter 06, section
//! "Exercise", and the doc comments below. Stuck? `cargo xtask hint 06 a` (or `b`, `c`) shows
//! that part's hints one level at a time.
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
//! Everything that is not a `todo!()` (the clock, the types, the constructors) is given: read
//! it, it is part of the brief. Add private helper functions and change private fields as you
//! like; the tests use only the public API. The crates at hand are `thiserror` and `url`
//! (`url::Url::parse`, then `Url::scheme`, `username`, `password`, `host` and `port`).

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;

// ANCHOR: clock
/// A source of the current time, as a `Duration` since some fixed moment (the clock's epoch).
///
/// Only differences between two readings mean anything. Code that takes its time from a
/// `Clock` instead of calling `Instant::now()` can be tested with a clock the test moves.
pub trait Clock {
    fn now(&self) -> Duration;
}

/// A clock that stands still until told to move. Clones share the same time, so a test can
/// keep one and give another to the code under test.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Moves the clock forward by `by` (nanoseconds; `u64` covers 584 years).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}
// ANCHOR_END: clock

// ---------------------------------------------------------------------------------------------
// Part (a): the token bucket
// ---------------------------------------------------------------------------------------------

// ANCHOR: bucket
/// Why [`TokenBucket::try_acquire`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Denied {
    /// Not enough tokens yet: `retry_after` from now there will be.
    #[error("not enough tokens: retry after {retry_after:?}")]
    Wait { retry_after: Duration },
    /// More tokens than the bucket can ever hold: waiting will not help.
    #[error("{requested} tokens is more than the bucket's capacity of {capacity}")]
    TooMany { requested: u32, capacity: u32 },
}

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
/// The knobs of [`LoginThrottle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures an account may have before it is locked at all.
    pub free_failures: u32,
    /// The lock after the first failure past the free ones; each further failure doubles it.
    pub base_lockout: Duration,
    /// The longest lock.
    pub max_lockout: Duration,
    /// Failures one address may have, over all accounts, within `ip_window`: at least 1.
    pub ip_limit: u32,
    pub ip_window: Duration,
}

/// Why a login attempt may not even be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Refused {
    #[error("too many failures from this address: retry after {retry_after:?}")]
    Address { retry_after: Duration },
    #[error("this account is locked: retry after {retry_after:?}")]
    Account { retry_after: Duration },
}

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

// ANCHOR: ssrf_types
/// Why an address must not be fetched on a user's behalf: the range it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Internal {
    /// `127.0.0.0/8` and `::1`: this machine.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918) and the IPv6 unique-local
    /// addresses `fc00::/7`: the private network behind the server.
    Private,
    /// `169.254.0.0/16` and `fe80::/10`. `169.254.169.254` is the cloud metadata service,
    /// which hands out the machine's credentials: the classic SSRF prize.
    LinkLocal,
    /// `100.64.0.0/10`, the shared address space of carrier-grade NAT (RFC 6598).
    CarrierGradeNat,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` (RFC 5737) and `2001:db8::/32`
    /// (RFC 3849): reserved for examples, never a real server.
    Documentation,
    /// Where no fetch should go: `0.0.0.0/8` ("this network"; a connection to `0.0.0.0`
    /// reaches this machine on Linux and macOS), multicast `224.0.0.0/4`, the reserved
    /// `240.0.0.0/4` with the broadcast address `255.255.255.255`; `::` and multicast
    /// `ff00::/8`.
    NonRoutable,
}

/// Where a fetch of a URL would go, as far as the URL itself tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The host is an IP address, and a public one: connect to exactly this.
    Addr(SocketAddr),
    /// The host is a name: resolve it, then give every address of the answer to [`pin`].
    Name { host: String, port: u16 },
}

/// Why a URL, or the addresses its host resolved to, will not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FetchRefused {
    #[error("not a URL: {0}")]
    BadUrl(#[from] url::ParseError),
    #[error("scheme {0} is not allowed (http and https only)")]
    Scheme(String),
    #[error("URLs with a user name or password are not allowed")]
    Credentials,
    #[error("{addr} is an internal address ({kind:?})")]
    Internal { addr: IpAddr, kind: Internal },
    #[error("the host resolved to no address")]
    Unresolved,
}
// ANCHOR_END: ssrf_types

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
