//! A retried Reserve (the same idempotency key) reserves once; the key with other lines is
//! refused.

use shop_inventory::InventoryError;
use shop_resilience::CallError;

use crate::helpers::{HOLD, TestInventory, line, soon};

#[tokio::test]
async fn the_same_key_and_lines_answer_the_first_reservation() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    inventory.restock("TEA-01", 10).await;

    let first = inventory
        .client
        .reserve(
            "order-1",
            &[line("MUG-RED", 3), line("TEA-01", 1)],
            HOLD,
            soon(),
        )
        .await
        .expect("enough");
    // The lines in another order are the same lines.
    let second = inventory
        .client
        .reserve(
            "order-1",
            &[line("TEA-01", 1), line("MUG-RED", 3)],
            HOLD,
            soon(),
        )
        .await
        .expect("a replay");
    assert_eq!(second, first);
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 3), "taken once");

    // A replay answers the reservation as it is now.
    inventory
        .client
        .commit(first.id, soon())
        .await
        .expect("held");
    let third = inventory
        .client
        .reserve(
            "order-1",
            &[line("MUG-RED", 3), line("TEA-01", 1)],
            HOLD,
            soon(),
        )
        .await
        .expect("a replay");
    assert_eq!(third.id, first.id);
    assert_eq!(third.status, shop_inventory::ReservationStatus::Committed);
    assert_eq!(inventory.numbers("MUG-RED").await, (7, 0));
}

#[tokio::test]
async fn the_same_key_with_other_lines_is_refused_and_takes_nothing() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    inventory
        .client
        .reserve("order-1", &[line("MUG-RED", 3)], HOLD, soon())
        .await
        .expect("enough");

    for other in [
        vec![line("MUG-RED", 4)],
        vec![line("MUG-RED", 3), line("MUG-BLUE", 1)],
    ] {
        let error = inventory
            .client
            .reserve("order-1", &other, HOLD, soon())
            .await
            .expect_err("the key is taken");
        assert!(
            matches!(
                error,
                CallError::Failed {
                    source: InventoryError::KeyReused,
                    ..
                }
            ),
            "{error:?}"
        );
    }
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 3));

    // Another key is another reservation.
    inventory
        .client
        .reserve("order-2", &[line("MUG-RED", 4)], HOLD, soon())
        .await
        .expect("enough");
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 7));
}
