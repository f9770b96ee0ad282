//! Orders over HTTP (chapter 08): a customer sees and cancels their own, another customer's
//! order is a 404, staff list and move orders, and a move the state machine forbids is a 409
//! that changes nothing.

mod needs_postgres {
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use shop_domain::{OrderId, ProductId, Role, UserId};

    use crate::helpers::TestApp;
    use crate::{PROBLEM_JSON, parts};

    /// An order of `customer` for `quantity` × `product` at `unit_price_minor` EUR, in
    /// `status`, written as the checkout will write it.
    async fn order(
        app: &TestApp,
        customer: UserId,
        product: ProductId,
        quantity: i32,
        unit_price_minor: i64,
        status: &str,
    ) -> OrderId {
        let id = OrderId::generate();
        sqlx::query(
            "INSERT INTO orders (id, user_id, status, currency) VALUES ($1, $2, $3, 'EUR')",
        )
        .bind(id.as_uuid())
        .bind(customer.as_uuid())
        .bind(status)
        .execute(app.pool())
        .await
        .expect("the order inserts");
        sqlx::query(
            "INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id.as_uuid())
        .bind(product.as_uuid())
        .bind(quantity)
        .bind(unit_price_minor)
        .execute(app.pool())
        .await
        .expect("the line inserts");
        id
    }

    async fn call(
        app: &TestApp,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let mut request = app.request(method, path, Some(token));
        if let Some(body) = body {
            request = request.json(&body);
        }
        parts(app.send(request).await).await
    }

    async fn ship(
        app: &TestApp,
        admin: &str,
        id: OrderId,
        action: &str,
    ) -> (StatusCode, String, Value) {
        let path = format!("/admin/orders/{id}/transitions");
        call(
            app,
            Method::POST,
            &path,
            admin,
            Some(json!({ "action": action })),
        )
        .await
    }

    #[tokio::test]
    async fn a_customer_lists_and_reads_their_own_orders_only() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (ada_id, ada) = app.token_for(Role::Customer).await;
        let (bob_id, bob) = app.token_for(Role::Customer).await;
        let first = order(&app, ada_id, f.headphones, 2, 4_500, "paid").await;
        let second = order(&app, ada_id, f.hose, 1, 2_450, "pending_payment").await;
        let bobs = order(&app, bob_id, f.speaker, 1, 12_900, "paid").await;

        let (status, _, list) = call(&app, Method::GET, "/orders", &ada, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let ids: Vec<&str> = list["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["id"].as_str().expect("an id"))
            .collect();
        assert_eq!(
            ids,
            [second.to_string(), first.to_string()],
            "newest first, Ada's only"
        );
        // The price paid, not today's catalog price (49.99).
        assert_eq!(
            list["orders"][1]["total"],
            json!({ "amount_minor": 9_000, "currency": "EUR" })
        );

        let (status, _, detail) =
            call(&app, Method::GET, &format!("/orders/{first}"), &ada, None).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        assert_eq!(detail["lines"][0]["sku"], "HP-100");
        assert_eq!(detail["status"], "paid");
        assert_eq!(detail["allowed_actions"], json!(["fulfil", "refund"]));

        let (status, content_type, _) =
            call(&app, Method::GET, &format!("/orders/{bobs}"), &ada, None).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "another customer's order is not found"
        );
        assert_eq!(content_type, PROBLEM_JSON);
        let (status, _, _) = call(&app, Method::GET, "/orders?status=paid", &bob, None).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "customers do not filter by status"
        );
    }

    #[tokio::test]
    async fn a_customer_cancels_a_pending_order_but_not_a_paid_one() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (ada_id, ada) = app.token_for(Role::Customer).await;
        let (_, bob) = app.token_for(Role::Customer).await;
        let pending = order(&app, ada_id, f.hose, 1, 2_450, "pending_payment").await;
        let paid = order(&app, ada_id, f.hose, 1, 2_450, "paid").await;

