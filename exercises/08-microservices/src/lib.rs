//! Exercise 08, microservices: the three defences of a call to another service. A circuit
//! breaker stops calling a dependency that keeps failing, a retry policy retries the failures
//! worth retrying without multiplying the load, and a gRPC server honours the deadline its
//! caller set.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-08`
//! passes; run one part at a time with `cargo test -p exercise-08 part_a` (or `part_b`,
//! `part_c`). The brief is book chapter 08, section "Exercise", and the doc comments below.
//! Stuck? `cargo xtask hint 08 a` (or `b`, `c`) shows that part's hints one level at a time.
//!
//! Three parts, independent of each other:
//! - (a) [`CircuitBreaker`]: a state machine (closed, open, half-open) with the time passed in,
//!   checked against a model by property tests.
//! - (b) [`backoff_ceiling`], [`RetryBudget`] and [`RetryPolicy`]: exponential back-off with
//!   full jitter from an injected [`Random`] source, a cap on attempts, and a budget shared by
//!   all calls so that retries stay a fraction of the traffic. Tested on tokio's paused clock.
//! - (c) [`parse_grpc_timeout`], [`reserve_within`] and [`StockService`]: the `Reserve` method
//!   of `proto/stock.proto`, which validates, refuses to start work its caller's deadline
//!   leaves no time for, and answers a repeated idempotency key with the first answer. Tested
//!   through a real server on 127.0.0.1 and the generated client.
//!
//! The given code (configurations, states, errors, the random source, the generated gRPC code
//! and the slow [`Warehouse`]) is in `src/given.rs`: read it, it is part of the brief. Here,
//! besides the `todo!()`s, the fields and constructors are a starting point: add private
//! fields, types and helper functions as you like; the tests use only the public API. The
//! crates at hand are `tokio` (`tokio::time::sleep`, `tokio::sync`), `tonic` and `thiserror`.

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use proto::stock_client::StockClient;
use proto::stock_server::Stock;
use proto::{ReserveReply, ReserveRequest};

// ---------------------------------------------------------------------------------------------
// Part (a): the circuit breaker
// ---------------------------------------------------------------------------------------------

// ANCHOR: breaker
/// Permission to make one call, handed back with the call's outcome to
/// [`CircuitBreaker::record`]. Not `Clone`: one permit, one outcome.
///
/// The breaker must be able to tell, from the permit alone, whether it was issued before the
/// breaker last changed state (see [`CircuitBreaker::record`]).
#[derive(Debug)]
#[must_use = "record the call's outcome with CircuitBreaker::record"]
pub struct Permit {
    period: u64,
}

/// A circuit breaker. Time is passed in (`now`, never read from a clock), so every rule below
/// can be tested exactly; `now` never goes backwards.
///
/// - **Closed** (a new breaker): every call goes out. It counts *consecutive* failures: a
///   success sets the count back to 0. The failure that brings the count to
///   `failure_threshold` opens the breaker at the `now` of that [`record`](Self::record).
/// - **Open**: every call is refused with [`Rejected::Open`], whose `retry_after` is exactly the
///   time left until `open_for` has passed since the breaker opened. The first
///   [`acquire`](Self::acquire) at or after that moment turns the breaker half-open and is
///   admitted as its first trial.
/// - **Half-open**: at most `half_open_trials` calls are admitted in all; once they are out,
///   further calls are refused with [`Rejected::TrialsInFlight`]. When `half_open_trials`
///   trials have succeeded, the breaker closes with a failure count of 0; the first trial that
///   fails opens it again, at the `now` of that record, with the full `open_for` ahead.
///
/// Every caller must [`record`](Self::record) every permit, a cancelled call as a
/// [`Outcome::Failure`]: a half-open breaker whose trials never report stays half-open.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
}

