//! `Dependency::call`: every guard together, on a paused clock with attempts that fail, hang
//! or succeed on command.

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shop_resilience::{
    BreakerConfig, BudgetConfig, CallError, Deadline, Dependency, DependencyConfig, RetryConfig,
    State, TRIALS_IN_FLIGHT_PAUSE,
};
use tokio::sync::{Notify, oneshot};
use tokio::time::{Instant, advance};
use tonic::{Code, Status};

const OPEN_FOR: Duration = Duration::from_secs(10);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(400);

fn config(failure_threshold: u32, max_attempts: u32) -> DependencyConfig {
    DependencyConfig {
        max_concurrent: NonZeroUsize::new(4).expect("4 is not 0"),
        breaker: BreakerConfig {
            failure_threshold: NonZeroU32::new(failure_threshold).expect("at least 1"),
            open_for: OPEN_FOR,
            half_open_trials: NonZeroU32::MIN,
        },
        retry: RetryConfig {
            max_attempts: NonZeroU32::new(max_attempts).expect("at least 1"),
            base: Duration::from_millis(10),
            cap: Duration::from_millis(40),
        },
        budget: BudgetConfig {
            deposit: 1,
            retry_cost: 1,
            max_balance: 1_000,
        },
        attempt_timeout: ATTEMPT_TIMEOUT,
    }
}

fn far() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

/// One call whose every attempt fails with `Unavailable`, counted in `attempts`.
async fn failing_call(dependency: &Dependency, attempts: &AtomicU32) -> CallError<Status> {
    dependency
        .call(far(), |_| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Status::unavailable("down"))
        })
        .await
        .expect_err("every attempt fails")
}

