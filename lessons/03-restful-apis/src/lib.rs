//! Lesson 03, RESTful API development: a product catalogue API and the client that drives it.
//!
//! The server is axum on tokio: a CRUD API over an in-memory store, one error type rendered as
//! RFC 9457 problem details, custom extractors, tower middleware (request id, tracing, a
//! hand-written `Layer`, compression, timeout, body limit), served with connection limits and a
//! graceful shutdown by the shared `shop-http` crate. The demo starts it on a free port, drives
//! it with `reqwest` over HTTP/1.1 and HTTP/2, prints every exchange and shuts it down.
//!
//! Run the narrated demo with `cargo run -p lesson-03` (`-- --serve` keeps the server up for
//! curl, `-- --help` lists the options) and the tests with `cargo test -p lesson-03`. Read the
//! modules in this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`product`] | wire types vs domain types, validation that reports every field |
//! | [`store`] | shared state behind a `std::sync::RwLock`, keyset pagination |
//! | [`api`] | routes, handlers, extractors, status codes |
//! | [`problem`] | one error type → `application/problem+json` (shop-http's `Problem`) |
//! | [`extract`] | custom extractors (`FromRequest`, `FromRequestParts`, derived) |
//! | [`layer`] | a hand-written tower `Layer`, `Service` and response future |
//! | [`server`] | the middleware stack, served by shop-http's `Server`: limits, graceful shutdown |
//! | [`client`] | the narrating `reqwest` client |
//!
//! [`steps`] holds the narration that `main.rs` runs, one function per step.

pub mod api;
pub mod client;
pub mod extract;
pub mod layer;
pub mod problem;
pub mod product;
pub mod server;
pub mod steps;
pub mod store;
