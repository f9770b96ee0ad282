//! A per-client-IP rate limit: the shop's policy around shop-http's token buckets (book
//! chapter 06).
//!
//! The bucket and the map of one bucket per client are [`shop_http::rate_limit`], the code
//! chapter 06 teaches, tested there. What is the shop's is decided here: each client IP has a
//! bucket of `rate_limit_burst` requests that refills at `rate_limit_per_sec` (0 turns the limit
//! off), the address comes from [`ClientIpSource`], the health probes are exempt, and a refused
//! request is a 429 problem with `Retry-After` (the time until a token is back).
//!
//! Why in memory: the check runs on every request, so it must cost nanoseconds, not a network
//! round trip. The price: each instance counts on its own, so N instances allow N times the
//! rate, and a restart forgets. Lesson 09 moves the counters to Redis, where instances share
//! them. Memory stays bounded: past [`RateLimiter::DEFAULT_MAX_TRACKED`] addresses, the map
//! drops the buckets that have refilled completely, which loses nothing, because a new bucket
//! starts full too.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shop_http::RateLimiter;
use tokio::time::Instant;

use super::client_ip::ClientIpSource;
use crate::config::SecuritySettings;
use crate::error::ApiError;

// ANCHOR: policy
/// The shop's limit from its `[security]` settings: a bucket per client IP holding
/// `rate_limit_burst` requests and gaining `rate_limit_per_sec` a second. `None` when
/// `rate_limit_per_sec` is 0, which turns the limit off.
pub fn limiter(settings: &SecuritySettings) -> Option<RateLimiter> {
    let per_sec = settings.rate_limit_per_sec;
    (per_sec > 0).then(|| RateLimiter::new(settings.rate_limit_burst, f64::from(per_sec)))
}

