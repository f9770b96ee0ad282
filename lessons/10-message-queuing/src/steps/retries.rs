//! Step 4: a failing handler retried after a delay through a TTL retry queue, a poison message
//! parked in the dead-letter queue after its attempts, and an idempotent consumer that ignores
//! a duplicate delivery.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicGetOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};

use super::{Demo, StepError};
use crate::broker::{self, show_value};
use crate::idempotent::Dedup;
use crate::retry::{Fate, RetryQueues, rejections, work};

const DELAY: Duration = Duration::from_millis(300);
const MAX_ATTEMPTS: u32 = 3;

pub async fn retries(demo: &Demo) -> Result<(), StepError> {
    heading(
        4,
        "Dead-lettering, retries with a delay, idempotent consumers",
    );
    let queues = RetryQueues::new(demo.name("jobs"), DELAY, MAX_ATTEMPTS);
    // The derived names must be deleted at the end too.
    demo.name("jobs.retry");
    demo.name("jobs.dlq");
    let channel = demo.channel().await?;
    queues.declare(&channel).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    say(format_args!(
        "Three queues: jobs, jobs.retry (messages wait {} there, then dead-letter back to jobs)",
        duration(DELAY)
    ));
    say(format_args!(
        "and jobs.dlq. The handler fails `flaky` twice and `poison` always; {MAX_ATTEMPTS} attempts each."
    ));
    for job in ["fine", "flaky", "poison"] {
        broker::publish(
            &channel,
            "",
            &queues.queue,
            job.as_bytes(),
            broker::persistent(job),
        )
        .await?
        .await?;
    }

    // ANCHOR: handler
    let worker = demo.channel().await?;
    let log = work(
        &worker,
        &queues,
        3,
        Duration::from_secs(10),
        |job, attempt| match job {
            "flaky" if attempt < 3 => Err("provider timed out".to_owned()),
            "poison" => Err("negative total".to_owned()),
            _ => Ok(()),
        },
    )
    .await?;
    // ANCHOR_END: handler
    let _ = worker.close(200, "done".into()).await;

    let mut table = Table::new(["at>", "message", "attempt>", "outcome"]);
    for entry in &log {
        let outcome = match (&entry.fate, &entry.error) {
            (Fate::Done, _) => "done, acked".to_owned(),
            (Fate::RetryLater, Some(e)) => format!("failed ({e}): rejected → jobs.retry"),
            (Fate::DeadLettered, Some(e)) => format!("failed ({e}): → jobs.dlq"),
            (fate, None) => format!("{fate:?}"),
        };
        table.row([
            duration(entry.at),
            entry.body.clone(),
            entry.attempt.to_string(),
            narrate::truncate(&outcome, 64),
        ]);
    }
    print!("{table}");

    // What is parked in the DLQ, with the broker's record of its trips.
    let parked = channel
        .basic_get(queues.dlq.as_str().into(), BasicGetOptions { no_ack: true })
        .await?;
    let mut parked_rejections = 0;
    if let Some(message) = &parked {
        let headers = message
            .delivery
            .properties
            .headers()
            .clone()
            .unwrap_or_default();
        parked_rejections = rejections(Some(&headers), &queues.queue);
        show(format_args!(
            "jobs.dlq holds {:?}; its headers:",
            String::from_utf8_lossy(&message.delivery.data)
        ));
        for (name, value) in headers.inner() {
            let value = if name.as_str() == "x-death" {
                deaths(value)
            } else {
                match show_value(value) {
                    empty if empty.is_empty() => "\"\" (the default exchange)".to_owned(),
                    value => value,
                }
            };
            show(format_args!("  {name}: {}", narrate::truncate(&value, 110)));
        }
    }
    let attempts: HashMap<&str, u32> = log.iter().map(|e| (e.body.as_str(), e.attempt)).collect();
    expect(
        attempts.get("fine") == Some(&1)
            && attempts.get("flaky") == Some(&3)
            && attempts.get("poison") == Some(&MAX_ATTEMPTS)
            && log
                .iter()
                .any(|e| e.body == "poison" && e.fate == Fate::DeadLettered)
            && parked_rejections == MAX_ATTEMPTS - 1,
        "fine done at once, flaky on attempt 3, poison parked after 3 attempts (2 rejections)",
        format!("{attempts:?}, {parked_rejections} rejections in x-death"),
    )?;
    say("The delay is the retry queue's TTL: no sleeping consumer, no timer to lose in a crash.");
    say("The attempt number is the broker's own count of rejections (x-death). The DLQ keeps the");
    say(
        "message with its history and last error until a person fixes the cause and moves it back.",
    );
    duplicates(demo).await
}

/// `x-death` as one line per (queue, reason).
fn deaths(value: &lapin::types::AMQPValue) -> String {
    let lapin::types::AMQPValue::FieldArray(items) = value else {
        return show_value(value);
    };
    let lines: Vec<String> = items
        .as_slice()
        .iter()
        .filter_map(|item| match item {
            lapin::types::AMQPValue::FieldTable(t) => {
                let get = |k: &str| t.inner().get(k).map(show_value).unwrap_or_default();
                Some(format!(
                    "{} ×{} from {}",
                    get("reason"),
                    get("count"),
                    get("queue").rsplit('.').next().unwrap_or_default()
                ))
            }
            _ => None,
        })
        .collect();
    lines.join("; ")
}

// ANCHOR: duplicates
/// The same event delivered twice (a publisher that lost a confirm and published again):
/// the consumer checks the message id before acting.
async fn duplicates(demo: &Demo) -> Result<(), StepError> {
    let queue = demo.name("receipts");
    let channel = demo.channel().await?;
    broker::queue(&channel, &queue, broker::Args::new()).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let events = [
        ("evt-1", "order 1 paid"),
        ("evt-2", "order 2 paid"),
        ("evt-1", "order 1 paid"),
    ];
    for (id, body) in events {
        broker::publish(
            &channel,
            "",
            &queue,
            body.as_bytes(),
            broker::persistent(id),
        )
        .await?
        .await?;
    }
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "receipts".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut dedup = Dedup::new(10_000);
    let (mut sent, mut skipped) = (0, 0);
    for _ in 0..events.len() {
        let Ok(Some(delivery)) =
            tokio::time::timeout(Duration::from_secs(5), consumer.next()).await
        else {
            break;
        };
        let delivery = delivery?;
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default();
        if dedup.first_time(&id) {
            sent += 1; // the effect: a receipt email
            show(format_args!("{id}: receipt sent"));
        } else {
            skipped += 1;
            show(format_args!("{id}: seen before, acked without sending"));
        }
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    // ANCHOR_END: duplicates
    expect(
        sent == 2 && skipped == 1,
        "two receipts for three deliveries, the duplicate skipped",
        format!("{sent} sent, {skipped} skipped"),
    )?;
    say("Three deliveries, two effects. The duplicate is still acked: it was handled, by doing");
    say("nothing. The capstone keeps these ids in PostgreSQL, in the transaction of the effect:");
    say("shop-events' processed_events table (chapter 10, \"The transactional outbox\").");
    Ok(())
}
