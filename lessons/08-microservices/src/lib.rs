//! Lesson 08, microservices: three services in one process (a catalog over REST, the shop's
//! inventory service over gRPC, a gateway in front of both) and what keeps the gateway up when
//! one of them is down or slow.
//!
//! The resilience patterns come from the capstone's `shop-resilience` crate (deadlines,
//! retries with a budget, the circuit breaker, the bulkhead, the saga runner), the inventory
//! service and its client from `shop-inventory`, the order's events from `shop-domain`; this
//! crate holds what only the demonstration needs.
//!
//! Run the narrated demo with `cargo run -p lesson-08` (`-- --only breaker` for one step, `--
//! --help` for the options) and the tests with `cargo test -p lesson-08`. Read the modules in
//! this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`catalog`] | the catalog service (REST) and the client the gateway calls it with |
//! | [`inventory`] | the real inventory service, started in process and stopped for real |
//! | [`gateway`] | degrading `GET /products`, and `POST /checkout` answering 503 + Retry-After |
//! | [`standin`] | an inventory stand-in that fails or crawls on demand, and records what it saw |
//! | [`checkout`] | the checkout saga: reserve, authorise, confirm, with compensations |
//! | [`read_model`] | a CQRS read model folded from order events |
//! | [`timeline`] | a run of rounds drawn one character per round |
//!
//! [`steps`] holds the narration that `main.rs` runs, one function per step.

pub mod catalog;
pub mod checkout;
pub mod gateway;
pub mod inventory;
pub mod read_model;
pub mod standin;
pub mod steps;
pub mod timeline;
