//! Exercise 08, reference solution: a circuit breaker, a retry policy with a budget, and one
//! gRPC method that honours its caller's deadline.
//!
//! Read it after you have tried (the hints come first: `cargo xtask hint 08 a`). The same tests
//! run against it: `cargo test -p exercise-08-solution`.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
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
/// Permission to make one call, handed back with its outcome to
/// [`CircuitBreaker::record`]. It remembers which period of the breaker issued it: every change
/// of state starts a new period, and an outcome from an earlier period changes nothing.
#[derive(Debug)]
#[must_use = "record the call's outcome with CircuitBreaker::record"]
pub struct Permit {
    period: u64,
}

/// What the breaker knows in each state.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen { admitted: u32, succeeded: u32 },
}

/// A circuit breaker that counts *consecutive* failures while closed.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    phase: Phase,
    /// Bumped on every change of state; a permit carries the value it was issued under.
    period: u64,
}

impl CircuitBreaker {
    /// A closed breaker with no failures counted.
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            phase: Phase::Closed { failures: 0 },
            period: 0,
        }
    }

    pub fn state(&self) -> State {
        match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// May a call go out at `now`?
    pub fn acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        match self.phase {
            Phase::Closed { .. } => {}
            Phase::Open { since } => {
                // Elapsed time rather than `since + open_for`: no Instant arithmetic to
                // overflow, whatever `open_for` is.
                let elapsed = now.saturating_duration_since(since);
                if elapsed < self.config.open_for {
                    return Err(Rejected::Open {
                        retry_after: self.config.open_for - elapsed,
                    });
                }
                self.enter(Phase::HalfOpen {
                    admitted: 1,
                    succeeded: 0,
                });
            }
            Phase::HalfOpen {
                ref mut admitted, ..
            } => {
                if *admitted >= self.config.half_open_trials.get() {
                    return Err(Rejected::TrialsInFlight);
                }
                *admitted += 1;
            }
        }
        Ok(Permit {
            period: self.period,
        })
    }

    /// The outcome, at `now`, of the call `permit` let out. A permit issued before the latest
    /// change of state is ignored: it speaks of the dependency as it was then.
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        if permit.period != self.period {
            return;
        }
        match (&mut self.phase, outcome) {
            (Phase::Closed { failures }, Outcome::Success) => *failures = 0,
            (Phase::Closed { failures }, Outcome::Failure) => {
                *failures += 1;
                if *failures >= self.config.failure_threshold.get() {
                    self.enter(Phase::Open { since: now });
                }
            }
            (Phase::HalfOpen { succeeded, .. }, Outcome::Success) => {
                *succeeded += 1;
                if *succeeded >= self.config.half_open_trials.get() {
                    self.enter(Phase::Closed { failures: 0 });
                }
            }
            (Phase::HalfOpen { .. }, Outcome::Failure) => self.enter(Phase::Open { since: now }),
            // No permit of the current period exists while open: opening starts a period and
            // the open breaker issues none.
            (Phase::Open { .. }, _) => {}
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.period += 1;
    }
}
// ANCHOR_END: breaker

// ---------------------------------------------------------------------------------------------
// Part (b): the retry policy
// ---------------------------------------------------------------------------------------------

// ANCHOR: backoff
/// The most the back-off before retry number `retry` (0 for the first retry) may wait:
/// `min(cap, base × 2^retry)`, without overflow however large `retry` is.
pub fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    // In u128 nanoseconds a Duration (under 2^94 ns) times 2^retry is exact for as long as it
    // can stay under any cap; past u128 it saturates, and from 2^128 on the factor does, which
    // changes nothing once the result is capped (and 0 × anything is still 0).
    let factor = 2u128.checked_pow(retry).unwrap_or(u128::MAX);
    let ceiling = config.base.as_nanos().saturating_mul(factor);
    Duration::from_nanos_u128(ceiling.min(config.cap.as_nanos()))
}
// ANCHOR_END: backoff

