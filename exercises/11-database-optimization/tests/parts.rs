//! Exercise 11's tests: one module per part of the brief, all in one test binary.
//!
//! One binary rather than one per part: an edit relinks one test executable instead of 4, and a
//! run always reports every part (cargo stops at the first test binary that fails, so with one
//! binary per part a failing part (a) would hide the others). Tests are named after their part
//! (`part_a_...::name`), which is how the runner tells the parts apart and `cargo test -p
//! exercise-11 part_c` runs one part. Parts (a), (b) and (d) need PostgreSQL (their tests sit in
//! `needs_postgres` modules); part (c) is pure Rust.

mod part_a_n_plus_one;
mod part_b_index;
mod part_c_hash_ring;
mod part_d_no_oversell;
