//! Exercise 06, a second correct solution, written differently from `lib.rs` on purpose:
//! `cargo xtask verify` runs the shared tests against it to prove that they accept more than
//! one way of meeting the brief.
//!
//! How it differs, and why both are right:
//! - (a) The bucket keeps one number, the moment it will be full again (GCRA, the "generic cell
//!   rate algorithm" of ATM networks and of many rate-limiting libraries), instead of a token
//!   count and the time of the last token. With `full_at` = last + period × (capacity - tokens),
//!   the count is capacity - ⌈(full_at - now) / period⌉, and taking n tokens moves `full_at` n
//!   periods later, from `now` if the bucket was full. That is the reference's arithmetic
//!   rearranged, so every answer is the same, to the nanosecond.
//! - (b) An address keeps all its failure times in a sorted `Vec` and counts the ones inside
//!   the window with a binary search (`partition_point`), instead of popping expired ones off a
//!   `VecDeque`; the lock doubles with a shift instead of `pow`.
//! - (c) The ranges are one table of prefixes over 128-bit numbers, IPv4 addresses mapped into
//!   IPv6 first, instead of `std`'s `is_*` predicates; the URL's host is read back from the
//!   parser's serialisation (`host_str`) instead of its `Host` enum. Both ask the same parser,
//!   so both judge the same host.

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Part (a)
// ---------------------------------------------------------------------------------------------

const NANOS_PER_SEC: u128 = 1_000_000_000;

fn from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below one billion, which fits a u32.
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

#[derive(Debug)]
pub struct TokenBucket<C: Clock> {
    capacity: u32,
    /// The period in nanoseconds.
    period: u128,
    /// When the bucket will be full again, in nanoseconds of the clock; at or before now, it is.
    full_at: u128,
    clock: C,
}

