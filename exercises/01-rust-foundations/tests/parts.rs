//! Exercise 01's tests: one module per part, in one test binary, so `cargo test -p exercise-01`
//! reports every part (cargo stops at the first test binary that fails) and links once.
//!
//! Run one part with a filter: `cargo test -p exercise-01 part_a` (or `part_b`, `part_c`).

mod part_a_money;
mod part_b_discount;
mod part_c_fetch_all;
