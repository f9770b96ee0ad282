//! `GET /products/search` over HTTP: relevance, every filter, facets, every sort paged to the
//! end with ties, cursors that are tampered with or reused elsewhere, and SQL injection
//! payloads in every parameter.

mod needs_postgres {
    use std::cmp::Reverse;
    use std::collections::{BTreeMap, HashSet};

    use reqwest::StatusCode;
    use serde_json::Value;
    use shop_domain::CategoryId;
    use sqlx::PgPool;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use crate::helpers::TestApp;
    use crate::{PROBLEM_JSON, parts};

    /// The fixtures (HP-100 Headphones 49.99 and SPK-200 Speaker 129.00 in audio, HOSE-25
    /// Garden hose 24.50 in garden, no attributes) plus these, with brands, colours, stock and
    /// three products at 39.99 to make ties:
    ///
    /// | sku | name | category | price | brand, colour | stock |
    /// |-----|------|----------|-------|---------------|-------|
    /// | KET-1 | Norda Steel Kettle | kitchen | 39.99 | Norda, red | 5 |
    /// | KET-2 | Kestrel Glass Kettle | kitchen | 39.99 | Kestrel, white | 0 |
    /// | MUG-1 | Norda Travel Mug | kitchen | 19.99 | Norda, red | - |
    /// | SPK-300 | Kestrel Speaker Mini | audio | 39.99 | Kestrel, red | - |
    /// | HP-200 | Norda Headphones | audio | 99.99 | Norda, black | - |
    async fn catalog(app: &TestApp) {
        let pool = app.pool();
        let audio = app.fixtures().audio;
        let kitchen = CategoryId::generate();
        sqlx::query("INSERT INTO categories (id, slug, name) VALUES ($1, 'kitchen', 'Kitchen')")
            .bind(kitchen.as_uuid())
            .execute(pool)
            .await
            .expect("the catalog fixture inserts");
        let rows = [
            (
                "KET-1",
                "Norda Steel Kettle",
                "A fast kettle for tea lovers.",
                kitchen,
                3_999,
                "Norda",
                "red",
            ),
            (
                "KET-2",
                "Kestrel Glass Kettle",
                "Watch the water boil.",
                kitchen,
                3_999,
                "Kestrel",
                "white",
            ),
            (
                "MUG-1",
                "Norda Travel Mug",
                "Keeps kettle-brewed tea hot for hours.",
                kitchen,
                1_999,
                "Norda",
                "red",
            ),
            (
                "SPK-300",
                "Kestrel Speaker Mini",
                "Small, loud and red.",
                audio,
                3_999,
                "Kestrel",
                "red",
            ),
            (
                "HP-200",
                "Norda Headphones",
                "Closed-back, with a long cable.",
                audio,
                9_999,
                "Norda",
                "black",
            ),
        ];
        for (sku, name, description, category, price, brand, colour) in rows {
            insert(pool, sku, name, description, category, price, brand, colour).await;
        }
        let warehouse = uuid::Uuid::now_v7();
        sqlx::query("INSERT INTO warehouses (id, code, name) VALUES ($1, 'BER1', 'Berlin')")
            .bind(warehouse)
            .execute(pool)
            .await
            .expect("the catalog fixture inserts");
        sqlx::query(
            "INSERT INTO stock_levels (warehouse_id, product_id, on_hand)
             SELECT $1, id, CASE sku WHEN 'KET-1' THEN 5 ELSE 0 END
             FROM products WHERE sku IN ('KET-1', 'KET-2')",
        )
        .bind(warehouse)
        .execute(pool)
        .await
        .expect("the stock fixture inserts");
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert(
        pool: &PgPool,
        sku: &str,
        name: &str,
        description: &str,
        category: CategoryId,
        price: i64,
        brand: &str,
        colour: &str,
    ) {
        sqlx::query(
            "INSERT INTO products
                 (id, sku, name, description, category_id, price_minor, currency, attributes)
             VALUES ($1, $2, $3, $4, $5, $6, 'EUR', $7)",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(sku)
        .bind(name)
        .bind(description)
        .bind(category.as_uuid())
        .bind(price)
        .bind(serde_json::json!({ "brand": brand, "colour": colour }))
        .execute(pool)
        .await
        .expect("the catalog row inserts");
    }

    fn skus(body: &Value) -> Vec<String> {
        body["products"]
            .as_array()
            .expect("a products array")
            .iter()
            .map(|p| p["sku"].as_str().expect("a sku").to_owned())
            .collect()
    }

    fn sorted(mut items: Vec<String>) -> Vec<String> {
        items.sort();
        items
    }

    async fn search_ok(app: &TestApp, query: &str) -> Value {
        let (status, _, body) = parts(app.search(query).await).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body
    }

    /// `facets[name]` as `value → count`.
    fn counts(body: &Value, name: &str) -> BTreeMap<String, u64> {
        body["facets"][name]
            .as_array()
            .unwrap_or_else(|| panic!("a {name} facet in {body}"))
            .iter()
            .map(|c| {
                (
                    c["value"].as_str().expect("a facet value").to_owned(),
                    c["count"].as_u64().expect("a facet count"),
                )
            })
            .collect()
    }

    fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[tokio::test]
    async fn relevance_puts_name_matches_above_description_matches() {
        let app = TestApp::spawn().await;
        catalog(&app).await;

        let body = search_ok(&app, "?q=kettle").await;

        assert_eq!(body["sort"], "relevance", "the default with a text");
        assert_eq!(body["total"], 3);
        let found = skus(&body);
        assert_eq!(
            sorted(found[..2].to_vec()),
            ["KET-1", "KET-2"],
            "named kettles first"
        );
        assert_eq!(
            found[2], "MUG-1",
            "a kettle only in the description comes last"
        );
        assert_eq!(
            body["products"][0]["attributes"]["brand"]
                .as_str()
                .map(|b| !b.is_empty()),
            Some(true)
        );
        // Web-search syntax: a phrase, and an excluded word.
        assert_eq!(
            skus(&search_ok(&app, "?q=%22glass+kettle%22").await),
            ["KET-2"]
        );
        assert_eq!(
            sorted(skus(&search_ok(&app, "?q=kettle+-glass").await)),
            ["KET-1", "MUG-1"]
        );
    }

    #[tokio::test]
    async fn each_filter_narrows_to_exactly_what_it_names() {
        let app = TestApp::spawn().await;
        catalog(&app).await;

        for (query, expected) in [
            ("?category=kitchen", vec!["KET-1", "KET-2", "MUG-1"]),
            // A parent category includes its subcategories' products.
            (
                "?category=electronics",
                vec!["HP-100", "HP-200", "SPK-200", "SPK-300"],
            ),
            ("?brand=Norda", vec!["HP-200", "KET-1", "MUG-1"]),
            (
                "?brand=Norda,Kestrel",
                vec!["HP-200", "KET-1", "KET-2", "MUG-1", "SPK-300"],
            ),
            ("?colour=red", vec!["KET-1", "MUG-1", "SPK-300"]),
            ("?colour=red&brand=Kestrel", vec!["SPK-300"]),
            (
                "?currency=EUR&price_min=3999&price_max=3999",
                vec!["KET-1", "KET-2", "SPK-300"],
            ),
            ("?currency=EUR&price_min=5000", vec!["HP-200", "SPK-200"]),
            ("?currency=EUR&price_max=2450", vec!["HOSE-25", "MUG-1"]),
            ("?currency=USD", vec![]),
            ("?in_stock=true", vec!["KET-1"]),
            ("?q=kettle&category=kitchen&brand=Kestrel", vec!["KET-2"]),
            ("?category=no-such-category", vec![]),
            ("?brand=Nobody", vec![]),
        ] {
            let body = search_ok(&app, query).await;
            assert_eq!(sorted(skus(&body)), expected, "{query}");
            assert_eq!(body["total"], expected.len(), "{query}");
        }
    }

    #[tokio::test]
    async fn facets_count_the_same_search_each_ignoring_its_own_filter() {
        let app = TestApp::spawn().await;
        catalog(&app).await;

        let all = search_ok(&app, "").await;
        assert_eq!(all["total"], 8);
        assert_eq!(counts(&all, "brand"), map(&[("Kestrel", 2), ("Norda", 3)]));
        assert_eq!(
            counts(&all, "colour"),
            map(&[("black", 1), ("red", 3), ("white", 1)])
        );
        assert_eq!(
            counts(&all, "category"),
            map(&[("audio", 4), ("garden", 1), ("kitchen", 3)])
        );
        let bands: Vec<(i64, Option<i64>, u64)> = all["facets"]["price"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                assert_eq!(b["currency"], "EUR");
                (
                    b["min_minor"].as_i64().unwrap(),
                    b["max_minor"].as_i64(),
                    b["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            bands,
            [
                (1_000, Some(2_500), 2),
                (2_500, Some(5_000), 4),
                (5_000, Some(10_000), 1),
                (10_000, Some(25_000), 1)
            ]
        );

        let norda = search_ok(&app, "?brand=Norda").await;
        assert_eq!(norda["total"], 3);
        assert_eq!(
            counts(&norda, "brand"),
            counts(&all, "brand"),
            "the brand facet still offers every brand"
        );
        assert_eq!(
            counts(&norda, "colour"),
            map(&[("black", 1), ("red", 2)]),
            "the other facets count Norda only"
        );
        assert_eq!(
            counts(&norda, "category"),
            map(&[("audio", 1), ("kitchen", 2)])
        );
    }

    /// Follows `next_cursor` from the first page to the last.
    async fn every_page(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
        let mut products = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(cursor) => format!("{query}&cursor={cursor}"),
                None => query.to_owned(),
            };
            let body = search_ok(app, &url).await;
            pages += 1;
            products.extend(
                body["products"]
                    .as_array()
                    .expect("products")
                    .iter()
                    .cloned(),
            );
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 20, "the cursors must end");
        }
        (products, pages)
    }

    #[tokio::test]
    async fn every_sort_pages_through_everything_once_in_order_even_with_ties() {
        let app = TestApp::spawn().await;
        catalog(&app).await;

        for sort in ["price_asc", "price_desc", "newest", "name"] {
            let (products, pages) = every_page(&app, &format!("?sort={sort}&limit=2")).await;
            let ids: Vec<&str> = products.iter().map(|p| p["id"].as_str().unwrap()).collect();
            assert_eq!(pages, 4, "{sort}: 8 products, 2 a page");
            assert_eq!(
                ids.iter().collect::<HashSet<_>>().len(),
                8,
                "{sort}: no repeats, no gaps"
            );

            // The order is the sort's, with the id breaking ties in the same direction.
            let mut expected = products.clone();
            match sort {
                "price_asc" => expected.sort_by_key(|p| (price(p), id(p))),
                "price_desc" => expected.sort_by_key(|p| Reverse((price(p), id(p)))),
                "newest" => expected.sort_by_key(|p| Reverse((created(p), id(p)))),
                _ => expected.sort_by_key(|p| (p["name"].as_str().unwrap().to_owned(), id(p))),
            }
            assert_eq!(products, expected, "{sort}");
        }

        let (ranked, _) = every_page(&app, "?q=kettle&limit=1").await;
        assert_eq!(ranked.len(), 3, "relevance pages too");
    }

    fn price(product: &Value) -> i64 {
        product["price"]["amount_minor"].as_i64().expect("a price")
    }

    /// UUIDs in their canonical text form sort as PostgreSQL sorts the values.
    fn id(product: &Value) -> String {
        product["id"].as_str().expect("an id").to_owned()
    }

    fn created(product: &Value) -> OffsetDateTime {
        let created_at = product["created_at"].as_str().expect("a creation time");
        OffsetDateTime::parse(created_at, &Rfc3339).expect("RFC 3339")
    }

    async fn first_cursor(app: &TestApp, query: &str) -> String {
        let body = search_ok(app, query).await;
        body["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned()
    }

    async fn expect_cursor_400(app: &TestApp, query: &str) -> Value {
        let (status, content_type, body) = parts(app.search(query).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["errors"][0]["parameter"], "cursor", "{body}");
        body
    }

    #[tokio::test]
    async fn a_cursor_works_only_untouched_with_its_own_sort_and_filters() {
        let app = TestApp::spawn().await;
        catalog(&app).await;
        let cursor = first_cursor(&app, "?sort=price_asc&limit=2").await;

        // Untouched, it works.
        search_ok(&app, &format!("?sort=price_asc&limit=2&cursor={cursor}")).await;
        // A bigger page size is fine: the limit is not part of the position.
        search_ok(&app, &format!("?sort=price_asc&limit=5&cursor={cursor}")).await;

        let truncated = &cursor[..cursor.len() - 5];
        for tampered in [
            format!("{cursor}AAAA"),
            truncated.to_owned(),
            "bm90IGEgY3Vyc29y".to_owned(),
            "%27%20OR%201%3D1%20--".to_owned(),
            "!!!".to_owned(),
        ] {
            expect_cursor_400(&app, &format!("?sort=price_asc&limit=2&cursor={tampered}")).await;
        }

        let other_sort = expect_cursor_400(&app, &format!("?sort=name&cursor={cursor}")).await;
        assert!(
            other_sort["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("sort=price_asc"),
            "{other_sort}"
        );
        let default_sort = expect_cursor_400(&app, &format!("?cursor={cursor}")).await;
        assert_eq!(default_sort["status"], 400);
        // Same sort, other filters: the position would mean nothing there.
        expect_cursor_400(
            &app,
            &format!("?sort=price_asc&brand=Norda&cursor={cursor}"),
        )
        .await;
    }

    #[tokio::test]
    async fn bad_parameters_are_all_listed_in_one_400() {
        let app = TestApp::spawn().await;

        let (status, content_type, body) = parts(
            app.search("?sort=price&limit=0&price_min=-5&currency=XXX&in_stock=yes&category=Not%20A%20Slug")
                .await,
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["instance"], "/products/search");
        let mut parameters: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["parameter"].as_str().expect("a parameter's name"))
            .collect();
        parameters.sort();
        assert_eq!(
            parameters,
            [
                "category",
                "currency",
                "in_stock",
                "limit",
                "price_min",
                "sort"
            ],
            "{body}"
        );
        // Rules across parameters are named too.
        let (status, _, body) = parts(app.search("?sort=relevance&price_min=100").await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let parameters: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["parameter"].as_str().expect("a parameter's name"))
            .collect();
        assert_eq!(parameters, ["sort", "currency"], "{body}");
        // An unknown parameter is refused rather than ignored.
        let (status, _, _) = parts(app.search("?colour=red&color=red").await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    const PAYLOADS: [&str; 8] = [
        "' OR 1=1 --",
        "'; DROP TABLE products; --",
        "1) OR (1=1",
        "\" OR \"\"=\"",
        "kettle' UNION SELECT id, sku FROM users --",
        "1; SELECT pg_sleep(5)",
        "Ünïcödé ☕ '); --",
        "nul\u{0}byte",
    ];

    const PARAMETERS: [&str; 13] = [
        "q",
        "category",
        "brand",
        "colour",
        "material",
        "size",
        "currency",
        "price_min",
        "price_max",
        "in_stock",
        "sort",
        "cursor",
        "limit",
    ];

    #[tokio::test]
    async fn sql_injection_payloads_in_every_parameter_are_refused_or_harmless() {
        let app = TestApp::spawn().await;
        catalog(&app).await;

        for parameter in PARAMETERS {
            for payload in PAYLOADS {
                let mut url =
                    reqwest::Url::parse(&format!("{}/products/search", app.base_url)).unwrap();
                url.query_pairs_mut().append_pair(parameter, payload);
                let response = app.client.get(url).send().await.unwrap();
                let (status, content_type, body) = parts(response).await;
                let what = format!("{parameter}={payload:?}: {body}");
                match status {
                    // Honest: the payload was a value, and no product has that value.
                    StatusCode::OK => assert_eq!(body["total"], 0, "{what}"),
                    StatusCode::BAD_REQUEST => {
                        assert_eq!(content_type, PROBLEM_JSON, "{what}");
                        assert_eq!(body["errors"][0]["parameter"], parameter, "{what}");
                    }
                    other => panic!("{other}: {what}"),
                }
            }
        }

        // Everything is still there.
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(count, 8);
        assert_eq!(search_ok(&app, "").await["total"], 8);
    }

    #[tokio::test]
    async fn the_search_route_does_not_shadow_product_ids() {
        let app = TestApp::spawn().await;
        let id = app.fixtures().hose.to_string();

        let (status, _, body) = parts(app.product(&id).await).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["attributes"], serde_json::json!({}));
    }
}
