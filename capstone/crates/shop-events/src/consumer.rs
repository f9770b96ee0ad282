//! A deduplicating consumer with delayed retries and a dead-letter queue.
//!
//! For each delivery, in order:
//! 1. decode the [`Envelope`]; a message that does not decode goes to the DLQ at once (it will
//!    never decode, so retrying it would only loop);
//! 2. in one PostgreSQL transaction, insert `(consumer, event id)` into `processed_events`; if
//!    the row exists the event was handled before: acknowledge and skip it;
//! 3. run the handler in that same transaction; [`Verdict::Done`] commits (the dedup row and
//!    the handler's writes together), anything else rolls both back;
//! 4. [`Verdict::Retry`] republishes to `<queue>.retry` with the attempt count in the
//!    `x-attempt` header, or to the DLQ once `max_attempts` deliveries have failed;
//!    [`Verdict::Poison`] goes to the DLQ at once;
//! 5. only then acknowledge the delivery (manual acks): a crash before this line means
//!    redelivery, and step 2 makes the redelivery harmless.
//!
//! Side effects outside PostgreSQL (an email) cannot join the transaction. A handler that
//! sends mail and then returns `Done` sends it again if the commit fails or the process dies
//! between the send and the commit: such effects are at least once, and the handler should
//! make them cheap to repeat (the message id of an email lets a mailbox drop the copy).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Confirmation, Connection, ConnectionProperties};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::Envelope;
use crate::relay::describe;
use crate::topology::Topology;

/// Deliveries the broker sends ahead of the acks. They are handled one at a time; the
/// prefetch only hides the round trip to the broker.
pub const PREFETCH: u16 = 16;

/// The header counting the deliveries of a message that have failed so far.
pub const ATTEMPT_HEADER: &str = "x-attempt";
/// The header a dead-lettered message carries its reason in.
pub const REASON_HEADER: &str = "x-dead-letter-reason";

/// What a handler made of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Handled: commit and acknowledge.
    Done,
    /// A failure that may pass (a mail server down): try again after the retry delay.
    Retry(String),
    /// A failure that will not pass (an unknown version, a payload without its fields).
    Poison(String),
}

/// Handles one event inside the transaction that records it as processed.
pub trait Handler: Send + Sync {
    /// Writes made through `tx` commit only when this returns [`Verdict::Done`].
    fn handle(
        &self,
        event: &Envelope,
        tx: &mut PgConnection,
    ) -> impl Future<Output = Verdict> + Send;

    /// Called for an event this consumer had already processed (a redelivery or a duplicate
    /// publish), which is then acknowledged without calling [`Handler::handle`].
    fn duplicate(&self, _event: &Envelope) {}
}

/// Why [`consume`] stopped before its shutdown. The current delivery is then unacknowledged,
/// and the broker redelivers it when the channel closes.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the broker did not confirm a message republished to {0}")]
    Unconfirmed(String),
    #[error("the broker ended the consumer")]
    Ended,
}

/// Consumes `topology.queue` until `shutdown` is cancelled. The topology must have been
/// declared ([`crate::topology::declare`]).
///
/// # Errors
/// On a broker or database failure; the caller reconnects and calls again (the handled
/// events are in `processed_events`, so nothing is done twice).
pub async fn consume(
    channel: &Channel,
    topology: &Topology,
    consumer_name: &str,
    pool: &PgPool,
    handler: &impl Handler,
    shutdown: CancellationToken,
) -> Result<(), ConsumeError> {
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            topology.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = deliveries.next() => match next {
                Some(delivery) => delivery?,
                None => return Err(ConsumeError::Ended),
            },
        };
        handle_delivery(channel, topology, consumer_name, pool, handler, &delivery).await?;
        delivery.ack(BasicAckOptions::default()).await?;
    }
}

/// Reconnect back-off of [`run`]: first pause, and the longest.
const RECONNECT: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));

