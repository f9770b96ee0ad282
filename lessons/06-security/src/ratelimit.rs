//! Rate limiting: a token bucket per client as axum middleware, and the window counters it is
//! usually compared with.
//!
//! The bucket and the map of one bucket per client are shop-http's ([`shop_http::rate_limit`]),
//! written once so that the capstone limits with the very same code. What is this lesson's: the
//! window counters, which only this lesson teaches, and the middleware around the shared map:
//! which address a request counts against ([`client_ip`], with trusted proxies), the
//! `ratelimit-remaining` header, and the 429 with `Retry-After`.
//!
//! Every algorithm takes the current time as an argument instead of reading a clock, so
//! the tests (`tests/limits.rs`) drive them through minutes of simulated traffic without one
//! sleep. The middleware reads tokio's clock, which `#[tokio::test(start_paused = true)]`
//! freezes and `tokio::time::advance` moves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shop_http::RateLimiter;
use shop_http::rate_limit::retry_after_secs;
use tokio::time::Instant;

use crate::client_ip::client_ip;
use crate::problem::refusal;

/// A fixed-window counter: at most `limit` hits per window, windows aligned to `origin`.
/// Simple and cheap, with one flaw: a client can spend one window's allowance at its very end
/// and the next window's at the very start, `2 × limit` hits in a moment.
#[derive(Debug, Clone)]
pub struct FixedWindow {
    limit: u32,
    window: Duration,
    origin: Instant,
    index: u64,
    count: u32,
}

impl FixedWindow {
    pub fn new(limit: u32, window: Duration, origin: Instant) -> Self {
        FixedWindow {
            limit,
            window,
            origin,
            index: 0,
            count: 0,
        }
    }

    pub fn try_hit(&mut self, now: Instant) -> bool {
        let index = (now.saturating_duration_since(self.origin).as_nanos()
            / self.window.as_nanos().max(1)) as u64;
        if index != self.index {
            self.index = index;
            self.count = 0;
        }
        if self.count < self.limit {
            self.count += 1;
            true
        } else {
            false
        }
    }
}

// ANCHOR: sliding_window
/// A sliding-window counter: the fixed windows' two counters, blended. The estimate of hits
/// in the last `window` is this window's count plus the previous window's count weighted by
/// how much of the previous window the sliding window still covers. Two integers per client,
/// and no burst at the boundary (the estimate assumes the previous window's hits were evenly
/// spread, which errs a little either way; a *log* of timestamps is exact and costs memory).
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: u32,
    window: Duration,
    origin: Instant,
    index: u64,
    current: u32,
    previous: u32,
}
// ANCHOR_END: sliding_window

impl SlidingWindow {
    pub fn new(limit: u32, window: Duration, origin: Instant) -> Self {
        SlidingWindow {
            limit,
            window,
            origin,
            index: 0,
            current: 0,
            previous: 0,
        }
    }

    /// Moves the counters to the window `now` falls in; returns how far into it `now` is (0..1).
    fn roll(&mut self, now: Instant) -> f64 {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        let window = self.window.as_nanos().max(1);
        let index = (since / window) as u64;
        if index != self.index {
            self.previous = if index == self.index + 1 {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.index = index;
        }
        (since % window) as f64 / window as f64
    }

    // ANCHOR: sliding_estimate
    /// The estimated number of hits in the `window` before `now`.
    pub fn estimate(&mut self, now: Instant) -> f64 {
        let into = self.roll(now);
        f64::from(self.previous) * (1.0 - into) + f64::from(self.current)
    }
    // ANCHOR_END: sliding_estimate

    /// Ok if one more hit fits; otherwise roughly how long until one does.
    pub fn check(&mut self, now: Instant) -> Result<(), Duration> {
        let into = self.roll(now);
        let room = f64::from(self.limit) - 1.0 - f64::from(self.current);
        if f64::from(self.previous) * (1.0 - into) <= room {
            return Ok(());
        }
        let window = self.window.as_secs_f64();
        // Still in this window: wait until enough of the previous window has slid out.
        if room >= 0.0 && self.previous > 0 {
            let needed = 1.0 - room / f64::from(self.previous);
            return Err(Duration::from_secs_f64((needed - into) * window));
        }
        // Not before the next window; there this window's count plays the previous one's part.
        let room_next = f64::from(self.limit) - 1.0;
        let needed_next = if self.current == 0 {
            0.0
        } else {
            (1.0 - room_next / f64::from(self.current)).max(0.0)
        };
        Err(Duration::from_secs_f64((1.0 - into + needed_next) * window))
    }

    pub fn record(&mut self, now: Instant) {
        self.roll(now);
        self.current = self.current.saturating_add(1);
    }

    /// `check`, then `record` if it passed.
    pub fn try_hit(&mut self, now: Instant) -> Result<(), Duration> {
        self.check(now)?;
        self.record(now);
        Ok(())
    }
}

/// What the middleware needs: a token bucket per client address (shop-http's
/// [`RateLimiter`]), and the peers whose `X-Forwarded-For` is believed (see [`client_ip`]).
/// Cheap to clone, as axum does for every request: both fields are shared, not copied.
#[derive(Debug, Clone)]
pub struct RateLimitState {
    pub limiter: RateLimiter,
    pub trusted_proxies: Arc<[IpAddr]>,
}

impl RateLimitState {
    /// Buckets of `capacity` tokens that gain `per_second` a second, one per client address.
    pub fn new(capacity: u32, per_second: f64, trusted_proxies: Vec<IpAddr>) -> Self {
        RateLimitState {
            limiter: RateLimiter::new(capacity, per_second),
            trusted_proxies: trusted_proxies.into(),
        }
    }
}

// ANCHOR: middleware
/// The middleware: 429 Too Many Requests with `Retry-After` once the client's bucket is empty.
/// `ratelimit-remaining` tells a well-behaved client how much room it has left.
pub async fn rate_limit(
    State(state): State<RateLimitState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = client_ip(peer, request.headers(), &state.trusted_proxies);
    match state.limiter.check(&client, Instant::now()) {
        Ok(remaining) => {
            let mut response = next.run(request).await;
            response
                .headers_mut()
                .insert("ratelimit-remaining", HeaderValue::from(remaining));
            response
        }
        Err(wait) => too_many_requests(wait, "rate limit exceeded: slow down"),
    }
}
// ANCHOR_END: middleware

/// 429 with `Retry-After` in whole seconds, rounded up by [`retry_after_secs`]: a client that
/// waited the rounded-down value would be refused again.
pub fn too_many_requests(wait: Duration, detail: &str) -> Response {
    let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, detail).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(wait)),
    );
    response
}