        let path = format!("/orders/{pending}/cancel");
        let (status, _, _) = call(&app, Method::POST, &path, &bob, None).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "Bob cannot cancel Ada's order"
        );
        let (status, _, cancelled) = call(&app, Method::POST, &path, &ada, None).await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["history"][0]["from"], "pending_payment");
        assert_eq!(cancelled["history"][0]["actor"], Value::Null);

        let path = format!("/orders/{paid}/cancel");
        let (status, content_type, problem) = call(&app, Method::POST, &path, &ada, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert_eq!(content_type, PROBLEM_JSON);
        let detail = problem["detail"].as_str().expect("a detail");
        assert!(
            detail.contains("fulfil") && detail.contains("refund"),
            "{detail}"
        );
        let (_, _, still) = call(&app, Method::GET, &format!("/orders/{paid}"), &ada, None).await;
        assert_eq!(still["status"], "paid");
        assert_eq!(still["history"], json!([]));
    }

    #[tokio::test]
    async fn staff_move_an_order_to_delivery_and_illegal_moves_are_409s() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (customer, _) = app.token_for(Role::Customer).await;
        let (admin_id, admin) = app.token_for(Role::Admin).await;
        let id = order(&app, customer, f.speaker, 1, 12_900, "paid").await;

        let (status, _, problem) = ship(&app, &admin, id, "ship").await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "a paid order is fulfilled before it ships: {problem}"
        );
        for (action, expected) in [
            ("fulfil", "fulfilled"),
            ("ship", "shipped"),
            ("deliver", "delivered"),
        ] {
            let (status, _, moved) = ship(&app, &admin, id, action).await;
            assert_eq!(status, StatusCode::OK, "{action}: {moved}");
            assert_eq!(moved["status"], expected);
        }
        let (_, _, order) = call(
            &app,
            Method::GET,
            &format!("/admin/orders/{id}"),
            &admin,
            None,
        )
        .await;
        let history: Vec<&str> = order["history"]
            .as_array()
            .expect("a history")
            .iter()
            .map(|t| t["to"].as_str().expect("a status"))
            .collect();
        assert_eq!(history, ["fulfilled", "shipped", "delivered"]);
        assert_eq!(order["history"][0]["actor"], admin_id.to_string());
        assert_eq!(order["allowed_actions"], json!(["refund"]));

        let (status, _, _) = ship(&app, &admin, id, "launch").await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "an unknown action is a malformed body"
        );
        let (status, _, _) = ship(&app, &admin, OrderId::generate(), "ship").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_admin_listing_filters_by_status_and_needs_the_permission() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (customer, customer_token) = app.token_for(Role::Customer).await;
        let (_, support) = app.token_for(Role::Support).await;
        let (_, admin) = app.token_for(Role::Admin).await;
        let paid = order(&app, customer, f.hose, 1, 2_450, "paid").await;
        // The seed generator's legacy spelling of pending payment is read as pending payment.
        let legacy = order(&app, customer, f.hose, 1, 2_450, "placed").await;

        let (status, _, list) = call(
            &app,
            Method::GET,
            "/admin/orders?status=pending_payment",
            &support,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["orders"].as_array().map(Vec::len), Some(1));
        assert_eq!(list["orders"][0]["id"], legacy.to_string());
        assert_eq!(list["orders"][0]["status"], "pending_payment");

        // The data export says it the same way.
        let (_, _, export) = call(&app, Method::GET, "/me/export", &customer_token, None).await;
        let statuses: Vec<&str> = (export["orders"].as_array().unwrap().iter())
            .map(|order| order["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses.len(), 2, "{export}");
        assert!(statuses.contains(&"pending_payment"), "{export}");
        assert!(!statuses.contains(&"placed"), "{export}");

        let (_, _, page) = call(&app, Method::GET, "/admin/orders?limit=1", &admin, None).await;
        assert_eq!(page["orders"][0]["id"], legacy.to_string());
        let next = page["next_after"].as_str().expect("a cursor");
        let (_, _, rest) = call(
            &app,
            Method::GET,
            &format!("/admin/orders?limit=1&after={next}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(rest["orders"][0]["id"], paid.to_string());

        let (status, _, _) = call(&app, Method::GET, "/admin/orders", &customer_token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = ship(&app, &support, paid, "fulfil").await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "support reads orders, it does not move them"
        );
        let (status, _, _) =
            call(&app, Method::GET, "/admin/orders?status=lost", &admin, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
