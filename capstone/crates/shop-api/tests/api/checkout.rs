//! The checkout end to end (chapter 08): the shop API, the inventory service over gRPC and
//! the payment sandbox over HTTP, each on a loopback port of its own, with webhooks signed and
//! verified. A customer fills a cart, checks out with an idempotency key, pays, and sees the
//! order paid; a declined card, missing stock, a forged webhook and a stopped inventory each
//! leave nothing behind.

mod needs_postgres {
    use std::net::SocketAddr;
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use async_trait::async_trait;
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use shop_domain::{Money, Role, Sku};
    use shop_inventory::{ReservationId, StockLevel, Store};
    use shop_payments::sandbox::IDEMPOTENCY_KEY;
    use shop_payments::{
        AuthoriseRequest, DeliveryOutcome, HttpProvider, HttpProviderConfig, IntentId,
        PaymentIntent, PaymentProvider, ProviderError, Refund, RunningSandbox, Sandbox,
        SandboxConfig, WebhookSecret, signature,
    };
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    use crate::helpers::{TestApp, UNREACHABLE_MONGODB};
    use crate::{PROBLEM_JSON, parts};

    use shop_payments::sandbox::test_cards::{
        DECLINED, REQUIRES_ACTION as THREE_D_SECURE, SUCCEEDS as ACCEPTED,
    };

    const SECRET: &str = "whsec_the-checkout-tests-secret";

    /// The provider the API is built with, pointed at the sandbox once the sandbox exists
    /// (the sandbox needs the API's address for its webhooks, the API the sandbox's).
    #[derive(Debug, Default)]
    struct LateProvider(OnceLock<HttpProvider>);

    impl LateProvider {
        fn get(&self) -> Result<&HttpProvider, ProviderError> {
            (self.0.get()).ok_or_else(|| ProviderError::Unavailable("not started yet".into()))
        }
    }

    #[async_trait]
    impl PaymentProvider for LateProvider {
        async fn authorise(
            &self,
            request: AuthoriseRequest,
        ) -> Result<PaymentIntent, ProviderError> {
            self.get()?.authorise(request).await
        }
        async fn confirm(&self, intent: &IntentId) -> Result<PaymentIntent, ProviderError> {
            self.get()?.confirm(intent).await
        }
        async fn refund(
            &self,
            intent: &IntentId,
            amount: Money,
            key: String,
        ) -> Result<Refund, ProviderError> {
            self.get()?.refund(intent, amount, key).await
        }
        async fn get(&self, intent: &IntentId) -> Result<PaymentIntent, ProviderError> {
            self.get()?.get(intent).await
        }
    }

    /// The three services, started the way their binaries start them.
    struct Shop {
        app: TestApp,
        sandbox: RunningSandbox,
        store: Store,
        inventory_addr: SocketAddr,
        inventory_pool: sqlx::PgPool,
        inventory: Option<(
            CancellationToken,
            JoinHandle<Result<(), shop_inventory::startup::ServeError>>,
        )>,
        _inventory_db: testkit::PgDatabase,
        token: String,
    }

    impl Shop {
        async fn start() -> Shop {
            Shop::start_with(|_| {}).await
        }

