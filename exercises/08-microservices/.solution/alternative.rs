//! Exercise 08, a second correct solution, written differently on purpose: `cargo xtask verify`
//! runs every test against it too, so that no test accepts only the reference's way.
//!
//! The breaker keeps flat fields and numbers every permit, remembering the first number of the
//! current state; the ceiling doubles in a loop; the budget is one atomic updated by
//! compare-and-swap; `run` counts its attempts in a `for` loop; the header is parsed as text;
//! and each idempotency key has an async mutex that the call making its reservation holds.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use proto::stock_client::StockClient;
use proto::stock_server::Stock;
use proto::{ReserveReply, ReserveRequest};

// ---- Part (a) ----

/// Numbered in the order issued.
#[derive(Debug)]
#[must_use = "record the call's outcome with CircuitBreaker::record"]
pub struct Permit {
    serial: u64,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: State,
    /// The serial the next permit gets.
    next_serial: u64,
    /// The first serial issued in the current state: older permits are stale.
    current_from: u64,
    /// Closed: consecutive failures. Half-open: successful trials.
    count: u32,
    /// Half-open: trials let out.
    trials_out: u32,
    /// Open: since when.
    opened_at: Option<Instant>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            state: State::Closed,
            next_serial: 0,
            current_from: 0,
            count: 0,
            trials_out: 0,
            opened_at: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        if self.state == State::Open {
            let since = self.opened_at.unwrap_or(now);
            let waited = now.saturating_duration_since(since);
            match self.config.open_for.checked_sub(waited) {
                Some(left) if !left.is_zero() => {
                    return Err(Rejected::Open { retry_after: left });
                }
                _ => self.switch(State::HalfOpen, now),
            }
        }
        if self.state == State::HalfOpen {
            if self.trials_out == self.config.half_open_trials.get() {
                return Err(Rejected::TrialsInFlight);
            }
            self.trials_out += 1;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        Ok(Permit { serial })
    }

    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        if permit.serial < self.current_from {
            return;
        }
        match (self.state, outcome) {
            (State::Closed, Outcome::Success) => self.count = 0,
            (State::Closed, Outcome::Failure) => {
                self.count += 1;
                if self.count == self.config.failure_threshold.get() {
                    self.switch(State::Open, now);
                }
            }
            (State::HalfOpen, Outcome::Success) => {
                self.count += 1;
                if self.count == self.config.half_open_trials.get() {
                    self.switch(State::Closed, now);
                }
            }
            (State::HalfOpen, Outcome::Failure) => self.switch(State::Open, now),
            (State::Open, _) => {}
        }
    }

    fn switch(&mut self, state: State, now: Instant) {
        self.state = state;
        self.current_from = self.next_serial;
        self.count = 0;
        self.trials_out = 0;
        self.opened_at = (state == State::Open).then_some(now);
    }
}

// ---- Part (b) ----

pub fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    let mut ceiling = config.base;
    let mut doublings = 0;
    // Each doubling at least doubles a non-zero ceiling, so fewer than 100 of them pass any cap.
    while doublings < retry && ceiling < config.cap && !ceiling.is_zero() {
        ceiling = ceiling.saturating_mul(2);
        doublings += 1;
    }
    if ceiling > config.cap {
        config.cap
    } else {
        ceiling
    }
}

#[derive(Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    balance: AtomicU32,
}

impl RetryBudget {
    pub fn new(config: BudgetConfig) -> Self {
        RetryBudget {
            config,
            balance: AtomicU32::new(config.max_balance),
        }
    }

    pub fn balance(&self) -> u32 {
        self.balance.load(Ordering::SeqCst)
    }

