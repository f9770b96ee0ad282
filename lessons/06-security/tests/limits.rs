//! Rate limiting and login throttling, on simulated time: the algorithms take `now` as an
//! argument, and the middleware reads tokio's clock, which these tests pause and advance.
//! No test sleeps.
//!
//! `cargo test -p lesson-06 --test limits`

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use lesson_06::lab::DEMO_PASSWORD;
use lesson_06::ratelimit::{FixedWindow, SlidingWindow};
use lesson_06::throttle::{LoginThrottle, Scope, ThrottlePolicy};
use shop_http::TokenBucket;
use tokio::time::Instant;
use tower::ServiceExt;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_token_bucket_allows_its_burst_then_its_rate() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(3, 2.0, t0);
    assert_eq!(bucket.try_take(t0), Ok(2));
    assert_eq!(bucket.try_take(t0), Ok(1));
    assert_eq!(bucket.try_take(t0), Ok(0));
    assert_eq!(
        bucket.try_take(t0),
        Err(SECOND / 2),
        "two a second: one every 500 ms"
    );
    assert!(bucket.try_take(t0 + SECOND / 2).is_ok());
    assert!(bucket.try_take(t0 + SECOND / 2).is_err());
    // A long silence refills to capacity, never beyond.
    let later = t0 + 3600 * SECOND;
    assert!(bucket.is_full(later));
    for _ in 0..3 {
        assert!(bucket.try_take(later).is_ok());
    }
    assert!(bucket.try_take(later).is_err());
}

#[test]
fn a_late_reading_of_the_clock_does_not_credit_the_same_time_twice() {
    // Two requests read the clock, and the later reading takes the lock first.
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(2, 1.0, t0);
    assert_eq!(bucket.try_take(t0), Ok(1));
    assert_eq!(bucket.try_take(t0), Ok(0));
    assert!(
        bucket.try_take(t0 + SECOND).is_ok(),
        "one second, one token"
    );
    assert!(bucket.try_take(t0 + SECOND / 2).is_err(), "read earlier");
    // Still one token for that one second, not another for the half it was wound back.
    assert!(bucket.try_take(t0 + SECOND + SECOND / 2).is_err());
}

#[test]
fn a_fixed_window_allows_twice_its_limit_across_a_boundary_and_a_sliding_one_does_not() {
    let t0 = Instant::now();
    let minute = 60 * SECOND;
    let mut fixed = FixedWindow::new(10, minute, t0);
    let mut sliding = SlidingWindow::new(10, minute, t0);
    let burst = |at: Duration| (0..10).map(move |_| t0 + at);
    let times: Vec<Instant> = burst(minute - SECOND / 2)
        .chain(burst(minute + SECOND / 2))
        .collect();
    assert_eq!(times.iter().filter(|&&t| fixed.try_hit(t)).count(), 20);
    assert_eq!(
        times
            .iter()
            .filter(|&&t| sliding.try_hit(t).is_ok())
            .count(),
        10
    );
}

#[test]
fn the_sliding_window_retry_after_is_when_a_hit_fits_again() {
    let t0 = Instant::now();
    let minute = 60 * SECOND;
    let mut window = SlidingWindow::new(4, minute, t0);
    for _ in 0..4 {
        window.try_hit(t0 + SECOND).unwrap();
    }
    let now = t0 + 2 * SECOND;
    let wait = window.check(now).unwrap_err();
    // Four hits in window 0 and a limit of 4: the next fits once a quarter of window 1 passed.
    assert_eq!(wait, Duration::from_secs(58 + 15));
    assert!(window.check(now + wait - SECOND).is_err());
    assert!(window.check(now + wait + Duration::from_millis(1)).is_ok());
    assert!(window.estimate(now + wait) <= 3.0 + 1e-9);
}

async fn get(app: &Router, xff: Option<&str>) -> Response {
    let mut request = Request::get("/api/orders");
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).expect("a valid request"))
        .await
        .expect("the router is infallible")
}

