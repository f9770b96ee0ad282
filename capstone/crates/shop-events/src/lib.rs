//! The shop's events, from the transaction that causes them to the consumer that acts on them.
//!
//! - [`Envelope`]: one event as it travels: an id consumers deduplicate by, a kind that is also
//!   the routing key, a schema version for the payload, and the payload as JSON.
//! - [`orders`]: the order events the shop emits (placed, and every status change), their
//!   kinds and versions, and [`orders::OrderEvent::decode`] for the consumers.
//! - [`outbox`]: [`outbox::enqueue`] writes an event inside the caller's transaction, so the
//!   order and its event commit together or not at all.
//! - [`relay`]: [`relay::Relay`] publishes unsent outbox rows with publisher confirms and marks
//!   them sent only after the broker's ack. Delivery is at least once: a crash between the ack
//!   and the commit publishes the row again.
//! - [`topology`]: the exchange and queues one consumer needs (main, delayed retry, dead letters).
//! - [`consumer`]: [`consumer::consume`] deduplicates by event id in PostgreSQL, retries through
//!   the delay queue, and dead-letters what it cannot handle, never crash-looping on it.
//!
//! The last three talk to RabbitMQ and come with the `broker` feature. Without it the crate is
//! the envelope, the events and the outbox table, which is what shop-db writes in its
//! transactions: the data layer does not build an AMQP client to record that an order exists.

#[cfg(feature = "broker")]
pub mod consumer;
mod envelope;
pub mod orders;
pub mod outbox;
#[cfg(feature = "broker")]
pub mod relay;
#[cfg(feature = "broker")]
pub mod topology;

pub use envelope::{DecodeError, Envelope};

/// The outbox tables' schema: the same SQL as shop-db's migration `20261204000001_outbox.sql`,
/// for a demonstration or a test that wants the tables without the whole shop schema.
pub const SCHEMA: &str = include_str!("../../shop-db/migrations/20261204000001_outbox.sql");
