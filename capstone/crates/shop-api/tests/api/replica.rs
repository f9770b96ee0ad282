//! Catalog reads on the streaming replica (chapter 11): lists, search and categories are read
//! there, a product's own page and every write stay on the primary, and a replica that cannot
//! be reached is skipped for the primary.

mod needs_postgres {
    use std::str::FromStr;
    use std::time::{Duration, Instant};

    use reqwest::StatusCode;
    use secrecy::{ExposeSecret, SecretString};
    use serde_json::{Value, json};
    use shop_domain::Role;
    use sqlx::postgres::PgConnectOptions;

    use crate::helpers::TestApp;
    use crate::parts;

    async fn product_names(app: &TestApp) -> Vec<String> {
        let (status, _, page) = parts(app.products("?limit=100").await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        (page["products"].as_array().expect("a page").iter())
            .map(|p| p["name"].as_str().expect("a name").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn an_unreachable_replica_is_skipped_for_the_primary() {
        let app = TestApp::spawn_with(|config| {
            config.database_replica_url = Some(SecretString::from(
                "postgres://postgres:hunter2@127.0.0.1:1/shop",
            ));
        })
        .await;
        assert_eq!(product_names(&app).await.len(), 3);
        let (status, _, categories) = parts(app.categories().await).await;
        assert_eq!(status, StatusCode::OK, "{categories}");
        let (status, _, found) = parts(app.search("?q=hose").await).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        let (status, _, page) = parts(app.category_products("audio", "").await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
    }

    mod needs_pg_replica {
        use super::*;

        /// The replica's URL for the test's own database: the database created on the primary
        /// reaches the standby by replication, under the same name.
        fn replica_url(primary: &SecretString) -> String {
            let database = PgConnectOptions::from_str(primary.expose_secret())
                .expect("the test's URL parses")
                .get_database()
                .expect("the test's URL names its database")
                .to_owned();
            let replica = std::env::var("DATABASE_REPLICA_URL")
                .ok()
                .filter(|url| !url.trim().is_empty())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5433/postgres".to_owned());
            let mut url = url::Url::parse(&replica).expect("DATABASE_REPLICA_URL parses");
            url.set_path(&database);
            url.to_string()
        }

        // ANCHOR: replica_test
        #[tokio::test]
        async fn catalog_lists_come_from_the_replica_and_a_write_reaches_them() {
            let mut replica = String::new();
            let app = TestApp::spawn_with(|config| {
                replica = replica_url(&config.database_url);
                config.database_replica_url = Some(SecretString::from(replica.clone()));
            })
            .await;
            // The test's database and its fixtures, written on the primary, arrive by
            // replication (until then the service reads the primary: the other test).
            let deadline = Instant::now() + Duration::from_secs(20);
            let on_replica = loop {
                if let Ok(pool) = sqlx::PgPool::connect(&replica).await {
                    let products: Result<i64, _> =
                        sqlx::query_scalar("SELECT count(*) FROM products")
                            .fetch_one(&pool)
                            .await;
                    if products.is_ok_and(|n| n == 3) {
                        break pool;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "the fixtures never reached the replica"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(product_names(&app).await.len(), 3);
            // The replica's own view: the service's pool is connected to it, by name.
            let (in_recovery, readers): (bool, i64) = sqlx::query_as(
                "SELECT pg_is_in_recovery(), (SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND datname = current_database())",
            )
            .bind(shop_api::db::REPLICA_APPLICATION)
            .fetch_one(&on_replica)
            .await
            .expect("the replica's activity reads");
            assert!(in_recovery, "{replica} is a standby");
            assert!(readers >= 1, "the catalog read there");
            let on_primary: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            )
            .bind(shop_api::db::REPLICA_APPLICATION)
            .fetch_one(app.pool())
            .await
            .expect("the primary's activity reads");
            assert_eq!(on_primary, 0, "no replica connection landed on the primary");

            // A write goes to the primary; its own page reads the primary at once (through the
            // cache), and the list shows it once the replica has replayed it.
            let (_, admin) = app.token_for(Role::Admin).await;
            let body = json!({
                "sku": "LAMP-7",
                "name": "Desk lamp",
                "description": "Warm light.",
                "category": "garden",
                "price": { "amount_minor": 3_900, "currency": "EUR" }
            });
            let (status, _, created) = parts(app.create_product(Some(&admin), &body).await).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let id = created["id"].as_str().expect("an id");
            let (status, _, page): (StatusCode, _, Value) = parts(app.product(id).await).await;
            assert_eq!(status, StatusCode::OK, "the writer reads its write: {page}");
            let written = Instant::now();
            while !product_names(&app).await.contains(&"Desk lamp".to_owned()) {
                assert!(
                    written.elapsed() < Duration::from_secs(10),
                    "the replica never caught up"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            on_replica.close().await;
        }
        // ANCHOR_END: replica_test
    }
}