        /// [`Shop::start`] with the API's settings changed by `configure` (an outbox relay).
        async fn start_with(configure: impl FnOnce(&mut shop_api::Config)) -> Shop {
            let inventory_db = testkit::postgres().await;
            let pool = inventory_db.pool().clone();
            shop_inventory::MIGRATOR
                .run(&pool)
                .await
                .expect("the inventory migrations apply");
            let (inventory_addr, store, inventory) = start_inventory(
                "127.0.0.1:0".parse().expect("a socket address"),
                pool.clone(),
            )
            .await;

            let late = Arc::new(LateProvider::default());
            let endpoint = format!("http://{inventory_addr}");
            let app = TestApp::spawn_paying(
                UNREACHABLE_MONGODB,
                "shop",
                |config| {
                    config.inventory.url = endpoint;
                    config.payments.webhook_secret =
                        Some(WebhookSecret::new(SECRET).expect("a strong secret"));
                    configure(config);
                },
                Some(late.clone()),
            )
            .await;
            let webhooks = format!("{}/webhooks/payments", app.base_url);
            let sandbox = Sandbox::start(SandboxConfig {
                webhook_url: Some(webhooks.parse().expect("a URL")),
                ..SandboxConfig::new(WebhookSecret::new(SECRET).expect("a strong secret"))
            })
            .await
            .expect("the sandbox starts");
            let provider = HttpProvider::new(
                sandbox.base_url(),
                reqwest::Client::new(),
                HttpProviderConfig::default(),
            )
            .expect("an http URL");
            late.0.set(provider).expect("set once");

            let f = app.fixtures();
            let (_, token) = app.token_for(Role::Customer).await;
            // Stock arrives the way staff add it: through the API, which calls the inventory.
            let (_, admin) = app.token_for(Role::Admin).await;
            for product in [f.headphones, f.speaker] {
                let path = format!("/admin/products/{product}/stock");
                let request = app.request(Method::POST, &path, Some(&admin));
                let (status, _, level) =
                    parts(app.send(request.json(&json!({ "add": 5 }))).await).await;
                assert_eq!(status, StatusCode::OK, "{level}");
                assert_eq!(level["available"], 5, "{level}");
            }
            let request = app.request(
                Method::POST,
                &format!("/admin/products/{}/stock", f.hose),
                Some(&token),
            );
            let forbidden = app.send(request.json(&json!({ "add": 5 }))).await;
            assert_eq!(
                forbidden.status(),
                StatusCode::FORBIDDEN,
                "customers do not restock"
            );
            let shop = Shop {
                app,
                sandbox,
                store,
                inventory_addr,
                inventory_pool: pool,
                inventory: Some(inventory),
                _inventory_db: inventory_db,
                token,
            };
            // Two headphones at 49.99 and a speaker at 129.00.
            shop.put(&f.headphones.to_string(), 2).await;
            shop.put(&f.speaker.to_string(), 1).await;
            shop
        }

