//! A call whose deadline is spent when it arrives is answered DEADLINE_EXCEEDED without any
//! work. Called in process, with `grpc-timeout: 0n` in its metadata: over the network, tonic's
//! client enforces the deadline itself and never sends such a call, which is exactly what a
//! caller using another gRPC library, or a slow network, may still deliver.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shop_inventory::Store;
use shop_inventory::proto::{self, inventory_server::Inventory};
use shop_inventory::service::{InventoryService, ServiceSettings};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use tonic::{Code, Request};

/// A service whose "database" is a listener that counts the connections made to it and never
/// answers them: any call that reaches for the database shows up in the count, then fails as
/// UNAVAILABLE when the pool gives up.
async fn service_with_a_silent_database() -> (InventoryService, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            // Held open and silent, as a database that hangs.
            open.push(stream);
        }
    });
    let options = PgConnectOptions::new().host("127.0.0.1").port(port);
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy_with(options);
    let service = InventoryService::new(
        Store::new(pool),
        ServiceSettings {
            default_hold: Duration::from_secs(60),
            max_call_time: Duration::from_secs(10),
        },
    );
    (service, connections)
}

fn reserve(grpc_timeout: &'static str) -> Request<proto::ReserveRequest> {
    let mut request = Request::new(proto::ReserveRequest {
        idempotency_key: "order-1".into(),
        lines: vec![proto::Line {
            sku: "MUG-RED".into(),
            quantity: 1,
        }],
        hold_seconds: 0,
    });
    request
        .metadata_mut()
        .insert("grpc-timeout", grpc_timeout.parse().expect("ASCII"));
    request
}

#[tokio::test]
async fn a_spent_deadline_is_answered_at_once_without_the_database() {
    let (service, connections) = service_with_a_silent_database().await;
    let status = service
        .reserve(reserve("0n"))
        .await
        .expect_err("no time left");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    // Time for a connection attempt, had there been one, to arrive.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the database was not touched"
    );

    // The control: with time left, the same call does reach for the database, which never
    // answers, and the pool gives up.
    let status = service
        .reserve(reserve("5S"))
        .await
        .expect_err("no database");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        connections.load(Ordering::SeqCst) > 0,
        "the pool tried the database"
    );
}
