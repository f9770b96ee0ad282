//! Exercise 04's tests: one module per part, in one test binary, so `cargo test -p exercise-04`
//! reports every part (cargo stops at the first test binary that fails) and links once.
//!
//! Run one part with a filter: `cargo test -p exercise-04 part_a` (or `part_b`, `part_c`).

mod part_a_claims;
mod part_b_rbac;
mod part_c_api_keys;
