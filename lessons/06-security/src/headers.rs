//! CORS and security headers: what the server tells the *browser* to allow and forbid.
//!
//! Both are instructions to browsers, which is their strength and their limit. A browser
//! obeys them on behalf of a user who cannot defend themselves; curl, reqwest and an
//! attacker's script ignore them. They protect your users from other sites, never your API
//! from its callers: that is what authentication and authorization do.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// The one web front end allowed to call the lab's API from a browser.
pub const ALLOWED_ORIGIN: &str = "https://shop.test";

// ANCHOR: cors
/// CORS for the JSON API: an explicit list of origins, methods and request headers.
///
/// A page on `https://shop.test` may call the API with `fetch` and read the answer; a page on
/// any other origin may still *send* simple requests (the browser cannot stop a form post),
/// but its script will not see the response, and a preflighted request (a JSON body, an
/// `Authorization` header, `PUT`/`DELETE`) is not sent at all. Never reflect whatever
/// `Origin` arrives, and never combine a wildcard with credentials: both hand every site on
/// the web your users' logged-in API.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list([HeaderValue::from_static(
            ALLOWED_ORIGIN,
        )]))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        // How long a browser may cache the preflight's answer instead of asking again.
        .max_age(Duration::from_secs(600))
}
// ANCHOR_END: cors

// ANCHOR: security_headers
/// The headers every fixed response carries, and why:
///
/// | header | effect |
/// | --- | --- |
/// | `content-security-policy` | which sources may load scripts, styles, frames...; `'none'` by default, pages loosen it |
/// | `x-content-type-options: nosniff` | the browser trusts `content-type` instead of guessing (a "JPEG" that sniffs as HTML would run) |
/// | `x-frame-options: DENY` | no other page may frame this one (clickjacking); CSP's `frame-ancestors` says the same for newer browsers |
/// | `referrer-policy: no-referrer` | URLs of our pages, with their tokens and ids, do not leak to the sites we link to |
/// | `cross-origin-opener-policy: same-origin` | a page we open cannot script us through `window.opener` |
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Adds [`SECURITY_HEADERS`] to every response of `router` that does not set its own (a page
/// with its own, looser CSP keeps it).
pub fn with_security_headers<S>(mut router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    router
}
// ANCHOR_END: security_headers

// ANCHOR: hsts
/// HTTP Strict Transport Security: "for two years, reach this host (and its subdomains) over
/// HTTPS only". The browser then rewrites `http://` links itself and refuses to click through
/// a certificate warning, so a network attacker cannot downgrade the next visit to HTTP.
/// Browsers ignore it on plain HTTP responses (an attacker could forge those), so it is added
/// only by the HTTPS server.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

pub fn hsts() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    )
}
// ANCHOR_END: hsts
