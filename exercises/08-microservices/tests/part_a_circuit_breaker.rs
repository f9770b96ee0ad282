//! Part (a): the circuit breaker, with the time passed in.
//!
//! Run with `cargo test -p exercise-08 part_a`. The first tests walk through the states one
//! rule at a time, then the slow calls whose outcome arrives after the breaker moved on; the
//! property tests at the end run random sequences of calls, outcomes and waits, once against a
//! model of the rules and once against the promises a breaker makes whatever happens.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use exercise_08::{BreakerConfig, CircuitBreaker, Outcome, Permit, Rejected, State};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
const OPEN_FOR: Duration = Duration::from_secs(1);

fn config(failure_threshold: u32, open_for: Duration, half_open_trials: u32) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: NonZeroU32::new(failure_threshold).expect("a threshold of at least 1"),
        open_for,
        half_open_trials: NonZeroU32::new(half_open_trials).expect("at least one trial"),
    }
}

/// A breaker open for `OPEN_FOR`, and the moment the test starts at.
fn breaker(failure_threshold: u32, half_open_trials: u32) -> (CircuitBreaker, Instant) {
    (
        CircuitBreaker::new(config(failure_threshold, OPEN_FOR, half_open_trials)),
        Instant::now(),
    )
}

fn call(breaker: &mut CircuitBreaker, now: Instant, outcome: Outcome) {
    let permit = breaker
        .acquire(now)
        .expect("the breaker should let this call through");
    breaker.record(permit, outcome, now);
}

/// Opens `breaker` (threshold 1) at `at`.
fn trip(breaker: &mut CircuitBreaker, at: Instant) {
    call(breaker, at, Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::Open,
        "one failure opens a breaker of threshold 1"
    );
}

fn open_for(retry_after: Duration) -> Result<(), Rejected> {
    Err(Rejected::Open { retry_after })
}

fn verdict(result: Result<Permit, Rejected>) -> Result<(), Rejected> {
    result.map(|_permit| ())
}

#[test]
fn a_new_breaker_is_closed_and_lets_calls_through() {
    let (mut breaker, t0) = breaker(3, 1);
    assert_eq!(breaker.state(), State::Closed);
    for i in 0..10 {
        call(&mut breaker, t0 + i * MS, Outcome::Success);
    }
    assert_eq!(breaker.state(), State::Closed, "successes keep it closed");
}

#[test]
fn consecutive_failures_open_it_at_the_threshold() {
    let (mut breaker, t0) = breaker(3, 1);
    call(&mut breaker, t0, Outcome::Failure);
    call(&mut breaker, t0, Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "2 failures of 3: still closed"
    );
    call(&mut breaker, t0, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open, "the third failure opens it");
    assert_eq!(
        verdict(breaker.acquire(t0)),
        open_for(OPEN_FOR),
        "open: refused, with the whole of open_for to wait"
    );
}

#[test]
fn a_success_resets_the_failure_count() {
    let (mut breaker, t0) = breaker(3, 1);
    call(&mut breaker, t0, Outcome::Failure);
    call(&mut breaker, t0, Outcome::Failure);
    call(&mut breaker, t0, Outcome::Success);
    call(&mut breaker, t0, Outcome::Failure);
    call(&mut breaker, t0, Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "failures are counted since the last success: 2, not 4"
    );
    call(&mut breaker, t0, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open, "the third in a row opens it");
}

