//! Exercise 10, message queuing: the three decisions a broker leaves to your code. Retry routing
//! decides, after each failed delivery, whether the message comes back later or is parked for a
//! person; the idempotent consumer makes a redelivered message harmless; the outbox relay moves
//! events from the database to the broker without losing one or reordering a key's events.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-10`
//! passes; run one part at a time with `cargo test -p exercise-10 part_a` (or `part_b`,
//! `part_c`). The brief is book chapter 10, section "Exercise", and the doc comments below.
//! Stuck? `cargo xtask hint 10 a` (or `b`, `c`) shows that part's hints one level at a time.
//!
//! Three parts, independent of each other:
//! - (a) [`attempts`] and [`route`]: read the attempt count from a message's dead-letter
//!   history, then ack, retry with exponential back-off, or dead-letter it.
//! - (b) [`Window`] and [`Dedup`]: a bounded memory of processed event ids, and a consumer
//!   that runs each event's effect once, however often the event is delivered.
//! - (c) [`relay_pass`]: one pass of a transactional-outbox relay over an in-memory outbox and
//!   a scripted broker.
//!
//! The given types ([`Outcome`], [`RetryPolicy`], [`Death`], [`Route`], [`ProcessedStore`],
//! [`Handled`], [`Outbox`], [`ScriptedBroker`], [`RelayReport`], ...) are in `src/given.rs`:
//! read it, it is part of the brief. Here, besides the `todo!()`s, the fields and constructors
//! are a starting point: replace the fields, add private types and helper functions as you
//! like; the tests use only the public API. Only `std` is needed. Nothing here talks to a real
//! broker: the lesson's code does that (lessons/10-message-queuing), and this is the logic it
//! rests on.

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

// The given code (the answers' types and the fakes): one file, shared with the reference
// solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::num::NonZeroUsize;

// ---------------------------------------------------------------------------------------------
// Part (a): retry routing
// ---------------------------------------------------------------------------------------------

// ANCHOR: attempts
/// How many attempts at this message have failed so far, read from its dead-letter history
/// (RabbitMQ's `x-death` header, see [`Death`]).
///
/// A failed attempt is a rejection by the consumer of `queue`: count the entries whose `queue`
/// is `queue` and whose `reason` is `"rejected"`, and add up their counts. Entries of other
/// queues (the delay queue's `"expired"` entry, another consumer's queue) are not attempts.
///
/// The header comes from outside, so the answer must never be smaller than the truth, or a
/// message would be retried forever: a count that does not fit a `u32` (negative, or larger
/// than `u32::MAX`) is read as `u32::MAX`, and a sum that would overflow stays at `u32::MAX`.
/// No panic, whatever the history.
pub fn attempts(history: &[Death], queue: &str) -> u32 {
    todo!("exercise 10, part a, attempts: see book chapter 10, Exercise")
}
// ANCHOR_END: attempts

// ANCHOR: route
/// Where a delivery goes after its handler answered `outcome`, when `attempts_so_far`
/// attempts failed before this one (what [`attempts`] read).
///
/// - On [`Outcome::Success`]: [`Route::Ack`].
/// - On [`Outcome::Poison`]: straight to [`Route::DeadLetter`] with [`DeadReason::Poison`] and
///   the handler's reason, however many attempts are left: no retry can fix it.
/// - On [`Outcome::Failed`]: this attempt is number `attempts_so_far + 1` (saturating). If that
///   reaches `policy.max_attempts`, [`Route::DeadLetter`] with [`DeadReason::Exhausted`] and
///   that number. Otherwise [`Route::Retry`] after `base_delay * 2^attempts_so_far` (the first
///   retry waits `base_delay`, the next twice that, ...), but never longer than `max_delay`.
///   A wait too large to compute is `max_delay`, not a panic.
pub fn route(outcome: &Outcome, attempts_so_far: u32, policy: &RetryPolicy) -> Route {
    todo!("exercise 10, part a, route: see book chapter 10, Exercise")
}
// ANCHOR_END: route

