//! The seed generator against a real PostgreSQL: the schema accepts every generated row, the
//! counts it reports are the rows that exist, and it refuses a database that already has data.
//!
//! `cargo test -p shop-db --test seed` (needs PostgreSQL; skipped by the runner when it is down)

mod needs_postgres {
    use shop_db::seed::{self, SeedError, SeedSize};

    #[tokio::test]
    async fn small_seed_fills_every_table_and_reports_true_counts() {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR.run(db.pool()).await.unwrap();

        let size = SeedSize::small();
        let mut seen = Vec::new();
        let report = seed::seed_with_progress(db.pool(), &size, |t| seen.push(t.table))
            .await
            .unwrap();

        assert_eq!(
            seen,
            report.tables.iter().map(|t| t.table).collect::<Vec<_>>()
        );
        assert_eq!(report.rows("products"), size.products as u64);
        assert_eq!(report.rows("categories"), (size.departments * 5) as u64);
        let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM order_items")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(counted as u64, report.rows("order_items"));
        // Every order has at least one line, and every line's order exists (the foreign key).
        let empty_orders: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders o
             WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(empty_orders, 0);
    }

    #[tokio::test]
    async fn seeding_twice_is_refused_and_changes_nothing() {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR.run(db.pool()).await.unwrap();
        seed::seed(db.pool(), &SeedSize::small()).await.unwrap();

        let error = seed::seed(db.pool(), &SeedSize::small()).await.unwrap_err();
        assert!(
            matches!(error, SeedError::NotEmpty { categories: 10 }),
            "{error:?}"
        );
        let products: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(products, SeedSize::small().products as i64);
    }
}
