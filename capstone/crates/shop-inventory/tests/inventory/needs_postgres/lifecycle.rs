//! A reservation's life with the stock numbers checked at each step: held, then committed,
//! released or expired; and the all-or-nothing rule of a reservation that cannot be served.

use std::time::Duration;

use shop_inventory::{InventoryError, ReservationStatus, reaper};
use shop_resilience::CallError;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::helpers::{HOLD, TestInventory, line, soon};

/// The business answer inside a call's error.
fn business(error: CallError<InventoryError>) -> InventoryError {
    match error {
        CallError::Failed { source, .. } => source,
        other => panic!("expected the inventory's answer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_committed_reservation_takes_its_units_out_of_stock() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    inventory.restock("TEA-01", 5).await;

    let held = inventory
        .client
        .reserve(
            "order-1",
            &[line("TEA-01", 2), line("MUG-RED", 3)],
            HOLD,
            soon(),
        )
        .await
        .expect("there is enough of both");
    assert_eq!(held.status, ReservationStatus::Held);
    assert_eq!(
        held.lines,
        vec![line("MUG-RED", 3), line("TEA-01", 2)],
        "sorted by SKU"
    );
    let level = inventory.level("MUG-RED").await;
    assert_eq!((level.on_hand, level.reserved, level.available), (10, 3, 7));
    assert_eq!(inventory.numbers("TEA-01").await, (5, 2));

    let committed = inventory
        .client
        .commit(held.id, soon())
        .await
        .expect("held");
    assert_eq!(committed.status, ReservationStatus::Committed);
    assert_eq!(committed.id, held.id);
    assert_eq!(inventory.numbers("MUG-RED").await, (7, 0));
    assert_eq!(inventory.numbers("TEA-01").await, (3, 0));

    // A retried commit answers the same and takes nothing more.
    let again = inventory
        .client
        .commit(held.id, soon())
        .await
        .expect("idempotent");
    assert_eq!(again.status, ReservationStatus::Committed);
    assert_eq!(inventory.numbers("MUG-RED").await, (7, 0));

    // A sale is not undone by a release.
    let error = inventory
        .client
        .release(held.id, soon())
        .await
        .expect_err("committed");
    assert!(
        matches!(business(error), InventoryError::WrongState { ref message } if message.contains("committed")),
    );
    assert_eq!(inventory.numbers("MUG-RED").await, (7, 0));
}

#[tokio::test]
async fn a_released_reservation_gives_its_units_back_once() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    let held = inventory
        .client
        .reserve("order-1", &[line("MUG-RED", 4)], HOLD, soon())
        .await
        .expect("enough");
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 4));

    let released = inventory
        .client
        .release(held.id, soon())
        .await
        .expect("held");
    assert_eq!(released.status, ReservationStatus::Released);
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));
    let again = inventory
        .client
        .release(held.id, soon())
        .await
        .expect("idempotent");
    assert_eq!(again.status, ReservationStatus::Released);
    assert_eq!(
        inventory.numbers("MUG-RED").await,
        (10, 0),
        "given back once"
    );

    let error = inventory
        .client
        .commit(held.id, soon())
        .await
        .expect_err("released");
    assert!(matches!(business(error), InventoryError::WrongState { .. }));
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));
}

#[tokio::test]
async fn the_reaper_expires_a_due_hold_and_its_units_come_back() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    let held = inventory
        .client
        .reserve(
            "order-1",
            &[line("MUG-RED", 4)],
            Duration::from_secs(1),
            soon(),
        )
        .await
        .expect("enough");

    let now = OffsetDateTime::now_utc();
    assert_eq!(
        inventory.store.expire_due(now, 100).await.expect("runs"),
        0,
        "not due yet"
    );
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 4));

    // The clock moved on by two seconds, as far as the reaper knows.
    let later = now + Duration::from_secs(2);
    assert_eq!(
        inventory.store.expire_due(later, 100).await.expect("runs"),
        1
    );
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));
    assert_eq!(
        inventory.store.expire_due(later, 100).await.expect("runs"),
        0,
        "once"
    );

    let error = inventory
        .client
        .commit(held.id, soon())
        .await
        .expect_err("expired");
    assert!(
        matches!(business(error), InventoryError::WrongState { ref message } if message.contains("expired")),
    );
    // Releasing an expired reservation is no error: its units are already back.
    let released = inventory
        .client
        .release(held.id, soon())
        .await
        .expect("nothing to do");
    assert_eq!(released.status, ReservationStatus::Expired);
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));
}

