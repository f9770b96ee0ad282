//! The HTTP pieces the course teaches once and everything after reuses.
//!
//! | module | taught in | what it holds |
//! | --- | --- | --- |
//! | [`problem`] | lesson 03 | RFC 9457 problem details, field errors, the completing middleware |
//! | [`serve`] | lessons 03 and 06 | the accept loop: TLS, connection limits and timeouts, graceful shutdown |
//! | [`patch`] | lesson 05 | PATCH's three states: absent, `null`, a value |
//! | [`rate_limit`] | lesson 06 | a token bucket, and one per client with bounded memory |
//! | [`signal`] | lesson 03 | [`shutdown_signal`]: Ctrl-C or SIGTERM, for every service's `main` |
//!
//! Why a crate of its own: the capstone must not depend on a lesson (a lesson's crate carries
//! its demonstration, narration and deliberately vulnerable code), and the lessons must not
//! each keep a copy. So the piece lives below both, in the capstone's workspace, like
//! `shop-domain` and `shop-db`; each lesson's chapter includes it from here.

pub mod patch;
pub mod problem;
pub mod rate_limit;
pub mod serve;
pub mod signal;

pub use patch::Patch;
pub use problem::{
    ABOUT_BLANK, FieldError, FieldErrors, Location, PROBLEM_JSON, Problem, X_REQUEST_ID,
    panic_response, problem_details,
};
pub use rate_limit::{RateLimiter, TokenBucket};
pub use serve::{ConnectionStats, Limits, RunningServer, ServeError, Server};
pub use signal::shutdown_signal;
