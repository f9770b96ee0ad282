//! The admin's product writes over HTTP: who may call them (401, 403, admin), validation that
//! lists every invalid field, PATCH's absent-versus-null, archiving, and the bulk import.

mod needs_postgres {
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use shop_domain::{ProductId, Role};

    use crate::helpers::TestApp;
    use crate::{PROBLEM_JSON, parts};

    fn headphones() -> Value {
        json!({
            "sku": "HP-900",
            "name": "Norda Studio Headphones",
            "description": "Closed-back, for long sessions.",
            "category": "audio",
            "price": { "amount_minor": 14_999, "currency": "EUR" },
            "attributes": { "brand": "Norda", "colour": "black" }
        })
    }

    async fn admin(app: &TestApp) -> String {
        app.token_for(Role::Admin).await.1
    }

    /// Creates `body` as an admin and returns the new product's id.
    async fn created(app: &TestApp, token: &str, body: &Value) -> String {
        let (status, _, product) = parts(app.create_product(Some(token), body).await).await;
        assert_eq!(status, StatusCode::CREATED, "{product}");
        product["id"].as_str().expect("an id").to_owned()
    }

    /// The JSON Pointer (`#/price/currency`) of every entry in a problem's `errors`.
    fn pointers(problem: &Value) -> Vec<String> {
        problem["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("an errors array in {problem}"))
            .iter()
            .map(|e| e["pointer"].as_str().expect("a JSON Pointer").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn only_admins_may_write_products() {
        let app = TestApp::spawn().await;
        let (_, customer) = app.token_for(Role::Customer).await;
        let (_, support) = app.token_for(Role::Support).await;
        let id = app.fixtures().hose.to_string();
        let import = json!({ "products": [headphones()] });

        for (who, token, expected) in [
            ("anonymous", None, StatusCode::UNAUTHORIZED),
            (
                "a forged token",
                Some("not.a.jwt"),
                StatusCode::UNAUTHORIZED,
            ),
            ("a customer", Some(customer.as_str()), StatusCode::FORBIDDEN),
            ("support", Some(support.as_str()), StatusCode::FORBIDDEN),
        ] {
            let responses = [
                app.create_product(token, &headphones()).await,
                app.patch_product(&id, token, &json!({ "name": "Mine now" }))
                    .await,
                app.archive_product(&id, token).await,
                app.import_products(token, &import).await,
            ];
            for response in responses {
                let url = response.url().path().to_owned();
                if expected == StatusCode::UNAUTHORIZED {
                    assert_eq!(response.headers()["www-authenticate"], "Bearer");
                }
                let (status, content_type, body) = parts(response).await;
                assert_eq!(status, expected, "{who} on {url}: {body}");
                assert_eq!(content_type, PROBLEM_JSON);
            }
        }

        // Nothing changed.
        let (_, _, hose) = parts(app.product(&id).await).await;
        assert_eq!(hose["name"], "Garden hose");
        let (_, _, found) = parts(app.search("").await).await;
        assert_eq!(found["total"], 3);
    }

    #[tokio::test]
    async fn an_admin_creates_a_product_that_is_then_found() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;

        let response = app.create_product(Some(&token), &headphones()).await;
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let (status, _, product) = parts(response).await;

        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            location,
            format!("/products/{}", product["id"].as_str().unwrap())
        );
        assert_eq!(product["sku"], "HP-900");
        assert_eq!(product["category_id"], app.fixtures().audio.to_string());
        assert_eq!(
            product["attributes"],
            json!({ "brand": "Norda", "colour": "black" })
        );
        let (status, _, fetched) = parts(app.get(&location).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, product);
        let (_, _, found) = parts(app.search("?q=studio+headphones&brand=Norda").await).await;
        assert_eq!(found["products"][0]["sku"], "HP-900");
    }

    #[tokio::test]
    async fn an_invalid_product_is_a_422_naming_every_field() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;

        let (status, content_type, problem) = parts(
            app.create_product(
                Some(&token),
                &json!({
                    "sku": "not a sku!",
                    "name": "   ",
                    "category": "Audio Gear",
                    "price": { "amount_minor": -100, "currency": "XYZ" },
                    "attributes": { "Brand": "Norda", "colour": "" }
                }),
            )
            .await,
        )
        .await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(
            pointers(&problem),
            [
                "#/sku",
                "#/name",
                "#/category",
                "#/price/amount_minor",
                "#/price/currency",
                "#/attributes/Brand",
                "#/attributes/colour"
            ]
        );
        assert!(
            problem["detail"].as_str().unwrap().contains("7 inputs"),
            "{problem}"
        );

        // Missing fields are named too.
        let (status, _, problem) = parts(app.create_product(Some(&token), &json!({})).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            pointers(&problem),
            ["#/sku", "#/name", "#/category", "#/price"]
        );

        // Not JSON, or the wrong JSON types, is a 400: the body could not be read at all.
        let response = app
            .client
            .post(format!("{}/admin/products", app.base_url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"sku\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let (status, _, _) = parts(
            app.create_product(Some(&token), &json!({ "price": "12.00" }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_taken_sku_is_a_409_and_an_unknown_category_a_422() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;

        let mut taken = headphones();
        taken["sku"] = json!("HP-100");
        let (status, _, problem) = parts(app.create_product(Some(&token), &taken).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");

        let mut nowhere = headphones();
        nowhere["category"] = json!("no-such-category");
        let (status, _, problem) = parts(app.create_product(Some(&token), &nowhere).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(pointers(&problem), ["#/category"]);
    }

    #[tokio::test]
    async fn patch_keeps_absent_fields_clears_nulls_and_merges_attributes() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;
        let id = created(&app, &token, &headphones()).await;
        let patch = |body: Value| {
            let (app, id, token) = (&app, id.clone(), token.clone());
            async move {
                let (status, _, product) =
                    parts(app.patch_product(&id, Some(&token), &body).await).await;
                (status, product)
            }
        };

        // Absent: only the name changes.
        let (status, product) = patch(json!({ "name": "Norda Studio Headphones II" })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(product["name"], "Norda Studio Headphones II");
        assert_eq!(product["description"], "Closed-back, for long sessions.");
        assert_eq!(product["price"]["amount_minor"], 14_999);

        // Null clears the description; the attribute object merges.
        let (status, product) = patch(json!({
            "description": null,
            "attributes": { "colour": null, "size": "one size" },
            "price": { "amount_minor": 12_999, "currency": "EUR" },
            "category": "electronics"
        }))
        .await;
        assert_eq!(status, StatusCode::OK, "{product}");
        assert_eq!(product["description"], "");
        assert_eq!(
            product["attributes"],
            json!({ "brand": "Norda", "size": "one size" })
        );
        assert_eq!(product["price"]["amount_minor"], 12_999);
        assert_eq!(
            product["category_id"],
            app.fixtures().electronics.to_string()
        );

        // An empty patch changes nothing, not even updated_at.
        let (status, unchanged) = patch(json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(unchanged, product);

        // `"attributes": null` removes them all.
        let (_, product) = patch(json!({ "attributes": null })).await;
        assert_eq!(product["attributes"], json!({}));

        // Null where a value is required, and the SKU, are refused, all at once.
        let (status, problem) = patch(json!({ "name": null, "price": null, "sku": "NEW-1" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(pointers(&problem), ["#/sku", "#/name", "#/price"]);

        let (status, _) = patch(json!({ "category": "no-such-category" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let missing = ProductId::generate().to_string();
        let (status, _, _) = parts(
            app.patch_product(&missing, Some(&token), &json!({ "name": "x" }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn delete_archives_the_product_out_of_sight() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;
        let id = app.fixtures().speaker.to_string();

        let response = app.archive_product(&id, Some(&token)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);

        assert_eq!(app.product(&id).await.status(), StatusCode::NOT_FOUND);
        let (_, _, found) = parts(app.search("?category=audio").await).await;
        assert_eq!(found["total"], 1, "only the headphones are left");
        assert_eq!(
            app.archive_product(&id, Some(&token)).await.status(),
            StatusCode::NOT_FOUND,
            "archived once"
        );
        let (status, _, _) = parts(
            app.patch_product(&id, Some(&token), &json!({ "name": "x" }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The row is still there for the orders that point at it.
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE sku = 'SPK-200'")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }

    fn item(sku: &str, price: i64) -> Value {
        json!({
            "sku": sku,
            "name": format!("Imported {sku}"),
            "category": "garden",
            "price": { "amount_minor": price, "currency": "EUR" },
            "attributes": { "brand": "Importa" }
        })
    }

    #[tokio::test]
    async fn import_inserts_updates_and_leaves_alone_by_sku() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;

        let first = json!({ "products": [item("IMP-1", 100), item("IMP-2", 200)] });
        let (status, _, report) = parts(app.import_products(Some(&token), &first).await).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(
            report,
            json!({ "inserted": 2, "updated": 0, "unchanged": 0 })
        );

        // The hose's SKU updates the fixture; IMP-1 is identical; IMP-3 is new.
        let second = json!({
            "products": [item("IMP-1", 100), item("HOSE-25", 1_999), item("IMP-3", 300)]
        });
        let (_, _, report) = parts(app.import_products(Some(&token), &second).await).await;
        assert_eq!(
            report,
            json!({ "inserted": 1, "updated": 1, "unchanged": 1 })
        );
        let (_, _, hose) = parts(app.product(&app.fixtures().hose.to_string()).await).await;
        assert_eq!(hose["name"], "Imported HOSE-25");
        assert_eq!(hose["price"]["amount_minor"], 1_999);
        let (_, _, found) = parts(app.search("?brand=Importa").await).await;
        assert_eq!(found["total"], 4);
    }

    #[tokio::test]
    async fn an_import_with_any_bad_item_writes_nothing_and_names_each_problem() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;

        let mut bad_price = item("IMP-3", 100);
        bad_price["price"]["currency"] = json!("EURO");
        let body = json!({
            "products": [item("IMP-1", 100), item("IMP-2", 100), item("IMP-1", 150), bad_price]
        });
        let (status, _, problem) = parts(app.import_products(Some(&token), &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            pointers(&problem),
            ["#/products/3/price/currency", "#/products/2/sku"]
        );

        let mut elsewhere = item("IMP-4", 100);
        elsewhere["category"] = json!("no-such-category");
        let body = json!({ "products": [item("IMP-1", 100), elsewhere] });
        let (status, _, problem) = parts(app.import_products(Some(&token), &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(pointers(&problem), ["#/products/1/category"]);

        let (status, _, problem) = parts(
            app.import_products(Some(&token), &json!({ "products": [] }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(pointers(&problem), ["#/products"]);

        let (_, _, found) = parts(app.search("").await).await;
        assert_eq!(found["total"], 3, "nothing was imported");
    }

    #[tokio::test]
    async fn injection_payloads_in_a_product_are_stored_as_text() {
        let app = TestApp::spawn().await;
        let token = admin(&app).await;
        let mut body = headphones();
        body["name"] = json!("Robert'); DROP TABLE products; --");
        body["description"] = json!("' OR 1=1 --");
        body["attributes"] = json!({ "brand": "1) OR (1=1" });

        let id = created(&app, &token, &body).await;

        let (_, _, product) = parts(app.product(&id).await).await;
        assert_eq!(product["name"], "Robert'); DROP TABLE products; --");
        assert_eq!(product["attributes"]["brand"], "1) OR (1=1");
        let (_, _, found) = parts(app.search("?brand=1)%20OR%20(1%3D1").await).await;
        assert_eq!(found["total"], 1, "the brand is just a value");
        let (_, _, all) = parts(app.search("").await).await;
        assert_eq!(all["total"], 4);
    }
}
