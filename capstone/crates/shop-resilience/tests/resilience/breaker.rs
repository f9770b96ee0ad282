//! The circuit breaker: its rules one at a time, the permits that outlive a state (stale,
//! dropped), the watch channel, and a model-based property test over random sequences.

use std::num::NonZeroU32;
use std::time::Duration;

use proptest::prelude::*;
use shop_resilience::{BreakerConfig, CircuitBreaker, Outcome, Permit, Rejected, State};
use tokio::time::advance;

const OPEN_FOR: Duration = Duration::from_secs(10);

fn config(failure_threshold: u32, open_for: Duration, half_open_trials: u32) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: NonZeroU32::new(failure_threshold).expect("a threshold of at least 1"),
        open_for,
        half_open_trials: NonZeroU32::new(half_open_trials).expect("at least one trial"),
    }
}

fn breaker(failure_threshold: u32, half_open_trials: u32) -> CircuitBreaker {
    CircuitBreaker::new(
        "test",
        config(failure_threshold, OPEN_FOR, half_open_trials),
    )
}

fn call(breaker: &CircuitBreaker, outcome: Outcome) {
    let permit = breaker
        .acquire()
        .expect("the breaker should let this call through");
    breaker.record(permit, outcome);
}

fn refusal(result: Result<Permit, Rejected>) -> Option<Rejected> {
    result.err()
}