    pub fn deposit(&self) {
        let BudgetConfig {
            deposit,
            max_balance,
            ..
        } = self.config;
        // The closure always answers Some, so the update cannot fail.
        let _ = self
            .balance
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                Some(max_balance.min(b.saturating_add(deposit)))
            });
    }

    pub fn try_withdraw(&self) -> bool {
        let cost = self.config.retry_cost;
        self.balance
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(cost))
            .is_ok()
    }
}

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

    pub async fn run<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.budget.deposit();
        let attempts = self.config.max_attempts.get();
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(error) if !error.is_retryable() => return Err(error),
                Err(error) if attempt == attempts => return Err(error),
                Err(error) if !self.budget.try_withdraw() => return Err(error),
                Err(_) => {}
            }
            let ceiling = backoff_ceiling(&self.config, attempt - 1);
            let pause = {
                let mut random = self.random.lock().unwrap_or_else(PoisonError::into_inner);
                random.up_to(ceiling)
            };
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

// ---- Part (c) ----

pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if !(1..=8).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let unit_length = match unit {
        'H' => Duration::from_secs(3600),
        'M' => Duration::from_secs(60),
        'S' => Duration::from_secs(1),
        'm' => Duration::from_millis(1),
        'u' => Duration::from_micros(1),
        'n' => Duration::from_nanos(1),
        _ => return None,
    };
    unit_length.checked_mul(u32::try_from(n).ok()?)
}

pub async fn reserve_within(
    client: &mut StockClient<Channel>,
    request: ReserveRequest,
    deadline: Duration,
) -> Result<ReserveReply, Status> {
    let mut outgoing = Request::new(request);
    outgoing.set_timeout(deadline);
    client.reserve(outgoing).await.map(Response::into_inner)
}

/// The sku and quantity a key is bound to, and its reply once made.
type Slot = (String, u32, Arc<tokio::sync::Mutex<Option<ReserveReply>>>);

#[derive(Debug)]
pub struct StockService {
    warehouse: Arc<Warehouse>,
    slots: Mutex<HashMap<String, Slot>>,
}

impl StockService {
    pub fn new(warehouse: Arc<Warehouse>) -> Self {
        StockService {
            warehouse,
            slots: Mutex::default(),
        }
    }
}

#[tonic::async_trait]
impl Stock for StockService {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<ReserveReply>, Status> {
        let time_left = match request.metadata().get("grpc-timeout") {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(parse_grpc_timeout)
                    .ok_or_else(|| Status::invalid_argument("malformed grpc-timeout header"))?,
            ),
        };
        let ReserveRequest {
            sku,
            quantity,
            idempotency_key,
        } = request.into_inner();

        let sku_ok = (1..=MAX_SKU_LEN).contains(&sku.chars().count())
            && sku.chars().all(|c| c == '-' || c.is_ascii_alphanumeric());
        if !sku_ok {
            return Err(Status::invalid_argument("invalid sku"));
        }
        if quantity == 0 || quantity > MAX_QUANTITY {
            return Err(Status::invalid_argument("invalid quantity"));
        }
        if idempotency_key.is_empty() || idempotency_key.len() > MAX_KEY_LEN {
            return Err(Status::invalid_argument("invalid idempotency_key"));
        }

        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let (bound_sku, bound_quantity, slot) = slots
                .entry(idempotency_key)
                .or_insert_with(|| (sku.clone(), quantity, Arc::default()));
            if *bound_sku != sku || *bound_quantity != quantity {
                return Err(Status::invalid_argument(
                    "this idempotency_key belongs to another request",
                ));
            }
            Arc::clone(slot)
        };
        // Held while reserving: a call with the same key waits here, then finds the reply.
        let mut reply = slot.lock().await;
        if let Some(done) = reply.as_ref() {
            return Ok(Response::new(done.clone()));
        }
        if time_left.is_some_and(|left| left <= self.warehouse.work()) {
            return Err(Status::deadline_exceeded(
                "not enough time left for the reservation",
            ));
        }
        let made = self
            .warehouse
            .reserve(&sku, quantity)
            .await
            .map_err(|error| match error {
                WarehouseError::UnknownSku(_) => Status::not_found(error.to_string()),
                WarehouseError::OutOfStock { .. } => Status::failed_precondition(error.to_string()),
            })?;
        let made = ReserveReply {
            reservation_id: made.id,
            remaining: made.remaining,
        };
        *reply = Some(made.clone());
        Ok(Response::new(made))
    }
}
