//! Lesson 07, observability: logs, metrics and traces of two small services, read by the tools
//! that production uses (Prometheus, an OTLP trace receiver, `promtool`).
//!
//! Everything the demo instruments with comes from the capstone's `shop-telemetry` crate
//! (redacted JSON logs, RED metrics as a tower layer, W3C trace context, OTLP export); this
//! crate holds what only the demonstration needs: two services to observe, the second process
//! that makes a trace cross two services, and a picture of a histogram.
//!
//! Run the narrated demo with `cargo run -p lesson-07` (`-- --only logs` for one step, `--
//! --help` for the options) and the tests with `cargo test -p lesson-07`. Read the modules in
//! this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`services`] | the storefront and the stock service, instrumented like the capstone |
//! | [`histogram_picture`] | a latency histogram from the exposition, drawn as bars |
//! | [`stock_process`] | the stock service in a second process, with its own `service.name` |
//! | [`alerts`] | the SLO burn-rate rule read from the repository, and `promtool` |
//!
//! [`steps`] holds the narration that `main.rs` runs, one function per step.

pub mod alerts;
pub mod histogram_picture;
pub mod services;
pub mod steps;
pub mod stock_process;
