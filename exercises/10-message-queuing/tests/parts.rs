//! Exercise 10's tests: one module per part of the brief, all in one test binary.
//!
//! One binary rather than one per part: an edit relinks one test executable instead of 3, and a
//! run always reports every part (cargo stops at the first test binary that fails, so with one
//! binary per part a failing part (a) would hide parts (b) and (c)). Tests are named after
//! their part (`part_a_...::name`), which is how the runner tells the parts apart and
//! `cargo test -p exercise-10 part_b` runs one part.

mod part_a_retry_routing;
mod part_b_idempotent_consumer;
mod part_c_outbox_relay;
