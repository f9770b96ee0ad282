//! Step 6: the log model, run on Redis Streams with consumer groups, beside RabbitMQ's
//! delete-on-ack; Kafka's design explained with the same example.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use narrate::demo::expect;
use narrate::{Table, heading, say, show};

use super::{Demo, StepError};
use crate::broker;
use crate::log::{Log, field};

const EVENTS: [(&str, &str); 5] = [
    ("41", "placed"),
    ("41", "paid"),
    ("42", "placed"),
    ("41", "shipped"),
    ("42", "paid"),
];

pub async fn log_model(demo: &Demo) -> Result<(), StepError> {
    heading(6, "The log model: Redis Streams beside a RabbitMQ queue");
    let mut c = demo.redis().await?;
    let log = Log::new(demo.key("orders"));
    let mut ids = Vec::new();
    for (order, event) in EVENTS {
        ids.push(
            log.append(&mut c, &[("order", order), ("event", event)])
                .await?,
        );
    }
    say(format_args!(
        "XADD: five order events appended; their ids are offsets ({} … {}).",
        ids[0], ids[4]
    ));

    // ANCHOR: groups
    log.create_group(&mut c, "email", "0").await?;
    let a = log.read_group(&mut c, "email", "email-a", 2).await?;
    let b = log.read_group(&mut c, "email", "email-b", 2).await?;
    let a_ids: Vec<String> = a.iter().map(|e| e.id.clone()).collect();
    log.ack(&mut c, "email", &a_ids).await?;
    // email-b "crashes" here: it read two entries and never acknowledges them.
    // ANCHOR_END: groups
    let names = |entries: &[redis::streams::StreamId]| {
        entries
            .iter()
            .map(|e| format!("{}/{}", field(e, "order"), field(e, "event")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    show(format_args!(
        "XREADGROUP email email-a COUNT 2 > → {}; XACK both",
        names(&a)
    ));
    show(format_args!(
        "XREADGROUP email email-b COUNT 2 > → {}; email-b crashes before XACK",
        names(&b)
    ));
    let pending = log.pending(&mut c, "email").await?;
    for p in &pending {
        show(format_args!(
            "XPENDING email → {} owned by {}, delivered {}×, idle {} ms",
            p.id, p.consumer, p.times_delivered, p.last_delivered_ms
        ));
    }
    // ANCHOR: recover
    tokio::time::sleep(Duration::from_millis(120)).await;
    let claimed = log
        .take_over(&mut c, "email", "email-a", Duration::from_millis(100))
        .await?;
    let claimed_ids: Vec<String> = claimed.iter().map(|e| e.id.clone()).collect();
    log.ack(&mut c, "email", &claimed_ids).await?;
    let rest = log.read_group(&mut c, "email", "email-a", 10).await?;
    let rest_ids: Vec<String> = rest.iter().map(|e| e.id.clone()).collect();
    log.ack(&mut c, "email", &rest_ids).await?;
    // ANCHOR_END: recover
    show(format_args!(
        "XCLAIM email email-a 100 <email-b's ids> → {}; XACK. Then > gives the rest: {}",
        names(&claimed),
        names(&rest)
    ));
    let still_pending = log.pending(&mut c, "email").await?.len();

    // A second group reads the same stream from the start, at its own position.
    log.create_group(&mut c, "analytics", "0").await?;
    let analytics = log
        .read_group(&mut c, "analytics", "analytics-1", 100)
        .await?;
    let replay = log.replay_from(&mut c, &ids[2]).await?;
    let length = log.len(&mut c).await?;
    show(format_args!(
        "group analytics, created after all that, from 0 → all {} entries",
        analytics.len()
    ));
    show(format_args!(
        "XRANGE orders {} + (a replay from the third offset) → {}",
        ids[2],
        names(&replay)
    ));

    let queue_left = rabbit_side(demo).await?;
    let mut table = Table::new(["after every consumer acknowledged", "entries left>"]);
    table
        .row(["Redis stream (XLEN)".to_owned(), length.to_string()])
        .row([
            "RabbitMQ queue (message count)".to_owned(),
            queue_left.to_string(),
        ]);
    print!("{table}");
    expect(
        a.len() == 2
            && b.len() == 2
            && claimed.len() == 2
            && rest.len() == 1
            && still_pending == 0
            && analytics.len() == 5
            && replay.len() == 3
            && length == 5
            && queue_left == 0,
        "a crashed consumer's entries claimed, a late group reading everything, the queue empty",
        format!(
            "a {} b {} claimed {} rest {} pending {still_pending} analytics {} replay {} len {length} queue {queue_left}",
            a.len(),
            b.len(),
            claimed.len(),
            rest.len(),
            analytics.len(),
            replay.len()
        ),
    )?;
    say("A queue forgets what it delivered: a consumer added tomorrow, or a bug fixed in one,");
    say("cannot read yesterday's events. A log keeps them (until a retention limit, MAXLEN here)");
    say("and each group keeps only its position, so a new reader starts at 0 and a fixed one");
    say("rewinds. Kafka is this design spread over machines: a topic is split into partitions");
    say("(by key, so order 41's events stay in order in one), each an append-only file with");
    say("offsets; a consumer group divides the partitions among its members and commits an");
    say("offset per partition; retention is by time or size, not by acknowledgement.");
    Ok(())
}

// ANCHOR: delete_on_ack
/// The same five events through a RabbitMQ queue, consumed and acknowledged: then the count.
async fn rabbit_side(demo: &Demo) -> Result<u32, StepError> {
    let queue = demo.name("orders-queue");
    let channel = demo.channel().await?;
    broker::queue(&channel, &queue, broker::Args::new()).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    for (n, (order, event)) in EVENTS.iter().enumerate() {
        let body = format!(r#"{{"order":{order},"event":"{event}"}}"#);
        broker::publish(
            &channel,
            "",
            &queue,
            body.as_bytes(),
            broker::persistent(&n.to_string()),
        )
        .await?
        .await?;
    }
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for _ in 0..EVENTS.len() {
        match tokio::time::timeout(Duration::from_secs(5), consumer.next()).await {
            Ok(Some(delivery)) => delivery?.acker.ack(BasicAckOptions::default()).await?,
            _ => break,
        };
    }
    Ok(broker::depth(&channel, &queue).await?)
}
// ANCHOR_END: delete_on_ack
