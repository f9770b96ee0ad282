//! The service's defences at the edge (book chapter 06, "Capstone step").
//!
//! | module | holds |
//! |--------|-------|
//! | [`client_ip`] | which address a request came from (and why `X-Forwarded-For` is not trusted by default) |
//! | [`rate_limit`] | a token bucket per client IP, as middleware: 429 + `Retry-After` |
//! | [`throttle`] | failed sign-ins per account and per IP: brute force and password spraying |
//! | [`headers`] | security headers on every response, the CORS allow-list, `no-store` |
//! | [`tls`] | HTTPS with rustls: certificate files or one generated at start |
//!
//! The request body limit lives with the rest of the middleware stack (`routes::BODY_LIMIT`).

pub mod client_ip;
pub mod headers;
pub mod rate_limit;
pub mod throttle;
pub mod tls;

use axum::Router;

pub use client_ip::{ClientIp, ClientIpSource};
pub use rate_limit::RateLimitState;
pub use throttle::LoginThrottle;

use crate::config::{SecuritySettings, TlsSetting};

// ANCHOR: protect
/// The rate limit, around the routes themselves. Inside the problem-details middleware, so a
/// 429 is a problem document with an `instance` like every other error.
pub fn with_rate_limit(routes: Router, settings: &SecuritySettings) -> Router {
    match rate_limit::limiter(settings) {
        Some(limiter) => routes.layer(axum::middleware::from_fn_with_state(
            RateLimitState {
                limiter,
                client_ip: ClientIpSource {
                    trust_x_forwarded_for: settings.trust_x_forwarded_for,
                },
            },
            rate_limit::rate_limit,
        )),
        None => routes,
    }
}

/// CORS and the security headers, outside everything else: a preflight is answered before
/// any other layer runs, and every response, errors included, leaves with the headers.
pub fn with_edge_policies(app: Router, settings: &SecuritySettings) -> Router {
    let app = match headers::cors(settings) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    headers::with_security_headers(app, settings.tls != TlsSetting::Off)
}
// ANCHOR_END: protect
