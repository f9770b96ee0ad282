//! The hand-written `ServerTimingLayer` around plain tower services, without axum: readiness
//! passes through, the header reports the inner service's time, and requests are counted in
//! flight until they finish or are dropped.
//!
//! `cargo test -p lesson-03 --test layer`

use std::convert::Infallible;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use axum::http::{Request, Response, StatusCode};
use lesson_03::layer::{RequestStats, SERVER_TIMING, ServerTimingLayer};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// An inner service that takes `ms` milliseconds (on the paused clock: exactly).
async fn sleepy(request: Request<u64>) -> Result<Response<()>, Infallible> {
    tokio::time::sleep(Duration::from_millis(*request.body())).await;
    Ok(Response::new(()))
}

fn request(ms: u64) -> Request<u64> {
    Request::new(ms)
}

#[tokio::test(start_paused = true)]
async fn the_header_reports_how_long_the_inner_service_took() {
    let stats = RequestStats::default();
    let service = ServiceBuilder::new()
        .layer(ServerTimingLayer::new("app", stats.clone()))
        .service_fn(sleepy);
    let response = service.oneshot(request(250)).await.unwrap();
    assert_eq!(response.headers()[SERVER_TIMING], "app;dur=250.0");
    assert_eq!(stats.completed(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_counts_as_in_flight_until_it_finishes_or_is_dropped() {
    let stats = RequestStats::default();
    let mut service = ServiceBuilder::new()
        .layer(ServerTimingLayer::new("app", stats.clone()))
        .service_fn(sleepy);

    let first = service.ready().await.unwrap().call(request(100));
    let second = service.ready().await.unwrap().call(request(100));
    assert_eq!(stats.in_flight(), 2, "counted from `call`, before any poll");

    first.await.unwrap();
    assert_eq!((stats.in_flight(), stats.completed()), (1, 1));

    // A timeout or a client hanging up drops the future unfinished: no longer in flight,
    // and not completed either.
    drop(second);
    assert_eq!((stats.in_flight(), stats.completed()), (0, 1));
}

#[tokio::test]
async fn readiness_is_the_inner_services() {
    let stats = RequestStats::default();
    // The inner service takes one request at a time: it is not ready while one is running.
    let mut service = ServiceBuilder::new()
        .layer(ServerTimingLayer::new("app", stats))
        .concurrency_limit(1)
        .service_fn(sleepy);

    let running = service.ready().await.unwrap().call(request(10));
    let ready_now = poll_fn(|cx| Poll::Ready(service.poll_ready(cx).is_ready())).await;
    assert!(
        !ready_now,
        "the layer must not claim readiness its inner service lacks"
    );

    running.await.unwrap();
    service.ready().await.unwrap();
}

#[tokio::test]
async fn an_inner_error_passes_through_untouched() {
    let stats = RequestStats::default();
    let service = ServiceBuilder::new()
        .layer(ServerTimingLayer::new("app", stats.clone()))
        .service(service_fn(|_: Request<()>| async {
            Err::<Response<()>, StatusCode>(StatusCode::BAD_GATEWAY)
        }));
    let error = service.oneshot(Request::new(())).await.unwrap_err();
    assert_eq!(error, StatusCode::BAD_GATEWAY);
    assert_eq!((stats.in_flight(), stats.completed()), (0, 0));
}
