//! The catalog endpoints, and how they answer bad input.

mod needs_postgres {
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use shop_domain::{ProductId, Role};

    use crate::helpers::TestApp;
    use crate::{PROBLEM_JSON, parts};

    fn ids(body: &Value) -> Vec<String> {
        body["products"]
            .as_array()
            .expect("a products array")
            .iter()
            .map(|p| p["id"].as_str().expect("an id").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_product_is_served_with_its_price_in_minor_units() {
        let app = TestApp::spawn().await;
        let id = app.fixtures().headphones;

        let (status, content_type, body) = parts(app.product(&id.to_string()).await).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        assert_eq!(body["id"], id.to_string());
        assert_eq!(body["sku"], "HP-100");
        assert_eq!(body["category_id"], app.fixtures().audio.to_string());
        assert_eq!(
            body["price"],
            serde_json::json!({ "amount_minor": 4999, "currency": "EUR" })
        );
    }

    #[tokio::test]
    async fn an_unknown_product_is_a_404_problem() {
        let app = TestApp::spawn().await;
        let id = ProductId::generate().to_string();

        let (status, content_type, body) = parts(app.product(&id).await).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["status"], 404);
        assert_eq!(body["title"], "Resource not found");
        assert_eq!(body["instance"], format!("/products/{id}"));
        assert!(body["detail"].as_str().unwrap().contains(&id));
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_400_problem() {
        let app = TestApp::spawn().await;

        let (status, content_type, body) = parts(app.product("not-a-uuid").await).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["status"], 400);
        assert_eq!(body["title"], "Invalid request");
        assert_eq!(body["instance"], "/products/not-a-uuid");
    }

    #[tokio::test]
    async fn the_product_list_pages_through_everything_once() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let mut expected = [f.headphones, f.speaker, f.hose];
        expected.sort();
        let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();

        let (status, _, first) = parts(app.products("?limit=2").await).await;
        assert_eq!(status, StatusCode::OK);
        let cursor = first["next_after"].as_str().expect("a second page exists");
        let (_, _, second) = parts(app.products(&format!("?limit=2&after={cursor}")).await).await;

        assert_eq!(ids(&first), expected[..2]);
        assert_eq!(ids(&second), expected[2..]);
        assert_eq!(second["next_after"], Value::Null);
    }

    #[tokio::test]
    async fn bad_query_parameters_are_400_problems() {
        let app = TestApp::spawn().await;

        for query in [
            "?limit=0",
            "?limit=101",
            "?limit=many",
            "?after=42",
            "?limt=5",
        ] {
            let (status, content_type, body) = parts(app.products(query).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
            assert_eq!(content_type, PROBLEM_JSON, "{query}");
            assert_eq!(body["instance"], "/products", "{query}");
        }
    }

    #[tokio::test]
    async fn categories_are_listed_with_their_parents() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();

        let (status, _, body) = parts(app.categories().await).await;

        assert_eq!(status, StatusCode::OK);
        let categories = body["categories"].as_array().unwrap();
        let slugs: Vec<_> = categories
            .iter()
            .map(|c| c["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, ["audio", "electronics", "garden"]);
        assert_eq!(categories[0]["parent_id"], f.electronics.to_string());
        assert_eq!(categories[1]["parent_id"], Value::Null);
    }

    #[tokio::test]
    async fn a_category_lists_its_own_and_its_subcategories_products() {
        let app = TestApp::spawn().await;
        let f = app.fixtures();
        let mut audio = vec![f.headphones.to_string(), f.speaker.to_string()];
        audio.sort();

        let (status, _, body) = parts(app.category_products("electronics", "").await).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["category"]["slug"], "electronics");
        assert_eq!(ids(&body), audio, "electronics has no products of its own");
        let (_, _, garden) = parts(app.category_products("garden", "").await).await;
        assert_eq!(garden["category"]["id"], f.garden.to_string());
        assert_eq!(ids(&garden), [f.hose.to_string()]);
    }

    #[tokio::test]
    async fn an_unknown_category_is_a_404_problem() {
        let app = TestApp::spawn().await;

        let (status, content_type, body) =
            parts(app.category_products("no-such-thing", "").await).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["instance"], "/categories/no-such-thing/products");
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_are_problems_too() {
        let app = TestApp::spawn().await;

        let (status, content_type, body) = parts(app.get("/nope").await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["type"], "about:blank");

        let response = app
            .client
            .delete(format!("{}/products", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET,HEAD");
        let (status, content_type, body) = parts(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["title"], "Method Not Allowed");
    }

    // ANCHOR: nul_test
    /// PostgreSQL's `text` cannot hold a NUL character, so a NUL that reached a query would make
    /// PostgreSQL refuse the statement: a 500. Every route that takes a path segment or a query
    /// value must answer the client's 400 instead, naming the parameter, before any SQL runs.
    #[tokio::test]
    async fn a_nul_in_any_path_segment_or_query_value_is_a_400_naming_it() {
        let app = TestApp::spawn().await;
        let (_, admin) = app.token_for(Role::Admin).await;
        let product = app.fixtures().headphones;
        let cases = [
            (Method::GET, "/categories/%00/products".to_owned(), "slug"),
            (Method::GET, "/categories/a%00b/products".to_owned(), "slug"),
            (
                Method::GET,
                "/categories/audio/products?after=%00".to_owned(),
                "after",
            ),
            (Method::GET, "/products?after=a%00b".to_owned(), "after"),
            (Method::GET, "/products?limit=%00".to_owned(), "limit"),
            (Method::GET, "/products/search?q=a%00b".to_owned(), "q"),
            (
                Method::GET,
                "/products/search?category=a%00b".to_owned(),
                "category",
            ),
            (
                Method::GET,
                "/products/search?brand=a%00b".to_owned(),
                "brand",
            ),
            (
                Method::GET,
                "/products/search?cursor=%00".to_owned(),
                "cursor",
            ),
            (Method::GET, "/products/a%00b".to_owned(), "id"),
            (Method::GET, "/products/a%00b/reviews".to_owned(), "id"),
            (
                Method::GET,
                format!("/products/{product}/reviews?limit=%00"),
                "limit",
            ),
            (Method::GET, "/products/a%00b/rating".to_owned(), "id"),
            (Method::GET, "/admin/users?after=%00".to_owned(), "after"),
            (Method::GET, "/admin/users/%00".to_owned(), "id"),
            (Method::PATCH, "/admin/users/%00/role".to_owned(), "id"),
            (Method::PATCH, "/admin/products/%00".to_owned(), "id"),
            (Method::DELETE, "/admin/products/%00".to_owned(), "id"),
            (Method::DELETE, "/me/api-keys/%00".to_owned(), "id"),
        ];
        for (method, path, parameter) in cases {
            let mut request = app.request(method.clone(), &path, Some(&admin));
            if method == Method::PATCH {
                request = request.json(&json!({ "role": "admin" }));
            }

            let (status, content_type, body) = parts(app.send(request).await).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
            assert_eq!(content_type, PROBLEM_JSON, "{path}");
            assert_eq!(
                body["type"], "tag:backend-rs,2026:shop/validation",
                "{path}: {body}"
            );
            assert_eq!(body["errors"][0]["parameter"], parameter, "{path}: {body}");
            assert!(
                body["errors"][0]["detail"]
                    .as_str()
                    .unwrap()
                    .contains("NUL"),
                "{body}"
            );
        }
        // The same text without the NUL is an ordinary answer: the check refuses NUL only.
        let (status, _, _) = parts(app.category_products("ab", "").await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // ANCHOR_END: nul_test
}
