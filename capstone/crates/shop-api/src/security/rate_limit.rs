//! A per-client-IP rate limit: a token bucket for each address (book chapter 06).
//!
//! A bucket holds up to `burst` tokens and gains `rate` tokens a second; a request takes one
//! or is answered 429 with `Retry-After` (the time until a token is back). Bursts are allowed,
//! a sustained flood is not, and an idle client's bucket fills up again on its own.
//!
//! Why in memory: the check runs on every request, so it must cost nanoseconds, not a network
//! round trip. The price: each instance counts on its own, so N instances allow N times the
//! rate, and a restart forgets. Lesson 09 moves the counters to Redis, where instances share
//! them. Memory stays bounded: when more than [`MAX_TRACKED`] addresses are tracked, buckets
//! that have refilled completely (their clients went quiet) are dropped, which loses nothing,
//! because a new bucket starts full too.
//!
//! Time is a parameter (`now: Instant`), never read inside the bucket: the unit tests below
//! walk through minutes of traffic without waiting a millisecond.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_ip::ClientIpSource;
use crate::error::ApiError;

/// Above this many tracked addresses, idle buckets are swept out.
pub const MAX_TRACKED: usize = 100_000;

// ANCHOR: token_bucket
/// One client's allowance.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

/// The shape of every bucket: how many tokens at most, how many per second.
#[derive(Debug, Clone, Copy)]
pub struct BucketShape {
    pub burst: f64,
    pub per_sec: f64,
}

impl TokenBucket {
    /// A full bucket: a new client may burst at once.
    pub fn full(shape: BucketShape, now: Instant) -> Self {
        TokenBucket {
            tokens: shape.burst,
            updated: now,
        }
    }

    /// Takes one token, or says how long until one is back.
    pub fn try_take(&mut self, shape: BucketShape, now: Instant) -> Result<(), Duration> {
        self.refill(shape, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(missing / shape.per_sec))
        }
    }

    /// Whether the bucket would be full at `now`: its client has been quiet long enough.
    pub fn is_full(&self, shape: BucketShape, now: Instant) -> bool {
        let mut copy = *self;
        copy.refill(shape, now);
        copy.tokens >= shape.burst
    }

    fn refill(&mut self, shape: BucketShape, now: Instant) {
        // `saturating_duration_since`: an `now` earlier than the last update (two threads
        // racing to the lock) counts as no time passed, never as negative time.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * shape.per_sec).min(shape.burst);
        self.updated = self.updated.max(now);
    }
}
// ANCHOR_END: token_bucket

/// Buckets for every client IP, shared by all requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    shape: BucketShape,
    // A std Mutex, not tokio's: the critical section is a map lookup and some arithmetic,
    // never held across an `.await`, so it cannot block the runtime (see mini-redis' db.rs).
    buckets: Arc<Mutex<HashMap<IpAddr, TokenBucket>>>,
}

impl RateLimiter {
    /// `per_sec` tokens a second, at most `burst` at once. `per_sec == 0` disables the limit.
    pub fn new(per_sec: u32, burst: u32) -> Option<Self> {
        (per_sec > 0).then(|| RateLimiter {
            shape: BucketShape {
                burst: f64::from(burst.max(1)),
                per_sec: f64::from(per_sec),
            },
            buckets: Arc::default(),
        })
    }

    /// Admits one request from `ip` at `now`, or says how long it should wait.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        // A poisoned lock means another request panicked mid-update of a counter; the map is
        // still usable, and refusing all traffic over it would be worse.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            let shape = self.shape;
            buckets.retain(|_, bucket| !bucket.is_full(shape, now));
        }
        buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::full(self.shape, now))
            .try_take(self.shape, now)
    }
}

/// What the middleware needs: the limiter and how to find the client's address.
#[derive(Debug, Clone)]
pub struct RateLimitState {
    pub limiter: RateLimiter,
    pub client_ip: ClientIpSource,
}

// ANCHOR: middleware
/// Middleware: 429 problem with `Retry-After` once a client IP has used up its bucket. The
/// health probes are exempt: an orchestrator that probes often must never be told to wait.
pub async fn rate_limit(
    State(state): State<RateLimitState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    let Some(ip) = state.client_ip.of(&request) else {
        // No address at all (a test driving the router without a socket): nothing to key on.
        return next.run(request).await;
    };
    match state.limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            tracing::info!(client.ip = %ip, "rate limited");
            ApiError::TooManyRequests { retry_after }.into_response()
        }
    }
}
// ANCHOR_END: middleware

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    const SHAPE: BucketShape = BucketShape {
        burst: 3.0,
        per_sec: 1.0,
    };

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(SHAPE, start);
        for _ in 0..3 {
            assert!(bucket.try_take(SHAPE, start).is_ok());
        }
        let wait = bucket.try_take(SHAPE, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        let later = start + Duration::from_millis(1500);
        assert!(bucket.try_take(SHAPE, later).is_ok(), "one token is back");
        assert!(bucket.try_take(SHAPE, later).is_err(), "only one");
    }

    #[test]
    fn clients_have_buckets_of_their_own() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        let now = Instant::now();
        let a = IpAddr::from(Ipv4Addr::new(192, 0, 2, 1));
        let b = IpAddr::from(Ipv4Addr::new(192, 0, 2, 2));
        assert!(limiter.check(a, now).is_ok());
        assert!(limiter.check(a, now).is_err());
        assert!(limiter.check(b, now).is_ok(), "b is not punished for a");
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    proptest! {
        /// Whatever the arrival pattern, a bucket never admits more than
        /// `burst + per_sec * elapsed` requests.
        #[test]
        fn never_admits_more_than_burst_plus_rate(gaps in proptest::collection::vec(0u64..2_000, 1..200)) {
            let start = Instant::now();
            let mut bucket = TokenBucket::full(SHAPE, start);
            let mut now = start;
            let mut admitted = 0u32;
            for gap in gaps {
                now += Duration::from_millis(gap);
                if bucket.try_take(SHAPE, now).is_ok() {
                    admitted += 1;
                }
                let allowance = SHAPE.burst + SHAPE.per_sec * (now - start).as_secs_f64();
                prop_assert!(f64::from(admitted) <= allowance + 1e-9);
            }
        }
    }
}
