//! Step 3: manual acknowledgements (a consumer that dies before its ack gets the message
//! redelivered, to someone) and prefetch (how many unacknowledged messages a consumer may
//! hold), measured with a fast and a slow consumer side by side.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show, thousands};
use tokio_util::sync::CancellationToken;

use super::{Demo, StepError};
use crate::broker;

/// Messages in each prefetch run.
const MESSAGES: usize = 100;
const FAST_WORK: Duration = Duration::from_millis(2);
const SLOW_WORK: Duration = Duration::from_millis(20);
/// How long a consumer waits for a delivery it expects.
const PATIENCE: Duration = Duration::from_secs(5);

pub async fn acks(demo: &Demo) -> Result<(), StepError> {
    heading(3, "Manual acks and prefetch");
    redelivery(demo).await?;
    prefetch(demo).await
}

async fn consumer(channel: &Channel, queue: &str, tag: &str) -> Result<Consumer, StepError> {
    Ok(channel
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?)
}

// ANCHOR: redelivery
/// A consumer takes a message and its channel closes before the ack: the broker still owns the
/// message, puts it back, and gives it to the next consumer marked `redelivered`.
async fn redelivery(demo: &Demo) -> Result<(), StepError> {
    let queue = demo.name("work");
    let channel = demo.channel().await?;
    broker::queue(&channel, &queue, broker::Args::new()).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let body = br#"{"order":7,"task":"send receipt"}"#;
    broker::publish(&channel, "", &queue, body, broker::persistent("receipt-7"))
        .await?
        .await?;

    let doomed = demo.channel().await?;
    let mut first = consumer(&doomed, &queue, "worker-a").await?;
    let delivery = next(&mut first).await?;
    show(format_args!(
        "worker-a got {:?}: redelivered={}; it dies before acking (its channel closes)",
        String::from_utf8_lossy(&delivery.data),
        delivery.redelivered
    ));
    let first_time = delivery.redelivered;
    doomed.close(200, "worker-a crashed".into()).await?;

    let survivor = demo.channel().await?;
    let mut second = consumer(&survivor, &queue, "worker-b").await?;
    let again = next(&mut second).await?;
    show(format_args!(
        "worker-b got {:?}: redelivered={}; it acks, and the broker deletes the message",
        String::from_utf8_lossy(&again.data),
        again.redelivered
    ));
    again.acker.ack(BasicAckOptions::default()).await?;
    let left = broker::depth(&channel, &queue).await?;
    expect(
        !first_time && again.redelivered && again.data == body && left == 0,
        "the unacked message redelivered with redelivered=true, then gone after the ack",
        format!(
            "first {first_time}, then {}, {left} left",
            again.redelivered
        ),
    )?;
    say("Nothing was lost, and the work may have been done twice: worker-a might have sent the");
    say("receipt and died just before acking. `redelivered` is a hint to check, not a guarantee");
    say("either way; an idempotent consumer (step 4) is what makes the second time harmless.");
    Ok(())
}
// ANCHOR_END: redelivery

async fn next(consumer: &mut Consumer) -> Result<lapin::message::Delivery, StepError> {
    match tokio::time::timeout(PATIENCE, consumer.next()).await {
        Ok(Some(delivery)) => Ok(delivery?),
        _ => Err(narrate::demo::Unexpected {
            expected: "a delivery within five seconds",
            got: "none".to_owned(),
        }
        .into()),
    }
}

async fn prefetch(demo: &Demo) -> Result<(), StepError> {
    let queue = demo.name("prefetch");
    let channel = demo.channel().await?;
    broker::queue(&channel, &queue, broker::Args::new()).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    say(format_args!(
        "Prefetch: {MESSAGES} messages, two consumers, one taking {} per message and one {}.",
        duration(FAST_WORK),
        duration(SLOW_WORK)
    ));
    let mut table = Table::new([
        "prefetch>",
        "fast handled>",
        "slow handled>",
        "time>",
        "per second>",
    ]);
    let mut results = Vec::new();
    for prefetch in [1, 50] {
        for n in 0..MESSAGES {
            let body = format!(r#"{{"n":{n}}}"#);
            broker::publish(
                &channel,
                "",
                &queue,
                body.as_bytes(),
                broker::persistent(&n.to_string()),
            )
            .await?;
        }
        channel.wait_for_confirms().await?;
        let (fast, slow, took) = race(demo, &queue, prefetch).await?;
        table.row([
            prefetch.to_string(),
            fast.to_string(),
            slow.to_string(),
            duration(took),
            thousands((MESSAGES as f64 / took.as_secs_f64().max(1e-9)) as i64),
        ]);
        results.push((prefetch, fast, slow, took));
    }
    print!("{table}");
    let (one, many) = (&results[0], &results[1]);
    expect(
        one.1 > one.2 && one.1 + one.2 == MESSAGES && many.1 + many.2 == MESSAGES,
        "with prefetch 1 the fast consumer handles most messages, and every message is handled",
        format!("{results:?}"),
    )?;
    say("With prefetch 1 the broker sends a consumer its next message only after the ack of the");
    say("last, so work goes to whoever is free. With a large prefetch it deals messages out in");
    say("turn up front, the slow consumer's share waits behind it, and the whole batch takes as");
    say("long as the slow one. Large prefetch pays where work is quick and even (fewer round");
    say("trips); prefetch 1, or a few, where it is slow or uneven.");
    Ok(())
}

// ANCHOR: race
/// Runs a fast and a slow consumer on `queue` with `prefetch` until all [`MESSAGES`] are
/// acknowledged; returns how many each handled and how long it took.
async fn race(
    demo: &Demo,
    queue: &str,
    prefetch: u16,
) -> Result<(usize, usize, Duration), StepError> {
    let done = Arc::new(AtomicUsize::new(0));
    let stop = demo.shutdown.child_token();
    let started = Instant::now();
    let mut workers = Vec::new();
    for (tag, work) in [("fast", FAST_WORK), ("slow", SLOW_WORK)] {
        let channel = demo.channel().await?;
        // The limit applies to each consumer started on this channel after it.
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let consumer = consumer(&channel, queue, tag).await?;
        let (done, stop) = (done.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let handled = work_until(consumer, work, &done, &stop).await;
            // Closing the channel hands back whatever it still held unacknowledged.
            let _ = channel.close(200, "done".into()).await;
            handled
        }));
    }
    let mut handled = Vec::new();
    for worker in workers {
        handled.push(worker.await??);
    }
    Ok((handled[0], handled[1], started.elapsed()))
}

async fn work_until(
    mut consumer: Consumer,
    work: Duration,
    done: &AtomicUsize,
    stop: &CancellationToken,
) -> Result<usize, StepError> {
    let mut handled = 0;
    loop {
        let delivery = tokio::select! {
            () = stop.cancelled() => break,
            delivery = consumer.next() => match delivery {
                Some(delivery) => delivery?,
                None => break,
            },
        };
        tokio::time::sleep(work).await; // the "work"
        delivery.acker.ack(BasicAckOptions::default()).await?;
        handled += 1;
        if done.fetch_add(1, Ordering::SeqCst) + 1 >= MESSAGES {
            stop.cancel();
        }
    }
    Ok(handled)
}
// ANCHOR_END: race
