//! The retry policy: back-off ceilings and their saturation, jitter within them, what `run`
//! retries and how long it waits, and the budget that keeps retries a fraction of the traffic.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use shop_resilience::{
    BudgetConfig, Random, RetryBudget, RetryConfig, RetryPolicy, Retryable, SplitMix64,
    backoff_ceiling,
};
use tokio::time::Instant;
use tonic::{Code, Status};

fn retry_config(max_attempts: u32, base: Duration, cap: Duration) -> RetryConfig {
    RetryConfig {
        max_attempts: NonZeroU32::new(max_attempts).expect("at least one attempt"),
        base,
        cap,
    }
}

fn budget(deposit: u32, retry_cost: u32, max_balance: u32) -> Arc<RetryBudget> {
    Arc::new(RetryBudget::new(BudgetConfig {
        deposit,
        retry_cost,
        max_balance,
    }))
}

/// A generous budget, for tests about something else.
fn plenty() -> Arc<RetryBudget> {
    budget(1, 1, 1_000)
}

/// "Jitter" that always waits the whole ceiling, so a test knows each pause exactly.
#[derive(Debug)]
struct Ceiling;

impl Random for Ceiling {
    fn up_to(&mut self, max: Duration) -> Duration {
        max
    }
}

proptest! {
    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_saturates(
        base_ns in 0u64..10_000_000_000,
        cap_ns in 0u64..100_000_000_000,
        retry in 0u32..200,
    ) {
        let config = retry_config(5, Duration::from_nanos(base_ns), Duration::from_nanos(cap_ns));
        let ceiling = backoff_ceiling(&config, retry);
        let cap = Duration::from_nanos(cap_ns);
        prop_assert!(ceiling <= cap);
        // The exact value, by repeated doubling that stops once past the cap.
        let mut expected = u128::from(base_ns);
        for _ in 0..retry {
            if expected > u128::from(cap_ns) {
                break;
            }
            expected *= 2;
        }
        prop_assert_eq!(ceiling.as_nanos(), expected.min(u128::from(cap_ns)));
        prop_assert!(backoff_ceiling(&config, retry + 1) >= ceiling, "never shrinks");
    }

    #[test]
    fn the_jitter_stays_within_the_ceiling(seed in any::<u64>(), retry in 0u32..40) {
        let config = retry_config(5, Duration::from_millis(10), Duration::from_secs(5));
        let policy = RetryPolicy::new(config, plenty(), SplitMix64::new(seed));
        for _ in 0..20 {
            prop_assert!(policy.backoff(retry) <= backoff_ceiling(&config, retry));
        }
    }
}

#[test]
fn huge_retries_saturate_at_the_cap_without_overflow() {
    let config = retry_config(5, Duration::MAX, Duration::from_secs(30));
    assert_eq!(backoff_ceiling(&config, 0), Duration::from_secs(30));
    assert_eq!(backoff_ceiling(&config, u32::MAX), Duration::from_secs(30));
    let unbounded = retry_config(5, Duration::from_nanos(1), Duration::MAX);
    assert_eq!(backoff_ceiling(&unbounded, u32::MAX), Duration::MAX);
    assert_eq!(backoff_ceiling(&unbounded, 10), Duration::from_nanos(1024));
    let zero = retry_config(5, Duration::ZERO, Duration::MAX);
    assert_eq!(backoff_ceiling(&zero, u32::MAX), Duration::ZERO);
}

#[test]
fn the_jitter_spreads_over_the_whole_interval() {
    let mut random = SplitMix64::new(7);
    let max = Duration::from_secs(1);
    let draws: Vec<Duration> = (0..1_000).map(|_| random.up_to(max)).collect();
    assert!(draws.iter().all(|&draw| draw <= max));
    let low = draws
        .iter()
        .filter(|&&d| d < Duration::from_millis(100))
        .count();
    let high = draws
        .iter()
        .filter(|&&d| d > Duration::from_millis(900))
        .count();
    // About 100 each for a uniform draw; a generator stuck at one end fails either bound.
    assert!(
        (50..=150).contains(&low),
        "{low} draws under 100 ms of 1000"
    );
    assert!(
        (50..=150).contains(&high),
        "{high} draws over 900 ms of 1000"
    );
    assert_eq!(random.up_to(Duration::ZERO), Duration::ZERO);
    assert!(
        random.up_to(Duration::MAX) <= Duration::MAX,
        "no overflow at the top"
    );
    let (mut a, mut b) = (SplitMix64::from_entropy(), SplitMix64::new(7));
    let differ = (0..10).any(|_| a.up_to(max) != b.up_to(max));
    assert!(differ, "an entropy seed is not the fixed one");
}

