//! Lesson 10, message queuing: handing work to another process, and getting it there once.
//!
//! Run the narrated demo with `cargo run -p lesson-10` (`-- --only retries` for one step,
//! `-- --help` for the options) and the tests with `cargo test -p lesson-10`. Read the modules
//! in this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`broker`] | declaring exchanges and queues, publishing persistent messages, queue depth |
//! | [`retry`] | retries with a delay and a dead-letter queue, from RabbitMQ's own parts |
//! | [`idempotent`] | a consumer that has its effect once however often a message comes |
//! | [`schema`] | versioned JSON and protobuf, read by older and newer code |
//! | [`log`] | the log model on Redis Streams: consumer groups, pending entries, replay |
//!
//! [`steps`] holds the narration that `main.rs` runs, one function per step.

pub mod broker;
pub mod idempotent;
pub mod log;
pub mod retry;
pub mod schema;
pub mod steps;
