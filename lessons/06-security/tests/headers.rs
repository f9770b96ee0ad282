//! CORS preflights and security headers, in process with `oneshot`.
//!
//! `cargo test -p lesson-06 --test headers`

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use lesson_06::headers::{ALLOWED_ORIGIN, SECURITY_HEADERS};
use lesson_06::throttle::ThrottlePolicy;
use lesson_06::xss::COMMENTS_CSP;
use tower::ServiceExt;

async fn send(request: Request<Body>) -> Response {
    let peer = "127.0.0.1:50000".parse().expect("a valid address");
    common::router(100, ThrottlePolicy::default(), peer)
        .await
        .oneshot(request)
        .await
        .expect("the router is infallible")
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/orders")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .expect("a valid request")
}

#[tokio::test]
async fn a_preflight_from_the_allowed_origin_is_granted() {
    let response = send(preflight(ALLOWED_ORIGIN)).await;
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], ALLOWED_ORIGIN);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    assert_eq!(headers["access-control-max-age"], "600");
    assert!(headers.get("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_permission() {
    let response = send(preflight("https://evil.example")).await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // A lookalike is another origin too: the comparison is exact.
    let response = send(preflight("https://shop.test.evil.example")).await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn hardened_responses_carry_every_security_header_and_vulnerable_ones_none() {
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let response = send(get("/api/orders")).await;
    assert_eq!(response.status(), StatusCode::OK);
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(response.headers()[name], value, "{name}");
    }
    let response = send(get("/vulnerable/comments")).await;
    for (name, _) in SECURITY_HEADERS {
        assert!(response.headers().get(name).is_none(), "{name}");
    }
}

#[tokio::test]
async fn a_page_keeps_its_own_csp_instead_of_the_default() {
    let response = send(Request::get("/fixed/comments").body(Body::empty()).unwrap()).await;
    assert_eq!(response.headers()["content-security-policy"], COMMENTS_CSP);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
}
