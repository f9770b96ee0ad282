//! Step 5: the checkout saga against the real inventory service and the capstone's payment
//! sandbox (over HTTP, on a loopback port), with a good card and with the card that is declined.

use std::sync::Arc;
use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, heading, say, show};
use shop_domain::{Currency, Money, OrderId, Sku, UserId};
use shop_inventory::{
    InventoryClient, ReservationStatus, ReserveLine, StockLevel, default_dependency_config,
};
use shop_resilience::{Deadline, Dependency};

use super::grpc::{sku, units};
use super::{Demo, StepError, event_summary, loopback, start_inventory};
use crate::catalog::PRODUCTS;
use crate::checkout::{AUTHORISE, CONFIRM, Checkout, CheckoutOrder, CheckoutOutcome, RESERVE};
use shop_payments::sandbox::test_cards::{DECLINED as DECLINED_CARD, SUCCEEDS as GOOD_CARD};
use shop_payments::{
    HttpProvider, HttpProviderConfig, IntentStatus, PaymentProvider, Sandbox, SandboxConfig,
    WebhookSecret,
};

pub async fn saga(demo: &Demo) -> Result<(), StepError> {
    heading(
        5,
        "Saga: one checkout across inventory, payments and orders",
    );
    let db = demo.database().await?;
    let inventory = start_inventory(&db, loopback()).await?;
    // No webhooks: the saga reads each payment's outcome from the provider's answer.
    let sandbox = Sandbox::start(SandboxConfig::new(WebhookSecret::generate()))
        .await
        .map_err(|error| StepError::Payments(error.to_string()))?;
    let provider = HttpProvider::new(
        sandbox.base_url(),
        reqwest::Client::new(),
        HttpProviderConfig::default(),
    )
    .map_err(|error| StepError::Payments(error.to_string()))?;
    let result = run(&inventory.endpoint(), Arc::new(provider)).await;
    sandbox.stop().await?;
    inventory.stop().await?;
    demo.finish(db).await?;
    result
}

fn budget() -> Deadline {
    Deadline::after(Duration::from_secs(2))
}

async fn levels(client: &InventoryClient, skus: &[Sku]) -> Result<Vec<StockLevel>, StepError> {
    Ok(client.stock(skus, budget()).await?)
}

fn describe(levels: &[StockLevel]) -> String {
    levels
        .iter()
        .map(|l| format!("{} {} on hand, {} reserved", l.sku, l.on_hand, l.reserved))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn run(endpoint: &str, payments: Arc<dyn PaymentProvider>) -> Result<(), StepError> {
    let dependency = Arc::new(Dependency::new("inventory", default_dependency_config()));
    let client = Arc::new(InventoryClient::connect_lazy(endpoint, dependency)?);
    let (mug, tee) = (sku(PRODUCTS[0].0)?, sku(PRODUCTS[1].0)?);
    client.restock(&mug, 10, budget()).await?;
    client.restock(&tee, 4, budget()).await?;
    let skus = [mug.clone(), tee.clone()];
    let checkout = Checkout::new(Arc::clone(&client), Arc::clone(&payments));

    say("Three steps, each with the compensation that undoes it:");
    let mut table = Table::new(["step", "service", "undo"]);
    table
        .row([
            RESERVE,
            "inventory (gRPC): Reserve",
            "release the reservation",
        ])
        .row([
            AUTHORISE,
            "payment provider (HTTP): take the payment",
            "refund it",
        ])
        .row([
            CONFIRM,
            "inventory Commit, order events",
            "(last step: none)",
        ]);
    print!("{table}");
    let order = |card: &str| CheckoutOrder {
        order_id: OrderId::generate(),
        customer: UserId::generate(),
        lines: vec![
            ReserveLine {
                sku: mug.clone(),
                quantity: units(2),
            },
            ReserveLine {
                sku: tee.clone(),
                quantity: units(1),
            },
        ],
        total: Money::from_minor(2 * 1_250 + 2_400, Currency::Eur),
        card: card.to_owned(),
    };

    println!();
    let good = order(GOOD_CARD);
    let before = levels(&client, &skus).await?;
    say(format_args!(
        "An order of 2 × {mug} and 1 × {tee}, {}, paid with card {GOOD_CARD}:",
        good.total
    ));
    show(format_args!("stock before: {}", describe(&before)));
    let placed = match checkout.place(&good).await {
        CheckoutOutcome::Placed(placed) => placed,
        CheckoutOutcome::Aborted { step, error, .. } => {
            return Err(narrate::demo::Unexpected {
                expected: "the good card's checkout to go through",
                got: format!("{step} failed: {error}"),
            }
            .into());
        }
    };
    let after = levels(&client, &skus).await?;
    let payment = payments
        .get(&placed.payment)
        .await
        .ok()
        .map(|intent| intent.status);
    show(format_args!(
        "placed: reservation {} {}, payment {} {}",
        placed.reservation.id,
        placed.reservation.status,
        placed.payment,
        match &payment {
            Some(IntentStatus::Succeeded) => "succeeded",
            Some(_) => "not succeeded",
            None => "unknown",
        }
    ));
    show(format_args!("stock after:  {}", describe(&after)));
    let events = checkout.events(good.order_id);
    show(format_args!(
        "order events: {}",
        events
            .iter()
            .map(event_summary)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let sold = after
        .iter()
        .zip(&before)
        .map(|(a, b)| (b.on_hand - a.on_hand, a.reserved))
        .collect::<Vec<_>>();
    expect(
        sold == [(2, 0), (1, 0)]
            && placed.reservation.status == ReservationStatus::Committed
            && payment == Some(IntentStatus::Succeeded)
            && events.len() == 2,
        "the units sold (on hand down, nothing left reserved), the payment taken, two events",
        format!("{sold:?}, {payment:?}, {} events", events.len()),
    )?;
    say("Every step ran: the payment was taken, then the reservation committed (the units left");
    say("on hand) in the last step, where nothing after it can fail.");

    println!();
    let declined = order(DECLINED_CARD);
    let before = levels(&client, &skus).await?;
    say(format_args!(
        "The same basket, paid with card {DECLINED_CARD} (the provider declines it):"
    ));
    show(format_args!("stock before: {}", describe(&before)));
    let CheckoutOutcome::Aborted {
        step,
        error,
        compensated,
    } = checkout.place(&declined).await
    else {
        return Err(narrate::demo::Unexpected {
            expected: "the declined card's checkout to be aborted",
            got: "it went through".to_owned(),
        }
        .into());
    };
    show(format_args!("failed at {step}: {error}"));
    show(format_args!(
        "compensated: {}; compensations that failed: {}",
        compensated.undone.join(", "),
        compensated.failed.len()
    ));
    let after = levels(&client, &skus).await?;
    show(format_args!("stock after:  {}", describe(&after)));
    expect(
        step == AUTHORISE && compensated.undone == [RESERVE] && compensated.is_clean(),
        "the payment step to fail and the reservation to be released",
        format!("{step}, {compensated:?}"),
    )?;
    expect(
        before == after && checkout.events(declined.order_id).is_empty(),
        "the stock after to equal the stock before, and no order recorded",
        format!("{} then {}", describe(&before), describe(&after)),
    )?;
    say("The reservation was the only step done, so it was the only one undone: the stock is");
    say("as it was, and no order exists. No distributed transaction, no lock held across");
    say("services: each committed its own step, and a failure undid, step by step, what was done.");
    Ok(())
}
