//! The circuit breaker: closed, open, half-open.
//!
//! The same state machine as exercise 08's (same configuration and rules), made shareable:
//! one breaker per dependency, behind a `std::sync::Mutex` (held for a few instructions, never
//! across an `.await`), on tokio's clock.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tokio::time::Instant;

// ANCHOR: breaker_types
/// The knobs of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures, while closed, that open the breaker.
    pub failure_threshold: NonZeroU32,
    /// How long the breaker stays open before it lets a trial call through.
    pub open_for: Duration,
    /// Trial calls the half-open breaker admits; all of them must succeed for it to close.
    pub half_open_trials: NonZeroU32,
}

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

/// How a call that was let through went, as far as the dependency's health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failure,
}

/// Why the breaker refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Rejected {
    /// Open: the first trial call will be let through `retry_after` from now.
    #[error("circuit open: retry after {retry_after:?}")]
    Open { retry_after: Duration },
    /// Half-open, and every trial call it admits is already out.
    #[error("circuit half-open: every trial call is in flight")]
    TrialsInFlight,
}
// ANCHOR_END: breaker_types

/// What the breaker knows in each state.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed {
        failures: u32,
    },
    Open {
        since: Instant,
    },
    /// `admitted` counts the trials let out (a dropped permit gives its slot back), `succeeded`
    /// those that came back well.
    HalfOpen {
        admitted: u32,
        succeeded: u32,
    },
}

impl Phase {
    const CLOSED: Phase = Phase::Closed { failures: 0 };
    const TRIALS: Phase = Phase::HalfOpen {
        admitted: 0,
        succeeded: 0,
    };

    fn opened() -> Phase {
        Phase::Open {
            since: Instant::now(),
        }
    }

