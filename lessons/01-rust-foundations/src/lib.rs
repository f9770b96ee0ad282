//! Lesson 01, Rust foundations: a concurrent price aggregator.
//!
//! We ask five simulated suppliers for the price of a part, all at once, each with a deadline,
//! and keep the best answer; then we do that for many parts with a bounded pool of workers,
//! and stop cleanly when cancelled. Along the way: traits, error enums, channels, locks and
//! atomics, and the OS underneath (threads, processes, pipes, sockets).
//!
//! Run the narrated demo with `cargo run -p lesson-01` (`-- --help` for its options) and the
//! tests with `cargo test -p lesson-01`. Read the modules in the order the demo runs them:
//!
//! | step | module | shows |
//! |------|--------|-------|
//! | 1 | [`price`], [`supplier`] | structs, newtypes, traits, trait objects |
//! | 2 | [`fan_out`] | tasks, `JoinSet`, `timeout`, `select!`, `thiserror` |
//! | 3 | [`desk`] | `mpsc`, `oneshot`, `broadcast`, an actor task |
//! | 4 | [`pool`], [`config`], [`cache`], [`gauge`] | bounded queues, backpressure, `Mutex`/`RwLock`/atomics |
//! | 5 | [`pool`] | cancellation with a `CancellationToken` |
//! | 6 | [`tasks`] | threads vs tasks, `spawn_blocking` |
//! | 7 | [`pipes`], [`wire`] | child processes, IPC over pipes |
//! | 8 | `sockets` | IPC over a Unix socket pair |
//!
//! [`steps`] holds the narration that prints the story; the modules above hold the code it
//! narrates, and their tests.

pub mod cache;
pub mod config;
pub mod desk;
pub mod fan_out;
pub mod gauge;
pub mod pipes;
pub mod pool;
pub mod price;
#[cfg(unix)]
pub mod sockets;
pub mod steps;
pub mod supplier;
pub mod tasks;
pub mod wire;
