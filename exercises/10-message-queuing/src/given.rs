//! The given code of exercise 10: the types the three parts answer with, and the in-memory
//! fakes part (c) runs against. Read it, it is part of the brief; you do not need to change it
//! (the reference solution includes this same file).

use std::collections::VecDeque;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Part (a): retry routing
// ---------------------------------------------------------------------------------------------

// ANCHOR: outcome
/// What the handler made of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled: the message can be acknowledged.
    Success,
    /// A failure that may pass (a timeout, a service down): worth another attempt later.
    Failed { error: String },
    /// A message no attempt can ever handle (it does not parse, it names nothing that exists):
    /// retrying it only burns attempts and delays the messages behind it.
    Poison { reason: String },
}
// ANCHOR_END: outcome

// ANCHOR: policy
/// How often, and how patiently, a consumer retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included: 3 means one attempt and at most two retries.
    /// 0 is read as 1 (every message gets its first attempt, and no retry).
    pub max_attempts: u32,
    /// The wait before the first retry. Each later retry waits twice as long as the one before.
    pub base_delay: Duration,
    /// No wait is longer than this, however many attempts came before.
    pub max_delay: Duration,
}
// ANCHOR_END: policy

// ANCHOR: death
/// One entry of a message's dead-letter history, as RabbitMQ keeps it in the `x-death` header:
/// the broker adds one entry per (queue, reason) and counts how often it happened.
///
/// `count` is a signed 64-bit number because that is how it travels in AMQP (a `long-long-int`):
/// a header is input from the outside, and nothing stops it from being negative or far larger
/// than any real count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// The queue the message left.
    pub queue: String,
    /// Why: `"rejected"` (a consumer said no, without requeue), `"expired"` (its TTL ran out,
    /// as in a delay queue), `"maxlen"`, `"delivery_limit"`.
    pub reason: String,
    pub count: i64,
}

impl Death {
    pub fn new(queue: &str, reason: &str, count: i64) -> Self {
        Death {
            queue: queue.to_owned(),
            reason: reason.to_owned(),
            count,
        }
    }
}
// ANCHOR_END: death

// ANCHOR: route
/// Where a delivery goes after its handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Acknowledge it: done.
    Ack,
    /// Reject it into the delay queue: it comes back for another attempt `after` this long.
    Retry { after: Duration },
    /// Park it in the dead-letter queue, where a person looks at it.
    DeadLetter { reason: DeadReason },
}

/// Why a message was parked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadReason {
    /// The handler said it can never be handled.
    Poison { reason: String },
    /// It failed `attempts` times (this attempt included), and the policy allows no more.
    Exhausted { attempts: u32 },
}
// ANCHOR_END: route

// ---------------------------------------------------------------------------------------------
// Part (b): the idempotent consumer
// ---------------------------------------------------------------------------------------------

// ANCHOR: store
/// Remembers which event ids have been processed. In production this is a table with the event
/// id as its primary key, written in the same transaction as the effect; here it is any type
/// that can answer and record, such as the [`Window`](crate::Window) you write.
pub trait ProcessedStore {
    /// Whether `id` has been marked processed (and not forgotten since).
    fn is_processed(&self, id: &str) -> bool;
    /// Records `id` as processed.
    fn mark_processed(&mut self, id: &str);
}
// ANCHOR_END: store

// ANCHOR: handled
/// What [`Dedup::handle`](crate::Dedup::handle) did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled<T> {
    /// The id was new: the effect ran and answered this.
    Ran(T),
    /// The id was processed before: the effect did not run (a redelivery, a duplicate publish).
    Duplicate,
}
// ANCHOR_END: handled

// ---------------------------------------------------------------------------------------------
// Part (c): the outbox relay
// ---------------------------------------------------------------------------------------------

