//! One checkout, one trace (chapters 07 and 08): a `POST /checkout` that arrives with a
//! `traceparent` is served inside the caller's trace, and the shop API's gRPC call to the
//! inventory carries it on, so the inventory's span for the reservation is in the same trace.
//!
//! A test binary of its own, as the inventory's trace test is: it installs a subscriber for its
//! thread, and `tracing` caches per call site whether anyone listens, a cache that tests on other
//! threads of the same process could leave stale.

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "this binary uses a few of the shared helpers")]
mod helpers;

mod needs_postgres {
    use reqwest::Method;
    use serde_json::json;
    use shop_domain::Role;
    use shop_telemetry::capture::capture_thread;
    use tokio_util::sync::CancellationToken;

    use crate::helpers::{TestApp, UNREACHABLE_MONGODB};

    // The default current-thread runtime runs the API's, the inventory's and the client's tasks
    // on this thread, so the subscriber set for it sees them all.
    #[tokio::test]
    async fn the_inventory_reservation_is_in_the_checkouts_trace() {
        let (captured, _capture) = capture_thread("info").expect("a valid filter");

        let inventory_db = testkit::postgres().await;
        shop_inventory::MIGRATOR
            .run(inventory_db.pool())
            .await
            .expect("the inventory migrations apply");
        let config = shop_inventory::Config {
            listen: "127.0.0.1:0".parse().expect("a socket address"),
            ..shop_inventory::Config::default()
        };
        let inventory =
            shop_inventory::Application::build_with_pool(config, inventory_db.pool().clone())
                .await
                .expect("the inventory binds");
        let endpoint = inventory.endpoint();
        let shutdown = CancellationToken::new();
        let _served = inventory.spawn(shutdown.clone());

        // No payment provider: the checkout stops at its third step (503), after the reservation.
        let app = TestApp::spawn_paying(
            UNREACHABLE_MONGODB,
            "shop",
            |config| {
                config.inventory.url = endpoint;
                config.payments.url = "http://127.0.0.1:1/".parse().expect("a URL");
            },
            None,
        )
        .await;
        let f = app.fixtures();
        let (_, admin) = app.token_for(Role::Admin).await;
        let restock = app
            .request(
                Method::POST,
                &format!("/admin/products/{}/stock", f.hose),
                Some(&admin),
            )
            .json(&json!({ "add": 3 }));
        assert!(app.send(restock).await.status().is_success());
        let (_, token) = app.token_for(Role::Customer).await;
        let put = app
            .request(
                Method::PUT,
                &format!("/cart/items/{}", f.hose),
                Some(&token),
            )
            .json(&json!({ "quantity": 1 }));
        assert!(app.send(put).await.status().is_success());

        let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let checkout = app
            .request(Method::POST, "/checkout", Some(&token))
            .header(
                "traceparent",
                format!("00-{caller_trace}-00f067aa0ba902b7-01"),
            )
            .header("idempotency-key", "traced")
            .json(&json!({ "card_number": "4111 1111 1111 1111" }));
        let response = app.send(checkout).await;
        assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);

        // The inventory's line for each call it served.
        let traces = captured.trace_ids("answered", &["grpc"]);
        // The restock came from outside any trace the test chose; the reservation is the
        // checkout's.
        assert_eq!(traces.len(), 2, "{:#?}", captured.lines());
        assert_ne!(traces[0], caller_trace);
        assert_eq!(
            traces[1], caller_trace,
            "the reservation joined the checkout's trace"
        );
        shutdown.cancel();
    }
}
