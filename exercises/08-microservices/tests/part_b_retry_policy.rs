//! Part (b): the retry policy, on tokio's paused clock.
//!
//! Run with `cargo test -p exercise-08 part_b`. With `start_paused = true` the runtime's clock
//! stands still and jumps straight to the next timer whenever every task waits, so a back-off
//! of 800 ms takes no real time and the tests can say exactly when each attempt was made. The
//! random source is scripted: the tests choose the jitter and see every ceiling asked for.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exercise_08::{BudgetConfig, Random, RetryBudget, RetryConfig, RetryPolicy, backoff_ceiling};
use proptest::prelude::*;
use tokio::time::Instant;
use tonic::{Code, Status};

const MS: Duration = Duration::from_millis(1);

fn retry_config(max_attempts: u32, base: Duration, cap: Duration) -> RetryConfig {
    RetryConfig {
        max_attempts: NonZeroU32::new(max_attempts).expect("at least one attempt"),
        base,
        cap,
    }
}

/// A budget that never runs out in these tests: 1000 retries' worth.
const PLENTY: BudgetConfig = BudgetConfig {
    deposit: 1,
    retry_cost: 10,
    max_balance: 10_000,
};

/// Answers `max × numerator / denominator` with the fractions in turn, and keeps every `max`
/// it was asked for.
#[derive(Debug, Clone)]
struct Scripted {
    fractions: Vec<(u32, u32)>,
    asked: Arc<Mutex<Vec<Duration>>>,
}

