//! Lesson 06, security practices: attacks and their fixes, side by side, in running code.
//!
//! A lab server carries each vulnerable endpoint beside its fix (SQL injection, stored XSS,
//! SSRF, CSRF), and an attack script fires payloads at both and reports what got through.
//! Around it: TLS with rustls and a certificate generated at start, HSTS, CORS and security
//! headers, a per-client token bucket, login throttling per account and per address, and a
//! customer's data exported, erased and retained by rule.
//!
//! Run the narrated demo with `cargo run -p lesson-06` (PostgreSQL for the SQL-injection step:
//! `cargo xtask services up`; `-- --help` lists the options) and the tests with
//! `cargo test -p lesson-06`. Read the modules in this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`sqli`] | string-built SQL against bind parameters; input validation |
//! | [`xss`] | raw against escaped HTML output; Content-Security-Policy |
//! | [`ssrf`] | a URL fetcher that follows anything, and one with an allow-list, address checks, no redirects |
//! | [`csrf`] | a cookie session, a synchronizer token, the `Origin` check |
//! | [`attack`] | the attack script and how it decides "got through" |
//! | [`tls`] | rcgen, rustls with an explicit provider, shop-http's server over TLS, a tokio-rustls client |
//! | [`headers`] | CORS allow-list, security headers, HSTS |
//! | [`client_ip`] | which address a limit is keyed on, and when to believe `X-Forwarded-For` |
//! | [`ratelimit`] | fixed and sliding windows; the 429 middleware on shop-http's token bucket per client |
//! | [`throttle`] | login throttling per account (backoff) and per address (sliding window) |
//! | [`privacy`] | export, erasure with anonymisation, retention |
//! | [`lab`] | the router that puts it all together |
//!
//! [`steps`] holds the narration that `main.rs` runs, one function per step.

pub mod attack;
pub mod client_ip;
pub mod csrf;
pub mod database;
pub mod headers;
pub mod lab;
pub mod privacy;
pub mod problem;
pub mod ratelimit;
pub mod sqli;
pub mod ssrf;
pub mod steps;
pub mod throttle;
pub mod tls;
pub mod xss;
