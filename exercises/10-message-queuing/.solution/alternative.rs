//! Exercise 10, a second correct solution, written differently on purpose: `cargo xtask verify`
//! runs every test against it too, so that no test accepts only the reference's way.
//!
//! The attempt count is a loop with checked arithmetic; the back-off doubles step by step until
//! it reaches the cap instead of computing a power; the window is one `VecDeque` searched
//! linearly (O(capacity), fine for a small window); the relay walks the pending rows by index
//! and remembers failed keys in a `Vec`.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Part (a): retry routing
// ---------------------------------------------------------------------------------------------

pub fn attempts(history: &[Death], queue: &str) -> u32 {
    let mut total: u32 = 0;
    for death in history {
        if death.queue != queue || death.reason != "rejected" {
            continue;
        }
        // Out of range (negative, or beyond u32): the history cannot be trusted, so the
        // message counts as having used every attempt.
        let Ok(count) = u32::try_from(death.count) else {
            return u32::MAX;
        };
        total = match total.checked_add(count) {
            Some(sum) => sum,
            None => return u32::MAX,
        };
    }
    total
}

pub fn route(outcome: &Outcome, attempts_so_far: u32, policy: &RetryPolicy) -> Route {
    match outcome {
        Outcome::Success => return Route::Ack,
        Outcome::Poison { reason } => {
            let reason = DeadReason::Poison {
                reason: reason.to_string(),
            };
            return Route::DeadLetter { reason };
        }
        Outcome::Failed { .. } => {}
    }
    let allowed = policy.max_attempts.max(1);
    let this_attempt = attempts_so_far.checked_add(1).unwrap_or(u32::MAX);
    if this_attempt < allowed {
        Route::Retry {
            after: backoff(attempts_so_far, policy.base_delay, policy.max_delay),
        }
    } else {
        Route::DeadLetter {
            reason: DeadReason::Exhausted {
                attempts: this_attempt,
            },
        }
    }
}

/// Doubles `base` `doublings` times, stopping as soon as it reaches `cap` (so at most a few
/// dozen steps, however large `doublings` is).
fn backoff(doublings: u32, base: Duration, cap: Duration) -> Duration {
    let mut wait = base.min(cap);
    let mut left = doublings;
    while left > 0 && wait < cap {
        if wait.is_zero() {
            return wait;
        }
        wait = wait.saturating_add(wait).min(cap);
        left -= 1;
    }
    wait
}

// ---------------------------------------------------------------------------------------------
// Part (b): the idempotent consumer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Window {
    capacity: NonZeroUsize,
    /// Newest at the front.
    ids: VecDeque<String>,
}

impl Window {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Window {
            capacity,
            ids: VecDeque::with_capacity(capacity.get()),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ProcessedStore for Window {
    fn is_processed(&self, id: &str) -> bool {
        self.ids.iter().any(|held| held == id)
    }

    fn mark_processed(&mut self, id: &str) {
        if !self.is_processed(id) {
            self.ids.push_front(id.to_owned());
            self.ids.truncate(self.capacity.get());
        }
    }
}

#[derive(Debug)]
pub struct Dedup<S> {
    store: S,
}

impl<S: ProcessedStore> Dedup<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn handle<T, E>(
        &mut self,
        id: &str,
        effect: impl FnOnce() -> Result<T, E>,
    ) -> Result<Handled<T>, E> {
        match self.store.is_processed(id) {
            true => Ok(Handled::Duplicate),
            false => match effect() {
                Ok(value) => {
                    self.store.mark_processed(id);
                    Ok(Handled::Ran(value))
                }
                Err(error) => Err(error),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Part (c): the outbox relay
// ---------------------------------------------------------------------------------------------

pub fn relay_pass(outbox: &mut Outbox, broker: &mut ScriptedBroker) -> RelayReport {
    let pending = outbox.pending();
    let mut failed_keys: Vec<&str> = Vec::new();
    let (mut sent, mut failed, mut held) = (Vec::new(), Vec::new(), Vec::new());
    let mut unreachable = false;
    let mut next = 0;
    while next < pending.len() && !unreachable {
        let row = &pending[next];
        next += 1;
        if failed_keys.contains(&row.key.as_str()) {
            held.push(row.id);
            continue;
        }
        let confirm = broker.publish(row);
        if confirm == Confirm::Ack {
            outbox.mark_sent(row.id);
            sent.push(row.id);
            continue;
        }
        outbox.record_failure(row.id);
        failed.push(row.id);
        failed_keys.push(&row.key);
        unreachable = confirm == Confirm::Unreachable;
    }
    RelayReport {
        sent,
        failed,
        held,
        unreachable,
    }
}
