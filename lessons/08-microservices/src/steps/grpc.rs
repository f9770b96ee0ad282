//! Step 1: the inventory service over gRPC, called through its client: stock, an idempotent
//! reservation, and deadlines on the wire.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use shop_domain::Sku;
use shop_inventory::{InventoryClient, ReserveLine, StockLevel, default_dependency_config};
use shop_resilience::{CallError, Deadline, Dependency, format_grpc_timeout};
use tokio::time::Instant;

use super::{Demo, StepError, loopback, start_inventory};
use crate::catalog::PRODUCTS;
use crate::standin::{Faults, StandIn};

/// Units each product starts with.
const STOCK: [u32; 4] = [12, 5, 3, 40];

pub(super) fn sku(text: &str) -> Result<Sku, StepError> {
    Sku::parse(text).map_err(|e| {
        StepError::Unexpected(narrate::demo::Unexpected {
            expected: "the catalog's SKUs to be valid",
            got: e.to_string(),
        })
    })
}

pub(super) fn units(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn stock_table(levels: &[StockLevel]) -> Table {
    let mut table = Table::new(["sku", "on hand>", "reserved>", "available>"]);
    for level in levels {
        table.row([
            level.sku.to_string(),
            level.on_hand.to_string(),
            level.reserved.to_string(),
            level.available.to_string(),
        ]);
    }
    table
}

pub async fn grpc(demo: &Demo) -> Result<(), StepError> {
    heading(1, "gRPC: the inventory service and its client");
    let db = demo.database().await?;
    let inventory = start_inventory(&db, loopback()).await?;
    let result = calls(&inventory.endpoint()).await;
    inventory.stop().await?;
    demo.finish(db).await?;
    result?;
    deadlines().await
}

async fn calls(endpoint: &str) -> Result<(), StepError> {
    say(format_args!(
        "shop-inventory's gRPC service on {endpoint}, over a database of its own (no other"
    ));
    say("service reads its tables), called through shop_inventory::InventoryClient:");
    let dependency = Arc::new(Dependency::new("inventory", default_dependency_config()));
    let client = InventoryClient::connect_lazy(endpoint, dependency)?;
    let budget = || Deadline::after(Duration::from_secs(2));
    let mut skus = Vec::new();
    for (&(text, _, _), units) in PRODUCTS.iter().zip(STOCK) {
        let sku = sku(text)?;
        client.restock(&sku, units, budget()).await?;
        skus.push(sku);
    }
    let before = client.stock(&skus, budget()).await?;
    say("Restock, then GetStock:");
    print!("{}", stock_table(&before));

    let lines = [
        ReserveLine {
            sku: skus[0].clone(),
            quantity: units(2),
        },
        ReserveLine {
            sku: skus[1].clone(),
            quantity: units(1),
        },
    ];
    let hold = Duration::from_secs(15 * 60);
    let key = "order-0001";
    let first = client.reserve(key, &lines, hold, budget()).await?;
    say(format_args!(
        "Reserve 2 × {} and 1 × {} with idempotency key {key:?}:",
        skus[0], skus[1]
    ));
    let hold_left = first.expires_at - time::OffsetDateTime::now_utc();
    show(format_args!(
        "reservation {}  {}, expires in {} min",
        first.id,
        first.status,
        hold_left.whole_seconds().div_euclid(60) + 1
    ));
    // The retry a client sends after a lost answer: same key, same lines.
    let again = client.reserve(key, &lines, hold, budget()).await?;
    say("The same Reserve again, as a client retries after a lost answer (same key):");
    show(format_args!("reservation {}  {}", again.id, again.status));
    let after = client.stock(&skus, budget()).await?;
    print!("{}", stock_table(&after));
    expect(
        again.id == first.id,
        "a retried reservation to answer the first one's id",
        format!("{} then {}", first.id, again.id),
    )?;
    let reserved = |sku: &Sku| {
        after
            .iter()
            .find(|level| &level.sku == sku)
            .map_or(0, |level| level.reserved)
    };
    expect(
        reserved(&skus[0]) == 2 && reserved(&skus[1]) == 1,
        "the stock to be taken once: 2 and 1 reserved",
        format!("{after:?}"),
    )?;
    say("Same id, and the stock was taken once: the key makes the retry harmless.");
    Ok(())
}

/// What a deadline puts on the wire, and a call whose deadline is already spent, against a
/// stand-in that records the headers it receives.
async fn deadlines() -> Result<(), StepError> {
    let products: Vec<(&str, u32)> = PRODUCTS.iter().map(|&(sku, ..)| (sku, 10)).collect();
    let standin = StandIn::new(&products, Faults::NONE).serve().await?;
    let dependency = Arc::new(Dependency::new("inventory", default_dependency_config()));
    let client = InventoryClient::connect_lazy(&standin.endpoint(), dependency)?;
    let mug = sku(PRODUCTS[0].0)?;
    let result = async {
        println!();
        let budget = Duration::from_millis(250);
        say(format_args!(
            "A deadline is one instant for the whole call; each attempt sends the time left as"
        ));
        say(format_args!(
            "grpc-timeout (format_grpc_timeout({}) is {:?}: at most 8 digits and a unit).",
            duration(budget),
            format_grpc_timeout(budget)
        ));
        client
            .stock(std::slice::from_ref(&mug), Deadline::after(budget))
            .await?;
        let seen = standin.service.arrivals();
        let header = seen.last().and_then(|a| a.grpc_timeout.clone());
        say("A GetStock with a 250 ms deadline; the server received:");
        show(format_args!(
            "grpc-timeout: {}",
            header.as_deref().unwrap_or("(none)")
        ));
        let sent = header
            .as_deref()
            .and_then(shop_resilience::parse_grpc_timeout)
            .unwrap_or_default();
        expect(
            sent > Duration::ZERO && sent <= budget,
            "the header to carry what was left of the 250 ms",
            format!("{header:?}"),
        )?;
        say("A little under 250 ms: the time the client spent before sending is not the server's.");

        let spent = Deadline::after(Duration::ZERO);
        let before = standin.service.arrivals().len();
        let started = Instant::now();
        let error = client.stock(std::slice::from_ref(&mug), spent).await.err();
        let took = started.elapsed();
        let sent_anyway = standin.service.arrivals().len() - before;
        say("A call whose deadline has already passed:");
        show(format_args!(
            "{} after {}, {sent_anyway} requests sent",
            error
                .as_ref()
                .map_or_else(|| "answered".to_owned(), ToString::to_string),
            duration(took)
        ));
        expect(
            matches!(error, Some(CallError::DeadlineExceeded { .. })) && sent_anyway == 0,
            "DEADLINE_EXCEEDED at once, without a request",
            format!("{error:?}, {sent_anyway} sent"),
        )?;
        say("Nobody waits for that answer, so nobody works on it: the call fails in the caller.");
        Ok(())
    }
    .await;
    standin.stop().await?;
    result
}
