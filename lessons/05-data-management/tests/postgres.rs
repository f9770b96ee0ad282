//! The lesson's SQL against a real, migrated and seeded PostgreSQL database: offset drift
//! measured, keyset complete under concurrent writes, filters harmless with hostile input,
//! bulk writes and the upsert's counts.
//!
//! `cargo test -p lesson-05 --test postgres` (needs PostgreSQL; skipped by the runner when it
//! is down)

mod needs_postgres {
    use std::collections::{HashMap, HashSet};

    use lesson_05::listing::{ListParams, ListQuery};
    use lesson_05::{bulk, catalog, pagination};
    use shop_db::seed::{self, SeedSize};
    use testkit::PgDatabase;
    use uuid::Uuid;

    async fn seeded(products: usize) -> PgDatabase {
        let db = testkit::postgres().await;
        shop_db::migrator_through(shop_db::SCHEMA_OF_LESSON_05)
            .run(db.pool())
            .await
            .expect("the migrations apply");
        let size = SeedSize {
            products,
            ..SeedSize::small()
        };
        seed::seed(db.pool(), &size)
            .await
            .expect("the seed fits the schema");
        pagination::create_price_index(db.pool())
            .await
            .expect("the index builds");
        db
    }

    async fn any_category(db: &PgDatabase) -> Uuid {
        sqlx::query_scalar("SELECT id FROM categories ORDER BY slug LIMIT 1")
            .fetch_one(db.pool())
            .await
            .expect("the seed has categories")
    }

    #[tokio::test]
    async fn offset_drifts_under_writes_and_keyset_does_not() {
        let db = seeded(200).await;
        let report = pagination::drift(db.pool(), 10).await.unwrap();
        // 20 pages; the writer inserts after odd pages and deletes after even ones, each
        // before the reader's position: every insert repeats a row, every delete skips one.
        assert_eq!(report.offset.rows_at_start, 200);
        assert!(report.offset.duplicates >= 9, "{report:?}");
        assert!(report.offset.skipped >= 9, "{report:?}");
        assert!(report.offset.first_duplicate.is_some());
        assert_eq!(report.keyset.duplicates, 0, "{report:?}");
        assert_eq!(report.keyset.skipped, 0, "{report:?}");
        assert_eq!(report.keyset.rows_read, report.keyset.rows_at_start);
        assert!(report.inserted >= 10 && report.deleted >= 10, "{report:?}");
    }