impl CircuitBreaker {
    /// A closed breaker with no failures counted.
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker { config }
    }

    /// The state as of the last call to [`acquire`](Self::acquire) or
    /// [`record`](Self::record). An open breaker whose `open_for` has passed is still `Open`
    /// until an `acquire` moves it on.
    pub fn state(&self) -> State {
        todo!("exercise 08, part a, CircuitBreaker::state: see book chapter 08, section 'Exercise'")
    }

    /// May a call go out at `now`? A permit if so, otherwise why not.
    pub fn acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        todo!(
            "exercise 08, part a, CircuitBreaker::acquire: see book chapter 08, section 'Exercise'"
        )
    }

    /// The outcome, at `now`, of the call that `permit` let out.
    ///
    /// A permit issued before the breaker last changed state is ignored altogether: its call
    /// started against the dependency as it was then. A slow call that began while closed and
    /// fails after the breaker opened must not restart the open timer, one that succeeds must
    /// not close the breaker, and neither may count as (or free the place of) a half-open
    /// trial.
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        todo!(
            "exercise 08, part a, CircuitBreaker::record: see book chapter 08, section 'Exercise'"
        )
    }
}
// ANCHOR_END: breaker

// ---------------------------------------------------------------------------------------------
// Part (b): the retry policy
// ---------------------------------------------------------------------------------------------

// ANCHOR: backoff
/// The most the back-off before retry number `retry` (0 for the first retry, 1 for the
/// second, ...) may wait: `min(cap, base × 2^retry)`. Must not overflow or panic however large
/// `retry` or `base` is: past what a `Duration` holds, the answer is `cap`.
pub fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    todo!("exercise 08, part b, backoff_ceiling: see book chapter 08, section 'Exercise'")
}
// ANCHOR_END: backoff

// ANCHOR: budget
/// Retries shared by every call to one dependency (it sits in an `Arc`, used from many tasks
/// at once): each request deposits a little, each retry withdraws more, so that retries stay a
/// fixed fraction of the requests however hard the dependency fails. Without it, three
/// attempts per call triple the load on a dependency that is already failing.
#[derive(Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    balance: Mutex<u32>,
}

impl RetryBudget {
    /// A full budget: its balance is `max_balance`.
    pub fn new(config: BudgetConfig) -> Self {
        RetryBudget {
            config,
            balance: Mutex::new(config.max_balance),
        }
    }

    /// The balance now.
    pub fn balance(&self) -> u32 {
        todo!("exercise 08, part b, RetryBudget::balance: see book chapter 08, section 'Exercise'")
    }

    /// A request was made: adds `deposit` to the balance, which never exceeds `max_balance`.
    pub fn deposit(&self) {
        todo!("exercise 08, part b, RetryBudget::deposit: see book chapter 08, section 'Exercise'")
    }

    /// May a retry go? If the balance holds at least `retry_cost`, takes it and answers `true`;
    /// otherwise takes nothing and answers `false`.
    pub fn try_withdraw(&self) -> bool {
        todo!(
            "exercise 08, part b, RetryBudget::try_withdraw: see book chapter 08, section 'Exercise'"
        )
    }
}
// ANCHOR_END: budget

// ANCHOR: policy
/// Exponential back-off with full jitter, a cap on attempts and a shared [`RetryBudget`].
#[derive(Debug)]
pub struct RetryPolicy<R> {
    config: RetryConfig,
    budget: Arc<RetryBudget>,
    random: Mutex<R>,
}

impl<R: Random> RetryPolicy<R> {
    pub fn new(config: RetryConfig, budget: Arc<RetryBudget>, random: R) -> Self {
        RetryPolicy {
            config,
            budget,
            random: Mutex::new(random),
        }
    }

    /// Runs `op` (each call of it is one attempt) until an attempt succeeds, and answers with
    /// its value. It stops and answers with the last error when that error is not
    /// [`Retryable`], when `max_attempts` attempts have been made, or when the budget refuses
    /// the retry, in this order of checks: a retry that does not happen spends nothing.
    ///
    /// The run deposits into the budget once, before its first attempt, and withdraws once
    /// before each retry. Before retry number `r` (0 for the first) it sleeps with
    /// `tokio::time::sleep` for exactly what the random source answers when asked for a
    /// duration up to [`backoff_ceiling`]`(config, r)`: one draw per retry, none otherwise.
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        todo!("exercise 08, part b, RetryPolicy::run: see book chapter 08, section 'Exercise'")
    }
}
// ANCHOR_END: policy