impl Scripted {
    fn new(fractions: &[(u32, u32)]) -> Self {
        Scripted {
            fractions: fractions.to_vec(),
            asked: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<Duration> {
        self.asked
            .lock()
            .expect("no test panics holding the lock")
            .clone()
    }
}

impl Random for Scripted {
    fn up_to(&mut self, max: Duration) -> Duration {
        let mut asked = self.asked.lock().expect("no test panics holding the lock");
        let (numerator, denominator) = self.fractions[asked.len() % self.fractions.len()];
        asked.push(max);
        max * numerator / denominator
    }
}

/// An operation that answers the scripted results in turn and notes when each attempt began.
#[derive(Clone)]
struct Dependency {
    script: Arc<Mutex<VecDeque<Result<&'static str, Status>>>>,
    attempts: Arc<Mutex<Vec<Instant>>>,
}

impl Dependency {
    fn new(script: Vec<Result<&'static str, Status>>) -> Self {
        Dependency {
            script: Arc::new(Mutex::new(script.into())),
            attempts: Arc::default(),
        }
    }

    /// Always fails with `Unavailable`.
    fn down() -> Self {
        Dependency::new(Vec::new())
    }

    fn op(&self) -> impl FnMut() -> std::future::Ready<Result<&'static str, Status>> + use<> {
        let this = self.clone();
        move || {
            this.attempts
                .lock()
                .expect("no test panics holding the lock")
                .push(Instant::now());
            let next = this
                .script
                .lock()
                .expect("no test panics holding the lock")
                .pop_front();
            std::future::ready(next.unwrap_or_else(|| Err(Status::unavailable("down"))))
        }
    }

    fn attempts(&self) -> usize {
        self.attempts
            .lock()
            .expect("no test panics holding the lock")
            .len()
    }

    /// The time between consecutive attempts.
    fn gaps(&self) -> Vec<Duration> {
        let attempts = self
            .attempts
            .lock()
            .expect("no test panics holding the lock");
        attempts.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

// ---- The back-off ceiling ----

#[test]
fn the_ceiling_doubles_from_base_up_to_cap() {
    let config = retry_config(10, 100 * MS, Duration::from_secs(1));
    let ceilings: Vec<Duration> = (0..6).map(|r| backoff_ceiling(&config, r)).collect();
    assert_eq!(
        ceilings,
        [100, 200, 400, 800, 1000, 1000].map(|ms| ms * MS),
        "base × 2^retry, and never above the cap"
    );
}

#[test]
fn the_ceiling_is_exact_far_beyond_32_doublings() {
    let config = retry_config(10, Duration::from_nanos(1), Duration::from_secs(3600));
    assert_eq!(
        backoff_ceiling(&config, 40),
        Duration::from_nanos(1 << 40),
        "2^40 ns is about 18 minutes: under the cap of an hour, so not the cap"
    );
    assert_eq!(backoff_ceiling(&config, 42), Duration::from_secs(3600));
}

#[test]
fn the_ceiling_never_overflows() {
    let cap = Duration::from_secs(30);
    let config = retry_config(10, Duration::from_secs(1), cap);
    for retry in [31, 32, 63, 64, 127, 128, 1_000, u32::MAX] {
        assert_eq!(backoff_ceiling(&config, retry), cap, "retry {retry}");
    }
    let huge = retry_config(10, Duration::MAX, Duration::MAX);
    assert_eq!(backoff_ceiling(&huge, 0), Duration::MAX);
    assert_eq!(backoff_ceiling(&huge, 1), Duration::MAX);
    assert_eq!(backoff_ceiling(&huge, u32::MAX), Duration::MAX);
}

#[test]
fn a_zero_base_or_cap_means_no_wait() {
    let zero_base = retry_config(10, Duration::ZERO, Duration::from_secs(1));
    assert_eq!(backoff_ceiling(&zero_base, 0), Duration::ZERO);
    assert_eq!(backoff_ceiling(&zero_base, u32::MAX), Duration::ZERO);
    let zero_cap = retry_config(10, Duration::from_secs(1), Duration::ZERO);
    assert_eq!(backoff_ceiling(&zero_cap, 0), Duration::ZERO);
}

// ---- The budget ----

#[test]
fn the_budget_starts_full_and_withdraws_whole_retries() {
    let budget = RetryBudget::new(BudgetConfig {
        deposit: 3,
        retry_cost: 10,
        max_balance: 25,
    });
    assert_eq!(budget.balance(), 25, "a new budget is full");
    assert!(budget.try_withdraw());
    assert_eq!(budget.balance(), 15);
    assert!(budget.try_withdraw());
    assert_eq!(budget.balance(), 5);
    assert!(!budget.try_withdraw(), "5 is less than one retry");
    assert_eq!(budget.balance(), 5, "a refusal takes nothing");
    budget.deposit();
    budget.deposit();
    assert_eq!(budget.balance(), 11);
    assert!(budget.try_withdraw(), "11 holds a retry");
    assert_eq!(budget.balance(), 1);
}

#[test]
fn deposits_stop_at_the_maximum() {
    let budget = RetryBudget::new(BudgetConfig {
        deposit: 4,
        retry_cost: 10,
        max_balance: 12,
    });
    budget.deposit();
    assert_eq!(budget.balance(), 12, "a full budget stays full");
    assert!(budget.try_withdraw());
    budget.deposit();
    budget.deposit();
    budget.deposit();
    assert_eq!(budget.balance(), 12, "2 + 4 + 4 + 4 is capped at 12");

    let huge = RetryBudget::new(BudgetConfig {
        deposit: u32::MAX,
        retry_cost: u32::MAX,
        max_balance: u32::MAX,
    });
    assert!(huge.try_withdraw());
    huge.deposit();
    huge.deposit();
    assert_eq!(
        huge.balance(),
        u32::MAX,
        "deposits saturate, never overflow"
    );
}

// ---- The policy ----

#[tokio::test(start_paused = true)]
async fn a_success_is_answered_at_once() {
    let random = Scripted::new(&[(1, 2)]);
    let budget = Arc::new(RetryBudget::new(PLENTY));
    let policy = RetryPolicy::new(
        retry_config(3, 100 * MS, Duration::from_secs(1)),
        budget.clone(),
        random.clone(),
    );
    let dependency = Dependency::new(vec![Ok("fine")]);
    let started = Instant::now();
    assert_eq!(policy.run(dependency.op()).await.unwrap(), "fine");
    assert_eq!(dependency.attempts(), 1);
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no wait before the first attempt"
    );
    assert!(random.asked().is_empty(), "no retry, no jitter drawn");
    assert_eq!(budget.balance(), PLENTY.max_balance, "nothing withdrawn");
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_after_jittered_back_off() {
    // Half of the ceiling, all of it, a quarter, none.
    let random = Scripted::new(&[(1, 2), (1, 1), (1, 4), (0, 1)]);
    let policy = RetryPolicy::new(
        retry_config(5, 100 * MS, Duration::from_secs(10)),
        Arc::new(RetryBudget::new(PLENTY)),
        random.clone(),
    );
    let dependency = Dependency::new(vec![
        Err(Status::unavailable("restarting")),
        Err(Status::deadline_exceeded("slow")),
        Err(Status::resource_exhausted("busy")),
        Err(Status::unavailable("again")),
        Ok("at last"),
    ]);
    assert_eq!(policy.run(dependency.op()).await.unwrap(), "at last");
    assert_eq!(
        random.asked(),
        [100, 200, 400, 800].map(|ms| ms * MS),
        "one draw per retry, each up to base × 2^retry"
    );
    assert_eq!(
        dependency.gaps(),
        [50, 200, 100, 0].map(|ms| ms * MS),
        "each wait is exactly what the random source answered"
    );
}

#[tokio::test(start_paused = true)]
async fn the_back_off_stops_growing_at_the_cap() {
    let random = Scripted::new(&[(1, 1)]);
    let policy = RetryPolicy::new(
        retry_config(6, 100 * MS, 300 * MS),
        Arc::new(RetryBudget::new(PLENTY)),
        random.clone(),
    );
    let dependency = Dependency::down();
    let error = policy.run(dependency.op()).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(random.asked(), [100, 200, 300, 300, 300].map(|ms| ms * MS));
    assert_eq!(
        dependency.gaps(),
        [100, 200, 300, 300, 300].map(|ms| ms * MS)
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_that_is_not_retryable_is_answered_at_once() {
    let random = Scripted::new(&[(1, 2)]);
    let budget = Arc::new(RetryBudget::new(PLENTY));
    let policy = RetryPolicy::new(
        retry_config(5, 100 * MS, Duration::from_secs(1)),
        budget.clone(),
        random.clone(),
    );
    for status in [
        Status::invalid_argument("no such quantity"),
        Status::not_found("no such sku"),
        Status::permission_denied("not yours"),
        Status::internal("a bug"),
    ] {
        let code = status.code();
        let dependency = Dependency::new(vec![Err(status), Ok("too late")]);
        let error = policy.run(dependency.op()).await.unwrap_err();
        assert_eq!(error.code(), code, "the error itself is the answer");
        assert_eq!(dependency.attempts(), 1, "{code:?} is never retried");
    }
    assert!(random.asked().is_empty());
    assert_eq!(
        budget.balance(),
        PLENTY.max_balance,
        "no retry, nothing spent"
    );
}

#[tokio::test(start_paused = true)]
async fn max_attempts_counts_the_first_attempt_too() {
    let random = Scripted::new(&[(1, 1)]);
    let budget = Arc::new(RetryBudget::new(PLENTY));
    let policy = RetryPolicy::new(
        retry_config(3, 100 * MS, Duration::from_secs(1)),
        budget.clone(),
        random.clone(),
    );
    let dependency = Dependency::down();
    policy.run(dependency.op()).await.unwrap_err();
    assert_eq!(
        dependency.attempts(),
        3,
        "3 attempts: the first and 2 retries"
    );
    assert_eq!(random.asked().len(), 2, "2 waits");
    assert_eq!(
        budget.balance(),
        PLENTY.max_balance - 2 * PLENTY.retry_cost,
        "2 retries paid for: the attempt that was not made cost nothing"
    );

    let once = RetryPolicy::new(
        retry_config(1, 100 * MS, Duration::from_secs(1)),
        Arc::new(RetryBudget::new(PLENTY)),
        Scripted::new(&[(1, 1)]),
    );
    let dependency = Dependency::down();
    once.run(dependency.op()).await.unwrap_err();
    assert_eq!(dependency.attempts(), 1, "max_attempts 1: never retry");
}

#[tokio::test(start_paused = true)]
async fn the_last_error_is_the_answer() {
    let policy = RetryPolicy::new(
        retry_config(2, 100 * MS, Duration::from_secs(1)),
        Arc::new(RetryBudget::new(PLENTY)),
        Scripted::new(&[(1, 1)]),
    );
    let dependency = Dependency::new(vec![
        Err(Status::unavailable("first")),
        Err(Status::deadline_exceeded("second")),
    ]);
    let error = policy.run(dependency.op()).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded);
    assert_eq!(error.message(), "second");
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_stops_the_retries() {
    let budget = Arc::new(RetryBudget::new(BudgetConfig {
        deposit: 1,
        retry_cost: 10,
        max_balance: 10,
    }));
    let policy = RetryPolicy::new(
        retry_config(3, 100 * MS, Duration::from_secs(1)),
        budget.clone(),
        Scripted::new(&[(1, 1)]),
    );
    let first = Dependency::down();
    policy.run(first.op()).await.unwrap_err();
    assert_eq!(
        first.attempts(),
        2,
        "a full budget of 10 pays for one retry of cost 10, not the two max_attempts allows"
    );
    assert_eq!(budget.balance(), 0);

    let second = Dependency::down();
    policy.run(second.op()).await.unwrap_err();
    assert_eq!(second.attempts(), 1, "1 unit deposited: no retry");
    assert_eq!(
        budget.balance(),
        1,
        "the request deposited, the refused retry took nothing"
    );

    let recovered = Dependency::new(vec![Ok("up")]);
    assert_eq!(policy.run(recovered.op()).await.unwrap(), "up");
    assert_eq!(budget.balance(), 2, "each run deposits once");
}

#[tokio::test(start_paused = true)]
async fn a_failing_dependency_gets_a_fraction_more_traffic_not_a_multiple() {
    // Each request earns a tenth of a retry, plus two retries' worth to start with.
    let config = BudgetConfig {
        deposit: 1,
        retry_cost: 10,
        max_balance: 20,
    };
    let budget = Arc::new(RetryBudget::new(config));
    let policy = Arc::new(RetryPolicy::new(
        retry_config(3, 100 * MS, Duration::from_secs(1)),
        budget.clone(),
        Scripted::new(&[(1, 3), (2, 3), (1, 1)]),
    ));
    let dependency = Dependency::down();
    let requests = 200;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..requests {
        let policy = Arc::clone(&policy);
        let op = dependency.op();
        calls.spawn(async move { policy.run(op).await });
    }
    while let Some(answer) = calls.join_next().await {
        assert_eq!(answer.unwrap().unwrap_err().code(), Code::Unavailable);
    }
    let retries = dependency.attempts() - requests;
    let most = (config.max_balance + requests as u32 * config.deposit) / config.retry_cost;
    assert!(
        retries <= most as usize,
        "{retries} retries for {requests} requests: the budget allows {most} at most (without \
         it, max_attempts 3 would allow {})",
        2 * requests
    );
    assert!(
        retries >= 2,
        "the starting balance pays for 2 retries, and none were made"
    );
}

// ---- Property tests ----

#[derive(Debug, Clone, Copy)]
enum BudgetOp {
    Deposit,
    Withdraw,
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the order of requests and retries: the balance is what a plain count says,
    /// never more than the maximum, and retries never cost more than was deposited plus the
    /// starting balance.
    #[test]
    fn the_budget_is_exact_and_bounded(
        deposit in 0u32..20,
        retry_cost in 0u32..50,
        max_balance in 0u32..200,
        ops in prop::collection::vec(
            prop_oneof![Just(BudgetOp::Deposit), Just(BudgetOp::Withdraw)],
            0..200,
        ),
    ) {
        let budget = RetryBudget::new(BudgetConfig { deposit, retry_cost, max_balance });
        let mut balance = max_balance;
        let (mut deposits, mut withdrawals) = (0u64, 0u64);
        for op in ops {
            match op {
                BudgetOp::Deposit => {
                    budget.deposit();
                    balance = (balance + deposit).min(max_balance);
                    deposits += 1;
                }
                BudgetOp::Withdraw => {
                    let allowed = balance >= retry_cost;
                    prop_assert_eq!(budget.try_withdraw(), allowed, "balance {}", balance);
                    if allowed {
                        balance -= retry_cost;
                        withdrawals += 1;
                    }
                }
            }
            prop_assert_eq!(budget.balance(), balance);
            prop_assert!(
                withdrawals * u64::from(retry_cost)
                    <= u64::from(max_balance) + deposits * u64::from(deposit)
            );
        }
    }

    /// The ceiling is `min(cap, base × 2^retry)`, computed here in exact integers.
    #[test]
    fn the_ceiling_is_min_of_cap_and_doubled_base(
        base_ns in 0u64..1_000_000_000_000,
        cap_ns in 0u64..u64::MAX,
        retry in 0u32..100,
    ) {
        let config = retry_config(1, Duration::from_nanos(base_ns), Duration::from_nanos(cap_ns));
        let doubled = u128::from(base_ns).checked_mul(1u128 << retry.min(127));
        let want = match doubled {
            Some(ns) if ns < u128::from(cap_ns) => Duration::from_nanos_u128(ns),
            _ => Duration::from_nanos(cap_ns),
        };
        prop_assert_eq!(backoff_ceiling(&config, retry), want);
    }
}