    #[tokio::test]
    async fn keyset_reads_every_original_row_once_while_another_task_inserts() {
        let db = seeded(300).await;
        let category = any_category(&db).await;
        let original: HashSet<Uuid> = sqlx::query_scalar("SELECT id FROM products")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
        // A writer that does not wait for the reader: rows at random prices, as fast as it can.
        let pool = db.pool().clone();
        let writer = tokio::spawn(async move {
            let mut n = 0_u64;
            let mut rng = seed::SplitMix64::new(7);
            loop {
                n += 1;
                sqlx::query(
                    "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
                     VALUES ($1, $2, 'Concurrent', $3, $4, 'EUR')",
                )
                .bind(Uuid::now_v7())
                .bind(format!("LIVE-{n:06}"))
                .bind(category)
                .bind(rng.between(1, 200_000))
                .execute(&pool)
                .await
                .unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut seen: HashMap<Uuid, u32> = HashMap::new();
        let mut last: Option<(i64, Uuid)> = None;
        let mut previous_key: Option<(i64, Uuid)> = None;
        loop {
            let page = pagination::keyset_page(db.pool(), last, 15).await.unwrap();
            let Some(end) = page.last() else { break };
            for row in &page {
                let key = (row.price_minor, row.id);
                assert!(previous_key < Some(key), "strictly increasing (price, id)");
                previous_key = Some(key);
                *seen.entry(row.id).or_default() += 1;
            }
            last = Some((end.price_minor, end.id));
        }
        writer.abort();
        assert!(seen.values().all(|&n| n == 1), "no row read twice");
        let missing = original.iter().filter(|id| !seen.contains_key(id)).count();
        assert_eq!(missing, 0, "every row present from the start was read");
    }

    #[tokio::test]
    async fn an_injection_payload_in_every_filter_is_just_data() {
        let db = seeded(60).await;
        let payload = "x' OR '1'='1'; DROP TABLE products; --";
        let query = ListQuery::try_from(ListParams {
            q: Some(payload.into()),
            ..ListParams::default()
        })
        .unwrap();
        let page = catalog::list(db.pool(), &query).await.unwrap();
        assert!(page.items.is_empty());
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(count, 60, "the table is intact");
    }

    #[tokio::test]
    async fn filters_select_exactly_the_matching_rows() {
        let db = seeded(60).await;
        let (slug, min, max): (String, i64, i64) = sqlx::query_as(
            "SELECT c.slug, min(p.price_minor), max(p.price_minor) FROM products p
             JOIN categories c ON c.id = p.category_id GROUP BY c.slug ORDER BY count(*) DESC LIMIT 1",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        let expected: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id
             WHERE c.slug = $1 AND p.price_minor BETWEEN $2 AND $3",
        )
        .bind(&slug)
        .bind(min + 1)
        .bind(max)
        .fetch_one(db.pool())
        .await
        .unwrap();
        let query = ListQuery::try_from(ListParams {
            category: Some(slug.clone()),
            min_price: Some((min + 1).to_string()),
            max_price: Some(max.to_string()),
            limit: Some("100".into()),
            ..ListParams::default()
        })
        .unwrap();
        let page = catalog::list(db.pool(), &query).await.unwrap();
        assert_eq!(page.items.len() as i64, expected);
        assert!(page.next.is_none());
        assert!(page.items.iter().all(|p| p.category == slug));
        assert!(
            page.items
                .windows(2)
                .all(|w| w[0].price.amount_minor() <= w[1].price.amount_minor())
        );
    }

    #[tokio::test]
    async fn row_by_row_and_unnest_insert_the_same_rows() {
        let db = seeded(60).await;
        let category = any_category(&db).await;
        let one = bulk::insert_row_by_row(db.pool(), category, &bulk::feed("ROW", 40, 100))
            .await
            .unwrap();
        let all = bulk::insert_unnest(db.pool(), category, &bulk::feed("ARR", 40, 100))
            .await
            .unwrap();
        assert_eq!((one.rows, one.round_trips), (40, 42));
        assert_eq!((all.rows, all.round_trips), (40, 1));
        let prices: Vec<(String, i64)> = sqlx::query_as(
            "SELECT substr(sku, 5), price_minor FROM products
             WHERE sku LIKE 'ROW-%' OR sku LIKE 'ARR-%' ORDER BY substr(sku, 5), sku",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        for pair in prices.chunks(2) {
            assert_eq!(pair[0], pair[1], "same number, same price");
        }
    }

    #[tokio::test]
    async fn an_upsert_counts_inserted_updated_and_unchanged_rows() {
        let db = seeded(60).await;
        let category = any_category(&db).await;
        let first = bulk::upsert_feed(db.pool(), category, &bulk::feed("FEED", 10, 100))
            .await
            .unwrap();
        assert_eq!(
            first,
            bulk::UpsertReport {
                inserted: 10,
                updated: 0,
                unchanged: 0
            }
        );
        let mut again = bulk::feed("FEED", 12, 100);
        again[0].price_minor += 1;
        again[1].name = "Renamed".into();
        let second = bulk::upsert_feed(db.pool(), category, &again)
            .await
            .unwrap();
        assert_eq!(
            second,
            bulk::UpsertReport {
                inserted: 2,
                updated: 2,
                unchanged: 8
            }
        );
        let renamed: String =
            sqlx::query_scalar("SELECT name FROM products WHERE sku = 'FEED-000002'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(renamed, "Renamed");
    }

    #[tokio::test]
    async fn a_feed_with_a_sku_twice_is_refused_before_writing() {
        let db = seeded(60).await;
        let category = any_category(&db).await;
        let mut feed = bulk::feed("DUP", 3, 100);
        feed.push(feed[0].clone());
        let error = bulk::upsert_feed(db.pool(), category, &feed)
            .await
            .unwrap_err();
        assert!(matches!(error, bulk::FeedError::DuplicateSku(ref sku) if sku == "DUP-000001"));
        let written: i64 =
            sqlx::query_scalar("SELECT count(*) FROM products WHERE sku LIKE 'DUP-%'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(written, 0);
    }
}