#[test]
fn grpc_codes_that_may_pass_are_retryable_and_the_rest_are_not() {
    for code in [
        Code::Unavailable,
        Code::DeadlineExceeded,
        Code::ResourceExhausted,
    ] {
        assert!(Status::new(code, "later").is_retryable(), "{code:?}");
    }
    for code in [
        Code::NotFound,
        Code::InvalidArgument,
        Code::FailedPrecondition,
        Code::PermissionDenied,
        Code::Internal,
        Code::Ok,
    ] {
        assert!(!Status::new(code, "never").is_retryable(), "{code:?}");
    }
}

/// An operation that fails with `error` on its first `failures` attempts, then succeeds; it
/// counts its attempts and checks it is told their number.
fn flaky(
    failures: u32,
    error: fn() -> Status,
    attempts: &AtomicU32,
) -> impl FnMut(u32) -> std::future::Ready<Result<&'static str, Status>> + '_ {
    move |n| {
        let made = attempts.fetch_add(1, Ordering::SeqCst);
        assert_eq!(n, made, "attempt numbers count from 0");
        std::future::ready(if made < failures {
            Err(error())
        } else {
            Ok("answer")
        })
    }
}

fn unavailable() -> Status {
    Status::unavailable("down")
}

#[tokio::test(start_paused = true)]
async fn run_retries_until_success_sleeping_each_back_off() {
    let config = retry_config(5, Duration::from_millis(100), Duration::from_millis(300));
    let policy = RetryPolicy::new(config, plenty(), Ceiling);
    let attempts = AtomicU32::new(0);
    let started = Instant::now();
    let answer = policy.run(flaky(3, unavailable, &attempts)).await;
    assert_eq!(answer.expect("the fourth attempt succeeds"), "answer");
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    // Pauses of 100, 200 and 300 (capped) ms.
    assert_eq!(started.elapsed(), Duration::from_millis(600));
}

#[tokio::test(start_paused = true)]
async fn run_stops_at_max_attempts_with_the_last_error() {
    let config = retry_config(3, Duration::from_millis(10), Duration::from_secs(1));
    let policy = RetryPolicy::new(config, plenty(), SplitMix64::new(1));
    let attempts = AtomicU32::new(0);
    let error = policy
        .run(flaky(10, unavailable, &attempts))
        .await
        .expect_err("every attempt fails");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "3 attempts in all");
}

#[tokio::test(start_paused = true)]
async fn run_does_not_retry_what_would_fail_again() {
    let config = retry_config(5, Duration::from_millis(10), Duration::from_secs(1));
    let policy = RetryPolicy::new(config, plenty(), SplitMix64::new(1));
    let attempts = AtomicU32::new(0);
    let before = policy.budget().balance();
    let error = policy
        .run(flaky(10, || Status::not_found("no such sku"), &attempts))
        .await
        .expect_err("not found");
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert!(
        policy.budget().balance() >= before,
        "no retry, nothing withdrawn"
    );
}

#[test]
fn the_budget_caps_its_balance_and_refuses_without_taking() {
    let budget = budget(3, 10, 25);
    assert_eq!(budget.balance(), 25, "a new budget starts full");
    budget.deposit();
    assert_eq!(budget.balance(), 25, "never above max_balance");
    assert!(budget.try_withdraw());
    assert!(budget.try_withdraw());
    assert_eq!(budget.balance(), 5);
    assert!(!budget.try_withdraw(), "5 does not pay for 10");
    assert_eq!(budget.balance(), 5, "a refusal takes nothing");
    budget.deposit();
    budget.deposit();
    assert!(budget.try_withdraw(), "11 pays for 10");
}

#[tokio::test(start_paused = true)]
async fn under_sustained_failure_the_budget_keeps_retries_to_a_tenth_of_calls() {
    // deposit 1, retry_cost 10: each call earns a tenth of a retry.
    let policy = RetryPolicy::new(
        retry_config(4, Duration::from_millis(1), Duration::from_millis(10)),
        budget(1, 10, 50),
        SplitMix64::new(3),
    );
    let attempts = AtomicU32::new(0);
    let calls = 1_000;
    for _ in 0..calls {
        let result = policy
            .run(|_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Err::<(), _>(unavailable()))
            })
            .await;
        assert!(result.is_err());
    }
    let retries = attempts.load(Ordering::SeqCst) - calls;
    // What the calls earned (100) plus the starting balance (5 retries); without the budget
    // it would be 3 000.
    assert!(
        (95..=105).contains(&retries),
        "{retries} retries for {calls} failing calls"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_means_no_retry() {
    let policy = RetryPolicy::new(
        retry_config(5, Duration::from_millis(1), Duration::from_millis(10)),
        budget(1, 10, 0),
        SplitMix64::new(3),
    );
    let attempts = AtomicU32::new(0);
    let result = policy.run(flaky(10, unavailable, &attempts)).await;
    assert!(result.is_err());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}