// ANCHOR: run
/// Consumes `topology.queue` on the broker at `amqp_url` until `shutdown` is cancelled,
/// through every broker restart: connects (within 5 s), declares the topology, consumes, and
/// after a failure reconnects with a pause that doubles from 250 ms to 30 s. What a worker
/// binary runs. Errors are logged without the URL, which may hold a password.
pub async fn run(
    amqp_url: &str,
    topology: &Topology,
    consumer_name: &str,
    pool: &PgPool,
    handler: &impl Handler,
    shutdown: CancellationToken,
) {
    let mut pause = RECONNECT.0;
    while !shutdown.is_cancelled() {
        let mut consumed_once = false;
        let session = async {
            let connect = Connection::connect(amqp_url, ConnectionProperties::default());
            let connection = tokio::time::timeout(Duration::from_secs(5), connect)
                .await
                .map_err(|_| "connecting to the broker timed out".to_owned())?
                .map_err(|e| describe(&e, amqp_url))?;
            let channel =
                (connection.create_channel().await).map_err(|e| describe(&e, amqp_url))?;
            crate::topology::declare(&channel, topology)
                .await
                .map_err(|e| describe(&e, amqp_url))?;
            tracing::info!(consumer = consumer_name, queue = %topology.queue, "consuming");
            consumed_once = true;
            let consumed = consume(
                &channel,
                topology,
                consumer_name,
                pool,
                handler,
                shutdown.clone(),
            )
            .await;
            let _ = connection.close(200, "consumer stopping".into()).await;
            consumed.map_err(|e| match e {
                ConsumeError::Broker(e) => describe(&e, amqp_url),
                other => other.to_string(),
            })
        };
        let ended = session.await;
        if consumed_once {
            // It worked for a while: the next failure starts the back-off afresh.
            pause = RECONNECT.0;
        }
        match ended {
            Ok(()) => return,
            Err(reason) => {
                tracing::warn!(consumer = consumer_name, error = %reason, retry_in = ?pause,
                    "consumer stopped: reconnecting");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RECONNECT.1);
    }
}
// ANCHOR_END: run

async fn handle_delivery(
    channel: &Channel,
    topology: &Topology,
    consumer_name: &str,
    pool: &PgPool,
    handler: &impl Handler,
    delivery: &Delivery,
) -> Result<(), ConsumeError> {
    let event = match Envelope::from_json(&delivery.data) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(consumer = consumer_name, error = %e, "undecodable message to the DLQ");
            return dead_letter(channel, topology, delivery, &e.to_string()).await;
        }
    };

    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(consumer_name)
    .bind(event.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        tx.rollback().await?;
        tracing::debug!(consumer = consumer_name, event = %event.id, "duplicate skipped");
        handler.duplicate(&event);
        return Ok(());
    }

    match handler.handle(&event, &mut tx).await {
        Verdict::Done => {
            tx.commit().await?;
            Ok(())
        }
        Verdict::Retry(reason) => {
            tx.rollback().await?;
            let failures = attempts(delivery) + 1;
            if failures >= topology.max_attempts {
                tracing::warn!(consumer = consumer_name, event = %event.id, failures, %reason,
                    "out of attempts: to the DLQ");
                let reason = format!("gave up after {failures} attempts: {reason}");
                dead_letter(channel, topology, delivery, &reason).await
            } else {
                tracing::info!(consumer = consumer_name, event = %event.id, failures, %reason,
                    "retrying after the delay");
                let mut headers = headers(delivery);
                headers.insert(
                    ATTEMPT_HEADER.into(),
                    AMQPValue::LongLongInt(failures.into()),
                );
                republish(channel, delivery, &topology.retry_queue(), headers).await
            }
        }
        Verdict::Poison(reason) => {
            tx.rollback().await?;
            tracing::warn!(consumer = consumer_name, event = %event.id, %reason, "poison: to the DLQ");
            dead_letter(channel, topology, delivery, &reason).await
        }
    }
}

/// A message taken from a dead-letter queue, with the reason the consumer gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message as it was delivered (an envelope, or the bytes that did not decode).
    pub body: Vec<u8>,
    /// The [`REASON_HEADER`]: why it was dead-lettered (empty if the header is missing).
    pub reason: String,
}

/// Takes up to `max` messages off `topology`'s dead-letter queue, oldest first: what an
/// operator inspects (and a test asserts on). Taken means gone from the queue; republish one
/// to the exchange to try it again once its cause is fixed.
///
/// # Errors
/// The broker's, e.g. a queue that was never declared.
pub async fn take_dead_letters(
    channel: &Channel,
    topology: &Topology,
    max: usize,
) -> Result<Vec<DeadLetter>, lapin::Error> {
    let queue = topology.dead_letter_queue();
    let mut taken = Vec::new();
    while taken.len() < max {
        let options = BasicGetOptions { no_ack: true };
        let Some(message) = channel.basic_get(queue.as_str().into(), options).await? else {
            break;
        };
        let reason = (message.properties.headers().as_ref())
            .and_then(|headers| match headers.inner().get(REASON_HEADER) {
                Some(AMQPValue::LongString(reason)) => Some(reason.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        taken.push(DeadLetter {
            body: message.data.clone(),
            reason,
        });
    }
    Ok(taken)
}

/// Failed deliveries so far, from the `x-attempt` header (absent: none).
pub fn attempts(delivery: &Delivery) -> u32 {
    let Some(headers) = delivery.properties.headers() else {
        return 0;
    };
    match headers.inner().get(ATTEMPT_HEADER) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => *n,
        _ => 0,
    }
}

fn headers(delivery: &Delivery) -> FieldTable {
    delivery.properties.headers().clone().unwrap_or_default()
}

async fn dead_letter(
    channel: &Channel,
    topology: &Topology,
    delivery: &Delivery,
    reason: &str,
) -> Result<(), ConsumeError> {
    let mut headers = headers(delivery);
    headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
    headers.insert(
        "x-original-routing-key".into(),
        AMQPValue::LongString(delivery.routing_key.as_str().into()),
    );
    republish(channel, delivery, &topology.dead_letter_queue(), headers).await
}

/// Publishes the delivery's body and properties (with `headers`) to `queue` through the
/// default exchange, and waits for the broker's confirm before the caller acknowledges.
async fn republish(
    channel: &Channel,
    delivery: &Delivery,
    queue: &str,
    headers: FieldTable,
) -> Result<(), ConsumeError> {
    let properties = delivery.properties.clone().with_headers(headers);
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            &delivery.data,
            properties,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        _ => Err(ConsumeError::Unconfirmed(queue.to_owned())),
    }
}
