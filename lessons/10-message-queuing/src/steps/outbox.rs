//! Step 7: the transactional outbox, run with the capstone's own pieces (shop-events): why
//! "commit, then publish" loses events, the order and its event in one transaction, a relay
//! that waits out a broker outage, and a consumer that deduplicates what the relay sends twice.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lapin::{Connection, ConnectionProperties};
use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use shop_events::consumer::{self, Handler, Verdict};
use shop_events::relay::{Relay, RelayConfig};
use shop_events::topology::{self, Topology};
use shop_events::{Envelope, outbox};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Demo, StepError};

/// Orders placed in each half of the step.
const ORDERS: u32 = 20;
/// Rows whose "sent" mark is undone, as a crash between the broker's ack and the commit would.
const CRASHED: i64 = 5;

/// The consumer's side: one effect row per event, written in the deduplicating transaction.
#[derive(Default)]
struct Effects {
    handled: AtomicU32,
    skipped: AtomicU32,
}

impl Handler for Effects {
    async fn handle(&self, event: &Envelope, tx: &mut PgConnection) -> Verdict {
        let written = sqlx::query("INSERT INTO effects (event_id, kind) VALUES ($1, $2)")
            .bind(event.id)
            .bind(&event.kind)
            .execute(tx)
            .await;
        match written {
            Ok(_) => {
                self.handled.fetch_add(1, Ordering::SeqCst);
                Verdict::Done
            }
            Err(error) => Verdict::Retry(error.to_string()),
        }
    }

    fn duplicate(&self, _event: &Envelope) {
        self.skipped.fetch_add(1, Ordering::SeqCst);
    }
}

