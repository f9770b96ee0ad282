//! Step 2: publisher confirms, awaited one by one, in a window, or not at all; and a
//! `mandatory` message that no queue takes coming back as a return.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Channel, Confirmation, ExchangeKind};
use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show, thousands};

use super::{Demo, StepError};
use crate::broker;

/// Messages per way of publishing.
const MESSAGES: usize = 1_000;

/// How many confirms the windowed publisher lets be outstanding.
const WINDOW: usize = 64;

pub async fn confirms(demo: &Demo) -> Result<(), StepError> {
    heading(2, "Publisher confirms, and returns");
    let queue = demo.name("confirms");
    let setup = demo.channel().await?;
    broker::queue(&setup, &queue, broker::Args::new()).await?;
    say(format_args!(
        "{} persistent messages into a durable queue, three ways. A confirm is the broker saying",
        thousands(MESSAGES as i64)
    ));
    say("\"this one is mine now\" (written to disk, for a persistent message on a durable queue).");

    let mut table = Table::new(["how", "messages>", "time>", "per second>", "confirmed>"]);
    let mut rows = Vec::new();
    let mut right_after = 0;
    for how in [How::OneByOne, How::Window, How::FireAndForget] {
        let channel = demo.channel().await?;
        if how != How::FireAndForget {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
        }
        let started = Instant::now();
        let confirmed = publish(&channel, &queue, how).await?;
        let took = started.elapsed();
        if how == How::FireAndForget {
            right_after = broker::depth(&setup, &queue).await?;
        }
        table.row([
            how.label().to_owned(),
            thousands(MESSAGES as i64),
            duration(took),
            thousands(rate(MESSAGES, took)),
            match how {
                How::FireAndForget => "unknown".to_owned(),
                _ => thousands(confirmed as i64),
            },
        ]);
        rows.push((how, took, confirmed));
    }
    print!("{table}");
    // How long the broker went on taking in what the fire-and-forget loop had "sent".
    let total = 3 * MESSAGES as u32;
    let waited = Instant::now();
    let mut in_queue = right_after;
    while in_queue < total && waited.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        in_queue = broker::depth(&setup, &queue).await?;
    }
    show(format_args!(
        "when the fire-and-forget loop returned, the queue held {} of the {} messages; all {} \
         were in {} later",
        thousands(i64::from(right_after)),
        thousands(i64::from(total)),
        thousands(i64::from(in_queue)),
        duration(waited.elapsed())
    ));
    expect(
        rows.iter()
            .filter(|(how, _, _)| *how != How::FireAndForget)
            .all(|(_, _, confirmed)| *confirmed == MESSAGES),
        "every message confirmed by the broker",
        format!("{rows:?}"),
    )?;
    say("One by one waits a round trip (and a disk write) per message. A window keeps many in");
    say("flight and still knows which one failed, so it can publish that one again. Fire-and-");
    say("forget is fastest and knows nothing: a broker that crashed or refused a message would");
    say("look exactly like one that took them all.");

    returns(demo).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    OneByOne,
    Window,
    FireAndForget,
}

impl How {
    fn label(self) -> &'static str {
        match self {
            How::OneByOne => "confirm each, one by one",
            How::Window => "confirms in a window of 64",
            How::FireAndForget => "fire and forget",
        }
    }
}

fn rate(n: usize, took: Duration) -> i64 {
    (n as f64 / took.as_secs_f64().max(1e-9)) as i64
}

// ANCHOR: window
/// Publishes [`MESSAGES`] to `queue` (through the default exchange) and returns how many the
/// broker acknowledged.
async fn publish(channel: &Channel, queue: &str, how: How) -> Result<usize, StepError> {
    let mut acked = 0;
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    for n in 0..MESSAGES {
        let body = format!(r#"{{"n":{n}}}"#);
        let id = n.to_string();
        let confirm =
            broker::publish(channel, "", queue, body.as_bytes(), broker::persistent(&id)).await?;
        match how {
            How::OneByOne => acked += usize::from(confirm.await?.is_ack()),
            How::Window => {
                in_flight.push_back(confirm);
                // The window is full: wait for its oldest confirm before sending more.
                if in_flight.len() == WINDOW
                    && let Some(oldest) = in_flight.pop_front()
                {
                    acked += usize::from(oldest.await?.is_ack());
                }
            }
            // The "confirm" resolves at once to NotRequested: there is nothing to wait for.
            How::FireAndForget => drop(confirm),
        }
    }
    for confirm in in_flight {
        acked += usize::from(confirm.await?.is_ack());
    }
    Ok(acked)
}
// ANCHOR_END: window

// ANCHOR: mandatory
/// A `mandatory` message that matches no binding comes back to the publisher as a return,
/// before its confirm, instead of vanishing as in step 1.
async fn returns(demo: &Demo) -> Result<(), StepError> {
    let exchange = demo.name("unbound");
    let channel = demo.channel().await?;
    broker::exchange(&channel, &exchange, ExchangeKind::Direct).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirmation = channel
        .basic_publish(
            exchange.as_str().into(),
            "order.lost".into(),
            options,
            br#"{"event":"order.lost"}"#,
            broker::persistent("lost-1"),
        )
        .await?
        .await?;
    say("A mandatory publish to an exchange with no binding for its key:");
    let returned = match confirmation {
        Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => Some(returned),
        _ => None,
    };
    match &returned {
        Some(message) => show(format_args!(
            "returned: {} {} (routing key {}), then confirmed: the broker handled it, no queue took it",
            message.reply_code, message.reply_text, message.delivery.routing_key
        )),
        None => show("no return"),
    }
    expect(
        returned.as_ref().is_some_and(|m| m.reply_code == 312),
        "the unroutable message returned with 312 NO_ROUTE",
        "no return".to_owned(),
    )?;
    say("A confirm alone says the broker took the message, not that a queue did; `mandatory`");
    say("plus the return is how a publisher learns that its routing is wrong.");
    Ok(())
}
// ANCHOR_END: mandatory