/// What the middleware needs: the limiter and how to find the client's address. Cheap to clone,
/// as axum does for every request: the limiter's buckets are shared, not copied.
#[derive(Debug, Clone)]
pub struct RateLimitState {
    pub limiter: RateLimiter,
    pub client_ip: ClientIpSource,
}
// ANCHOR_END: policy

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
    // tokio's clock, not std's: a test with a paused runtime moves it with `advance`.
    match state.limiter.check(&ip, Instant::now()) {
        Ok(_remaining) => next.run(request).await,
        Err(retry_after) => {
            tracing::info!(client.ip = %ip, "rate limited");
            ApiError::TooManyRequests { retry_after }.into_response()
        }
    }
}
// ANCHOR_END: middleware

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    use proptest::prelude::*;
    use shop_http::PROBLEM_JSON;
    use tower::ServiceExt;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn settings(per_sec: u32, burst: u32) -> SecuritySettings {
        SecuritySettings {
            rate_limit_per_sec: per_sec,
            rate_limit_burst: burst,
            ..SecuritySettings::default()
        }
    }

    fn client(last: u8) -> IpAddr {
        IpAddr::from(Ipv4Addr::new(192, 0, 2, last))
    }

    /// A router of three routes behind the middleware, limited as `settings` say.
    fn app(settings: &SecuritySettings) -> Router {
        let state = RateLimitState {
            limiter: limiter(settings).expect("the tests' settings turn the limit on"),
            client_ip: ClientIpSource {
                trust_x_forwarded_for: settings.trust_x_forwarded_for,
            },
        };
        Router::new()
            .route("/categories", get(|| async { "categories" }))
            .route("/healthz", get(|| async { "alive" }))
            .route("/readyz", get(|| async { "ready" }))
            .layer(axum::middleware::from_fn_with_state(state, rate_limit))
    }

    /// `GET path` from `ip`, the way `shop_http::Server` records the peer.
    async fn get_from(app: &Router, path: &str, ip: IpAddr) -> Response {
        let mut request = Request::get(path)
            .body(Body::empty())
            .expect("a valid request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
        app.clone()
            .oneshot(request)
            .await
            .expect("the router is infallible")
    }

    #[test]
    fn a_zero_rate_turns_the_limit_off() {
        assert!(limiter(&settings(0, 10)).is_none());
        assert!(limiter(&settings(1, 10)).is_some());
    }

    #[test]
    fn the_settings_shape_each_clients_bucket() {
        let limiter = limiter(&settings(2, 3)).unwrap();
        let now = Instant::now();
        for left in [2, 1, 0] {
            assert_eq!(limiter.check(&client(1), now), Ok(left), "a burst of three");
        }
        assert_eq!(
            limiter.check(&client(1), now),
            Err(SECOND / 2),
            "then two a second: one every 500 ms"
        );
        assert_eq!(
            limiter.check(&client(2), now),
            Ok(2),
            "another client is not punished for the first"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_past_its_burst_gets_a_429_problem_with_retry_after_until_a_token_is_back() {
        let app = app(&settings(1, 2));
        for n in 0..2 {
            let response = get_from(&app, "/categories", client(1)).await;
            assert_eq!(response.status(), StatusCode::OK, "request {n}");
        }
        let refused = get_from(&app, "/categories", client(1)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert_eq!(refused.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(
            get_from(&app, "/categories", client(2)).await.status(),
            StatusCode::OK,
            "each client IP has its own bucket"
        );
        tokio::time::advance(SECOND).await;
        assert_eq!(
            get_from(&app, "/categories", client(1)).await.status(),
            StatusCode::OK,
            "a second later, a token is back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_health_probes_are_never_limited_and_take_no_token() {
        let app = app(&settings(1, 1));
        for _ in 0..5 {
            for probe in ["/healthz", "/readyz"] {
                let response = get_from(&app, probe, client(1)).await;
                assert_eq!(response.status(), StatusCode::OK, "{probe}");
            }
        }
        assert_eq!(
            get_from(&app, "/categories", client(1)).await.status(),
            StatusCode::OK,
            "the probes left the bucket full"
        );
        assert_eq!(
            get_from(&app, "/categories", client(1)).await.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "the next request is limited as usual"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_forwarded_address_is_the_key_only_when_the_settings_trust_it() {
        let forwarded_from = |app: &Router, forwarded: &'static str| {
            let mut request = Request::get("/categories")
                .header("x-forwarded-for", forwarded)
                .body(Body::empty())
                .expect("a valid request");
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client(1), 40_000)));
            let app = app.clone();
            async move { app.oneshot(request).await.unwrap().status() }
        };
        let untrusting = app(&settings(1, 1));
        assert_eq!(
            forwarded_from(&untrusting, "203.0.113.1").await,
            StatusCode::OK
        );
        assert_eq!(
            forwarded_from(&untrusting, "203.0.113.2").await,
            StatusCode::TOO_MANY_REQUESTS,
            "a new X-Forwarded-For buys no new bucket"
        );

        let behind_a_proxy = app(&SecuritySettings {
            trust_x_forwarded_for: true,
            ..settings(1, 1)
        });
        assert_eq!(
            forwarded_from(&behind_a_proxy, "203.0.113.1").await,
            StatusCode::OK
        );
        assert_eq!(
            forwarded_from(&behind_a_proxy, "203.0.113.2").await,
            StatusCode::OK,
            "behind a proxy, each forwarded client has its own bucket"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_without_an_address_passes() {
        let app = app(&settings(1, 1));
        for _ in 0..3 {
            let request = Request::get("/categories").body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }

    proptest! {
        /// Whatever the arrival pattern, one client gets at most
        /// `rate_limit_burst + rate_limit_per_sec × elapsed` requests through.
        #[test]
        fn a_client_never_gets_more_than_burst_plus_rate_through(
            per_sec in 1u32..50,
            burst in 1u32..50,
            gaps in proptest::collection::vec(0u64..2_000, 1..200),
        ) {
            let limiter = limiter(&settings(per_sec, burst)).unwrap();
            let start = Instant::now();
            let mut now = start;
            let mut admitted = 0u32;
            for gap in gaps {
                now += Duration::from_millis(gap);
                if limiter.check(&client(1), now).is_ok() {
                    admitted += 1;
                }
                let allowance =
                    f64::from(burst) + f64::from(per_sec) * (now - start).as_secs_f64();
                prop_assert!(f64::from(admitted) <= allowance + 1e-9);
            }
        }
    }
}