// ---------------------------------------------------------------------------------------------
// Part (b): the idempotent consumer
// ---------------------------------------------------------------------------------------------

// ANCHOR: window
/// The last `capacity` processed ids, in memory: a [`ProcessedStore`] with a bounded memory.
///
/// Marking a new id when `capacity` ids are held first forgets the id marked longest ago (the
/// oldest first, whatever was asked since: asking is not marking). Marking an id already held
/// changes nothing, its place in the order included. Both operations should be O(1).
///
/// The window is the consumer's honest limit: a duplicate that arrives after its id was forgotten
/// runs again, so the capacity must cover the longest time a redelivery can take.
#[derive(Debug, Clone)]
pub struct Window {
    capacity: NonZeroUsize,
}

impl Window {
    /// An empty window that remembers up to `capacity` ids.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Window { capacity }
    }

    /// How many ids it holds, never more than the capacity.
    pub fn len(&self) -> usize {
        todo!("exercise 10, part b, Window::len: see book chapter 10, Exercise")
    }

    /// Whether it holds no id.
    pub fn is_empty(&self) -> bool {
        todo!("exercise 10, part b, Window::is_empty: see book chapter 10, Exercise")
    }
}

impl ProcessedStore for Window {
    fn is_processed(&self, id: &str) -> bool {
        todo!("exercise 10, part b, Window::is_processed: see book chapter 10, Exercise")
    }

    fn mark_processed(&mut self, id: &str) {
        todo!("exercise 10, part b, Window::mark_processed: see book chapter 10, Exercise")
    }
}
// ANCHOR_END: window

// ANCHOR: dedup
/// A consumer's guard against redeliveries over any [`ProcessedStore`]: each event id's effect
/// runs once.
#[derive(Debug)]
pub struct Dedup<S> {
    store: S,
}

impl<S: ProcessedStore> Dedup<S> {
    pub fn new(store: S) -> Self {
        Dedup { store }
    }

    /// The store, to look at what it holds.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one delivery of event `id`.
    ///
    /// - `id` already processed: [`Handled::Duplicate`], and `effect` is not called.
    /// - Otherwise `effect` runs once. `Ok(value)`: `id` is marked processed, and the answer is
    ///   [`Handled::Ran`] with the value. `Err(e)`: `id` is *not* marked, so a redelivery runs
    ///   the effect again, and the answer is `Err(e)` (the consumer then rejects the message).
    pub fn handle<T, E>(
        &mut self,
        id: &str,
        effect: impl FnOnce() -> Result<T, E>,
    ) -> Result<Handled<T>, E> {
        todo!("exercise 10, part b, Dedup::handle: see book chapter 10, Exercise")
    }
}
// ANCHOR_END: dedup

// ---------------------------------------------------------------------------------------------
// Part (c): the outbox relay
// ---------------------------------------------------------------------------------------------

// ANCHOR: relay
/// One pass of the relay: publishes `outbox`'s pending rows to `broker`, in id order, and
/// reports what happened in a [`RelayReport`].
///
/// - Only pending rows are published ([`Outbox::pending`]): a row marked sent never goes out
///   again.
/// - On [`Confirm::Ack`]: mark the row sent ([`Outbox::mark_sent`]).
/// - On [`Confirm::Nack`]: the row stays pending with one failure more
///   ([`Outbox::record_failure`]), and the later rows *of the same key* are held back for this
///   pass (not published, their attempts unchanged): publishing them would put a key's events
///   out of order. Rows of other keys go on as usual.
/// - On [`Confirm::Unreachable`]: a failure of the row too, and the pass stops at once:
///   `unreachable` is `true`, and no later row is published or held.
pub fn relay_pass(outbox: &mut Outbox, broker: &mut ScriptedBroker) -> RelayReport {
    todo!("exercise 10, part c, relay_pass: see book chapter 10, Exercise")
}
// ANCHOR_END: relay
