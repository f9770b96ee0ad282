//! Exercise 03's tests: one module per part, in one test binary, so `cargo test -p exercise-03`
//! reports every part (cargo stops at the first test binary that fails) and links once.
//!
//! Run one part with a filter: `cargo test -p exercise-03 part_a` (or `part_b`, `part_c`).

mod part_a_handlers;
mod part_b_errors;
mod part_c_middleware;
