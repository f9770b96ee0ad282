//! Part (a): retry routing.
//!
//! Run with `cargo test -p exercise-10 part_a`. First the attempt count read from a dead-letter
//! history (which entries count, and what a count from outside may not do), then the routing
//! decision: ack, poison, the last attempt, and the back-off with its cap.

use std::time::Duration;

use exercise_10::{DeadReason, Death, Outcome, RetryPolicy, Route, attempts, route};
use proptest::prelude::*;

const QUEUE: &str = "jobs";

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
    }
}

fn failed() -> Outcome {
    Outcome::Failed {
        error: "timeout".to_owned(),
    }
}

fn retry_after(secs: u64) -> Route {
    Route::Retry {
        after: Duration::from_secs(secs),
    }
}

fn exhausted(attempts: u32) -> Route {
    Route::DeadLetter {
        reason: DeadReason::Exhausted { attempts },
    }
}

#[test]
fn no_history_means_no_failed_attempt() {
    assert_eq!(attempts(&[], QUEUE), 0);
}

#[test]
fn rejections_by_the_queue_are_the_attempts() {
    let history = [Death::new(QUEUE, "rejected", 2)];
    assert_eq!(attempts(&history, QUEUE), 2);
}

#[test]
fn only_rejections_by_this_queue_count() {
    // The delay queue's expiries, another queue's rejections and this queue's other reasons are
    // all in the header, and none is a failed attempt here.
    let history = [
        Death::new("jobs.retry", "expired", 3),
        Death::new(QUEUE, "rejected", 3),
        Death::new("emails", "rejected", 7),
        Death::new(QUEUE, "expired", 5),
        Death::new("jobs.retry", "rejected", 11),
    ];
    assert_eq!(attempts(&history, QUEUE), 3);
    assert_eq!(attempts(&history, "emails"), 7);
    assert_eq!(attempts(&history, "nowhere"), 0);
}

#[test]
fn several_entries_of_the_queue_add_up() {
    let history = [
        Death::new(QUEUE, "rejected", 2),
        Death::new("jobs.retry", "expired", 2),
        Death::new(QUEUE, "rejected", 1),
    ];
    assert_eq!(attempts(&history, QUEUE), 3);
}

#[test]
fn a_negative_count_is_not_trusted() {
    let history = [Death::new(QUEUE, "rejected", -1)];
    assert_eq!(
        attempts(&history, QUEUE),
        u32::MAX,
        "a negative count read as 0 (or as nothing) would let the message retry forever"
    );
    let policy = policy(5);
    assert_eq!(
        route(&failed(), attempts(&history, QUEUE), &policy),
        exhausted(u32::MAX)
    );
}

#[test]
fn a_count_beyond_u32_is_the_most_there_can_be() {
    let history = [Death::new(QUEUE, "rejected", i64::from(u32::MAX) + 1)];
    assert_eq!(attempts(&history, QUEUE), u32::MAX);
    let history = [Death::new(QUEUE, "rejected", i64::MAX)];
    assert_eq!(attempts(&history, QUEUE), u32::MAX);
}

#[test]
fn a_sum_that_would_overflow_stays_at_the_most() {
    let history = [
        Death::new(QUEUE, "rejected", i64::from(u32::MAX) - 1),
        Death::new(QUEUE, "rejected", 5),
    ];
    assert_eq!(attempts(&history, QUEUE), u32::MAX);
}

#[test]
fn a_success_is_acked() {
    assert_eq!(route(&Outcome::Success, 0, &policy(3)), Route::Ack);
    assert_eq!(
        route(&Outcome::Success, 7, &policy(3)),
        Route::Ack,
        "a late success is a success"
    );
}

#[test]
fn poison_goes_straight_to_the_dead_letter_queue() {
    let poison = Outcome::Poison {
        reason: "not JSON".to_owned(),
    };
    let parked = Route::DeadLetter {
        reason: DeadReason::Poison {
            reason: "not JSON".to_owned(),
        },
    };
    assert_eq!(
        route(&poison, 0, &policy(5)),
        parked,
        "on its first attempt, with four retries left"
    );
    assert_eq!(route(&poison, 4, &policy(5)), parked);
}

