//! The tests of shop-resilience, one module per guard: `cargo test -p shop-resilience`.
//!
//! Everything runs on tokio's paused clock (`start_paused`), so waits of seconds take no time
//! and every duration the tests compare is exact. No service is needed.

mod breaker;
mod bulkhead;
mod deadline;
mod dependency;
mod retry;
mod saga;
