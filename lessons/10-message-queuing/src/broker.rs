//! The few broker calls every step makes, each in one place: declaring exchanges and queues,
//! publishing a persistent message, reading a queue's depth, draining a queue.
//!
//! Every queue is declared with `x-expires`: if a run is killed before it deletes what it
//! declared (a second Ctrl-C, a crash), RabbitMQ deletes the queue itself once nobody has used
//! it for that long, so a shared broker does not fill up with the leftovers of old runs.

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, ExchangeKind, PublisherConfirm};

/// How long an unused queue of this lesson survives a run that did not clean up.
pub const LEFTOVER_EXPIRY: Duration = Duration::from_secs(10 * 60);

/// AMQP's delivery mode 2: the broker writes the message to disk (on a durable queue).
pub const PERSISTENT: u8 = 2;

/// Queue arguments, built up one at a time: `Args::new().dead_letter_to("", "jobs.retry")`.
#[derive(Debug, Clone)]
pub struct Args(FieldTable);

impl Default for Args {
    fn default() -> Self {
        Self::new()
    }
}

impl Args {
    /// The arguments every queue here gets: the leftover expiry above.
    pub fn new() -> Self {
        let mut table = FieldTable::default();
        table.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(millis(LEFTOVER_EXPIRY)),
        );
        Args(table)
    }

    /// Where the broker sends a message this queue rejects (without requeue) or lets expire:
    /// `exchange` (`""` is the default exchange, which routes by queue name) with `routing_key`.
    pub fn dead_letter_to(mut self, exchange: &str, routing_key: &str) -> Self {
        self.0.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(exchange)),
        );
        self.0.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(routing_key)),
        );
        self
    }

    /// Every message expires after `ttl` in this queue (and is dead-lettered, if configured).
    pub fn message_ttl(mut self, ttl: Duration) -> Self {
        self.0
            .insert("x-message-ttl".into(), AMQPValue::LongLongInt(millis(ttl)));
        self
    }

    pub fn into_table(self) -> FieldTable {
        self.0
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A durable exchange of `kind`.
pub async fn exchange(channel: &Channel, name: &str, kind: ExchangeKind) -> lapin::Result<()> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(name.into(), kind, options, FieldTable::default())
        .await
}

/// A durable queue with `args`.
pub async fn queue(channel: &Channel, name: &str, args: Args) -> lapin::Result<()> {
    channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions::durable(),
            args.into_table(),
        )
        .await
        .map(drop)
}

/// Binds `queue` to `exchange` with `key` (a pattern for a topic exchange, ignored by fanout).
pub async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Properties of a persistent JSON message with an id (what a deduplicating consumer keys on).
pub fn persistent(message_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_message_id(ShortString::from(message_id))
}

/// Publishes `body` as a persistent message; the returned confirm resolves when the broker has
/// taken responsibility for it (on a channel in confirm mode) or at once (otherwise).
pub async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> lapin::Result<PublisherConfirm> {
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
}

/// How many messages `queue` holds ready for a consumer (a passive declare asks without
/// changing anything). A snapshot: a publish counts once its confirm has come back, and one
/// sent without confirms may not have reached the queue yet.
pub async fn depth(channel: &Channel, queue: &str) -> lapin::Result<u32> {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await?;
    Ok(queue.message_count())
}

/// Takes every message out of `queue` (acknowledged on delivery), returning their routing keys
/// and bodies in order.
pub async fn drain(channel: &Channel, queue: &str) -> lapin::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let options = BasicGetOptions { no_ack: true };
    while let Some(message) = channel.basic_get(queue.into(), options).await? {
        let delivery = message.delivery;
        out.push((delivery.routing_key.to_string(), delivery.data));
    }
    Ok(out)
}

/// A header's value as text, for printing: strings, integers, and tables as `{k: v, ...}`.
pub fn show_value(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::Timestamp(t) => t.to_string(),
        AMQPValue::FieldArray(items) => {
            let items: Vec<String> = items.as_slice().iter().map(show_value).collect();
            format!("[{}]", items.join(", "))
        }
        AMQPValue::FieldTable(table) => {
            let fields: Vec<String> = table
                .inner()
                .iter()
                .map(|(k, v)| format!("{k}: {}", show_value(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        other => format!("{other:?}"),
    }
}