#[test]
fn a_first_failure_retries_after_the_base_delay() {
    assert_eq!(route(&failed(), 0, &policy(3)), retry_after(1));
}

#[test]
fn each_retry_waits_twice_as_long() {
    let policy = policy(10);
    let waits: Vec<Route> = (0..5)
        .map(|before| route(&failed(), before, &policy))
        .collect();
    assert_eq!(
        waits,
        [1, 2, 4, 8, 16].map(retry_after),
        "attempts 1 to 5 fail: waits of 1, 2, 4, 8 and 16 s"
    );
}

#[test]
fn the_wait_is_capped_at_the_maximum() {
    let policy = policy(10);
    assert_eq!(route(&failed(), 5, &policy), retry_after(30), "not 32 s");
    assert_eq!(route(&failed(), 8, &policy), retry_after(30), "not 256 s");
}

#[test]
fn a_base_delay_above_the_maximum_is_capped_too() {
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(30),
    };
    assert_eq!(route(&failed(), 0, &policy), retry_after(30));
}

#[test]
fn a_wait_too_large_to_compute_is_the_maximum_not_a_panic() {
    let policy = RetryPolicy {
        max_attempts: u32::MAX,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(3600),
    };
    for before in [31, 32, 40, 64, 1000, u32::MAX - 2] {
        assert_eq!(
            route(&failed(), before, &policy),
            retry_after(3600),
            "{before} attempts before"
        );
    }
    let huge = RetryPolicy {
        max_attempts: u32::MAX,
        base_delay: Duration::MAX,
        max_delay: Duration::MAX,
    };
    assert_eq!(
        route(&failed(), 1, &huge),
        Route::Retry {
            after: Duration::MAX
        }
    );
}

#[test]
fn the_last_attempt_dead_letters_instead_of_retrying() {
    let policy = policy(3);
    assert_eq!(
        route(&failed(), 1, &policy),
        retry_after(2),
        "attempt 2 of 3"
    );
    assert_eq!(
        route(&failed(), 2, &policy),
        exhausted(3),
        "attempt 3 of 3 was the last"
    );
    assert_eq!(
        route(&failed(), 9, &policy),
        exhausted(10),
        "a history beyond the policy (it was lowered since) parks too"
    );
}

#[test]
fn one_attempt_and_zero_attempts_mean_no_retry() {
    assert_eq!(route(&failed(), 0, &policy(1)), exhausted(1));
    assert_eq!(route(&failed(), 0, &policy(0)), exhausted(1));
}

#[test]
fn the_attempt_number_saturates() {
    assert_eq!(route(&failed(), u32::MAX, &policy(3)), exhausted(u32::MAX));
    assert_eq!(
        route(&failed(), u32::MAX, &policy(u32::MAX)),
        exhausted(u32::MAX),
        "even a policy of u32::MAX attempts ends"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every failure ends in a retry no longer than the cap and no shorter than the one
    /// before, or in the dead-letter queue once the attempts are used up.
    #[test]
    fn failures_back_off_monotonically_and_end(
        max_attempts in 0u32..80,
        base_ms in 0u64..5_000,
        max_ms in 0u64..100_000,
    ) {
        let policy = RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(base_ms),
            max_delay: Duration::from_millis(max_ms),
        };
        let mut last = Duration::ZERO;
        for before in 0..80u32 {
            match route(&failed(), before, &policy) {
                Route::Retry { after } => {
                    let attempt = before + 1;
                    prop_assert!(
                        attempt < max_attempts,
                        "retried attempt {attempt} of {max_attempts}"
                    );
                    prop_assert!(after <= policy.max_delay);
                    prop_assert!(after >= last, "{after:?} after {last:?}");
                    last = after;
                }
                Route::DeadLetter { reason } => {
                    prop_assert!(before + 1 >= max_attempts);
                    prop_assert_eq!(reason, DeadReason::Exhausted { attempts: before + 1 });
                }
                Route::Ack => prop_assert!(false, "a failure was acked"),
            }
        }
    }
}