/// Opens a breaker of threshold 1.
fn trip(breaker: &CircuitBreaker) {
    call(breaker, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_it_and_a_success_resets_the_count() {
    let breaker = breaker(3, 1);
    call(&breaker, Outcome::Failure);
    call(&breaker, Outcome::Failure);
    call(&breaker, Outcome::Success);
    call(&breaker, Outcome::Failure);
    call(&breaker, Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "2 in a row since the success"
    );
    call(&breaker, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open, "the third in a row opens it");
}

#[tokio::test(start_paused = true)]
async fn open_refuses_with_the_time_left_then_admits_the_trials() {
    let breaker = breaker(1, 2);
    trip(&breaker);
    advance(Duration::from_secs(3)).await;
    assert_eq!(
        refusal(breaker.acquire()),
        Some(Rejected::Open {
            retry_after: Duration::from_secs(7)
        })
    );
    advance(Duration::from_secs(100)).await;
    assert_eq!(breaker.state(), State::Open, "open until someone asks");
    let first = breaker.acquire().expect("the first trial");
    assert_eq!(breaker.state(), State::HalfOpen);
    let second = breaker.acquire().expect("the second trial");
    assert_eq!(refusal(breaker.acquire()), Some(Rejected::TrialsInFlight));
    breaker.record(first, Outcome::Success);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "one trial of two succeeded"
    );
    breaker.record(second, Outcome::Success);
    assert_eq!(breaker.state(), State::Closed, "every trial succeeded");
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_reopens_it_for_a_fresh_open_for() {
    let breaker = breaker(1, 2);
    trip(&breaker);
    advance(OPEN_FOR).await;
    let first = breaker.acquire().expect("a trial");
    let second = breaker.acquire().expect("a trial");
    breaker.record(first, Outcome::Success);
    advance(Duration::from_secs(2)).await;
    breaker.record(second, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        refusal(breaker.acquire()),
        Some(Rejected::Open {
            retry_after: OPEN_FOR
        }),
        "the wait restarts at the failed trial"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_permit_does_not_count_as_a_trial() {
    let breaker = breaker(1, 1);
    // A slow call let out while closed...
    let slow = breaker.acquire().expect("closed");
    trip(&breaker);
    advance(OPEN_FOR).await;
    let trial = breaker.acquire().expect("the trial");
    // ...answers while the breaker is half-open: it says nothing about the trial.
    breaker.record(slow, Outcome::Success);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a stale success closes nothing"
    );
    assert_eq!(
        refusal(breaker.acquire()),
        Some(Rejected::TrialsInFlight),
        "and frees no trial slot"
    );
    breaker.record(trial, Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);

    let slow = breaker.acquire().expect("closed");
    trip(&breaker);
    advance(OPEN_FOR).await;
    let trial = breaker.acquire().expect("the trial");
    breaker.record(slow, Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a stale failure reopens nothing"
    );
    breaker.record(trial, Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_permit_frees_its_trial_slot_and_counts_nothing() {
    let breaker = breaker(2, 1);
    call(&breaker, Outcome::Failure);
    drop(breaker.acquire().expect("closed"));
    call(&breaker, Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::Open,
        "a dropped permit is not a success: the two failures are consecutive"
    );
    advance(OPEN_FOR).await;
    let trial = breaker.acquire().expect("the trial");
    assert_eq!(refusal(breaker.acquire()), Some(Rejected::TrialsInFlight));
    drop(trial);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a dropped trial decides nothing"
    );
    let trial = breaker
        .acquire()
        .expect("the dropped trial's slot is free again");
    breaker.record(trial, Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_permit_is_usable_from_several_tasks() {
    let breaker = std::sync::Arc::new(breaker(3, 1));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let breaker = std::sync::Arc::clone(&breaker);
            tokio::spawn(async move {
                let permit = breaker.acquire().expect("closed");
                tokio::task::yield_now().await;
                breaker.record(permit, Outcome::Failure);
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the task does not panic");
    }
    assert_eq!(
        breaker.state(),
        State::Open,
        "three failures from three tasks"
    );
}

#[tokio::test(start_paused = true)]
async fn subscribers_see_every_transition() {
    let breaker = breaker(1, 1);
    let mut changes = breaker.subscribe();
    assert_eq!(*changes.borrow_and_update(), State::Closed);
    call(&breaker, Outcome::Success);
    assert!(
        !changes.has_changed().expect("the breaker is alive"),
        "no transition"
    );

    trip(&breaker);
    assert!(changes.has_changed().expect("the breaker is alive"));
    assert_eq!(*changes.borrow_and_update(), State::Open);

    advance(OPEN_FOR).await;
    let trial = breaker.acquire().expect("the trial");
    tokio::time::timeout(Duration::from_secs(1), changes.changed())
        .await
        .expect("a notification, not a timeout")
        .expect("the breaker is alive");
    assert_eq!(*changes.borrow_and_update(), State::HalfOpen);

    breaker.record(trial, Outcome::Success);
    assert_eq!(*changes.borrow_and_update(), State::Closed);
    let late = breaker.subscribe();
    assert_eq!(
        *late.borrow(),
        State::Closed,
        "a new subscriber sees the state now"
    );
}

// ---------------------------------------------------------------------------------------------
// The model: the rules written as plainly as possible, on a millisecond counter.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum ModelState {
    Closed { failures: u32 },
    Open { until_ms: u64 },
    HalfOpen { out: u32, succeeded: u32 },
}

#[derive(Debug)]
struct Model {
    threshold: u32,
    open_for_ms: u64,
    trials: u32,
    state: ModelState,
    /// Counts state changes; a model permit is the epoch it was issued in.
    epoch: u64,
    now_ms: u64,
}

impl Model {
    fn set(&mut self, state: ModelState) {
        self.state = state;
        self.epoch += 1;
    }

    fn public_state(&self) -> State {
        match self.state {
            ModelState::Closed { .. } => State::Closed,
            ModelState::Open { .. } => State::Open,
            ModelState::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn acquire(&mut self) -> Result<u64, Rejected> {
        if let ModelState::Open { until_ms } = self.state {
            if self.now_ms < until_ms {
                let retry_after = Duration::from_millis(until_ms - self.now_ms);
                return Err(Rejected::Open { retry_after });
            }
            self.set(ModelState::HalfOpen {
                out: 0,
                succeeded: 0,
            });
        }
        if let ModelState::HalfOpen { out, succeeded } = self.state {
            if out == self.trials {
                return Err(Rejected::TrialsInFlight);
            }
            self.state = ModelState::HalfOpen {
                out: out + 1,
                succeeded,
            };
        }
        Ok(self.epoch)
    }

    fn record(&mut self, epoch: u64, failed: bool) {
        if epoch != self.epoch {
            return;
        }
        let open = ModelState::Open {
            until_ms: self.now_ms + self.open_for_ms,
        };
        match self.state {
            ModelState::Closed { failures } if failed && failures + 1 == self.threshold => {
                self.set(open)
            }
            ModelState::Closed { failures } if failed => {
                self.state = ModelState::Closed {
                    failures: failures + 1,
                }
            }
            ModelState::Closed { .. } => self.state = ModelState::Closed { failures: 0 },
            ModelState::HalfOpen { .. } if failed => self.set(open),
            ModelState::HalfOpen { succeeded, .. } if succeeded + 1 == self.trials => {
                self.set(ModelState::Closed { failures: 0 })
            }
            ModelState::HalfOpen { out, succeeded } => {
                self.state = ModelState::HalfOpen {
                    out,
                    succeeded: succeeded + 1,
                }
            }
            ModelState::Open { .. } => unreachable!("no permit is issued in an open epoch"),
        }
    }

    fn drop_permit(&mut self, epoch: u64) {
        if epoch != self.epoch {
            return;
        }
        if let ModelState::HalfOpen { out, succeeded } = self.state {
            self.state = ModelState::HalfOpen {
                out: out - 1,
                succeeded,
            };
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Record { which: usize, failed: bool },
    Drop { which: usize },
    Advance { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(which, failed)| Op::Record { which, failed }),
        1 => any::<usize>().prop_map(|which| Op::Drop { which }),
        2 => (0u64..1_500).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

proptest! {
    #[test]
    fn the_breaker_follows_the_model(
        threshold in 1u32..4,
        open_for_ms in 1u64..2_000,
        trials in 1u32..4,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        paused_runtime().block_on(async {
            let breaker = CircuitBreaker::new(
                "model",
                config(threshold, Duration::from_millis(open_for_ms), trials),
            );
            let mut model = Model {
                threshold,
                open_for_ms,
                trials,
                state: ModelState::Closed { failures: 0 },
                epoch: 0,
                now_ms: 0,
            };
            // Each held permit with the model's idea of it.
            let mut held: Vec<(Permit, u64)> = Vec::new();
            for op in ops {
                match op {
                    Op::Acquire => {
                        let real = breaker.acquire();
                        let expected = model.acquire();
                        match (real, expected) {
                            (Ok(permit), Ok(epoch)) => held.push((permit, epoch)),
                            (Err(real), Err(expected)) => prop_assert_eq!(real, expected),
                            (real, expected) => prop_assert!(
                                false,
                                "acquire: breaker {:?}, model {:?}",
                                real.map(|_| ()),
                                expected.map(|_| ())
                            ),
                        }
                    }
                    Op::Record { which, failed } if !held.is_empty() => {
                        let (permit, epoch) = held.swap_remove(which % held.len());
                        let outcome = if failed { Outcome::Failure } else { Outcome::Success };
                        breaker.record(permit, outcome);
                        model.record(epoch, failed);
                    }
                    Op::Drop { which } if !held.is_empty() => {
                        let (permit, epoch) = held.swap_remove(which % held.len());
                        drop(permit);
                        model.drop_permit(epoch);
                    }
                    Op::Record { .. } | Op::Drop { .. } => {}
                    Op::Advance { ms } => {
                        advance(Duration::from_millis(ms)).await;
                        model.now_ms += ms;
                    }
                }
                prop_assert_eq!(breaker.state(), model.public_state(), "after {:?}", model);
            }
            Ok(())
        })?;
    }
}