#[tokio::test]
async fn the_reaper_expires_in_batches_and_leaves_live_holds_alone() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 100).await;
    for n in 0..5 {
        inventory
            .store
            .reserve(&format!("due-{n}"), &[line("MUG-RED", 2)], Duration::ZERO)
            .await
            .expect("enough");
    }
    inventory
        .client
        .reserve("live", &[line("MUG-RED", 7)], HOLD, soon())
        .await
        .expect("enough");
    assert_eq!(inventory.numbers("MUG-RED").await, (100, 17));

    let now = OffsetDateTime::now_utc();
    assert_eq!(
        inventory.store.expire_due(now, 2).await.expect("runs"),
        2,
        "a batch of two"
    );
    assert_eq!(inventory.numbers("MUG-RED").await, (100, 13));
    assert_eq!(
        inventory.store.expire_due(now, 100).await.expect("runs"),
        3,
        "the rest"
    );
    assert_eq!(
        inventory.numbers("MUG-RED").await,
        (100, 7),
        "the live hold stays"
    );
}

#[tokio::test]
async fn the_running_reaper_releases_an_expired_hold_on_its_own() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    inventory
        .store
        .reserve("order-1", &[line("MUG-RED", 4)], Duration::ZERO)
        .await
        .expect("enough");
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 4));

    let stop = CancellationToken::new();
    let reaping = tokio::spawn(reaper::run(
        inventory.store.clone(),
        Duration::from_millis(20),
        stop.clone(),
    ));
    let released = async {
        while inventory.numbers("MUG-RED").await != (10, 0) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), released)
        .await
        .expect("the reaper gave the units back");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), reaping)
        .await
        .expect("the reaper stops when told")
        .expect("the reaper did not panic");
}

#[tokio::test]
async fn committing_a_hold_past_its_expiry_fails_even_before_the_reaper_runs() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    let held = inventory
        .store
        .reserve("order-1", &[line("MUG-RED", 4)], Duration::ZERO)
        .await
        .expect("enough");

    let error = inventory
        .client
        .commit(held.id, soon())
        .await
        .expect_err("expired");
    assert!(matches!(business(error), InventoryError::WrongState { .. }));
    assert_eq!(
        inventory.numbers("MUG-RED").await,
        (10, 0),
        "expired on the spot"
    );
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        inventory.store.expire_due(now, 100).await.expect("runs"),
        0,
        "already done"
    );
}

#[tokio::test]
async fn a_reservation_that_cannot_be_served_names_the_sku_and_takes_nothing() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    inventory.restock("TEA-01", 1).await;
    let lines = [line("MUG-RED", 3), line("TEA-01", 2)];

    let error = inventory
        .client
        .reserve("order-1", &lines, HOLD, soon())
        .await
        .expect_err("one TEA-01 is not two");
    assert!(matches!(business(error), InventoryError::Insufficient { ref sku } if sku == "TEA-01"),);
    // MUG-RED's line came first and was served, then rolled back with the rest.
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));
    assert_eq!(inventory.numbers("TEA-01").await, (1, 0));

    // Nothing was stored under the key: after a restock the same call goes through.
    inventory.restock("TEA-01", 1).await;
    let held = inventory
        .client
        .reserve("order-1", &lines, HOLD, soon())
        .await
        .expect("enough now");
    assert_eq!(held.status, ReservationStatus::Held);
    assert_eq!(inventory.numbers("TEA-01").await, (2, 2));
}

#[tokio::test]
async fn unknown_skus_and_reservations_are_not_found() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;

    let error = inventory
        .client
        .reserve(
            "order-1",
            &[line("MUG-RED", 1), line("NO-SUCH", 1)],
            HOLD,
            soon(),
        )
        .await
        .expect_err("NO-SUCH is not stocked");
    assert!(matches!(business(error), InventoryError::UnknownSku { ref sku } if sku == "NO-SUCH"),);
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));

    let levels = inventory
        .client
        .stock(
            &[
                crate::helpers::sku("NO-SUCH"),
                crate::helpers::sku("MUG-RED"),
            ],
            soon(),
        )
        .await
        .expect("GetStock succeeds");
    assert_eq!(levels.len(), 1, "unknown SKUs are left out: {levels:?}");

    let nobody = "0190e9c8-0000-7000-8000-000000000000"
        .parse()
        .expect("a UUID");
    let error = inventory
        .client
        .commit(nobody, soon())
        .await
        .expect_err("no such reservation");
    assert!(matches!(
        business(error),
        InventoryError::UnknownReservation
    ));
}