#[tokio::test(start_paused = true)]
async fn the_middleware_answers_429_with_retry_after_then_recovers() {
    let peer: SocketAddr = "198.51.100.9:40000".parse().unwrap();
    let app = common::router(3, ThrottlePolicy::default(), peer).await;
    for remaining in ["2", "1", "0"] {
        let response = get(&app, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
    }
    let refused = get(&app, None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    tokio::time::advance(SECOND).await;
    assert_eq!(get(&app, None).await.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_forged_forwarded_for_from_an_untrusted_peer_buys_no_new_bucket() {
    let peer: SocketAddr = "198.51.100.9:40000".parse().unwrap();
    let app = common::router(2, ThrottlePolicy::default(), peer).await;
    let statuses: Vec<StatusCode> = futures_statuses(&app, ["1.1.1.1", "2.2.2.2", "3.3.3.3"]).await;
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn behind_the_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let proxy: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let app = common::router(1, ThrottlePolicy::default(), proxy).await;
    let statuses = futures_statuses(&app, ["203.0.113.1", "203.0.113.2", "203.0.113.1"]).await;
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

async fn futures_statuses<const N: usize>(app: &Router, xffs: [&str; N]) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for xff in xffs {
        statuses.push(get(app, Some(xff)).await.status());
    }
    statuses
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("the test's addresses are valid")
}

#[test]
fn account_failures_past_the_free_ones_lock_for_doubling_times() {
    let policy = ThrottlePolicy::default(); // 3 free, 1 s doubling, cap 15 min
    let mut throttle = LoginThrottle::new(policy);
    let t0 = Instant::now();
    let attacker = ip("203.0.113.7");
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..7 {
        throttle.check("ada", attacker, now).unwrap();
        throttle.record_failure("ada", attacker, now);
        match throttle.check("ada", attacker, now) {
            Ok(()) => waits.push(Duration::ZERO),
            Err(throttled) => {
                assert_eq!(throttled.scope, Scope::Account);
                waits.push(throttled.retry_after);
                now += throttled.retry_after;
            }
        }
    }
    let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [0, 0, 0, 1, 2, 4, 8]);
}

#[test]
fn the_lock_is_capped_and_case_variants_share_it() {
    let policy = ThrottlePolicy {
        max_delay: Duration::from_secs(5),
        ip_failures: 1_000,
        ..ThrottlePolicy::default()
    };
    let mut throttle = LoginThrottle::new(policy);
    let t0 = Instant::now();
    for _ in 0..40 {
        throttle.record_failure("Ada ", ip("203.0.113.7"), t0);
    }
    let throttled = throttle.check("ada", ip("192.0.2.1"), t0).unwrap_err();
    assert_eq!(throttled.retry_after, Duration::from_secs(5));
}

#[test]
fn a_success_resets_the_account_but_not_the_address() {
    let mut throttle = LoginThrottle::new(ThrottlePolicy {
        ip_failures: 5,
        ..ThrottlePolicy::default()
    });
    let t0 = Instant::now();
    let home = ip("192.0.2.1");
    for _ in 0..4 {
        throttle.record_failure("ada", home, t0);
    }
    assert_eq!(
        throttle.check("ada", home, t0).unwrap_err().scope,
        Scope::Account
    );
    throttle.record_success("ada");
    assert!(
        throttle.check("ada", home, t0).is_ok(),
        "the account starts over"
    );
    throttle.record_failure("bob", home, t0);
    let throttled = throttle.check("carol", home, t0).unwrap_err();
    assert_eq!(
        throttled.scope,
        Scope::Address,
        "five failures from one address"
    );
}

#[test]
fn a_spray_across_accounts_is_stopped_by_the_address_window_only() {
    let policy = ThrottlePolicy::default(); // 10 failures per 15 min per address
    let mut throttle = LoginThrottle::new(policy.clone());
    let t0 = Instant::now();
    let sprayer = ip("198.51.100.23");
    let mut tried = 0;
    for n in 0..50 {
        let account = format!("customer{n}");
        if throttle.check(&account, sprayer, t0).is_err() {
            break;
        }
        throttle.record_failure(&account, sprayer, t0);
        tried += 1;
    }
    assert_eq!(tried, 10);
    assert!(
        throttle
            .check("customer99", ip("198.51.100.24"), t0)
            .is_ok(),
        "other addresses are not affected"
    );
    let later = t0 + 2 * policy.ip_window;
    assert!(
        throttle.check("customer99", sprayer, later).is_ok(),
        "the window slides on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_locked_account_refuses_even_the_right_password_until_the_wait_is_over() {
    let peer: SocketAddr = "192.0.2.50:40000".parse().unwrap();
    let app = common::router(100, ThrottlePolicy::default(), peer).await;
    let login = |password: &str| {
        Request::post("/login")
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::json!({ "user": "ada", "password": password }).to_string(),
            ))
            .unwrap()
    };
    for _ in 0..4 {
        let response = app.clone().oneshot(login("guess")).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = app.clone().oneshot(login(DEMO_PASSWORD)).await.unwrap();
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.headers()["retry-after"], "1");
    tokio::time::advance(SECOND).await;
    let welcome = app.clone().oneshot(login(DEMO_PASSWORD)).await.unwrap();
    assert_eq!(welcome.status(), StatusCode::OK);
}
