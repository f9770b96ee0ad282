//! Response headers that tell browsers how to treat the API's answers, and the CORS policy
//! (book chapter 06).
//!
//! The API serves JSON to programs, never pages to people, so the headers can be strict:
//!
//! | header | value | why |
//! | --- | --- | --- |
//! | `Content-Security-Policy` | `default-src 'none'; frame-ancestors 'none'` | a JSON response opened as a page may load nothing and run nothing, and no site may frame it |
//! | `X-Content-Type-Options` | `nosniff` | a browser must not guess that JSON with user text in it is HTML or script |
//! | `X-Frame-Options` | `DENY` | `frame-ancestors` for browsers too old to know it |
//! | `Referrer-Policy` | `no-referrer` | URLs (with ids in them) do not leak to other sites |
//! | `Cross-Origin-Resource-Policy` | `same-origin` | other sites cannot embed responses with `<img>`/`<script>` |
//! | `Strict-Transport-Security` | `max-age=31536000` | with TLS on only: browsers stop trying plain HTTP for a year |
//!
//! `Cache-Control: no-store` goes on the account routes only (see `routes::accounts`): tokens,
//! profiles and exports must not sit in a shared cache, while the catalog may be cached.
//!
//! CORS is an allow-list from the configuration. An origin on the list may call the API from
//! browser scripts with `Authorization` headers; any other origin's preflight gets no
//! `Access-Control-Allow-Origin`, so the browser stops the call. Credentials mode (cookies)
//! stays off: this API authenticates with bearer tokens, which a script adds itself, and a
//! wildcard origin is refused by the configuration.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::SecuritySettings;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(10 * 60);

// ANCHOR: headers
/// Adds the security headers to every response (unless a handler set its own).
pub fn with_security_headers(router: Router, hsts: bool) -> Router {
    let fixed: [(HeaderName, &'static str); 5] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    let mut router = router;
    for (name, value) in fixed {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if hsts {
        // Only over TLS: RFC 6797 tells browsers to ignore it on plain HTTP anyway, and
        // sending it there would promise something this listener does not do.
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ));
    }
    router
}
// ANCHOR_END: headers

// ANCHOR: cors
/// The CORS layer for the configured origins, or `None` when no origin is allowed (then no
/// CORS header is ever sent, and browsers keep scripts on other origins out).
pub fn cors(settings: &SecuritySettings) -> Option<CorsLayer> {
    // The configuration checked every origin; one that still fails to be a header value is
    // skipped rather than taking the service down.
    let origins: Vec<HeaderValue> = settings
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
                // The checkout's and the guest cart's own headers.
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("guest-cart"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
// ANCHOR_END: cors

/// `Cache-Control: no-store`, for routes whose responses carry tokens or personal data.
pub fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}