// ANCHOR: budget
/// Retries shared by every call to one dependency: each request deposits, each retry
/// withdraws, so retries stay a fixed fraction of requests however hard the dependency fails.
#[derive(Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    balance: Mutex<u32>,
}

impl RetryBudget {
    /// A full budget: `max_balance`.
    pub fn new(config: BudgetConfig) -> Self {
        RetryBudget {
            config,
            balance: Mutex::new(config.max_balance),
        }
    }

    pub fn balance(&self) -> u32 {
        *self.lock()
    }

    /// A request was made: adds `deposit`, up to `max_balance`.
    pub fn deposit(&self) {
        let mut balance = self.lock();
        *balance = balance
            .saturating_add(self.config.deposit)
            .min(self.config.max_balance);
    }

    /// May a retry go? Takes `retry_cost` and says yes if the balance holds that much;
    /// otherwise takes nothing and says no.
    pub fn try_withdraw(&self) -> bool {
        let mut balance = self.lock();
        match balance.checked_sub(self.config.retry_cost) {
            Some(left) => {
                *balance = left;
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u32> {
        // A panic elsewhere while holding the lock leaves a valid number behind.
        self.balance.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
// ANCHOR_END: budget

// ANCHOR: policy
/// Exponential back-off with full jitter, a cap on attempts, and a shared [`RetryBudget`].
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

    /// Runs `op` until it succeeds, fails with an error that is not retryable, has been
    /// attempted `max_attempts` times, or the budget refuses a retry; the last error is the
    /// answer then. Before retry number `r` (0 for the first) it sleeps a duration drawn from
    /// `[0, backoff_ceiling(config, r)]`. The run deposits once into the budget, before its
    /// first attempt, and withdraws once per retry.
    pub async fn run<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.budget.deposit();
        let mut retry = 0;
        loop {
            let error = match op().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            // Cheapest check first, and the budget last: a retry that will not happen must
            // not spend it.
            let attempts = retry + 1;
            if !error.is_retryable()
                || attempts >= self.config.max_attempts.get()
                || !self.budget.try_withdraw()
            {
                return Err(error);
            }
            let delay = self.draw(backoff_ceiling(&self.config, retry));
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    fn draw(&self, max: Duration) -> Duration {
        self.random
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .up_to(max)
    }
}
// ANCHOR_END: policy

// ---------------------------------------------------------------------------------------------
// Part (c): one gRPC method
// ---------------------------------------------------------------------------------------------

// ANCHOR: timeout
/// The value of a `grpc-timeout` header: at most 8 ASCII digits and one unit, `H` (hours), `M`
/// (minutes), `S` (seconds), `m` (milliseconds), `u` (microseconds) or `n` (nanoseconds).
/// Anything else is `None`.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    // Bytes, not chars: splitting a string before its last *byte* panics when that byte is in
    // the middle of a multi-byte character.
    let (&unit, digits) = value.as_bytes().split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // 8 digits at most: the hours below fit a u64 with room to spare.
    let n = digits
        .iter()
        .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}
// ANCHOR_END: timeout

// ANCHOR: client
/// Calls `Reserve` with a deadline: the server learns it from the `grpc-timeout` header that
/// `Request::set_timeout` writes.
pub async fn reserve_within(
    client: &mut StockClient<Channel>,
    request: ReserveRequest,
    deadline: Duration,
) -> Result<ReserveReply, Status> {
    let mut request = Request::new(request);
    request.set_timeout(deadline);
    Ok(client.reserve(request).await?.into_inner())
}
// ANCHOR_END: client

// ANCHOR: service
/// One idempotency key: the request it was first used for and, once made, its reservation.
#[derive(Debug)]
struct KeyEntry {
    sku: String,
    quantity: u32,
    /// Filled by the first call that succeeds; calls with the same key arriving meanwhile wait
    /// for it rather than reserve a second time. A failure leaves it empty.
    reply: tokio::sync::OnceCell<ReserveReply>,
}

/// The stock service: `Reserve` in front of a slow [`Warehouse`].
#[derive(Debug)]
pub struct StockService {
    warehouse: Arc<Warehouse>,
    keys: Mutex<HashMap<String, Arc<KeyEntry>>>,
}

impl StockService {
    pub fn new(warehouse: Arc<Warehouse>) -> Self {
        StockService {
            warehouse,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The entry of the request's key, created on first use; a key first used for another sku
    /// or quantity is refused.
    fn entry(&self, request: &ReserveRequest) -> Result<Arc<KeyEntry>, Status> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = match keys.entry(request.idempotency_key.clone()) {
            MapEntry::Occupied(occupied) => Arc::clone(occupied.get()),
            MapEntry::Vacant(vacant) => Arc::clone(vacant.insert(Arc::new(KeyEntry {
                sku: request.sku.clone(),
                quantity: request.quantity,
                reply: tokio::sync::OnceCell::new(),
            }))),
        };
        if entry.sku != request.sku || entry.quantity != request.quantity {
            return Err(Status::invalid_argument(
                "idempotency_key was already used for a different sku or quantity: use a new \
                 key for a new reservation",
            ));
        }
        Ok(entry)
    }
}

#[tonic::async_trait]
impl Stock for StockService {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<ReserveReply>, Status> {
        let time_left = time_left(&request)?;
        let request = request.into_inner();
        validate(&request)?;
        let entry = self.entry(&request)?;
        // A replay costs no work, so it is answered whatever the deadline.
        if let Some(reply) = entry.reply.get() {
            return Ok(Response::new(reply.clone()));
        }
        let work = self.warehouse.work();
        if let Some(left) = time_left
            && left <= work
        {
            return Err(Status::deadline_exceeded(format!(
                "a reservation takes {work:?} and the deadline leaves {left:?}: not started"
            )));
        }
        let reply = entry
            .reply
            .get_or_try_init(|| async {
                let reservation = self
                    .warehouse
                    .reserve(&request.sku, request.quantity)
                    .await
                    .map_err(warehouse_status)?;
                Ok::<_, Status>(ReserveReply {
                    reservation_id: reservation.id,
                    remaining: reservation.remaining,
                })
            })
            .await?;
        Ok(Response::new(reply.clone()))
    }
}

/// The time the caller gave the call, from its `grpc-timeout` header; `None` without one.
fn time_left<T>(request: &Request<T>) -> Result<Option<Duration>, Status> {
    let Some(value) = request.metadata().get("grpc-timeout") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(parse_grpc_timeout)
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(
                "grpc-timeout is malformed: up to 8 digits and a unit (H, M, S, m, u or n)",
            )
        })
}

fn validate(request: &ReserveRequest) -> Result<(), Status> {
    let sku = &request.sku;
    if sku.is_empty()
        || sku.len() > MAX_SKU_LEN
        || !sku.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Status::invalid_argument(format!(
            "sku must be 1 to {MAX_SKU_LEN} ASCII letters, digits or '-'"
        )));
    }
    if !(1..=MAX_QUANTITY).contains(&request.quantity) {
        return Err(Status::invalid_argument(format!(
            "quantity must be from 1 to {MAX_QUANTITY}, not {}",
            request.quantity
        )));
    }
    let key = &request.idempotency_key;
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(Status::invalid_argument(format!(
            "idempotency_key is required: 1 to {MAX_KEY_LEN} bytes, one per reservation"
        )));
    }
    Ok(())
}

fn warehouse_status(error: WarehouseError) -> Status {
    match error {
        WarehouseError::UnknownSku(_) => Status::not_found(error.to_string()),
        WarehouseError::OutOfStock { .. } => Status::failed_precondition(error.to_string()),
    }
}
// ANCHOR_END: service