pub async fn outbox(demo: &Demo) -> Result<(), StepError> {
    heading(
        7,
        "The transactional outbox, relay and deduplicating consumer",
    );
    // Both services first, so a missing one is said before anything is printed.
    let channel = demo.channel().await?;
    let pool = demo.pool().await?;
    let nowhere = closed_port()?;

    // ANCHOR: dual_write
    say("The naive way: commit the order, then publish its event. The broker is down for a");
    say(format_args!(
        "moment (a closed port here) while {ORDERS} orders are placed:"
    ));
    let mut lost = 0;
    for _ in 0..ORDERS {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO orders (id, total_minor) VALUES ($1, 4999)")
            .bind(id)
            .execute(&pool)
            .await?;
        // The order is committed; the publish that should follow fails.
        let url = format!("amqp://guest:guest@{nowhere}/%2f");
        let connect = Connection::connect(&url, ConnectionProperties::default());
        if !matches!(
            tokio::time::timeout(Duration::from_secs(2), connect).await,
            Ok(Ok(_))
        ) {
            lost += 1;
        }
    }
    // ANCHOR_END: dual_write
    show(format_args!(
        "{ORDERS} orders committed, {lost} events lost: nobody downstream will ever hear of them."
    ));
    say("Publishing first and committing second fails the other way round: an event for an");
    say("order that was rolled back. Two systems cannot commit in one step; one of them can.");
    expect(
        lost == ORDERS,
        "every publish to a closed port fails",
        format!("{lost} failed"),
    )?;

    // The outbox: the event is a row, written in the order's own transaction.
    let exchange = demo.name("shop-events");
    let topology = Topology {
        binding: "order.#".to_owned(),
        ..Topology::new(exchange.clone(), demo.name("billing"))
    };
    demo.name("billing.retry");
    demo.name("billing.dlq");
    topology::declare(&channel, &topology).await?;
    sqlx::query("TRUNCATE orders").execute(&pool).await?;
    // ANCHOR: outbox_write
    for n in 0..ORDERS {
        let order = Uuid::now_v7();
        let event = Envelope::new(
            "order.placed",
            1,
            order.to_string(),
            &serde_json::json!({ "order": order, "total_minor": 4999 + i64::from(n) }),
        )?;
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO orders (id, total_minor) VALUES ($1, $2)")
            .bind(order)
            .bind(4999 + i64::from(n))
            .execute(&mut *tx)
            .await?;
        outbox::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
    }
    // ANCHOR_END: outbox_write
    say(format_args!(
        "Now each order and its event are written in one transaction: {ORDERS} of each."
    ));

    // The relay while the broker is unreachable: nothing is lost, the rows wait.
    let config = RelayConfig {
        connect_timeout: Duration::from_secs(2),
        ..RelayConfig::default()
    };
    let down = format!("amqp://guest:guest@{nowhere}/%2f");
    let mut relay = Relay::new(pool.clone(), down, &exchange, config.clone());
    let mut failures = Vec::new();
    for _ in 0..3 {
        if let Err(error) = relay.run_once().await {
            failures.push(error.to_string());
        }
    }
    let mut conn = pool.acquire().await?;
    let waiting = outbox::unsent(&mut conn).await?;
    let (attempts, last_error): (i32, Option<String>) = sqlx::query_as(
        "SELECT max(attempts), max(last_error) FROM outbox_events WHERE sent_at IS NULL",
    )
    .fetch_one(&mut *conn)
    .await?;
    show(format_args!(
        "Relay, broker unreachable: {} passes failed; {waiting} events waiting, {attempts} attempts each.",
        failures.len()
    ));
    show(format_args!(
        "Their last_error: {}",
        last_error.as_deref().unwrap_or("(none)")
    ));
    expect(
        i64::from(ORDERS) == waiting,
        "every event still waiting in the outbox",
        format!("{waiting} waiting"),
    )?;

    // The broker is back.
    let started = Instant::now();
    let mut relay = Relay::new(
        pool.clone(),
        demo.amqp.url.clone(),
        &exchange,
        config.clone(),
    );
    let mut published = relay.run_once().await?;
    while outbox::unsent(&mut conn).await? > 0 {
        published += relay.run_once().await?;
    }
    show(format_args!(
        "Relay, broker back: {published} published with confirms and marked sent in {}.",
        duration(started.elapsed())
    ));

    // At least once: a crash after the broker's ack and before the relay's commit, staged.
    sqlx::query(
        "UPDATE outbox_events SET sent_at = NULL
         WHERE id IN (SELECT id FROM outbox_events ORDER BY created_seq LIMIT $1)",
    )
    .bind(CRASHED)
    .execute(&mut *conn)
    .await?;
    let again = relay.run_once().await?;
    say(format_args!(
        "A crash between the broker's ack and the relay's commit, staged on {CRASHED} rows:"
    ));
    say(format_args!(
        "the relay publishes them again ({again} sent a second time). Delivery is at least once."
    ));

    // The consumer deduplicates by event id, in the transaction of its own writes.
    let effects = Effects::default();
    let shutdown = CancellationToken::new();
    let worker = demo.channel().await?;
    let consuming = consumer::consume(
        &worker,
        &topology,
        "billing",
        &pool,
        &effects,
        shutdown.clone(),
    );
    let expected_total = ORDERS + u32::try_from(again).unwrap_or(u32::MAX);
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !demo.shutdown.is_cancelled() {
            let seen =
                effects.handled.load(Ordering::SeqCst) + effects.skipped.load(Ordering::SeqCst);
            if seen >= expected_total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
    };
    let (consumed, ()) = tokio::join!(consuming, watch);
    consumed?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
        .fetch_one(&mut *conn)
        .await?;
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT event_id) FROM effects")
        .fetch_one(&mut *conn)
        .await?;
    let handled = effects.handled.load(Ordering::SeqCst);
    let skipped = effects.skipped.load(Ordering::SeqCst);
    let mut table = Table::new([
        "consumer",
        "deliveries",
        "handled",
        "skipped",
        "effect rows",
    ]);
    table.row([
        "billing (dedup by event id)".to_owned(),
        (handled + skipped).to_string(),
        handled.to_string(),
        skipped.to_string(),
        format!("{rows} ({distinct} distinct)"),
    ]);
    show(table);
    say("Each event took effect once: the processed_events row and the effect commit together,");
    say("so a redelivery finds the row and is acknowledged without running the handler again.");
    say("The capstone writes order.placed in CheckoutRepo::place and every status change in");
    say("OrderRepo::transition this way; `shop-notify` is the consumer (chapter 10).");
    expect(
        rows == i64::from(ORDERS)
            && distinct == rows
            && usize::try_from(skipped).is_ok_and(|n| n == again),
        "one effect per event, every republished copy skipped",
        format!("{rows} rows, {distinct} distinct, {skipped} skipped"),
    )?;
    Ok(())
}

/// A loopback port nothing listens on: bound, read, released.
fn closed_port() -> Result<std::net::SocketAddr, StepError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|_| StepError::ServiceMissing("a free loopback port"))?;
    listener
        .local_addr()
        .map_err(|_| StepError::ServiceMissing("a free loopback port"))
}
