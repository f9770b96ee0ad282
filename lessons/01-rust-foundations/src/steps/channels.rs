//! Step 3: channels around an actor task.

use narrate::{duration, heading, say, show};
use tokio::time::Instant;

use super::{Demo, StepError};
use crate::desk::{Desk, PriceUpdate, Received, collect_updates};
use crate::price::{Price, Sku};

pub async fn channels(demo: &Demo) -> Result<(), StepError> {
    heading(3, "Channels: mpsc, oneshot, broadcast, select!");
    say("A price desk task owns the price list; nobody else can touch it, so it needs no lock.");
    say(
        "Commands reach it over an mpsc queue, each lookup brings a oneshot channel for its reply,",
    );
    say("and every change goes out on a broadcast channel to all subscribers.");
    let shutdown = demo.shutdown.child_token();
    let desk = Desk::spawn(shutdown.clone());
    // Subscribe before the first update: a broadcast receiver only sees what is sent after it exists.
    let storefront = tokio::spawn(collect_updates(desk.subscribe()));
    let analytics = tokio::spawn(collect_updates(desk.subscribe()));

    let (bolt, nut) = (Sku::numbered(1), Sku::numbered(2));
    let updates = [(&bolt, 1_200), (&nut, 850), (&bolt, 1_140)];
    for (sku, cents) in updates {
        // The desk is gone only if shutdown came first (Ctrl-C); then there is nothing to show.
        if desk
            .handle
            .update(sku.clone(), Price::from_cents(cents))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
    show(format_args!("sent {} updates over mpsc", updates.len()));
    for sku in [&bolt, &Sku::numbered(99)] {
        let started = Instant::now();
        let answer = desk.handle.lookup(sku.clone()).await;
        let answer = match answer {
            Ok(Some(price)) => price.to_string(),
            Ok(None) => "not on the list".to_owned(),
            Err(error) => error.to_string(),
        };
        show(format_args!(
            "lookup {sku} over oneshot: {answer} (round trip {})",
            duration(started.elapsed())
        ));
    }

    shutdown.cancel();
    let handled = desk.task.await?;
    show(format_args!(
        "shutdown: the desk's select! saw the token and stopped after {handled} commands"
    ));
    for (name, subscriber) in [("storefront", storefront), ("analytics", analytics)] {
        show(format_args!(
            "{:<11} {}",
            format!("{name}:"),
            describe(&subscriber.await?)
        ));
    }
    let after = desk.handle.lookup(bolt).await;
    show(format_args!(
        "a lookup after shutdown: {}",
        after.map_or_else(|e| e.to_string(), |_| "answered?!".to_owned())
    ));
    say("Each subscriber got its own copy of every update, then the end of the feed: the desk's");
    say("broadcast sender was dropped when it stopped. Coming from Go: mpsc ~ a buffered chan,");
    say("oneshot ~ a reply chan of capacity 1, broadcast has no built-in equivalent.");
    Ok(())
}

fn describe(received: &Received) -> String {
    let updates: Vec<String> = received.updates.iter().map(update).collect();
    format!(
        "{} ({} received, {} missed)",
        updates.join(", "),
        updates.len(),
        received.missed
    )
}

fn update(update: &PriceUpdate) -> String {
    match update.old {
        Some(old) => format!("{} {old}→{}", update.sku, update.new),
        None => format!("{} {}", update.sku, update.new),
    }
}
