//! Exercise 06, security practices: a token bucket, a login throttle and the address checks
//! that stop server-side request forgery (SSRF).
//!
//! This is the reference solution. Read it after you have tried: `hints/` comes first. The
//! public API is the stub's, item for item; only the bodies and the private helpers differ.
//! The given code is not repeated here: it is the stub's own `src/given.rs`.

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

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

    /// Brings `tokens` and `last` up to date with the clock, and returns its reading.
    fn refill(&mut self) -> Duration {
        let now = self.clock.now();
        let elapsed = now.saturating_sub(self.last);
        // A u128: after a long idle stretch with a short period, far more than u32::MAX.
        let earned = elapsed.as_nanos() / self.period.as_nanos();
        if u128::from(self.tokens) + earned >= u128::from(self.capacity) {
            self.tokens = self.capacity;
            self.last = now;
        } else {
            // Both fit: earned < capacity - tokens <= u32::MAX.
            let earned = earned as u32;
            self.tokens += earned;
            self.last += self.period * earned;
        }
        now
    }

    /// How many tokens the bucket holds now (0 to `capacity`).
    pub fn available(&mut self) -> u32 {
        self.refill();
        self.tokens
    }

    /// How long until the bucket holds `n` tokens: `Duration::ZERO` if it holds them now.
    /// `Denied::TooMany` if `n` is more than the capacity. Takes nothing.
    pub fn time_until(&mut self, n: u32) -> Result<Duration, Denied> {
        if n > self.capacity {
            return Err(Denied::TooMany {
                requested: n,
                capacity: self.capacity,
            });
        }
        let now = self.refill();
        if self.tokens >= n {
            return Ok(Duration::ZERO);
        }
        let missing = n - self.tokens;
        Ok((self.last + self.period * missing).saturating_sub(now))
    }

    /// Takes `n` tokens if the bucket holds them and returns how many are left. Otherwise
    /// takes nothing and returns `Denied::Wait` with [`time_until`](Self::time_until)`(n)`,
    /// or `Denied::TooMany` if `n` is more than the capacity. `try_acquire(0)` always succeeds.
    pub fn try_acquire(&mut self, n: u32) -> Result<u32, Denied> {
        match self.time_until(n)? {
            Duration::ZERO => {
                self.tokens -= n;
                Ok(self.tokens)
            }
            retry_after => Err(Denied::Wait { retry_after }),
        }
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
        let window = self.policy.ip_window;
        let limit = self.policy.ip_limit as usize;
        if let Some(failures) = self.addresses.get_mut(&ip) {
            while failures.front().is_some_and(|&at| at + window <= now) {
                failures.pop_front();
            }
            // The address is under its limit again when only `limit - 1` failures remain,
            // that is when the `limit`-th newest leaves. Concurrent attempts can leave more
            // than `limit` in the window, so that is not always the oldest.
            if let Some(&leaving) = failures
                .len()
                .checked_sub(limit)
                .and_then(|i| failures.get(i))
            {
                return Err(Refused::Address {
                    retry_after: leaving + window - now,
                });
            }
        }
        if let Some(record) = self.accounts.get(&account_key(account))
            && record.locked_until > now
        {
            return Err(Refused::Account {
                retry_after: record.locked_until - now,
            });
        }
        Ok(())
    }

    /// A failed login at `now`: counts against `ip` and against `account`.
    ///
    /// The account's `free_failures` first failures cost nothing. Failure number
    /// `free_failures + k` (k = 1, 2, ...) locks the account until
    /// `now + base_lockout × 2^(k-1)`, capped at `max_lockout` (mind overflow: thousands of
    /// failures, or `free_failures` of `u32::MAX`, must not panic).
    pub fn record_failure(&mut self, account: &str, ip: IpAddr, now: Duration) {
        self.addresses.entry(ip).or_default().push_back(now);
        let policy = &self.policy;
        let record = self.accounts.entry(account_key(account)).or_default();
        record.failures = record.failures.saturating_add(1);
        if let Some(past_free) = record
            .failures
            .checked_sub(policy.free_failures)
            .and_then(|k| k.checked_sub(1))
        {
            let lockout = 2u32
                .checked_pow(past_free)
                .and_then(|factor| policy.base_lockout.checked_mul(factor))
                .map_or(policy.max_lockout, |d| d.min(policy.max_lockout));
            record.locked_until = now.saturating_add(lockout);
        }
    }

    /// A successful login: the account's failures and lock are forgotten. The address's
    /// failures are not (one success in a spray must not wipe the slate).
    pub fn record_success(&mut self, account: &str) {
        self.accounts.remove(&account_key(account));
    }
}

fn account_key(account: &str) -> String {
    account.trim().to_lowercase()
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
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<Internal> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some(Internal::Loopback)
    } else if ip.is_private() {
        Some(Internal::Private)
    } else if ip.is_link_local() {
        Some(Internal::LinkLocal)
    } else if a == 100 && (64..128).contains(&b) {
        Some(Internal::CarrierGradeNat)
    } else if ip.is_documentation() {
        Some(Internal::Documentation)
    } else if a == 0 || a >= 224 {
        // 0/8, then 224/4 and 240/4 together: every address from 224.0.0.0 up.
        Some(Internal::NonRoutable)
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<Internal> {
    let [first, second, ..] = ip.segments();
    if ip.is_loopback() {
        Some(Internal::Loopback)
    } else if ip.is_unique_local() {
        Some(Internal::Private)
    } else if ip.is_unicast_link_local() {
        Some(Internal::LinkLocal)
    } else if first == 0x2001 && second == 0x0db8 {
        Some(Internal::Documentation)
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some(Internal::NonRoutable)
    } else {
        None
    }
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
    let url = Url::parse(raw)?;
    let default_port = match url.scheme() {
        "http" => 80,
        "https" => 443,
        other => return Err(FetchRefused::Scheme(other.to_owned())),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchRefused::Credentials);
    }
    let port = url.port().unwrap_or(default_port);
    let ip = match url.host() {
        Some(Host::Domain(name)) => {
            return Ok(Target::Name {
                host: name.to_owned(),
                port,
            });
        }
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        // The parser gives every http and https URL a host; this is here for the types.
        None => return Err(FetchRefused::BadUrl(url::ParseError::EmptyHost)),
    };
    match internal_kind(ip) {
        Some(kind) => Err(FetchRefused::Internal { addr: ip, kind }),
        None => Ok(Target::Addr(SocketAddr::new(ip, port))),
    }
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
    for &addr in resolved {
        if let Some(kind) = internal_kind(addr) {
            return Err(FetchRefused::Internal { addr, kind });
        }
    }
    let first = resolved.first().ok_or(FetchRefused::Unresolved)?;
    Ok(SocketAddr::new(*first, port))
}
// ANCHOR_END: ssrf
