//! The cart over HTTP (chapter 08): set, change, remove, clear; prices follow the catalog;
//! one currency per cart; a cart is its owner's alone; it is in the data export and gone after
//! an erasure.

mod needs_postgres {
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use shop_domain::Role;

    use crate::helpers::TestApp;
    use crate::{PROBLEM_JSON, parts};

    async fn put(
        app: &TestApp,
        token: &str,
        product: &str,
        quantity: Value,
    ) -> (StatusCode, Value) {
        let request = app
            .request(Method::PUT, &format!("/cart/items/{product}"), Some(token))
            .json(&json!({ "quantity": quantity }));
        let (status, _, body) = parts(app.send(request).await).await;
        (status, body)
    }

    async fn cart(app: &TestApp, token: &str) -> Value {
        let (status, _, body) = parts(app.get_as("/cart", token).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn delete(app: &TestApp, token: &str, path: &str) -> StatusCode {
        app.send(app.request(Method::DELETE, path, Some(token)))
            .await
            .status()
    }

    #[tokio::test]
    async fn a_customer_fills_changes_and_empties_a_cart_with_live_totals() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (_, token) = app.token_for(Role::Customer).await;
        let (headphones, speaker) = (f.headphones.to_string(), f.speaker.to_string());

        let empty = cart(&app, &token).await;
        assert_eq!(empty["lines"], json!([]));
        assert_eq!(empty["subtotal"], Value::Null);

        let (status, body) = put(&app, &token, &headphones, json!(2)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["lines"][0]["line_total"]["amount_minor"], 9_998);
        // Setting the same quantity again (a retried request) changes nothing.
        let (_, again) = put(&app, &token, &headphones, json!(2)).await;
        assert_eq!(again, body);

        let (_, both) = put(&app, &token, &speaker, json!(1)).await;
        assert_eq!(
            both["subtotal"],
            json!({ "amount_minor": 22_898, "currency": "EUR" })
        );
        assert_eq!(both["item_count"], 3);
        let order: Vec<&str> = both["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|line| line["sku"].as_str().expect("a sku"))
            .collect();
        assert_eq!(order, ["HP-100", "SPK-200"], "oldest line first");

        let (_, changed) = put(&app, &token, &headphones, json!(1)).await;
        assert_eq!(changed["subtotal"]["amount_minor"], 17_899);

        assert_eq!(
            delete(&app, &token, &format!("/cart/items/{speaker}")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            delete(&app, &token, &format!("/cart/items/{speaker}")).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(cart(&app, &token).await["subtotal"]["amount_minor"], 4_999);
        assert_eq!(delete(&app, &token, "/cart").await, StatusCode::NO_CONTENT);
        assert_eq!(cart(&app, &token).await["lines"], json!([]));
    }

    #[tokio::test]
    async fn the_cart_shows_todays_price_and_withdrawn_products_leave_the_total() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (_, token) = app.token_for(Role::Customer).await;
        put(&app, &token, &f.headphones.to_string(), json!(1)).await;
        put(&app, &token, &f.hose.to_string(), json!(2)).await;

        sqlx::query("UPDATE products SET price_minor = 3999 WHERE id = $1")
            .bind(f.headphones.as_uuid())
            .execute(app.pool())
            .await
            .expect("the price changes");
        sqlx::query("UPDATE products SET archived_at = now() WHERE id = $1")
            .bind(f.hose.as_uuid())
            .execute(app.pool())
            .await
            .expect("the hose is withdrawn");

        let body = cart(&app, &token).await;
        assert_eq!(body["lines"][0]["unit_price"]["amount_minor"], 3_999);
        assert_eq!(body["lines"][1]["available"], false);
        assert_eq!(body["subtotal"]["amount_minor"], 3_999, "{body}");
        // A withdrawn product cannot be added or changed.
        let (status, problem) = put(&app, &token, &f.hose.to_string(), json!(3)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    }

    #[tokio::test]
    async fn bad_quantities_and_products_are_refused_and_change_nothing() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (_, token) = app.token_for(Role::Customer).await;
        let headphones = f.headphones.to_string();
        put(&app, &token, &headphones, json!(1)).await;

        for quantity in [json!(0), json!(-1), json!(100), json!(1_000_000_000_000i64)] {
            let (status, problem) = put(&app, &token, &headphones, quantity.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{quantity}: {problem}"
            );
            assert_eq!(problem["errors"][0]["pointer"], "#/quantity");
        }
        let (status, _) = put(&app, &token, &headphones, json!("two")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = put(&app, &token, "not-a-uuid", json!(1)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let unknown = shop_domain::ProductId::generate().to_string();
        let (status, _) = put(&app, &token, &unknown, json!(1)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let body = cart(&app, &token).await;
        assert_eq!(body["lines"].as_array().map(Vec::len), Some(1));
        assert_eq!(body["lines"][0]["quantity"], 1);
    }

    #[tokio::test]
    async fn one_cart_holds_one_currency() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (_, token) = app.token_for(Role::Customer).await;
        sqlx::query("UPDATE products SET currency = 'USD' WHERE id = $1")
            .bind(f.speaker.as_uuid())
            .execute(app.pool())
            .await
            .expect("the speaker is priced in dollars");
        put(&app, &token, &f.headphones.to_string(), json!(1)).await;

        let request = app
            .request(
                Method::PUT,
                &format!("/cart/items/{}", f.speaker),
                Some(&token),
            )
            .json(&json!({ "quantity": 1 }));
        let (status, content_type, problem) = parts(app.send(request).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert_eq!(content_type, PROBLEM_JSON);
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("USD")),
            "{problem}"
        );
        assert_eq!(
            cart(&app, &token).await["lines"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[tokio::test]
    async fn a_cart_is_its_owners_alone_and_needs_a_signed_in_user() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (_, ada) = app.token_for(Role::Customer).await;
        let (_, bob) = app.token_for(Role::Customer).await;
        put(&app, &ada, &f.headphones.to_string(), json!(1)).await;

        assert_eq!(cart(&app, &bob).await["lines"], json!([]));
        let path = format!("/cart/items/{}", f.headphones);
        assert_eq!(delete(&app, &bob, &path).await, StatusCode::NOT_FOUND);
        assert_eq!(
            cart(&app, &ada).await["lines"].as_array().map(Vec::len),
            Some(1)
        );

        let anonymous = app.send(app.request(Method::GET, "/cart", None)).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let signed_in = app.get_as("/cart", &ada).await;
        let cache_control = signed_in.headers().get("cache-control");
        assert_eq!(
            cache_control.and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "no shared cache may keep a cart"
        );
    }

    #[tokio::test]
    async fn the_data_export_holds_the_cart() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let (_, token) = app.token_for(Role::Customer).await;
        put(&app, &token, &f.speaker.to_string(), json!(3)).await;
        let (status, _, export) = parts(app.export(&token).await).await;
        assert_eq!(status, StatusCode::OK, "{export}");
        assert_eq!(export["cart"]["lines"][0]["sku"], "SPK-200");
        assert_eq!(export["cart"]["item_count"], 3);
    }
}
