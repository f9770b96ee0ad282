//! Bad requests are INVALID_ARGUMENT with a message that says what is wrong; a database failure
//! is INTERNAL with no detail at all.

use shop_inventory::InventoryError;
use shop_inventory::proto::{self, Line};
use shop_resilience::CallError;
use tonic::{Code, Request};

use crate::helpers::{HOLD, TestInventory, line, soon};

fn reserve(key: &str, lines: Vec<Line>, hold_seconds: u32) -> proto::ReserveRequest {
    proto::ReserveRequest {
        idempotency_key: key.to_owned(),
        lines,
        hold_seconds,
    }
}

fn wire(sku: &str, quantity: u32) -> Line {
    Line {
        sku: sku.to_owned(),
        quantity,
    }
}

#[tokio::test]
async fn malformed_requests_are_invalid_arguments_and_change_nothing() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    let mut raw = inventory.raw().await;

    let too_many: Vec<Line> = (0..101).map(|n| wire(&format!("SKU-{n}"), 1)).collect();
    let cases = [
        (
            "zero quantity",
            reserve("k", vec![wire("MUG-RED", 0)], 0),
            "quantity",
        ),
        ("bad SKU", reserve("k", vec![wire("mug red", 1)], 0), "SKU"),
        ("no lines", reserve("k", vec![], 0), "lines"),
        ("101 lines", reserve("k", too_many, 0), "lines"),
        (
            "empty key",
            reserve("", vec![wire("MUG-RED", 1)], 0),
            "idempotency_key",
        ),
        (
            "long key",
            reserve(&"k".repeat(129), vec![wire("MUG-RED", 1)], 0),
            "idempotency_key",
        ),
        (
            "long hold",
            reserve("k", vec![wire("MUG-RED", 1)], 3601),
            "hold_seconds",
        ),
        (
            "one SKU twice",
            reserve("k", vec![wire("MUG-RED", 1), wire("mug-red", 1)], 0),
            "more than one line",
        ),
    ];
    for (case, request, mentions) in cases {
        let status = raw.reserve(Request::new(request)).await.expect_err(case);
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        assert!(
            status.message().contains(mentions),
            "{case}: {}",
            status.message()
        );
    }

    let status = raw
        .commit(proto::ReservationRef {
            reservation_id: "rsv-1".into(),
        })
        .await
        .expect_err("not a UUID");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = raw
        .restock(proto::RestockRequest {
            sku: "MUG-RED".into(),
            quantity: 0,
        })
        .await
        .expect_err("zero units");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(inventory.numbers("MUG-RED").await, (10, 0));
}

#[tokio::test]
async fn the_typed_client_reports_invalid_input_as_invalid() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    let error = inventory
        .client
        .reserve("", &[line("MUG-RED", 1)], HOLD, soon())
        .await
        .expect_err("an empty key");
    assert!(
        matches!(error, CallError::Failed { source: InventoryError::Invalid { ref message }, .. } if message.contains("idempotency_key")),
        "{error:?}"
    );
    // Not the dependency's fault: no failure counted, no retry worth making.
    assert!(!error.is_unavailable());
}

#[tokio::test]
async fn a_database_failure_is_internal_and_tells_the_caller_nothing_more() {
    let inventory = TestInventory::start().await;
    inventory.restock("MUG-RED", 10).await;
    sqlx::query("ALTER TABLE stock RENAME TO stock_elsewhere")
        .execute(inventory.db.pool())
        .await
        .expect("the test may change its own database");

    let mut raw = inventory.raw().await;
    let status = raw
        .get_stock(proto::GetStockRequest {
            skus: vec!["MUG-RED".into()],
        })
        .await
        .expect_err("the table is gone");
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal error", "no SQL, no table names");
}
