//! Retries with a delay, and a dead-letter queue for what never succeeds, built from
//! RabbitMQ's own parts: three queues and two dead-letter rules, no timer in the consumer.
//!
//! ```text
//!             reject (no requeue)                       TTL expires
//!   jobs ────────────────────────────► jobs.retry ─────────────────────► jobs
//!    │        x-dead-letter-routing-key     x-message-ttl, dead-letters
//!    │                                       back to jobs
//!    └─ attempts used up: the consumer publishes to jobs.dlq and acks ──► jobs.dlq
//! ```
//!
//! Each trip through a dead-letter rule adds to the message's `x-death` header, which the
//! broker keeps per (queue, reason) with a count: the number of times `jobs` rejected it is
//! the number of failed attempts, with no counter of the consumer's own to lose.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::Channel;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};

use crate::broker::{self, Args};

// ANCHOR: topology
/// The three queues of a consumer with retries: names derived from the main queue's.
#[derive(Debug, Clone)]
pub struct RetryQueues {
    pub queue: String,
    pub retry: String,
    pub dlq: String,
    /// How long a failed message waits before its next attempt.
    pub delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl RetryQueues {
    pub fn new(queue: String, delay: Duration, max_attempts: u32) -> Self {
        RetryQueues {
            retry: format!("{queue}.retry"),
            dlq: format!("{queue}.dlq"),
            queue,
            delay,
            max_attempts,
        }
    }

    /// Declares the three queues. The default exchange (`""`) routes by queue name, so the
    /// dead-letter rules need no exchange of their own.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        // A rejected message goes to the retry queue...
        broker::queue(
            channel,
            &self.queue,
            Args::new().dead_letter_to("", &self.retry),
        )
        .await?;
        // ...waits there for the delay, then expires back into the main queue.
        let retry = Args::new()
            .message_ttl(self.delay)
            .dead_letter_to("", &self.queue);
        broker::queue(channel, &self.retry, retry).await?;
        // Nobody consumes the DLQ: a person (or a tool) looks at what is parked there.
        broker::queue(channel, &self.dlq, Args::new()).await
    }
}
// ANCHOR_END: topology

// ANCHOR: attempts
/// How many times `queue` has rejected this message, from the broker's `x-death` header: an
/// array of tables, one per (queue, reason), each with a `count`.
pub fn rejections(headers: Option<&FieldTable>, queue: &str) -> u32 {
    let Some(AMQPValue::FieldArray(deaths)) = headers.and_then(|h| h.inner().get("x-death")) else {
        return 0;
    };
    deaths
        .as_slice()
        .iter()
        .filter_map(|death| match death {
            AMQPValue::FieldTable(death) => Some(death.inner()),
            _ => None,
        })
        .filter(|death| {
            text(death.get("queue")) == Some(queue) && text(death.get("reason")) == Some("rejected")
        })
        .filter_map(|death| death.get("count").and_then(integer))
        // A header is data from outside: a count that does not fit, or a sum that would
        // overflow, saturates, so it means "out of attempts" rather than a panic.
        .map(|count| u32::try_from(count).unwrap_or(u32::MAX))
        .fold(0, u32::saturating_add)
}
// ANCHOR_END: attempts

fn text(value: Option<&AMQPValue>) -> Option<&str> {
    match value? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

fn integer(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Done,
    /// Rejected: the broker brings it back after the delay.
    RetryLater,
    /// Attempts used up: parked in the DLQ.
    DeadLettered,
}

/// One delivery as the worker saw it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub body: String,
    pub attempt: u32,
    pub fate: Fate,
    /// Since the worker started.
    pub at: Duration,
    pub error: Option<String>,
}

// ANCHOR: worker
/// Consumes `queues.queue` until `finals` messages have met their end (done or dead-lettered)
/// or `patience` runs out, calling `handler` with each body and its attempt number.
pub async fn work(
    channel: &Channel,
    queues: &RetryQueues,
    finals: usize,
    patience: Duration,
    mut handler: impl FnMut(&str, u32) -> Result<(), String>,
) -> lapin::Result<Vec<Attempt>> {
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel.basic_qos(10, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queues.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let mut log = Vec::new();
    let mut ended = 0;
    while ended < finals {
        let left = patience.saturating_sub(started.elapsed());
        let Ok(Some(delivery)) = tokio::time::timeout(left, consumer.next()).await else {
            break;
        };
        let delivery = delivery?;
        let body = String::from_utf8_lossy(&delivery.data).into_owned();
        let attempt = rejections(delivery.properties.headers().as_ref(), &queues.queue) + 1;
        let (fate, error) = match handler(&body, attempt) {
            Ok(()) => {
                delivery.acker.ack(BasicAckOptions::default()).await?;
                (Fate::Done, None)
            }
            Err(error) if attempt < queues.max_attempts => {
                // No requeue: the queue's dead-letter rule sends it to the retry queue.
                let reject = BasicRejectOptions { requeue: false };
                delivery.acker.reject(reject).await?;
                (Fate::RetryLater, Some(error))
            }
            Err(error) => {
                // Park it with its history (x-death) and the last error, then ack: the DLQ's
                // confirm comes first, so the message is never in neither queue.
                let mut headers = delivery.properties.headers().clone().unwrap_or_default();
                headers.insert(
                    "x-last-error".into(),
                    AMQPValue::LongString(LongString::from(error.as_str())),
                );
                let properties = delivery.properties.clone().with_headers(headers);
                broker::publish(channel, "", &queues.dlq, &delivery.data, properties)
                    .await?
                    .await?;
                delivery.acker.ack(BasicAckOptions::default()).await?;
                (Fate::DeadLettered, Some(error))
            }
        };
        if fate != Fate::RetryLater {
            ended += 1;
        }
        log.push(Attempt {
            body,
            attempt,
            fate,
            at: started.elapsed(),
            error,
        });
    }
    Ok(log)
}
// ANCHOR_END: worker

#[cfg(test)]
mod tests {
    use super::*;

    fn death(queue: &str, reason: &str, count: i64) -> AMQPValue {
        let mut table = FieldTable::default();
        table.insert("queue".into(), AMQPValue::LongString(queue.into()));
        table.insert("reason".into(), AMQPValue::LongString(reason.into()));
        table.insert("count".into(), AMQPValue::LongLongInt(count));
        AMQPValue::FieldTable(table)
    }

    fn headers(deaths: Vec<AMQPValue>) -> FieldTable {
        let mut headers = FieldTable::default();
        headers.insert("x-death".into(), AMQPValue::FieldArray(deaths.into()));
        headers
    }

    #[test]
    fn no_x_death_header_means_no_rejections() {
        assert_eq!(rejections(None, "jobs"), 0);
        assert_eq!(rejections(Some(&FieldTable::default()), "jobs"), 0);
    }

    #[test]
    fn only_this_queue_s_rejections_count() {
        let headers = headers(vec![
            death("jobs", "rejected", 2),
            death("jobs.retry", "expired", 2),
            death("other", "rejected", 5),
        ]);
        assert_eq!(rejections(Some(&headers), "jobs"), 2);
    }

    #[test]
    fn counts_out_of_range_saturate_instead_of_overflowing() {
        let headers = headers(vec![
            death("jobs", "rejected", i64::MAX),
            death("jobs", "rejected", -1),
            death("jobs", "rejected", 3),
        ]);
        assert_eq!(rejections(Some(&headers), "jobs"), u32::MAX);
    }
}
