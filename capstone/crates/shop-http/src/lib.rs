//! The HTTP pieces the course teaches once and everything after reuses.
//!
//! | module | taught in | what it holds |
//! | --- | --- | --- |
//! | [`problem`] | lesson 03 | RFC 9457 problem details, field errors, the completing middleware |
//! | [`serve`] | lessons 03 and 06 | the accept loop: TLS, connection limits and timeouts, graceful shutdown |
//! | [`patch`] | lesson 05 | PATCH's three states: absent, `null`, a value |
//!
//! Why a crate of its own: the capstone must not depend on a lesson (a lesson's crate carries
//! its demonstration, narration and deliberately vulnerable code), and the lessons must not
//! each keep a copy. So the piece lives below both, in the capstone's workspace, like
//! `shop-domain` and `shop-db`; each lesson's chapter includes it from here.

pub mod patch;
pub mod problem;
pub mod serve;

pub use patch::Patch;
pub use problem::{FieldError, FieldErrors, Location, PROBLEM_JSON, Problem, problem_details};
pub use serve::{ConnectionStats, Limits, RunningServer, ServeError, Server};
