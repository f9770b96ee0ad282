//! The exchange and the three queues one consumer needs.
//!
//! ```text
//!  relay ──publish──▶ <exchange> (topic) ──<binding>──▶ <queue> ──▶ consumer
//!                                                        ▲   │
//!                          (TTL expires, dead-lettered)  │   │ Retry: republish with attempt+1
//!                                          <queue>.retry ◀───┤
//!                                          <queue>.dlq   ◀───┘ Poison, undecodable, out of attempts
//! ```
//!
//! The retry queue has no consumer: a message waits there for `retry_delay` (the queue's
//! `x-message-ttl`) and RabbitMQ then dead-letters it through the default exchange back onto
//! the main queue. One TTL per queue keeps the queue first-in first-out, so messages expire in
//! order (per-message TTLs only expire at the head of a queue).

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// Names and policy for one consumer's queues.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The durable topic exchange the relay publishes to.
    pub exchange: String,
    /// The consumer's durable queue; `<queue>.retry` and `<queue>.dlq` are derived from it.
    pub queue: String,
    /// The binding key of `queue` on `exchange`, e.g. `order.*` (`#` is everything).
    pub binding: String,
    /// How long a retried message waits before it is delivered again.
    pub retry_delay: Duration,
    /// Deliveries a message gets in all (the first and its retries) before the DLQ.
    pub max_attempts: u32,
}

impl Topology {
    /// Every event on `exchange`, 5 s between retries, 5 attempts.
    pub fn new(exchange: impl Into<String>, queue: impl Into<String>) -> Self {
        Self {
            exchange: exchange.into(),
            queue: queue.into(),
            binding: "#".to_owned(),
            retry_delay: Duration::from_secs(5),
            max_attempts: 5,
        }
    }

    pub fn retry_queue(&self) -> String {
        format!("{}.retry", self.queue)
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dlq", self.queue)
    }
}

/// Declares the exchange and the queues (idempotent: declaring what exists with the same
/// arguments is a no-op, so every consumer and relay may call it at start).
///
/// # Errors
/// The broker's refusal, e.g. a queue that exists with other arguments (`PRECONDITION_FAILED`).
pub async fn declare(channel: &Channel, topology: &Topology) -> Result<(), lapin::Error> {
    declare_exchange(channel, &topology.exchange).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(
            topology.queue.as_str().into(),
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            topology.queue.as_str().into(),
            topology.exchange.as_str().into(),
            topology.binding.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let mut retry = FieldTable::default();
    let ttl = i64::try_from(topology.retry_delay.as_millis()).unwrap_or(i64::MAX);
    retry.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    // The default exchange ("") routes by queue name: expired messages go back to `queue`.
    retry.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    retry.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(topology.queue.as_str().into()),
    );
    channel
        .queue_declare(topology.retry_queue().as_str().into(), durable, retry)
        .await?;
    channel
        .queue_declare(
            topology.dead_letter_queue().as_str().into(),
            durable,
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares the durable topic exchange alone (what a publisher needs).
///
/// # Errors
/// The broker's refusal, e.g. an exchange of that name with another type.
pub async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}