#[test]
fn open_refuses_with_the_exact_time_left_then_admits_a_trial() {
    let (mut breaker, t0) = breaker(1, 1);
    let permit = breaker.acquire(t0).expect("closed");
    // The call took 5 ms: the breaker opens when its failure is recorded, not when it began.
    let opened = t0 + 5 * MS;
    breaker.record(permit, Outcome::Failure, opened);
    assert_eq!(
        verdict(breaker.acquire(opened + 300 * MS)),
        open_for(700 * MS)
    );
    assert_eq!(verdict(breaker.acquire(opened + 999 * MS)), open_for(MS));
    assert_eq!(
        breaker.state(),
        State::Open,
        "refusals change nothing, and open stays open until a call comes in time"
    );
    assert!(
        breaker.acquire(opened + OPEN_FOR).is_ok(),
        "exactly open_for after opening, the first trial goes"
    );
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn open_stays_open_until_asked() {
    let (mut breaker, t0) = breaker(1, 1);
    trip(&mut breaker, t0);
    // Nothing calls for an hour: the breaker does not change by itself...
    assert_eq!(breaker.state(), State::Open);
    // ...and the first call after it is the trial.
    assert!(breaker.acquire(t0 + Duration::from_secs(3600)).is_ok());
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn half_open_admits_its_trials_and_no_more() {
    let (mut breaker, t0) = breaker(1, 2);
    trip(&mut breaker, t0);
    let later = t0 + OPEN_FOR;
    let first = breaker.acquire(later).expect("the first trial");
    let second = breaker.acquire(later).expect("the second trial");
    assert_eq!(
        verdict(breaker.acquire(later)),
        Err(Rejected::TrialsInFlight),
        "both trials are out: a third call is refused"
    );
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker.record(first, Outcome::Success, later);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "one trial of two has succeeded: not closed yet"
    );
    assert_eq!(
        verdict(breaker.acquire(later)),
        Err(Rejected::TrialsInFlight),
        "a trial that came back does not make room for another: 2 trials in all"
    );
    breaker.record(second, Outcome::Success, later);
    assert_eq!(breaker.state(), State::Closed, "every trial succeeded");
}

#[test]
fn closing_starts_a_clean_count() {
    let (mut breaker, t0) = breaker(2, 1);
    call(&mut breaker, t0, Outcome::Failure);
    call(&mut breaker, t0, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
    let later = t0 + OPEN_FOR;
    call(&mut breaker, later, Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
    call(&mut breaker, later, Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the failures before the opening are forgotten: 1 of 2"
    );
    call(&mut breaker, later, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_failed_trial_opens_it_again_with_the_full_wait() {
    let (mut breaker, t0) = breaker(1, 3);
    trip(&mut breaker, t0);
    let trial_starts = t0 + OPEN_FOR + 10 * MS;
    let first = breaker.acquire(trial_starts).expect("a trial");
    let second = breaker.acquire(trial_starts).expect("a trial");
    breaker.record(first, Outcome::Success, trial_starts);
    let failed_at = trial_starts + 40 * MS;
    breaker.record(second, Outcome::Failure, failed_at);
    assert_eq!(breaker.state(), State::Open, "one failed trial is enough");
    assert_eq!(
        verdict(breaker.acquire(failed_at)),
        open_for(OPEN_FOR),
        "the timer restarts at the failure"
    );
    assert_eq!(
        verdict(breaker.acquire(failed_at + OPEN_FOR - MS)),
        open_for(MS)
    );
    assert!(breaker.acquire(failed_at + OPEN_FOR).is_ok());
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn a_huge_open_for_does_not_overflow() {
    let mut breaker = CircuitBreaker::new(config(1, Duration::MAX, 1));
    let t0 = Instant::now();
    trip(&mut breaker, t0);
    let hour = Duration::from_secs(3600);
    assert_eq!(
        verdict(breaker.acquire(t0 + hour)),
        open_for(Duration::MAX - hour),
        "no Instant + Duration that overflows: an hour of forever has passed"
    );
}

#[test]
fn a_zero_open_for_lets_the_next_call_be_a_trial() {
    let mut breaker = CircuitBreaker::new(config(1, Duration::ZERO, 1));
    let t0 = Instant::now();
    trip(&mut breaker, t0);
    assert!(breaker.acquire(t0).is_ok());
    assert_eq!(breaker.state(), State::HalfOpen);
}

// ---- Outcomes that arrive late: a permit from before the last change of state ----

#[test]
fn a_slow_success_from_before_the_opening_does_not_close_it() {
    let (mut breaker, t0) = breaker(1, 1);
    let slow = breaker.acquire(t0).expect("closed");
    trip(&mut breaker, t0);
    breaker.record(slow, Outcome::Success, t0 + 10 * MS);
    assert_eq!(
        breaker.state(),
        State::Open,
        "a call from before proves nothing now"
    );
    assert_eq!(
        verdict(breaker.acquire(t0 + 10 * MS)),
        open_for(OPEN_FOR - 10 * MS)
    );
}

#[test]
fn a_slow_failure_from_before_the_opening_does_not_restart_the_timer() {
    let (mut breaker, t0) = breaker(1, 1);
    let slow = breaker.acquire(t0).expect("closed");
    trip(&mut breaker, t0);
    breaker.record(slow, Outcome::Failure, t0 + 500 * MS);
    assert_eq!(
        verdict(breaker.acquire(t0 + 600 * MS)),
        open_for(400 * MS),
        "the breaker opened at t0, and that is still when it reopens"
    );
    assert!(breaker.acquire(t0 + OPEN_FOR).is_ok());
}

#[test]
fn a_slow_outcome_is_not_a_trial_and_frees_no_place() {
    let (mut breaker, t0) = breaker(1, 1);
    let slow_success = breaker.acquire(t0).expect("closed");
    let slow_failure = breaker.acquire(t0).expect("closed");
    trip(&mut breaker, t0);
    let later = t0 + OPEN_FOR;
    let trial = breaker.acquire(later).expect("the trial");

    breaker.record(slow_success, Outcome::Success, later);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a success from before the opening is not the trial's"
    );
    assert_eq!(
        verdict(breaker.acquire(later)),
        Err(Rejected::TrialsInFlight),
        "and it does not free the trial's place"
    );
    breaker.record(slow_failure, Outcome::Failure, later);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a failure from before the opening does not reopen it"
    );
    breaker.record(trial, Outcome::Success, later);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the trial's own outcome counts"
    );
}

#[test]
fn a_trial_of_an_earlier_half_open_period_does_not_count() {
    let (mut breaker, t0) = breaker(1, 2);
    trip(&mut breaker, t0);
    let first_period = t0 + OPEN_FOR;
    let failing = breaker.acquire(first_period).expect("a trial");
    let straggler = breaker.acquire(first_period).expect("a trial");
    breaker.record(failing, Outcome::Failure, first_period);
    assert_eq!(breaker.state(), State::Open);

    let second_period = first_period + OPEN_FOR;
    let a = breaker.acquire(second_period).expect("a trial");
    let b = breaker.acquire(second_period).expect("a trial");
    breaker.record(straggler, Outcome::Success, second_period);
    breaker.record(a, Outcome::Success, second_period);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "one trial of this period has succeeded, not two"
    );
    breaker.record(b, Outcome::Success, second_period);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_permit_from_an_earlier_closed_period_is_ignored() {
    let (mut breaker, t0) = breaker(1, 1);
    let ancient = breaker.acquire(t0).expect("closed");
    trip(&mut breaker, t0);
    call(&mut breaker, t0 + OPEN_FOR, Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
    breaker.record(ancient, Outcome::Failure, t0 + OPEN_FOR);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "closed again, but not the same closed period: its failure is ignored"
    );
}

// ---- Property tests ----

/// One step of a random run: a call asks to go out, an outstanding call reports, or time
/// passes.
#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Record {
        which: prop::sample::Index,
        failed: bool,
    },
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        4 => (any::<prop::sample::Index>(), prop::bool::weighted(0.6))
            .prop_map(|(which, failed)| Op::Record { which, failed }),
        2 => prop_oneof![0u64..50, 0u64..2_500].prop_map(Op::Wait),
    ]
}