async fn succeeding_call(dependency: &Dependency) -> Result<&'static str, CallError<Status>> {
    dependency
        .call(far(), |_| async { Ok::<_, Status>("fine") })
        .await
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_is_retried_until_it_passes() {
    let dependency = Dependency::new("inventory", config(5, 4));
    let attempts = AtomicU32::new(0);
    let answer = dependency
        .call(far(), |_| async {
            match attempts.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(Status::unavailable("restarting")),
                _ => Ok(42),
            }
        })
        .await;
    assert_eq!(answer.expect("the third attempt succeeds"), 42);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(dependency.breaker().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_business_error_is_not_retried_and_counts_as_the_dependency_answering() {
    let dependency = Dependency::new("inventory", config(3, 4));
    let attempts = AtomicU32::new(0);
    let error = dependency
        .call(far(), |_| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Status::not_found("no such sku"))
        })
        .await
        .expect_err("not found");
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "not retried");
    match &error {
        CallError::Failed { source, .. } => assert_eq!(source.code(), Code::NotFound),
        other => panic!("expected the dependency's own error, got {other:?}"),
    }
    assert!(!error.is_unavailable(), "a business answer, not an outage");
    assert_eq!(error.retry_after(), None);

    // Two failures, then the NotFound (a success for the breaker), then two more: had it
    // counted as a failure, the threshold of 3 would have been reached.
    let one_attempt = Dependency::new("inventory", config(3, 1));
    let failures = AtomicU32::new(0);
    failing_call(&one_attempt, &failures).await;
    failing_call(&one_attempt, &failures).await;
    let _ = one_attempt
        .call(far(), |_| async { Err::<(), _>(Status::not_found("no")) })
        .await;
    failing_call(&one_attempt, &failures).await;
    failing_call(&one_attempt, &failures).await;
    assert_eq!(one_attempt.breaker().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn at_the_threshold_the_breaker_opens_and_calls_fail_fast() {
    let dependency = Dependency::new("inventory", config(3, 1));
    let attempts = AtomicU32::new(0);
    for _ in 0..3 {
        let error = failing_call(&dependency, &attempts).await;
        assert!(error.is_unavailable());
        assert!(matches!(error, CallError::Failed { .. }), "{error:?}");
    }
    assert_eq!(dependency.breaker().state(), State::Open);
    advance(Duration::from_secs(4)).await;
    let error = failing_call(&dependency, &attempts).await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "the attempt was not called"
    );
    match error {
        CallError::CircuitOpen { retry_after, .. } => {
            assert_eq!(retry_after, Duration::from_secs(6))
        }
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
    assert_eq!(error.retry_after(), Some(Duration::from_secs(6)));
    assert!(error.is_unavailable());
}

#[tokio::test(start_paused = true)]
async fn retries_that_trip_the_breaker_stop_at_it() {
    let dependency = Dependency::new("inventory", config(2, 5));
    let attempts = AtomicU32::new(0);
    let error = failing_call(&dependency, &attempts).await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the breaker opened after 2"
    );
    assert!(matches!(error, CallError::CircuitOpen { .. }), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn after_open_for_a_trial_call_closes_it_again() {
    let dependency = Dependency::new("inventory", config(1, 1));
    let attempts = AtomicU32::new(0);
    failing_call(&dependency, &attempts).await;
    assert_eq!(dependency.breaker().state(), State::Open);
    advance(OPEN_FOR).await;
    // A failed trial opens it again, for a fresh OPEN_FOR...
    failing_call(&dependency, &attempts).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "the trial went out");
    assert_eq!(dependency.breaker().state(), State::Open);
    advance(OPEN_FOR - Duration::from_millis(1)).await;
    assert!(matches!(
        succeeding_call(&dependency).await,
        Err(CallError::CircuitOpen { .. })
    ));
    advance(Duration::from_millis(1)).await;
    // ...and a successful one closes it.
    assert_eq!(
        succeeding_call(&dependency).await.expect("recovered"),
        "fine"
    );
    assert_eq!(dependency.breaker().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn while_the_trial_is_out_other_calls_are_told_to_come_back_shortly() {
    let dependency = Arc::new(Dependency::new("inventory", config(1, 1)));
    failing_call(&dependency, &AtomicU32::new(0)).await;
    advance(OPEN_FOR).await;
    let release = Arc::new(Notify::new());
    let (entered, trial_started) = oneshot::channel();
    let trial = tokio::spawn({
        let dependency = Arc::clone(&dependency);
        let release = Arc::clone(&release);
        async move {
            let mut entered = Some(entered);
            dependency
                .call(far(), |_| {
                    let entered = entered.take();
                    let release = Arc::clone(&release);
                    async move {
                        if let Some(entered) = entered {
                            let _ = entered.send(());
                        }
                        release.notified().await;
                        Ok::<_, Status>(())
                    }
                })
                .await
        }
    });
    trial_started.await.expect("the trial starts");
    let error = succeeding_call(&dependency).await.expect_err("refused");
    assert!(matches!(error, CallError::CircuitOpen { .. }), "{error:?}");
    assert_eq!(error.retry_after(), Some(TRIALS_IN_FLIGHT_PAUSE));
    release.notify_one();
    trial.await.expect("no panic").expect("the trial succeeds");
    assert_eq!(dependency.breaker().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_refuses_at_once() {
    let mut config = config(5, 1);
    config.max_concurrent = NonZeroUsize::MIN;
    let dependency = Arc::new(Dependency::new("inventory", config));
    let release = Arc::new(Notify::new());
    let (entered, busy) = oneshot::channel();
    let slow = tokio::spawn({
        let dependency = Arc::clone(&dependency);
        let release = Arc::clone(&release);
        async move {
            let entered = Mutex::new(Some(entered));
            dependency
                .call(far(), |_| {
                    let release = Arc::clone(&release);
                    if let Some(entered) = entered.lock().expect("not poisoned").take() {
                        let _ = entered.send(());
                    }
                    async move {
                        release.notified().await;
                        Ok::<_, Status>(())
                    }
                })
                .await
        }
    });
    busy.await.expect("the slow call is in");
    let error = succeeding_call(&dependency)
        .await
        .expect_err("no place left");
    assert!(matches!(error, CallError::BulkheadFull { .. }), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert!(error.is_unavailable());
    release.notify_one();
    slow.await
        .expect("no panic")
        .expect("the slow call succeeds");
    assert!(
        succeeding_call(&dependency).await.is_ok(),
        "the place is free again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_never_outlives_its_deadline() {
    // Generous attempts and budget: only the deadline can stop these calls.
    for budget_ms in [1u64, 150, 399, 400, 401, 1_000, 2_345] {
        let dependency = Dependency::new("inventory", config(1_000, 100));
        let budget = Duration::from_millis(budget_ms);
        let started = Instant::now();
        // Attempts that hang: each ends by its timeout.
        let error = dependency
            .call(Deadline::after(budget), |_| {
                std::future::pending::<Result<(), Status>>()
            })
            .await
            .expect_err("nothing answers");
        assert!(
            started.elapsed() <= budget,
            "{:?} > {budget:?}",
            started.elapsed()
        );
        assert!(
            matches!(error, CallError::DeadlineExceeded { .. }),
            "{error:?}"
        );

        // Attempts that fail slowly with a retryable error.
        let started = Instant::now();
        let _ = dependency
            .call(Deadline::after(budget), |_| async {
                tokio::time::sleep(Duration::from_millis(120)).await;
                Err::<(), _>(Status::unavailable("overloaded"))
            })
            .await
            .expect_err("every attempt fails");
        assert!(
            started.elapsed() <= budget,
            "{:?} > {budget:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_expired_deadline_makes_no_attempt() {
    let dependency = Dependency::new("inventory", config(5, 3));
    let deadline = Deadline::after(Duration::from_millis(10));
    advance(Duration::from_millis(10)).await;
    let attempts = AtomicU32::new(0);
    let error = dependency
        .call(deadline, |_| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Status>(())
        })
        .await
        .expect_err("too late");
    assert!(matches!(error, CallError::DeadlineExceeded { .. }));
    assert_eq!(attempts.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn each_attempt_gets_the_attempt_timeout_or_what_is_left_if_less() {
    let dependency = Dependency::new("inventory", config(1_000, 100));
    let deadline = Deadline::after(Duration::from_secs(1));
    // (timeout given, time left when it was given)
    let seen = Mutex::new(Vec::new());
    let _ = dependency
        .call(deadline, |timeout| {
            seen.lock()
                .expect("not poisoned")
                .push((timeout, deadline.remaining()));
            async {
                tokio::time::sleep(Duration::from_millis(350)).await;
                Err::<(), _>(Status::unavailable("slow and failing"))
            }
        })
        .await;
    let seen = seen.into_inner().expect("not poisoned");
    assert!(seen.len() >= 3, "{seen:?}");
    for &(timeout, left) in &seen {
        assert_eq!(timeout, ATTEMPT_TIMEOUT.min(left), "{seen:?}");
    }
    assert_eq!(seen[0].0, ATTEMPT_TIMEOUT);
    assert!(
        seen.iter().any(|&(timeout, _)| timeout < ATTEMPT_TIMEOUT),
        "the last attempts are cut to the deadline: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_outlives_its_timeout_is_retried() {
    let dependency = Dependency::new("inventory", config(5, 3));
    let attempts = AtomicU32::new(0);
    let started = Instant::now();
    let answer = dependency
        .call(far(), |timeout| {
            let first = attempts.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    // Longer than its timeout: abandoned.
                    tokio::time::sleep(timeout * 2).await;
                }
                Ok::<_, Status>("second time lucky")
            }
        })
        .await;
    assert_eq!(answer.expect("the retry succeeds"), "second time lucky");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= ATTEMPT_TIMEOUT);
    assert!(
        started.elapsed() < ATTEMPT_TIMEOUT * 2,
        "the first attempt was cut short"
    );
}
