//! Lesson 11, database optimization: make each query do less work, send fewer of them, and
//! never lose a write to concurrency.
//!
//! Run the narrated demo with `cargo run -p lesson-11` (`-- --only anomalies` for one step,
//! `-- --help` for the options) and the tests with `cargo test -p lesson-11`. Read the
//! modules in this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`plan`] | the numbers of `EXPLAIN (ANALYZE, BUFFERS)` that say what a query cost |
//! | [`counter`] | a pool that counts the statements sent through it |
//! | [`loaders`] | customers and their purchases loaded N+1, with a JOIN, with `= ANY($1)` |
//! | [`batcher`] | a DataLoader: per-item code, one query per batch |
//! | [`stock`] | a read-modify-write that loses updates, and row locks, atomic updates, versions |
//! | [`retry`] | SERIALIZABLE transactions, run again on a serialization failure |
//! | [`jobs`] | a job queue on `FOR UPDATE SKIP LOCKED` |
//! | [`ring`] | consistent hashing with virtual nodes |
//! | [`rename`] | a column renamed by expand and contract, under two versions of an app |
//! | [`replica`] | read/write splitting on a streaming replica: LSNs, a router, read-your-writes |
//!
//! [`steps`] holds the narration that `main.rs` runs, one function per step.

pub mod batcher;
pub mod counter;
pub mod jobs;
pub mod loaders;
pub mod plan;
pub mod rename;
pub mod replica;
pub mod retry;
pub mod ring;
pub mod steps;
pub mod stock;
