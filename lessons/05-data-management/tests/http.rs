//! The API over real HTTP. Validation runs before any database access, which the first tests
//! prove by giving the router a pool that points at a closed port; the `needs_postgres` tests
//! create, list and patch against a migrated, seeded database.
//!
//! `cargo test -p lesson-05 --test http`

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// A running API and its base URL.
async fn serve(pool: PgPool) -> (lesson_05::api::RunningApi, String) {
    let api = lesson_05::api::start(pool)
        .await
        .expect("the API binds a loopback port");
    let base = api.base_url();
    (api, base)
}

/// A pool that never connects: any handler that touched the database would get a 500.
fn nowhere() -> PgPool {
    PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(200))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("a well-formed URL")
}

async fn send(
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("an ASCII header").to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("the problem has an errors list")
        .iter()
        .map(|e| {
            e["pointer"]
                .as_str()
                .or(e["parameter"].as_str())
                .expect("each error says where")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn an_invalid_create_lists_every_field_error_as_problem_json_without_a_database() {
    let (api, base) = serve(nowhere()).await;
    let (status, content_type, problem) = send(
        reqwest::Method::POST,
        &format!("{base}/products"),
        Some(json!({
            "sku": "desk oak", "name": " ", "category": "Home", "price_minor": -1, "currency": "USD"
        })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], 422);
    assert_eq!(
        pointers(&problem),
        [
            "#/sku",
            "#/name",
            "#/category",
            "#/price_minor",
            "#/currency"
        ]
    );
    api.shut_down().await.unwrap();
}

#[tokio::test]
async fn bad_query_parameters_and_cursors_are_400s_without_a_database() {
    let (api, base) = serve(nowhere()).await;
    let (status, _, problem) = send(
        reqwest::Method::GET,
        &format!("{base}/products?sort=price;DROP%20TABLE%20products&limit=500&after=%25"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        pointers(&problem),
        ["sort", "limit"],
        "no sort, so the cursor is not checked"
    );

    let (status, _, problem) = send(
        reqwest::Method::GET,
        &format!("{base}/products?after=bm90LWEtY3Vyc29y"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(pointers(&problem), ["after"]);

    let (status, _, problem) = send(
        reqwest::Method::GET,
        &format!("{base}/products?colour=red"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    api.shut_down().await.unwrap();
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_problem_too() {
    let (api, base) = serve(nowhere()).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/products"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    api.shut_down().await.unwrap();
}

#[tokio::test]
async fn a_malformed_product_id_is_a_400_problem_without_a_database() {
    let (api, base) = serve(nowhere()).await;
    for method in [reqwest::Method::GET, reqwest::Method::PATCH] {
        let body = (method == reqwest::Method::PATCH).then(|| json!({}));
        let (status, content_type, problem) =
            send(method.clone(), &format!("{base}/products/42"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}");
        assert_eq!(content_type, "application/problem+json", "{method}");
        assert_eq!(problem["status"], 400, "{method}");
    }
    api.shut_down().await.unwrap();
}

mod needs_postgres {
    use super::*;
    use shop_db::seed::{self, SeedSize};
    use testkit::PgDatabase;

    async fn seeded() -> PgDatabase {
        let db = testkit::postgres().await;
        shop_db::migrator_through(shop_db::SCHEMA_OF_LESSON_05)
            .run(db.pool())
            .await
            .expect("the migrations apply");
        seed::seed(db.pool(), &SeedSize::small())
            .await
            .expect("the seed fits the schema");
        db
    }

    async fn leaf_category(db: &PgDatabase) -> String {
        sqlx::query_scalar(
            "SELECT slug FROM categories WHERE parent_id IS NOT NULL ORDER BY slug LIMIT 1",
        )
        .fetch_one(db.pool())
        .await
        .expect("the seed has subcategories")
    }

    #[tokio::test]
    async fn create_returns_201_with_location_and_the_sanitised_product() {
        let db = seeded().await;
        let category = leaf_category(&db).await;
        let (api, base) = serve(db.pool().clone()).await;
        let body = json!({
            "sku": " desk-9 ", "name": " Oak  desk ", "category": category,
            "price_minor": 12_900, "currency": "EUR"
        });
        let response = reqwest::Client::new()
            .post(format!("{base}/products"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let created: Value = response.json().await.unwrap();
        assert_eq!(
            location,
            format!("/products/{}", created["id"].as_str().unwrap())
        );
        assert_eq!(created["sku"], "DESK-9");
        assert_eq!(created["name"], "Oak desk");
        assert_eq!(created["price"]["amount_minor"], 12_900);

        let (status, _, _) = send(
            reqwest::Method::POST,
            &format!("{base}/products"),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);

        let unknown = json!({
            "sku": "DESK-10", "name": "Desk", "category": "no-such-category",
            "price_minor": 100, "currency": "EUR"
        });
        let (status, _, problem) = send(
            reqwest::Method::POST,
            &format!("{base}/products"),
            Some(unknown),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(pointers(&problem), ["#/category"]);
        api.shut_down().await.unwrap();
    }

    #[tokio::test]
    async fn patch_keeps_absent_fields_clears_null_ones_and_sets_values() {
        let db = seeded().await;
        let (id, name, price): (uuid::Uuid, String, i64) = sqlx::query_as(
            "SELECT id, name, price_minor FROM products WHERE description <> '' ORDER BY id LIMIT 1",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        let (api, base) = serve(db.pool().clone()).await;
        let url = format!("{base}/products/{id}");
        let stamp = |body: &Value| body["updated_at"].as_str().unwrap().to_owned();

        let (status, _, before) = send(reqwest::Method::GET, &url, None).await;
        assert_eq!(status, StatusCode::OK);
        let (_, _, same) = send(reqwest::Method::PATCH, &url, Some(json!({}))).await;
        assert_eq!(same, before, "{{}} changes nothing, not even updated_at");

        let (_, _, cleared) = send(
            reqwest::Method::PATCH,
            &url,
            Some(json!({ "description": null })),
        )
        .await;
        assert_eq!(cleared["description"], "");
        assert_eq!(cleared["name"], name.as_str());
        assert_eq!(cleared["price"]["amount_minor"], price);
        assert_ne!(stamp(&cleared), stamp(&before));

        let (_, _, set) = send(
            reqwest::Method::PATCH,
            &url,
            Some(json!({ "description": "New", "price_minor": price + 100 })),
        )
        .await;
        assert_eq!(set["description"], "New");
        assert_eq!(set["price"]["amount_minor"], price + 100);
        assert_eq!(set["name"], name.as_str());

        let (status, _, problem) =
            send(reqwest::Method::PATCH, &url, Some(json!({ "name": null }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(pointers(&problem), ["#/name"]);

        let missing = format!("{base}/products/{}", uuid::Uuid::nil());
        let (status, _, _) = send(
            reqwest::Method::PATCH,
            &missing,
            Some(json!({ "description": "x" })),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        api.shut_down().await.unwrap();
    }

    #[tokio::test]
    async fn following_next_cursors_lists_every_product_once_in_order() {
        let db = seeded().await;
        let (api, base) = serve(db.pool().clone()).await;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(db.pool())
            .await
            .unwrap();
        for sort in ["price", "-price", "name", "-created"] {
            let mut seen = Vec::new();
            let mut url = format!("{base}/products?sort={sort}&limit=7");
            loop {
                let (status, _, page) = send(reqwest::Method::GET, &url, None).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                for item in page["items"].as_array().unwrap() {
                    seen.push(item["id"].as_str().unwrap().to_owned());
                }
                match page["next"].as_str() {
                    Some(next) => url = format!("{base}/products?sort={sort}&limit=7&after={next}"),
                    None => break,
                }
            }
            let distinct: std::collections::HashSet<_> = seen.iter().collect();
            assert_eq!(seen.len() as i64, total, "{sort}");
            assert_eq!(distinct.len(), seen.len(), "{sort}: no duplicates");
        }
        api.shut_down().await.unwrap();
    }
}