// ANCHOR: outbox
/// One row of the outbox table: an event written in the same transaction as the change it
/// describes, waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Increasing in the order the rows were written.
    pub id: u64,
    /// The ordering key (an order id, an account id): events of one key must be published in
    /// the order they were written; events of different keys need not.
    pub key: String,
    pub payload: String,
    /// How many publishes of this row have failed.
    pub attempts: u32,
    /// Published and confirmed: never to be published again.
    pub sent: bool,
}

/// An in-memory outbox table.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    rows: Vec<OutboxRow>,
}

impl Outbox {
    pub fn new() -> Self {
        Outbox::default()
    }

    /// Writes a new pending row and answers its id (1, 2, 3, ...).
    pub fn insert(&mut self, key: &str, payload: &str) -> u64 {
        let id = self.rows.last().map_or(1, |row| row.id.saturating_add(1));
        self.rows.push(OutboxRow {
            id,
            key: key.to_owned(),
            payload: payload.to_owned(),
            attempts: 0,
            sent: false,
        });
        id
    }

    /// Every row, sent or not, in id order.
    pub fn rows(&self) -> &[OutboxRow] {
        &self.rows
    }

    /// The rows not yet sent, in id order (what `SELECT ... WHERE NOT sent ORDER BY id` reads).
    pub fn pending(&self) -> Vec<OutboxRow> {
        self.rows.iter().filter(|row| !row.sent).cloned().collect()
    }

    pub fn row(&self, id: u64) -> Option<&OutboxRow> {
        self.rows.iter().find(|row| row.id == id)
    }

    /// Marks row `id` sent; `false` if there is no such row.
    pub fn mark_sent(&mut self, id: u64) -> bool {
        self.rows
            .iter_mut()
            .find(|row| row.id == id)
            .map(|row| row.sent = true)
            .is_some()
    }

    /// Counts one more failed publish of row `id`; `false` if there is no such row.
    pub fn record_failure(&mut self, id: u64) -> bool {
        self.rows
            .iter_mut()
            .find(|row| row.id == id)
            .map(|row| row.attempts = row.attempts.saturating_add(1))
            .is_some()
    }
}
// ANCHOR_END: outbox

// ANCHOR: broker
/// What the broker answered to one publish (with publisher confirms on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The broker has the message: the row may be marked sent.
    Ack,
    /// The broker refused this message (a full queue, an internal error); others may still go.
    Nack,
    /// No answer: the connection is gone. Nothing more can be published in this pass.
    Unreachable,
}

/// A fake broker that answers publishes from a script, in order, and then `Ack`s.
#[derive(Debug, Clone, Default)]
pub struct ScriptedBroker {
    script: VecDeque<Confirm>,
    published: Vec<u64>,
}

impl ScriptedBroker {
    /// A broker whose first publishes are answered by `script`, in order; every publish after
    /// that is acked.
    pub fn new(script: impl IntoIterator<Item = Confirm>) -> Self {
        ScriptedBroker {
            script: script.into_iter().collect(),
            published: Vec::new(),
        }
    }

    /// Publishes `row` and answers the next confirm of the script.
    pub fn publish(&mut self, row: &OutboxRow) -> Confirm {
        self.published.push(row.id);
        self.script.pop_front().unwrap_or(Confirm::Ack)
    }

    /// The ids of every row published so far, whatever the answer, in order.
    pub fn published(&self) -> &[u64] {
        &self.published
    }
}
// ANCHOR_END: broker

// ANCHOR: report
/// What one [`relay_pass`](crate::relay_pass) did, each list in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Published and acked: now marked sent.
    pub sent: Vec<u64>,
    /// Published and nacked, or published with no answer: still pending, one attempt more.
    pub failed: Vec<u64>,
    /// Not published, because an earlier row of the same key failed in this pass.
    pub held: Vec<u64>,
    /// The broker was unreachable, so the pass stopped there: the rows after the one that got
    /// no answer were not tried, and are in none of the lists.
    pub unreachable: bool,
}
// ANCHOR_END: report