fn any_config() -> impl Strategy<Value = BreakerConfig> {
    (1u32..4, prop_oneof![Just(0u64), 1u64..2_000], 1u32..4).prop_map(
        |(threshold, open_ms, trials)| config(threshold, Duration::from_millis(open_ms), trials),
    )
}

/// The rules, written as plainly as possible: times in milliseconds since the start, the
/// period of each permit tracked beside it.
#[derive(Debug)]
struct Model {
    threshold: u32,
    open_ms: u64,
    trials: u32,
    state: State,
    period: u32,
    failures: u32,
    opened_at: u64,
    admitted: u32,
    succeeded: u32,
}

impl Model {
    fn new(config: &BreakerConfig) -> Self {
        Model {
            threshold: config.failure_threshold.get(),
            open_ms: u64::try_from(config.open_for.as_millis()).expect("small"),
            trials: config.half_open_trials.get(),
            state: State::Closed,
            period: 0,
            failures: 0,
            opened_at: 0,
            admitted: 0,
            succeeded: 0,
        }
    }

    fn become_(&mut self, state: State, now: u64) {
        self.state = state;
        self.period += 1;
        self.failures = 0;
        self.admitted = 0;
        self.succeeded = 0;
        self.opened_at = now;
    }

    /// `Ok(period of the permit)` or the refusal.
    fn acquire(&mut self, now: u64) -> Result<u32, Rejected> {
        if self.state == State::Open {
            let reopens = self.opened_at + self.open_ms;
            if now < reopens {
                return Err(Rejected::Open {
                    retry_after: Duration::from_millis(reopens - now),
                });
            }
            self.become_(State::HalfOpen, now);
        }
        if self.state == State::HalfOpen {
            if self.admitted == self.trials {
                return Err(Rejected::TrialsInFlight);
            }
            self.admitted += 1;
        }
        Ok(self.period)
    }

