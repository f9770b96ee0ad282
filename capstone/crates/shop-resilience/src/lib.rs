//! Calling another service without being taken down by it (lesson 08).
//!
//! Every remote call of the shop (the API to the inventory service, the checkout to the payment
//! provider) goes through a [`Dependency`], which puts four guards around it, outermost first:
//!
//! 1. a [`Bulkhead`]: at most N calls to this dependency at once, so a slow dependency cannot
//!    hold every worker of the caller;
//! 2. a [`Deadline`] for the whole call, shared by its attempts and sent along (gRPC's
//!    `grpc-timeout`), so no one works on an answer nobody waits for;
//! 3. a [`CircuitBreaker`]: after consecutive failures, calls fail at once for a while instead of
//!    piling onto a dependency that is down, and trial calls find out when it is back;
//! 4. a [`RetryPolicy`]: a failed attempt that may succeed a moment later is tried again after a
//!    jittered exponential back-off, while a [`RetryBudget`] keeps retries a small fraction of
//!    the traffic, so retries cannot multiply an outage.
//!
//! A [`Saga`] runs the steps of a transaction that spans services (reserve, pay, confirm) and,
//! when one fails, undoes the completed ones in reverse order.
//!
//! The pieces are also usable alone. Time is tokio's clock throughout, so tests run them on a
//! paused clock. Exercise 08 has the learner write the breaker and the retry policy; this crate
//! is the version the capstone and lesson 08 run.

mod breaker;
mod bulkhead;
mod deadline;
mod dependency;
mod retry;
mod saga;

pub use breaker::{BreakerConfig, CircuitBreaker, Outcome, Permit, Rejected, State};
pub use bulkhead::{Bulkhead, BulkheadFull, BulkheadPermit};
pub use deadline::{Deadline, format_grpc_timeout, parse_grpc_timeout};
pub use dependency::{
    BULKHEAD_FULL_PAUSE, CallError, Dependency, DependencyConfig, TRIALS_IN_FLIGHT_PAUSE,
};
pub use retry::{
    BudgetConfig, Random, RetryBudget, RetryConfig, RetryPolicy, Retryable, SplitMix64,
    backoff_ceiling,
};
pub use saga::{Compensated, Saga};