    fn state(self) -> State {
        match self {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

#[derive(Debug)]
struct Machine {
    phase: Phase,
    /// Bumped on every change of state. A permit carries the generation that issued it, so an
    /// outcome that arrives after the breaker moved on (a slow call let out while closed,
    /// answering once the breaker is half-open) is recognised as news about the past and
    /// ignored, instead of being counted as a trial.
    generation: u64,
}

/// Counts one more (a failure while closed, a success while half-open); at `limit` the breaker
/// moves on, to `then`.
fn tally(count: &mut u32, limit: u32, then: Phase) -> Option<Phase> {
    *count += 1;
    (*count >= limit).then_some(then)
}

/// Everything a breaker and its outstanding permits share: a permit needs its breaker when it
/// is dropped, so both hold an `Arc` of this.
#[derive(Debug)]
struct Shared {
    name: &'static str,
    config: BreakerConfig,
    // A std Mutex rather than tokio's: every critical section is a few comparisons and never
    // awaits, so an async lock would only add cost (the reasoning of mini-redis's `db.rs`).
    machine: Mutex<Machine>,
    changes: watch::Sender<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Machine> {
        // Every update leaves the machine consistent before anything can panic, so a poisoned
        // lock still guards a valid state.
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `failure_threshold` and `half_open_trials`, as plain numbers.
    fn limits(&self) -> (u32, u32) {
        let config = self.config;
        (
            config.failure_threshold.get(),
            config.half_open_trials.get(),
        )
    }

    /// Puts the machine in `phase`, under the lock; a change of state starts a new generation.
    /// Transitions are rare (a handful per outage), so logging and notifying here costs
    /// nothing on the hot path, and keeps the log and the watch channel in the order the
    /// transitions happened.
    fn set(&self, machine: &mut Machine, phase: Phase) {
        let (from, to) = (machine.phase.state(), phase.state());
        machine.phase = phase;
        if from == to {
            return;
        }
        machine.generation += 1;
        if to == State::Open {
            tracing::warn!(breaker = self.name, ?from, ?to, "circuit breaker opened");
        } else {
            tracing::info!(breaker = self.name, ?from, ?to, "circuit breaker moved");
        }
        // `send_replace` stores the state even when nobody subscribes yet.
        self.changes.send_replace(to);
    }
}

/// A breaker shared by every caller of one dependency.
#[derive(Debug)]
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

/// The right to make one call; give it back with [`CircuitBreaker::record`]. A permit dropped
/// without a record (the caller was cancelled) counts neither way, but frees its half-open
/// trial slot.
#[derive(Debug)]
#[must_use = "record how the call went"]
pub struct Permit {
    shared: Arc<Shared>,
    generation: u64,
    recorded: bool,
}

impl Permit {
    fn issue(shared: &Arc<Shared>, generation: u64) -> Self {
        Permit {
            shared: Arc::clone(shared),
            generation,
            recorded: false,
        }
    }

    /// Marks the permit as recorded by `shared`, if it is one of its own; true when its outcome
    /// counts (issued by `shared` in its `current` generation). A permit of another breaker
    /// stays unrecorded, so that its drop frees its slot where it was issued.
    fn settle(&mut self, shared: &Arc<Shared>, current: u64) -> bool {
        self.recorded = Arc::ptr_eq(shared, &self.shared);
        self.recorded && self.generation == current
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        let mut machine = self.shared.lock();
        if machine.generation != self.generation {
            return;
        }
        if let Phase::HalfOpen { admitted, .. } = &mut machine.phase {
            *admitted = admitted.saturating_sub(1);
        }
    }
}

impl CircuitBreaker {
    /// `name` appears in the breaker's log events (`breaker = name`, `from`, `to`).
    pub fn new(name: &'static str, config: BreakerConfig) -> Self {
        let (changes, _) = watch::channel(State::Closed);
        CircuitBreaker {
            shared: Arc::new(Shared {
                name,
                config,
                machine: Mutex::new(Machine {
                    phase: Phase::Closed { failures: 0 },
                    generation: 0,
                }),
                changes,
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        self.shared.name
    }

    pub fn config(&self) -> BreakerConfig {
        self.shared.config
    }

    /// The state now (an open breaker whose time is up reads `Open` until the next `acquire`).
    pub fn state(&self) -> State {
        self.shared.lock().phase.state()
    }

    /// Every change of state, for a demo or a metric: the receiver sees the latest state.
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.shared.changes.subscribe()
    }

    // ANCHOR: breaker_acquire
    /// Asks to make a call now.
    pub fn acquire(&self) -> Result<Permit, Rejected> {
        let mut machine = self.shared.lock();
        if let Phase::Open { since } = machine.phase {
            let retry_after = self.shared.config.open_for.saturating_sub(since.elapsed());
            if !retry_after.is_zero() {
                return Err(Rejected::Open { retry_after });
            }
            self.shared.set(&mut machine, Phase::TRIALS);
        }
        if let Phase::HalfOpen { admitted, .. } = &mut machine.phase {
            if *admitted >= self.shared.config.half_open_trials.get() {
                return Err(Rejected::TrialsInFlight);
            }
            *admitted += 1;
        }
        Ok(Permit::issue(&self.shared, machine.generation))
    }

    /// Records how the call of `permit` went; news from an earlier generation changes nothing.
    pub fn record(&self, mut permit: Permit, outcome: Outcome) {
        use Outcome::{Failure, Success};
        let mut machine = self.shared.lock();
        if !permit.settle(&self.shared, machine.generation) {
            return;
        }
        let (threshold, trials) = self.shared.limits();
        let next = match (&mut machine.phase, outcome) {
            (Phase::Closed { .. }, Success) => Some(Phase::CLOSED),
            (Phase::Closed { failures }, Failure) => tally(failures, threshold, Phase::opened()),
            (Phase::HalfOpen { succeeded, .. }, Success) => tally(succeeded, trials, Phase::CLOSED),
            (Phase::HalfOpen { .. }, Failure) => Some(Phase::opened()),
            // The open breaker issues no permits, so none can be of its generation.
            (Phase::Open { .. }, _) => None,
        };
        if let Some(next) = next {
            self.shared.set(&mut machine, next);
        }
    }
    // ANCHOR_END: breaker_acquire
}
