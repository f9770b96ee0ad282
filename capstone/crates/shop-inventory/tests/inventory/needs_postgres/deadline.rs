//! The caller's deadline bounds the service's work: the typed client does not call with a
//! spent one, and a store call that outlives it is cut off and rolled back. (A deadline spent
//! on arrival is `spent_deadline.rs`, in process: tonic's own client never sends one.)

use std::time::{Duration, Instant};

use shop_inventory::proto;
use shop_resilience::{CallError, Deadline};
use tonic::{Code, Request};

use crate::helpers::TestInventory;

#[tokio::test]
async fn the_typed_client_does_not_even_call_with_a_spent_deadline() {
    let inventory = TestInventory::start().await;
    let spent = Deadline::after(Duration::ZERO);
    let error = inventory
        .client
        .stock(&[], spent)
        .await
        .expect_err("no time");
    assert!(
        matches!(error, CallError::DeadlineExceeded { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_store_call_that_outlives_the_deadline_is_cut_off_and_rolled_back() {
    // The server's own ceiling is the deadline here, so the test does not race tonic's
    // enforcement of the client's grpc-timeout.
    let inventory =
        TestInventory::start_with(|config| config.max_call_time = Duration::from_millis(300)).await;
    inventory.restock("MUG-RED", 10).await;
    inventory.restock("TEA-01", 10).await;

    // Another transaction holds TEA-01's row: the reservation's second UPDATE waits for it.
    let mut blocker = inventory.db.pool().begin().await.expect("a transaction");
    sqlx::query("SELECT 1 FROM stock WHERE sku = 'TEA-01' FOR UPDATE")
        .execute(&mut *blocker)
        .await
        .expect("locks the row");

    let mut raw = inventory.raw().await;
    let mut request = Request::new(proto::ReserveRequest {
        idempotency_key: "order-1".into(),
        lines: vec![
            proto::Line {
                sku: "MUG-RED".into(),
                quantity: 2,
            },
            proto::Line {
                sku: "TEA-01".into(),
                quantity: 2,
            },
        ],
        hold_seconds: 0,
    });
    request.set_timeout(Duration::from_secs(10));
    let started = Instant::now();
    let status = raw
        .reserve(request)
        .await
        .expect_err("blocked past the ceiling");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at the ceiling"
    );

    blocker.rollback().await.expect("unlocks");
    // MUG-RED's line had been taken inside the abandoned transaction: it is back.
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));
    assert_eq!(inventory.numbers("TEA-01").await, (10, 0));
}