// ---------------------------------------------------------------------------------------------
// Part (c): one gRPC method
// ---------------------------------------------------------------------------------------------

// ANCHOR: timeout
/// The value of a `grpc-timeout` header, as the gRPC protocol defines it: 1 to 8 ASCII digits,
/// then one unit, `H` (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u`
/// (microseconds) or `n` (nanoseconds): `"250m"` is 250 ms. Anything else (a sign, a space,
/// nine digits, no unit, another unit, any non-ASCII character) is `None`, never a panic.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    todo!("exercise 08, part c, parse_grpc_timeout: see book chapter 08, section 'Exercise'")
}
// ANCHOR_END: timeout

// ANCHOR: client
/// Calls `Reserve` through `client` with a deadline of `deadline` from now, which the server
/// must learn: tonic's `Request::set_timeout` sends it as the `grpc-timeout` header.
pub async fn reserve_within(
    client: &mut StockClient<Channel>,
    request: ReserveRequest,
    deadline: Duration,
) -> Result<ReserveReply, Status> {
    todo!("exercise 08, part c, reserve_within: see book chapter 08, section 'Exercise'")
}
// ANCHOR_END: client

// ANCHOR: service
/// The stock service: `Reserve` in front of a slow [`Warehouse`]. The tests serve it with
/// `tonic::transport::Server` and call it with the generated client, from several tasks at
/// once.
#[derive(Debug)]
pub struct StockService {
    warehouse: Arc<Warehouse>,
}

impl StockService {
    pub fn new(warehouse: Arc<Warehouse>) -> Self {
        StockService { warehouse }
    }
}

#[tonic::async_trait]
impl Stock for StockService {
    /// Reserves through the warehouse, with these checks, in this order:
    ///
    /// 1. **Deadline header**: a `grpc-timeout` in the request's metadata that
    ///    [`parse_grpc_timeout`] rejects is `InvalidArgument`, with a message naming
    ///    `grpc-timeout`. No header means no deadline.
    /// 2. **Validation**: each is `InvalidArgument` with a message that names the field: `sku`
    ///    is 1 to [`MAX_SKU_LEN`] ASCII letters, digits or `-`; `quantity` is 1 to
    ///    [`MAX_QUANTITY`]; `idempotency_key` is 1 to [`MAX_KEY_LEN`] bytes.
    /// 3. **Idempotency**: a key is bound to the sku and quantity of its first use; the same
    ///    key with another sku or quantity is `InvalidArgument` naming `idempotency_key`. A key
    ///    whose reservation was made answers that same reply again, without asking the
    ///    warehouse and whatever the deadline (a replay costs no work). Calls with one key that
    ///    arrive while its first reservation is under way must not start a second one: they
    ///    wait for it and answer its reply. A reservation that failed is not remembered: the
    ///    key may be tried again.
    /// 4. **Deadline**: if the caller's time left (the `grpc-timeout` as sent: the request left
    ///    a moment ago) is not more than the warehouse's [`work`](Warehouse::work), answer
    ///    `DeadlineExceeded` at once, without starting: the caller would give up before the
    ///    answer came, and the stock would stay reserved for nobody.
    /// 5. **The warehouse**: its reservation becomes the reply (`reservation_id`, `remaining`);
    ///    an unknown sku is `NotFound`, too little stock `FailedPrecondition`, each with the
    ///    warehouse's message.
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<ReserveReply>, Status> {
        todo!("exercise 08, part c, StockService::reserve: see book chapter 08, section 'Exercise'")
    }
}
// ANCHOR_END: service
