//! Exercise 02's tests: one module per part, in one test binary, so `cargo test -p exercise-02`
//! reports every part (cargo stops at the first test binary that fails) and links once.
//!
//! Run one part with a filter: `cargo test -p exercise-02 part_a` (or `part_b`, `part_c`).
//! Parts (a) and (b) need PostgreSQL, part (c)'s `needs_mongodb` tests MongoDB.

mod part_a_revenue;
mod part_b_transfer;
mod part_c_pipeline;