impl<C: Clock> TokenBucket<C> {
    pub fn new(capacity: u32, period: Duration, clock: C) -> Self {
        assert!(
            capacity > 0,
            "a token bucket needs a capacity of at least 1"
        );
        assert!(
            !period.is_zero(),
            "a token bucket needs a non-zero refill period"
        );
        let full_at = clock.now().as_nanos();
        TokenBucket {
            capacity,
            period: period.as_nanos(),
            full_at,
            clock,
        }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Tokens missing at `now`: the periods until full, rounded up.
    fn missing(&self, now: u128) -> u128 {
        self.full_at.saturating_sub(now).div_ceil(self.period)
    }

    pub fn available(&mut self) -> u32 {
        let now = self.clock.now().as_nanos();
        // `missing` never exceeds the capacity: `full_at` is at most capacity periods ahead.
        self.capacity - self.missing(now) as u32
    }

    fn wait_at(&self, n: u32, now: u128) -> Result<u128, Denied> {
        if n > self.capacity {
            return Err(Denied::TooMany {
                requested: n,
                capacity: self.capacity,
            });
        }
        // n tokens are there once at most capacity - n are missing.
        let allowed_gap = self.period * u128::from(self.capacity - n);
        Ok(self.full_at.saturating_sub(now).saturating_sub(allowed_gap))
    }

    pub fn time_until(&mut self, n: u32) -> Result<Duration, Denied> {
        let now = self.clock.now().as_nanos();
        self.wait_at(n, now).map(from_nanos)
    }

    pub fn try_acquire(&mut self, n: u32) -> Result<u32, Denied> {
        let now = self.clock.now().as_nanos();
        match self.wait_at(n, now)? {
            0 => {
                // A full bucket is full from now, not from when it filled up.
                self.full_at = self.full_at.max(now) + self.period * u128::from(n);
                Ok(self.capacity - self.missing(now) as u32)
            }
            wait => Err(Denied::Wait {
                retry_after: from_nanos(wait),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Part (b)
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    /// Per account key: failures so far, and the end of the lock.
    accounts: HashMap<String, (u32, Duration)>,
    /// Per address, every failure time, in order (times never go backwards).
    addresses: HashMap<IpAddr, Vec<Duration>>,
}

impl LoginThrottle {
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

    fn key(account: &str) -> String {
        account.trim().to_lowercase()
    }

    pub fn check(&mut self, account: &str, ip: IpAddr, now: Duration) -> Result<(), Refused> {
        let window = self.policy.ip_window;
        if let Some(times) = self.addresses.get_mut(&ip) {
            // The first failure still inside (now - window, now]; the older ones can go.
            let inside = times.partition_point(|&at| at + window <= now);
            times.drain(..inside);
            let limit = self.policy.ip_limit as usize;
            if times.len() >= limit {
                // Once this one leaves, limit - 1 remain.
                let leaving = times[times.len() - limit];
                return Err(Refused::Address {
                    retry_after: leaving + window - now,
                });
            }
        }
        match self.accounts.get(&Self::key(account)) {
            Some(&(_, until)) if until > now => Err(Refused::Account {
                retry_after: until - now,
            }),
            _ => Ok(()),
        }
    }

    pub fn record_failure(&mut self, account: &str, ip: IpAddr, now: Duration) {
        self.addresses.entry(ip).or_default().push(now);
        let policy = &self.policy;
        let (failures, until) = self.accounts.entry(Self::key(account)).or_default();
        *failures = failures.saturating_add(1);
        let past_free = failures.saturating_sub(policy.free_failures);
        if past_free == 0 {
            return;
        }
        let lockout = 1u32
            .checked_shl(past_free - 1)
            .and_then(|factor| policy.base_lockout.checked_mul(factor))
            .unwrap_or(policy.max_lockout)
            .min(policy.max_lockout);
        *until = now.saturating_add(lockout);
    }

    pub fn record_success(&mut self, account: &str) {
        self.accounts.remove(&Self::key(account));
    }
}

// ---------------------------------------------------------------------------------------------
// Part (c)
// ---------------------------------------------------------------------------------------------

/// `::ffff:0:0/96`: where IPv4 addresses sit in the IPv6 space.
const MAPPED: u128 = 0xffff << 32;

/// An IPv4 prefix, as its IPv4-mapped IPv6 prefix.
const fn v4(a: u8, b: u8, c: u8, d: u8, len: u32) -> (u128, u32) {
    let ip = ((a as u32) << 24) | ((b as u32) << 16) | ((c as u32) << 8) | d as u32;
    (MAPPED | ip as u128, 96 + len)
}

/// Every internal range as (prefix, length, kind), IPv4 ranges mapped into IPv6.
const RANGES: [((u128, u32), Internal); 17] = [
    (v4(127, 0, 0, 0, 8), Internal::Loopback),
    (v4(10, 0, 0, 0, 8), Internal::Private),
    (v4(172, 16, 0, 0, 12), Internal::Private),
    (v4(192, 168, 0, 0, 16), Internal::Private),
    (v4(169, 254, 0, 0, 16), Internal::LinkLocal),
    (v4(100, 64, 0, 0, 10), Internal::CarrierGradeNat),
    (v4(192, 0, 2, 0, 24), Internal::Documentation),
    (v4(198, 51, 100, 0, 24), Internal::Documentation),
    (v4(203, 0, 113, 0, 24), Internal::Documentation),
    (v4(0, 0, 0, 0, 8), Internal::NonRoutable),
    // 224/4 (multicast) and 240/4 (reserved, with the broadcast address) in one prefix.
    (v4(224, 0, 0, 0, 3), Internal::NonRoutable),
    ((1, 128), Internal::Loopback),
    ((0xfc00 << 112, 7), Internal::Private),
    ((0xfe80 << 112, 10), Internal::LinkLocal),
    ((0x2001_0db8 << 96, 32), Internal::Documentation),
    ((0, 128), Internal::NonRoutable),
    ((0xff00 << 112, 8), Internal::NonRoutable),
];

pub fn internal_kind(ip: IpAddr) -> Option<Internal> {
    let bits = u128::from(match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    });
    RANGES.iter().find_map(|&((prefix, len), kind)| {
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        (bits & mask == prefix).then_some(kind)
    })
}

pub fn check_url(raw: &str) -> Result<Target, FetchRefused> {
    let url = url::Url::parse(raw)?;
    let default_port = if url.scheme() == "https" {
        443
    } else if url.scheme() == "http" {
        80
    } else {
        return Err(FetchRefused::Scheme(url.scheme().to_owned()));
    };
    if !(url.username().is_empty() && url.password().is_none()) {
        return Err(FetchRefused::Credentials);
    }
    let port = url.port().unwrap_or(default_port);
    let host = url
        .host_str()
        .ok_or(FetchRefused::BadUrl(url::ParseError::EmptyHost))?;
    // The parser writes IPv6 hosts in brackets and IPv4 hosts as dotted quads; anything else
    // it kept is a domain name.
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map(|h| h.parse::<Ipv6Addr>().map(IpAddr::V6))
        .unwrap_or_else(|| host.parse::<IpAddr>());
    let Ok(addr) = literal else {
        return Ok(Target::Name {
            host: host.to_owned(),
            port,
        });
    };
    internal_kind(addr).map_or(Ok(Target::Addr(SocketAddr::new(addr, port))), |kind| {
        Err(FetchRefused::Internal { addr, kind })
    })
}

pub fn pin(port: u16, resolved: &[IpAddr]) -> Result<SocketAddr, FetchRefused> {
    let internal = resolved
        .iter()
        .find_map(|&addr| internal_kind(addr).map(|kind| FetchRefused::Internal { addr, kind }));
    match (internal, resolved.first()) {
        (Some(refused), _) => Err(refused),
        (None, Some(&first)) => Ok(SocketAddr::new(first, port)),
        (None, None) => Err(FetchRefused::Unresolved),
    }
}
