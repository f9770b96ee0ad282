//! The crate root of exercise 11's reference solution. It is `lib.rs`, re-exported whole.
//!
//! `cargo xtask verify` also runs the shared tests against other candidates without touching
//! the learner's file: the stub as shipped, `alternative.rs` (a differently written correct
//! solution) and each planted bug of `planted.toml`. It writes the candidate to
//! `candidate.rs` (ignored by git) and builds with the `verify-candidate` feature.
//!
//! Two declarations under opposite `cfg`s rather than one `cfg_attr(path)`: tools that read
//! the module tree without evaluating features (cargo-mutants, which mutates lib.rs) find lib.rs.
#[cfg(not(feature = "verify-candidate"))]
#[path = "lib.rs"]
mod solution;

// rustfmt reads every declaration whatever its `cfg`, and candidate.rs exists only while
// `verify` runs: without the skip, `cargo fmt` fails on a missing file.
#[cfg(feature = "verify-candidate")]
#[rustfmt::skip]
#[path = "candidate.rs"]
mod solution;

pub use solution::*;
