//! Exercise 10, reference solution: retry routing from a dead-letter history, an idempotent
//! consumer with a bounded window of ids, and an outbox relay that keeps per-key order.
//!
//! Read it after you have tried (the hints come first: `cargo xtask hint 10 a`). The same tests
//! run against it: `cargo test -p exercise-10-solution`.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Part (a): retry routing
// ---------------------------------------------------------------------------------------------

// ANCHOR: attempts
/// The failed attempts so far: the sum of the counts of `history`'s entries for `queue` with
/// reason `"rejected"`.
pub fn attempts(history: &[Death], queue: &str) -> u32 {
    history
        .iter()
        .filter(|death| death.queue == queue && death.reason == "rejected")
        // A count that does not fit (negative, or beyond u32) is not trusted: read as "as many
        // as can be", so the message is parked rather than retried forever.
        .map(|death| u32::try_from(death.count).unwrap_or(u32::MAX))
        .fold(0, u32::saturating_add)
}
// ANCHOR_END: attempts

// ANCHOR: route
/// Where a delivery goes, given what its handler made of it and how many attempts failed
/// before this one.
pub fn route(outcome: &Outcome, attempts_so_far: u32, policy: &RetryPolicy) -> Route {
    match outcome {
        Outcome::Success => Route::Ack,
        Outcome::Poison { reason } => Route::DeadLetter {
            reason: DeadReason::Poison {
                reason: reason.clone(),
            },
        },
        Outcome::Failed { .. } => {
            let attempts = attempts_so_far.saturating_add(1);
            if attempts >= policy.max_attempts {
                Route::DeadLetter {
                    reason: DeadReason::Exhausted { attempts },
                }
            } else {
                Route::Retry {
                    after: delay(attempts_so_far, policy),
                }
            }
        }
    }
}

/// `base_delay * 2^retries_before`, capped at `max_delay`; too large to compute means capped.
fn delay(retries_before: u32, policy: &RetryPolicy) -> Duration {
    1u32.checked_shl(retries_before)
        .and_then(|factor| policy.base_delay.checked_mul(factor))
        .map_or(policy.max_delay, |delay| delay.min(policy.max_delay))
}
// ANCHOR_END: route

// ---------------------------------------------------------------------------------------------
// Part (b): the idempotent consumer
// ---------------------------------------------------------------------------------------------

// ANCHOR: window
/// The last `capacity` processed ids, in memory: a [`ProcessedStore`] that forgets the oldest
/// id first when a new one needs room.
#[derive(Debug, Clone)]
pub struct Window {
    capacity: NonZeroUsize,
    /// Oldest first.
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Window {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Window {
            capacity,
            order: VecDeque::new(),
            ids: HashSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl ProcessedStore for Window {
    fn is_processed(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn mark_processed(&mut self, id: &str) {
        if self.ids.contains(id) {
            return;
        }
        if self.order.len() >= self.capacity.get()
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.ids.insert(id.to_owned());
    }
}
// ANCHOR_END: window

// ANCHOR: dedup
/// A consumer's guard against redeliveries: runs each event id's effect once.
#[derive(Debug)]
pub struct Dedup<S> {
    store: S,
}

impl<S: ProcessedStore> Dedup<S> {
    pub fn new(store: S) -> Self {
        Dedup { store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs `effect` unless `id` was processed; marks `id` only once the effect succeeded.
    pub fn handle<T, E>(
        &mut self,
        id: &str,
        effect: impl FnOnce() -> Result<T, E>,
    ) -> Result<Handled<T>, E> {
        if self.store.is_processed(id) {
            return Ok(Handled::Duplicate);
        }
        let value = effect()?;
        self.store.mark_processed(id);
        Ok(Handled::Ran(value))
    }
}
// ANCHOR_END: dedup

// ---------------------------------------------------------------------------------------------
// Part (c): the outbox relay
// ---------------------------------------------------------------------------------------------

// ANCHOR: relay
/// One pass of the relay over the pending rows of `outbox`, in id order.
pub fn relay_pass(outbox: &mut Outbox, broker: &mut ScriptedBroker) -> RelayReport {
    let mut report = RelayReport::default();
    // Keys with a row that failed in this pass: their later rows wait for the next pass.
    let mut blocked: HashSet<String> = HashSet::new();
    for row in outbox.pending() {
        if blocked.contains(&row.key) {
            report.held.push(row.id);
            continue;
        }
        match broker.publish(&row) {
            Confirm::Ack => {
                outbox.mark_sent(row.id);
                report.sent.push(row.id);
            }
            Confirm::Nack => {
                outbox.record_failure(row.id);
                report.failed.push(row.id);
                blocked.insert(row.key);
            }
            Confirm::Unreachable => {
                outbox.record_failure(row.id);
                report.failed.push(row.id);
                report.unreachable = true;
                break;
            }
        }
    }
    report
}
// ANCHOR_END: relay