    fn record(&mut self, period: u32, failed: bool, now: u64) {
        if period != self.period {
            return;
        }
        match (self.state, failed) {
            (State::Closed, false) => self.failures = 0,
            (State::Closed, true) => {
                self.failures += 1;
                if self.failures == self.threshold {
                    self.become_(State::Open, now);
                }
            }
            (State::HalfOpen, false) => {
                self.succeeded += 1;
                if self.succeeded == self.trials {
                    self.become_(State::Closed, now);
                }
            }
            (State::HalfOpen, true) => self.become_(State::Open, now),
            (State::Open, _) => unreachable!("the model issues no permit while open"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every answer and every state, step by step, is the model's.
    #[test]
    fn the_breaker_follows_the_model(
        config in any_config(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(config);
        let mut model = Model::new(&config);
        let mut outstanding: Vec<(Permit, u32)> = Vec::new();
        let mut now = 0u64;
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Acquire => {
                    let got = breaker.acquire(t0 + Duration::from_millis(now));
                    let want = model.acquire(now);
                    match (got, want) {
                        (Ok(permit), Ok(period)) => outstanding.push((permit, period)),
                        (Err(got), Err(want)) => prop_assert_eq!(got, want, "step {}", step),
                        (got, want) => prop_assert!(
                            false,
                            "step {}: acquire at {} ms answered {:?}, the rules say {:?}",
                            step, now, got.map(|_| ()), want.map(|_| ())
                        ),
                    }
                }
                Op::Record { which, failed } => {
                    if outstanding.is_empty() {
                        continue;
                    }
                    let (permit, period) = outstanding.swap_remove(which.index(outstanding.len()));
                    let outcome = if *failed { Outcome::Failure } else { Outcome::Success };
                    breaker.record(permit, outcome, t0 + Duration::from_millis(now));
                    model.record(period, *failed, now);
                }
                Op::Wait(ms) => now += ms,
            }
            prop_assert_eq!(breaker.state(), model.state, "state after step {} ({:?})", step, op);
        }
    }

    /// Whatever happens: a closed breaker lets every call through, an open one admits nothing
    /// before `open_for` has passed since it opened and names exactly when it will, and a
    /// half-open one admits at most `half_open_trials` calls.
    #[test]
    fn the_breaker_keeps_its_promises(
        config in any_config(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(config);
        let mut outstanding: Vec<Permit> = Vec::new();
        let mut now = t0;
        let mut opened_at = None;
        let mut trials_admitted = 0;
        for op in &ops {
            let before = breaker.state();
            match op {
                Op::Acquire => {
                    let result = breaker.acquire(now);
                    match before {
                        State::Closed => prop_assert!(result.is_ok(), "closed refused a call"),
                        State::Open => {
                            let opened: Instant = opened_at.expect("seen opening");
                            let reopens = opened + config.open_for;
                            match &result {
                                Ok(_) => prop_assert!(now >= reopens, "admitted before its time"),
                                Err(Rejected::Open { retry_after }) => {
                                    prop_assert!(now < reopens, "refused after its time");
                                    prop_assert_eq!(now + *retry_after, reopens);
                                }
                                Err(other) => prop_assert!(false, "open answered {:?}", other),
                            }
                        }
                        State::HalfOpen => {}
                    }
                    if let Ok(permit) = result {
                        if breaker.state() == State::HalfOpen {
                            trials_admitted += 1;
                            prop_assert!(
                                trials_admitted <= config.half_open_trials.get(),
                                "{} trials admitted, at most {} allowed",
                                trials_admitted,
                                config.half_open_trials
                            );
                        }
                        outstanding.push(permit);
                    }
                }
                Op::Record { which, failed } => {
                    if outstanding.is_empty() {
                        continue;
                    }
                    let permit = outstanding.swap_remove(which.index(outstanding.len()));
                    let outcome = if *failed { Outcome::Failure } else { Outcome::Success };
                    breaker.record(permit, outcome, now);
                }
                Op::Wait(ms) => now += Duration::from_millis(*ms),
            }
            let after = breaker.state();
            if after == State::Open && before != State::Open {
                opened_at = Some(now);
            }
            if after != State::HalfOpen {
                trials_admitted = 0;
            }
        }
    }
}
