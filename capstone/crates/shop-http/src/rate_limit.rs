//! A token bucket, and one per client: the rate limit every server of the course uses.
//!
//! What this module shows:
//! - [`TokenBucket`]: up to `capacity` tokens, `per_second` more each second, one per request.
//!   A quiet client may send a burst; a flood gets `per_second` a second however hard it
//!   pushes. Refilling is lazy (computed when asked), so a bucket nobody asks about costs
//!   nothing;
//! - [`RateLimiter`]: a bucket per key (a client's address), with memory bounded: past
//!   `max_tracked` keys, the buckets that have refilled completely are dropped, which loses
//!   nothing, because a new bucket starts full too;
//! - time as a parameter (`now`), never read inside: tests walk through minutes of traffic
//!   without waiting, and tokio's paused clock drives the middleware that calls them.
//!
//! Lesson 06 teaches it, beside the window counters it is compared with; the capstone's
//! middleware uses it. Each instance counts on its own; lesson 09 moves the counts to Redis.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

// ANCHOR: token_bucket
/// A token bucket: holds up to `capacity` tokens, gains `per_second` tokens a second, and each
/// request takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket. A `per_second` that is not positive and finite is taken as the smallest
    /// positive rate, so the bucket still refills, very slowly, instead of dividing by zero.
    pub fn new(capacity: u32, per_second: f64, now: Instant) -> Self {
        let per_second = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            f64::MIN_POSITIVE
        };
        TokenBucket {
            capacity: f64::from(capacity),
            per_second,
            tokens: f64::from(capacity),
            updated: now,
        }
    }

    /// Takes a token if there is one and returns how many whole ones are left; otherwise
    /// returns how long until the next token.
    pub fn try_take(&mut self, now: Instant) -> Result<u32, Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            // Whole tokens left: a fraction of a token is not a request anyone may send. The
            // count is at most `capacity`, a u32, so the cast cannot overflow.
            Ok(self.tokens.floor() as u32)
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }

    /// True when the bucket would be full at `now`: forgetting it changes nothing.
    pub fn is_full(&self, now: Instant) -> bool {
        let mut later = self.clone();
        later.refill(now);
        later.tokens >= later.capacity
    }

    fn refill(&mut self, now: Instant) {
        // `saturating_duration_since`: a `now` earlier than the last update (two requests that
        // read the clock, then raced to the lock) counts as no time passed, never as negative
        // time; `max` keeps `updated` from moving back, which would credit that stretch twice.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = self.updated.max(now);
    }
}
// ANCHOR_END: token_bucket

// ANCHOR: rate_limiter
/// One token bucket per key (a client's address), shared by every request. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimiter<K = std::net::IpAddr> {
    capacity: u32,
    per_second: f64,
    max_tracked: usize,
    // A std Mutex, not tokio's: the critical section is a map lookup and some arithmetic,
    // never held across an `.await`, so it cannot block the runtime.
    buckets: Arc<Mutex<HashMap<K, TokenBucket>>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// The most keys remembered before full buckets are forgotten, unless
    /// [`RateLimiter::max_tracked`] says otherwise. Without a bound, an attacker with many
    /// addresses (IPv6 gives everyone billions) grows the map until the server dies.
    pub const DEFAULT_MAX_TRACKED: usize = 100_000;

    /// Buckets of `capacity` tokens that gain `per_second` a second.
    pub fn new(capacity: u32, per_second: f64) -> Self {
        RateLimiter {
            capacity,
            per_second,
            max_tracked: Self::DEFAULT_MAX_TRACKED,
            buckets: Arc::default(),
        }
    }

    pub fn max_tracked(mut self, max_tracked: usize) -> Self {
        self.max_tracked = max_tracked.max(1);
        self
    }

    /// Takes a token from `key`'s bucket: how many are left, or how long to wait.
    pub fn check(&self, key: &K, now: Instant) -> Result<u32, Duration> {
        // A poisoned lock means another request panicked mid-update; the map is still usable,
        // and refusing all traffic over it would be worse.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= self.max_tracked && !buckets.contains_key(key) {
            // A full bucket is what a key we have never seen gets: dropping it is free.
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        buckets
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::new(self.capacity, self.per_second, now))
            .try_take(now)
    }

    /// How many keys have a bucket now.
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
// ANCHOR_END: rate_limiter

/// `Retry-After` in whole seconds, rounded up and never zero: a client that waited the
/// rounded-down value would be refused again.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_full_bucket_allows_its_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, 2.0, start);
        assert_eq!(bucket.try_take(start), Ok(2));
        assert_eq!(bucket.try_take(start), Ok(1));
        assert_eq!(bucket.try_take(start), Ok(0));
        assert_eq!(
            bucket.try_take(start),
            Err(SECOND / 2),
            "two a second: one every 500 ms"
        );
        assert_eq!(bucket.try_take(start + SECOND / 2), Ok(0));
    }

    #[test]
    fn a_quiet_bucket_fills_up_to_its_capacity_and_no_further() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2, 1.0, start);
        bucket.try_take(start).unwrap();
        bucket.try_take(start).unwrap();
        assert!(!bucket.is_full(start + SECOND));
        assert!(bucket.is_full(start + 2 * SECOND));
        let later = start + 3600 * SECOND;
        assert_eq!(
            bucket.try_take(later),
            Ok(1),
            "an hour of quiet is still two tokens"
        );
    }

    #[test]
    fn a_clock_read_before_the_last_update_credits_nothing() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1, 1.0, start + SECOND);
        bucket.try_take(start + SECOND).unwrap();
        assert!(
            bucket.try_take(start).is_err(),
            "time does not run backwards"
        );
        assert_eq!(bucket.try_take(start + 2 * SECOND), Ok(0));
    }

    #[test]
    fn a_zero_rate_refills_never_rather_than_dividing_by_zero() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1, 0.0, start);
        bucket.try_take(start).unwrap();
        assert!(bucket.try_take(start + 3600 * SECOND).is_err());
    }

    #[test]
    fn each_key_has_its_own_bucket_and_memory_stays_bounded() {
        let start = Instant::now();
        let limiter: RateLimiter<u32> = RateLimiter::new(1, 1.0).max_tracked(2);
        assert_eq!(limiter.check(&1, start), Ok(0));
        assert!(limiter.check(&1, start).is_err());
        assert_eq!(
            limiter.check(&2, start),
            Ok(0),
            "another key, another bucket"
        );
        // Two tracked, both empty: a third key is still admitted, and nothing is forgotten.
        assert_eq!(limiter.check(&3, start), Ok(0));
        assert_eq!(limiter.tracked(), 3);
        // Later, every bucket has refilled: the next new key sweeps them.
        assert_eq!(limiter.check(&4, start + 10 * SECOND), Ok(0));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