        async fn put(&self, product: &str, quantity: u32) {
            let request = self
                .app
                .request(
                    Method::PUT,
                    &format!("/cart/items/{product}"),
                    Some(&self.token),
                )
                .json(&json!({ "quantity": quantity }));
            let (status, _, body) = parts(self.app.send(request).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }

        async fn checkout(&self, key: &str, body: Value) -> reqwest::Response {
            let request = self
                .app
                .request(Method::POST, "/checkout", Some(&self.token))
                .header(IDEMPOTENCY_KEY.as_str(), key)
                .json(&body);
            self.app.send(request).await
        }

        async fn order(&self, id: &str) -> Value {
            let (status, _, body) =
                parts(self.app.get_as(&format!("/orders/{id}"), &self.token).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }

        /// Polls until the order has `status` (the webhook is asynchronous), for a bounded time.
        async fn order_becomes(&self, id: &str, status: &str) -> Value {
            for _ in 0..100 {
                let order = self.order(id).await;
                if order["status"] == status {
                    return order;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("order {id} never became {status}: {}", self.order(id).await);
        }

        async fn stock(&self, sku: &str) -> StockLevel {
            let levels = self
                .store
                .get_stock(&[Sku::parse(sku).expect("a valid SKU")])
                .await
                .expect("the inventory answers");
            levels.into_iter().next().expect("the SKU is stocked")
        }

        async fn stop_inventory(&mut self) {
            let (shutdown, served) = self.inventory.take().expect("running");
            shutdown.cancel();
            served
                .await
                .expect("the inventory task ends")
                .expect("the inventory stops cleanly");
        }

        async fn restart_inventory(&mut self) {
            let (_, _, running) =
                start_inventory(self.inventory_addr, self.inventory_pool.clone()).await;
            self.inventory = Some(running);
        }

        async fn metrics(&self) -> String {
            self.app
                .get("/metrics")
                .await
                .text()
                .await
                .expect("the metrics are text")
        }
    }

    async fn start_inventory(
        listen: SocketAddr,
        pool: sqlx::PgPool,
    ) -> (
        SocketAddr,
        Store,
        (
            CancellationToken,
            JoinHandle<Result<(), shop_inventory::startup::ServeError>>,
        ),
    ) {
        let config = shop_inventory::Config {
            listen,
            ..shop_inventory::Config::default()
        };
        let app = shop_inventory::Application::build_with_pool(config, pool)
            .await
            .expect("the inventory service binds");
        let addr = app.local_addr();
        let store = app.store().clone();
        let shutdown = CancellationToken::new();
        let served = app.spawn(shutdown.clone());
        (addr, store, (shutdown, served))
    }

    fn total(minor: i64) -> Value {
        json!({ "amount_minor": minor, "currency": "EUR" })
    }

    // ANCHOR: end_to_end
    #[tokio::test]
    async fn a_customer_checks_out_once_pays_through_the_sandbox_and_sees_the_order_paid() {
        let shop = Shop::start().await;
        let request = json!({ "card_number": ACCEPTED, "expected_total": total(22_898) });

        let response = shop.checkout("key-1", request.clone()).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let (_, _, placed) = parts(response).await;
        let id = placed["order"]["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/orders/{id}"));
        assert_eq!(placed["payment"], json!({ "status": "succeeded" }));
        assert_eq!(placed["order"]["total"], total(22_898));

        // The sandbox's signed webhook arrives, is verified, and the order is paid.
        let deliveries = shop.sandbox.wait_for_deliveries(1).await;
        assert_eq!(
            deliveries[0].outcome,
            DeliveryOutcome::Delivered { status: 200 }
        );
        let paid = shop.order_becomes(&id, "paid").await;
        assert_eq!(paid["history"][0]["action"], "pay");
        assert_eq!(paid["allowed_actions"], json!(["fulfil", "refund"]));
        // The reservation is committed: the units have left the warehouse.
        let headphones = shop.stock("HP-100").await;
        assert_eq!((headphones.on_hand, headphones.reserved), (3, 0));
        // What was bought has left the cart.
        let (_, _, cart) = parts(shop.app.get_as("/cart", &shop.token).await).await;
        assert_eq!(cart["lines"], json!([]));

        // The same key and body again: the first answer, and no second order.
        let again = shop.checkout("key-1", request.clone()).await;
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let (_, _, replayed) = parts(again).await;
        assert_eq!(replayed, placed);
        let (_, _, orders) = parts(shop.app.get_as("/orders", &shop.token).await).await;
        assert_eq!(orders["orders"].as_array().unwrap().len(), 1);

        // The same key with another body is refused.
        let other = json!({ "card_number": ACCEPTED, "expected_total": total(100) });
        let (status, content_type, problem) = parts(shop.checkout("key-1", other).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(
            problem["type"],
            "tag:backend-rs,2026:shop/idempotency-key-reused"
        );

        let metrics = shop.metrics().await;
        assert!(
            metrics.contains("shop_orders_placed_total 1\n"),
            "{metrics}"
        );

        // The outbox (chapter 10): one event per fact, written with it. The replay and the
        // refused reuse of the key added none.
        assert_eq!(
            outbox_kinds(shop.app.pool(), &id).await,
            ["order.placed", "order.paid"]
        );
    }
    // ANCHOR_END: end_to_end

    /// The kinds of the outbox events about order `id`, oldest first.
    async fn outbox_kinds(pool: &sqlx::PgPool, id: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT kind FROM outbox_events WHERE key = $1 ORDER BY created_seq")
            .bind(id)
            .fetch_all(pool)
            .await
            .expect("the outbox reads")
    }

    #[tokio::test]
    async fn a_declined_card_is_402_and_undoes_the_order_and_the_reservation() {
        let shop = Shop::start().await;
        let (status, _, problem) = parts(
            shop.checkout("declined", json!({ "card_number": DECLINED }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("card_declined"),
            "{problem}"
        );
        let headphones = shop.stock("HP-100").await;
        assert_eq!((headphones.on_hand, headphones.reserved), (5, 0));
        let (_, _, orders) = parts(shop.app.get_as("/orders", &shop.token).await).await;
        assert_eq!(orders["orders"][0]["status"], "cancelled");
        // The cart is kept, for another card.
        let (_, _, cart) = parts(shop.app.get_as("/cart", &shop.token).await).await;
        assert_eq!(cart["lines"].as_array().unwrap().len(), 2);
        let metrics = shop.metrics().await;
        assert!(
            metrics.contains(r#"shop_payment_failures_total{reason="card_declined"} 1"#),
            "{metrics}"
        );
        // A decline is final for its key: asking again replays it.
        let again = shop
            .checkout("declined", json!({ "card_number": DECLINED }))
            .await;
        assert_eq!(again.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
    }

    #[tokio::test]
    async fn missing_stock_and_a_changed_total_are_409_and_charge_nothing() {
        let shop = Shop::start().await;
        let f = shop.app.fixtures();
        shop.put(&f.headphones.to_string(), 9).await;
        let (status, _, problem) = parts(
            shop.checkout("too-many", json!({ "card_number": ACCEPTED }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("HP-100"));
        assert_eq!(shop.stock("SPK-200").await.reserved, 0);
        assert!(shop.sandbox.deliveries().is_empty(), "no payment was made");

        shop.put(&f.headphones.to_string(), 1).await;
        let stale = json!({ "card_number": ACCEPTED, "expected_total": total(22_898) });
        let (status, _, problem) = parts(shop.checkout("stale", stale).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("178.99"),
            "{problem}"
        );
    }

    #[tokio::test]
    async fn a_checkout_needs_a_key_and_a_card_number() {
        let shop = Shop::start().await;
        let request = shop
            .app
            .request(Method::POST, "/checkout", Some(&shop.token))
            .json(&json!({ "card_number": ACCEPTED }));
        let (status, _, problem) = parts(shop.app.send(request).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key")
        );

        let (status, _, problem) = parts(
            shop.checkout("k", json!({ "card_number": "4111 1111" }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], "#/card_number");
    }

    #[tokio::test]
    async fn a_refusal_before_anything_happened_leaves_the_key_free_for_the_fixed_cart() {
        let shop = Shop::start().await;
        let cleared = shop.app.request(Method::DELETE, "/cart", Some(&shop.token));
        assert!(shop.app.send(cleared).await.status().is_success());
        let request = json!({ "card_number": ACCEPTED });
        let (status, _, problem) = parts(shop.checkout("later", request.clone()).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("empty")
        );

        // Free products only: providers take positive amounts, so there is nothing to place.
        let f = shop.app.fixtures();
        sqlx::query("UPDATE products SET price_minor = 0 WHERE id = $1")
            .bind(f.hose.as_uuid())
            .execute(shop.app.pool())
            .await
            .unwrap();
        shop.put(&f.hose.to_string(), 1).await;
        let (status, _, problem) = parts(shop.checkout("later", request.clone()).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(
            problem["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("zero")
        );
        let removed = shop.app.request(
            Method::DELETE,
            &format!("/cart/items/{}", f.hose),
            Some(&shop.token),
        );
        assert!(shop.app.send(removed).await.status().is_success());

        shop.put(&f.speaker.to_string(), 1).await;
        let response = shop.checkout("later", request).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(response.headers().get("idempotent-replayed").is_none());
    }

    // ANCHOR: inventory_down
    #[tokio::test]
    async fn with_the_inventory_stopped_checkout_is_503_the_catalog_serves_and_a_retry_resumes() {
        let mut shop = Shop::start().await;
        shop.stop_inventory().await;

        let request = json!({ "card_number": ACCEPTED });
        let response = shop.checkout("resume-me", request.clone()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
        let (_, _, problem) = parts(response).await;
        assert_eq!(
            problem["type"],
            "tag:backend-rs,2026:shop/dependency-unavailable"
        );
        assert_eq!(shop.app.get("/products").await.status(), StatusCode::OK);

        // Back up: the same key resumes the same order, and places no second one.
        shop.restart_inventory().await;
        let mut placed = None;
        for _ in 0..40 {
            let response = shop.checkout("resume-me", request.clone()).await;
            if response.status() == StatusCode::CREATED {
                placed = Some(parts(response).await.2);
                break;
            }
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let placed = placed.expect("the checkout succeeds once the inventory is back");
        let id = placed["order"]["id"].as_str().unwrap();
        shop.order_becomes(id, "paid").await;
        let (_, _, orders) = parts(shop.app.get_as("/orders", &shop.token).await).await;
        assert_eq!(orders["orders"].as_array().unwrap().len(), 1, "{orders}");
    }
    // ANCHOR_END: inventory_down

    // ANCHOR: forged_webhook
    #[tokio::test]
    async fn a_forged_webhook_is_400_and_changes_nothing_and_a_redelivery_is_a_no_op() {
        let shop = Shop::start().await;
        // 3-D Secure: the order waits for the customer, and for the webhook.
        let (status, _, placed) = parts(
            shop.checkout("3ds", json!({ "card_number": THREE_D_SECURE }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{placed}");
        assert_eq!(placed["payment"]["status"], "requires_action");
        let id = placed["order"]["id"].as_str().unwrap().to_owned();
        let intent = shop.sandbox.wait_for_deliveries(1).await[0].intent.clone();

        let event = json!({
            "id": "evt_forged1",
            "type": "payment_intent.succeeded",
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "data": {
                "id": intent.as_str(), "status": "succeeded", "reference": id,
                "amount": total(22_898), "amount_refunded": total(0),
            },
        });
        let body = serde_json::to_vec(&event).unwrap();
        let post = |signature: String| {
            shop.app
                .client
                .post(format!("{}/webhooks/payments", shop.app.base_url))
                .header(signature::HEADER, signature)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        };
        let now = time::OffsetDateTime::now_utc();
        let wrong = WebhookSecret::new("whsec_not-the-shops-secret").unwrap();
        let forged = post(signature::sign(&wrong, now, &body)).await.unwrap();
        assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
        let an_hour_ago = now - time::Duration::hours(1);
        let secret = WebhookSecret::new(SECRET).unwrap();
        // A captured request sent again later: signed correctly, but outside the tolerance.
        let stale = post(signature::sign(&secret, an_hour_ago, &body))
            .await
            .unwrap();
        assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
        assert_eq!(shop.order(&id).await["status"], "pending_payment");

        let genuine = post(signature::sign(&secret, now, &body)).await.unwrap();
        assert_eq!(genuine.status(), StatusCode::OK);
        shop.order_becomes(&id, "paid").await;
        // Redelivered (a new signature, the same event): answered, and nothing happens twice.
        let later = now + time::Duration::seconds(1);
        let again = post(signature::sign(&secret, later, &body)).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);
        assert_eq!(
            shop.order(&id).await["history"].as_array().unwrap().len(),
            1
        );
    }
    // ANCHOR_END: forged_webhook

    #[tokio::test]
    async fn cancelling_a_pending_order_releases_its_stock() {
        let shop = Shop::start().await;
        let (_, _, placed) = parts(
            shop.checkout("cancel", json!({ "card_number": THREE_D_SECURE }))
                .await,
        )
        .await;
        let id = placed["order"]["id"].as_str().unwrap();
        assert_eq!(shop.stock("HP-100").await.reserved, 2);
        let request = shop.app.request(
            Method::POST,
            &format!("/orders/{id}/cancel"),
            Some(&shop.token),
        );
        let (status, _, order) = parts(shop.app.send(request).await).await;
        assert_eq!(status, StatusCode::OK, "{order}");
        assert_eq!(order["status"], "cancelled");
        assert_eq!(shop.stock("HP-100").await.reserved, 0);
        // Releasing is idempotent on the inventory's side too.
        let reservation: uuid::Uuid =
            sqlx::query_scalar("SELECT reservation_id FROM orders WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(shop.app.pool())
                .await
                .unwrap();
        shop.store
            .release(ReservationId(reservation))
            .await
            .unwrap();
    }

    // ANCHOR: no_oversell
    /// Chapter 11's capstone step: N customers check out the last k units at once. The
    /// inventory's reservation is one conditional UPDATE (`... WHERE on_hand - reserved >=
    /// $2`), so exactly k win, whatever the interleaving, and the stock ends at zero.
    #[tokio::test]
    async fn concurrent_checkouts_never_oversell() {
        let shop = Shop::start().await;
        let f = shop.app.fixtures();
        let (_, admin) = shop.app.token_for(Role::Admin).await;
        let mut sold = 0;
        for (customers, stock) in [(10, 1), (12, 5), (16, 9)] {
            let path = format!("/admin/products/{}/stock", f.hose);
            let restock = shop.app.request(Method::POST, &path, Some(&admin));
            let (status, _, level) =
                parts(shop.app.send(restock.json(&json!({ "add": stock }))).await).await;
            assert_eq!(status, StatusCode::OK, "{level}");
            assert_eq!(level["available"], stock, "{level}");

            // Each customer has one garden hose (24.50) in the cart.
            let mut buyers = Vec::new();
            for _ in 0..customers {
                let (_, token) = shop.app.token_for(Role::Customer).await;
                let put = shop
                    .app
                    .request(
                        Method::PUT,
                        &format!("/cart/items/{}", f.hose),
                        Some(&token),
                    )
                    .json(&json!({ "quantity": 1 }));
                assert_eq!(shop.app.send(put).await.status(), StatusCode::OK);
                buyers.push(token);
            }
            // All at once. A 503 (a bulkhead full, say) is retried with the same key, as a
            // client would: only 201 and 409 are answers.
            let checkouts = buyers.iter().enumerate().map(|(n, token)| {
                let app = &shop.app;
                async move {
                    let key = format!("oversell-{stock}-{n}");
                    for _ in 0..50 {
                        let request = app
                            .request(Method::POST, "/checkout", Some(token))
                            .header(IDEMPOTENCY_KEY.as_str(), key.as_str())
                            .json(
                                &json!({ "card_number": ACCEPTED, "expected_total": total(2_450) }),
                            );
                        let status = app.send(request).await.status();
                        if status != StatusCode::SERVICE_UNAVAILABLE {
                            return status;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    StatusCode::SERVICE_UNAVAILABLE
                }
            });
            let statuses = futures::future::join_all(checkouts).await;
            let won = statuses
                .iter()
                .filter(|s| **s == StatusCode::CREATED)
                .count();
            let lost = statuses
                .iter()
                .filter(|s| **s == StatusCode::CONFLICT)
                .count();
            assert_eq!(
                (won, lost),
                (stock, customers - stock),
                "{customers} customers for {stock} units: {statuses:?}"
            );
            sold += stock;
            // Every winner's payment arrives; the reservations are committed.
            let deliveries = shop.sandbox.wait_for_deliveries(sold);
            let deliveries = tokio::time::timeout(Duration::from_secs(30), deliveries).await;
            assert!(
                deliveries.is_ok_and(|d| d.len() >= sold),
                "{sold} webhooks delivered"
            );
            for _ in 0..100 {
                let hose = shop.stock("HOSE-25").await;
                if hose.reserved == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let hose = shop.stock("HOSE-25").await;
            assert_eq!((hose.on_hand, hose.reserved), (0, 0), "{customers}/{stock}");
        }
        // A losing checkout placed its order and then called it off: paid are the winners only.
        let kept: Vec<String> =
            sqlx::query_scalar("SELECT status FROM orders WHERE status <> 'cancelled'")
                .fetch_all(shop.app.pool())
                .await
                .unwrap();
        assert_eq!(kept.len(), sold, "{kept:?}");
        assert!(kept.iter().all(|status| status == "paid"), "{kept:?}");
    }
    // ANCHOR_END: no_oversell

    /// The transactional outbox's fault drill over HTTP (chapter 10): the broker goes away
    /// while customers check out and pay, and comes back. Nothing is lost, nothing is
    /// handled twice.
    mod needs_rabbitmq {
        use std::collections::HashMap;
        use std::sync::Mutex;

        use shop_events::consumer::{self, Handler, Verdict};
        use shop_events::topology::{self, Topology};
        use shop_events::{Envelope, orders};
        use sqlx::PgConnection;
        use testkit::net::Gate;
        use uuid::Uuid;

        use super::*;

        /// Counts what the deduplicating consumer hands it, and what it skipped.
        #[derive(Default)]
        struct Tally {
            handled: Mutex<HashMap<Uuid, (String, u32)>>,
            duplicates: Mutex<u32>,
        }

        impl Handler for Tally {
            async fn handle(&self, event: &Envelope, _tx: &mut PgConnection) -> Verdict {
                let mut handled = self.handled.lock().expect("not poisoned");
                handled.entry(event.id).or_insert((event.kind.clone(), 0)).1 += 1;
                Verdict::Done
            }

            fn duplicate(&self, _event: &Envelope) {
                *self.duplicates.lock().expect("not poisoned") += 1;
            }
        }

        /// Polls `query` (a count) until it returns `want`, for at most `ceiling`.
        async fn count_becomes(
            pool: &sqlx::PgPool,
            query: &'static str,
            want: i64,
            ceiling: Duration,
        ) {
            let deadline = tokio::time::Instant::now() + ceiling;
            loop {
                let n: i64 = (sqlx::query_scalar(query).fetch_one(pool).await).expect("the count");
                if n == want {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{query}: {n}, not {want}, after {ceiling:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        // ANCHOR: fault_drill
        #[tokio::test]
        async fn with_the_broker_unreachable_checkouts_go_on_and_every_event_arrives_once() {
            let amqp = testkit::rabbitmq().await;
            let broker = url::Url::parse(amqp.url()).unwrap();
            let target: SocketAddr = format!(
                "{}:{}",
                broker.host_str().unwrap(),
                broker.port().unwrap_or(5672)
            )
            .parse()
            .unwrap();
            // The relay reaches RabbitMQ through a gate that starts shut: the broker is down,
            // as far as the shop can tell, while the other tests go on using it.
            let gate = Gate::start(target, false).await;
            let mut through_gate = broker.clone();
            through_gate.set_port(Some(gate.addr().port())).unwrap();
            let relay_url = through_gate.to_string();
            let exchange = amqp.name("events");
            let shop = Shop::start_with(|config| {
                config.events.amqp_url = Some(relay_url.clone().into());
                config.events.exchange = exchange.clone();
                config.events.relay_poll = Duration::from_millis(50);
            })
            .await;
            // The consumer's side, declared on the real broker: the queue every order event
            // is routed to.
            let channel = amqp.connection().create_channel().await.unwrap();
            let topology = Topology {
                binding: orders::ALL.to_owned(),
                ..Topology::new(exchange.clone(), amqp.name("drill"))
            };
            amqp.name("drill.retry");
            amqp.name("drill.dlq");
            topology::declare(&channel, &topology).await.unwrap();

            // Two customers' worth of checkouts, each paid: four events, none published.
            let pool = shop.app.pool().clone();
            let mut ids = Vec::new();
            for key in ["drill-1", "drill-2"] {
                if !ids.is_empty() {
                    let f = shop.app.fixtures();
                    shop.put(&f.headphones.to_string(), 2).await;
                    shop.put(&f.speaker.to_string(), 1).await;
                }
                let request = json!({ "card_number": ACCEPTED, "expected_total": total(22_898) });
                let response = shop.checkout(key, request).await;
                assert_eq!(
                    response.status(),
                    StatusCode::CREATED,
                    "the checkout does not wait for the broker"
                );
                let (_, _, placed) = parts(response).await;
                let id = placed["order"]["id"].as_str().unwrap().to_owned();
                shop.order_becomes(&id, "paid").await;
                ids.push(id);
            }
            // The relay tried, failed, and wrote down why, without the URL.
            count_becomes(
                &pool,
                "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL AND attempts > 0",
                4,
                Duration::from_secs(10),
            )
            .await;
            let errors: Vec<String> = sqlx::query_scalar(
                "SELECT last_error FROM outbox_events WHERE last_error IS NOT NULL",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(!errors.is_empty());
            for error in &errors {
                assert!(!error.contains(&gate.addr().port().to_string()), "{error}");
                assert!(!error.contains("guest:"), "{error}");
            }

            // The broker is back: the backlog drains.
            gate.open();
            let unsent = "SELECT count(*) FROM outbox_events WHERE sent_at IS NULL";
            count_becomes(&pool, unsent, 0, Duration::from_secs(40)).await;
            // A crash after the broker's ack and before the relay's commit, staged: two rows
            // are unsent again and are published a second time.
            sqlx::query(
                "UPDATE outbox_events SET sent_at = NULL WHERE id IN
                 (SELECT id FROM outbox_events ORDER BY created_seq LIMIT 2)",
            )
            .execute(&pool)
            .await
            .unwrap();
            count_becomes(&pool, unsent, 0, Duration::from_secs(40)).await;

            // The deduplicating consumer sees six deliveries and does four things.
            let tally = Tally::default();
            let shutdown = CancellationToken::new();
            let consuming = consumer::consume(
                &channel,
                &topology,
                "drill",
                &pool,
                &tally,
                shutdown.clone(),
            );
            let watch = async {
                for _ in 0..400 {
                    let handled = tally.handled.lock().unwrap().len();
                    if handled == 4 && *tally.duplicates.lock().unwrap() == 2 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                shutdown.cancel();
            };
            let (consumed, ()) = tokio::join!(consuming, watch);
            consumed.unwrap();

            let handled = tally.handled.lock().unwrap().clone();
            let outbox: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM outbox_events")
                .fetch_all(&pool)
                .await
                .unwrap();
            assert_eq!(handled.len(), 4, "{handled:?}");
            for id in &outbox {
                assert_eq!(
                    handled.get(id).map(|(_, n)| *n),
                    Some(1),
                    "event {id} handled once"
                );
            }
            assert_eq!(
                *tally.duplicates.lock().unwrap(),
                2,
                "the two republished were skipped"
            );
            for id in &ids {
                assert_eq!(
                    outbox_kinds(&pool, id).await,
                    ["order.placed", "order.paid"]
                );
            }
        }
        // ANCHOR_END: fault_drill
    }
}
