//! Step 1: the three exchange kinds and their bindings, and which queue received what.

use lapin::{Channel, ExchangeKind};
use narrate::demo::expect;
use narrate::{Table, heading, say};

use super::{Demo, StepError};
use crate::broker;

/// The events the step publishes, in order: every kind the shop emits, and one it does not
/// route anywhere.
const EVENTS: [&str; 5] = [
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.refunded",
    "cart.abandoned",
];

pub async fn exchanges(demo: &Demo) -> Result<(), StepError> {
    heading(1, "Exchanges, queues and bindings");
    let channel = demo.channel().await?;
    // Confirms (step 2) so that each message is in its queues before the step drains them.
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await?;
    say("A publisher sends to an exchange with a routing key; the exchange copies the message to");
    say("every queue whose binding matches, and drops it if none does. Consumers read queues.");
    say(format_args!("Published once each: {}.", EVENTS.join(", ")));
    say("Each queue, drained afterwards, held (order.* events shown without `order.`):");
    let mut table = Table::new(["exchange", "queue", "binding", "received>", "routing keys"]);

    // ANCHOR: topic
    // Topic: words separated by dots; `*` matches one word, `#` any number.
    let topic = demo.name("events");
    broker::exchange(&channel, &topic, ExchangeKind::Topic).await?;
    let bindings = [
        ("email", &["order.placed", "order.shipped"][..]),
        ("analytics", &["order.#"][..]),
        ("refunds", &["*.refunded"][..]),
    ];
    // ANCHOR_END: topic
    let topic_got = route(demo, &channel, &topic, "topic", &bindings, &mut table).await?;

    // Direct: the binding key equals the routing key, or nothing.
    let direct = demo.name("payments");
    broker::exchange(&channel, &direct, ExchangeKind::Direct).await?;
    let bindings = [
        ("captures", &["order.paid"][..]),
        ("refund-desk", &["order.refunded"][..]),
    ];
    route(demo, &channel, &direct, "direct", &bindings, &mut table).await?;

    // ANCHOR: fanout
    // Fanout: every bound queue gets a copy, whatever the key: `order.placed` to email and to
    // analytics, which neither knows about the other.
    let fanout = demo.name("order-placed");
    broker::exchange(&channel, &fanout, ExchangeKind::Fanout).await?;
    let bindings = [("fan-email", &[""][..]), ("fan-analytics", &[""][..])];
    // ANCHOR_END: fanout
    let fanout_got = route(demo, &channel, &fanout, "fanout", &bindings, &mut table).await?;
    print!("{table}");

    expect(
        topic_got == [2, 4, 1] && fanout_got == [5, 5],
        "email 2, analytics 4 and refunds 1 on the topic exchange; 5 and 5 on the fanout",
        format!("{topic_got:?} and {fanout_got:?}"),
    )?;
    say("`cart.abandoned` matched no topic or direct binding and vanished without an error: the");
    say("publisher was not told (step 2 shows how to be). The fanout copied all five to both");
    say("queues: adding a consumer is a new queue and a binding, with no change to the publisher.");
    Ok(())
}

/// Declares one queue per binding set, publishes [`EVENTS`] to `exchange`, drains each queue
/// into a table row, and returns how many messages each queue received.
async fn route(
    demo: &Demo,
    channel: &Channel,
    exchange: &str,
    kind: &str,
    bindings: &[(&str, &[&str])],
    table: &mut Table,
) -> Result<Vec<usize>, StepError> {
    let mut queues = Vec::new();
    for (queue, keys) in bindings {
        let name = demo.name(queue);
        broker::queue(channel, &name, broker::Args::new()).await?;
        for key in *keys {
            broker::bind(channel, &name, exchange, key).await?;
        }
        queues.push((queue, keys, name));
    }
    for (n, event) in EVENTS.iter().enumerate() {
        let body = format!(r#"{{"event":"{event}","order":{n}}}"#);
        let id = format!("{event}-{n}");
        // The confirm comes once the exchange has routed the message to every matching queue.
        broker::publish(
            channel,
            exchange,
            event,
            body.as_bytes(),
            broker::persistent(&id),
        )
        .await?
        .await?;
    }
    let mut counts = Vec::new();
    for (short, keys, name) in queues {
        let got = drain_after_publish(channel, &name).await?;
        let keys_shown: Vec<String> = keys
            .iter()
            .map(|k| {
                if k.is_empty() {
                    "(any)".into()
                } else {
                    (*k).to_owned()
                }
            })
            .collect();
        let got_shown: Vec<&str> = got
            .iter()
            .map(|key| key.strip_prefix("order.").unwrap_or(key))
            .collect();
        table.row([
            kind.to_owned(),
            (*short).to_owned(),
            keys_shown.join(" "),
            got.len().to_string(),
            got_shown.join(", "),
        ]);
        counts.push(got.len());
    }
    Ok(counts)
}

/// The routing keys of the messages in `queue`, which it empties.
async fn drain_after_publish(channel: &Channel, queue: &str) -> Result<Vec<String>, StepError> {
    let messages = broker::drain(channel, queue).await?;
    Ok(messages.into_iter().map(|(key, _)| key).collect())
}
