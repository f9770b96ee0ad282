//! Part (a): revenue by category, with window functions, against a live PostgreSQL.
//!
//! Every test migrates a fresh database and inserts the same small shop, whose numbers you can
//! check by hand (all amounts in minor units, cents for EUR and USD):
//!
//! | order | status    | currency | placed (UTC)      | lines                                        |
//! |-------|-----------|----------|-------------------|----------------------------------------------|
//! | O1    | paid      | EUR      | 2025-03-01 10:00  | 2 headphones × 10000, 4 novels × 1500        |
//! | O2    | delivered | EUR      | 2025-03-15 00:00  | 10 novels × 1400, 1 board game × 5000        |
//! | O3    | cancelled | EUR      | 2025-03-20 12:00  | 5 board games × 5000                         |
//! | O4    | placed    | EUR      | 2025-03-25 12:00  | 3 board games × 5000                         |
//! | O5    | shipped   | USD      | 2025-03-05 12:00  | 2 hoses × 3000, 1 headphones × 12000         |
//! | O6    | shipped   | EUR      | 2025-04-01 00:00  | 2 board games × 4500                         |
//!
//! Categories: `audio` (headphones), `books` (novel), `games` (board game), `garden` (hose).
//! The novels of O2 were on sale (1400, not the listed 1500): revenue is the price paid.
//! O3 is cancelled and O4 not paid yet: neither counts. In EUR, over all time:
//! audio 20000, books 6000 + 14000 = 20000, games 5000 + 9000 = 14000, garden 0.
//!
//! Run with `cargo test -p exercise-02 part_a` (PostgreSQL must be up).

mod needs_postgres {
    use exercise_02::{CategoryRevenue, RevenueFilter, revenue_by_category};
    use shop_domain::Currency;
    use sqlx::PgPool;
    use sqlx::types::Uuid;
    use time::OffsetDateTime;
    use time::macros::datetime;

    type Order<'a> = (&'a str, &'a str, OffsetDateTime, &'a [(Uuid, i32, i64)]);

    /// A fresh database with the shop schema and the fixture above.
    async fn shop() -> testkit::PgDatabase {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        insert_fixture(db.pool()).await;
        db
    }

    async fn insert_fixture(pool: &PgPool) {
        let user = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (id, email, display_name) VALUES ($1, 'ada@example.com', 'Ada')",
        )
        .bind(user)
        .execute(pool)
        .await
        .expect("the fixture inserts");

        let mut products = Vec::new();
        for (slug, sku, price) in [
            ("audio", "HEADPHONES-1", 10_000_i64),
            ("books", "NOVEL-1", 1_500),
            ("games", "BOARD-GAME-1", 5_000),
            ("garden", "HOSE-1", 3_000),
        ] {
            let category = Uuid::now_v7();
            sqlx::query("INSERT INTO categories (id, slug, name) VALUES ($1, $2, $2)")
                .bind(category)
                .bind(slug)
                .execute(pool)
                .await
                .expect("the fixture inserts");
            let product = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
                 VALUES ($1, $2, $2, $3, $4, 'EUR')",
            )
            .bind(product)
            .bind(sku)
            .bind(category)
            .bind(price)
            .execute(pool)
            .await
            .expect("the fixture inserts");
            products.push(product);
        }
        let [headphones, novel, game, hose] = products[..] else {
            unreachable!("four products were inserted")
        };

        // (status, currency, placed_at, lines of (product, quantity, unit_price_minor))
        let orders: [Order<'_>; 6] = [
            (
                "paid",
                "EUR",
                datetime!(2025-03-01 10:00 UTC),
                &[(headphones, 2, 10_000), (novel, 4, 1_500)],
            ),
            (
                "delivered",
                "EUR",
                datetime!(2025-03-15 00:00 UTC),
                &[(novel, 10, 1_400), (game, 1, 5_000)],
            ),
            (
                "cancelled",
                "EUR",
                datetime!(2025-03-20 12:00 UTC),
                &[(game, 5, 5_000)],
            ),
            (
                "placed",
                "EUR",
                datetime!(2025-03-25 12:00 UTC),
                &[(game, 3, 5_000)],
            ),
            (
                "shipped",
                "USD",
                datetime!(2025-03-05 12:00 UTC),
                &[(hose, 2, 3_000), (headphones, 1, 12_000)],
            ),
            (
                "shipped",
                "EUR",
                datetime!(2025-04-01 00:00 UTC),
                &[(game, 2, 4_500)],
            ),
        ];
        for (status, currency, placed_at, lines) in orders {
            let order = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO orders (id, user_id, status, currency, placed_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(order)
            .bind(user)
            .bind(status)
            .bind(currency)
            .bind(placed_at)
            .execute(pool)
            .await
            .expect("the fixture inserts");
            for &(product, quantity, unit_price_minor) in lines {
                sqlx::query(
                    "INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(order)
                .bind(product)
                .bind(quantity)
                .bind(unit_price_minor)
                .execute(pool)
                .await
                .expect("the fixture inserts");
            }
        }
    }

    /// The report for `filter`. A query that fails (a column of the wrong type, a division by
    /// zero, SQL that does not parse) fails the test with PostgreSQL's reason.
    async fn report(db: &testkit::PgDatabase, filter: &RevenueFilter) -> Vec<CategoryRevenue> {
        match revenue_by_category(db.pool(), filter).await {
            Ok(rows) => rows,
            Err(error) => panic!(
                "revenue_by_category must answer with a report, but the query failed: {error}"
            ),
        }
    }

    /// One expected row: (category, revenue, rank, share %, running total).
    fn rows(expected: &[(&str, i64, i64, f64, i64)]) -> Vec<CategoryRevenue> {
        expected
            .iter()
            .map(
                |&(category, revenue, rank, share, running)| CategoryRevenue {
                    category: category.to_owned(),
                    revenue_minor: revenue,
                    rank,
                    share_percent: share,
                    running_total_minor: running,
                },
            )
            .collect()
    }

    /// The all-time EUR report: audio and books tie for rank 1, so games is 3rd (not 2nd),
    /// and garden, which sold nothing in EUR, still has its row. 20000 / 54000 is 37.037…%,
    /// shown as 37.0; the rounded shares add up to 99.9, which is expected.
    fn all_time_eur() -> Vec<CategoryRevenue> {
        rows(&[
            ("audio", 20_000, 1, 37.0, 20_000),
            ("books", 20_000, 1, 37.0, 40_000),
            ("games", 14_000, 3, 25.9, 54_000),
            ("garden", 0, 4, 0.0, 54_000),
        ])
    }

    #[tokio::test]
    async fn ranks_categories_by_paid_revenue_with_shares_and_running_totals() {
        let db = shop().await;

        let report = report(&db, &RevenueFilter::all(Currency::Eur)).await;

        assert_eq!(
            report,
            all_time_eur(),
            "only paid, shipped and delivered orders count (not O3, cancelled, nor O4, placed); \
             tied categories share a rank (RANK, not DENSE_RANK) but not a running total; every \
             category has a row, garden with 0"
        );
    }

    #[tokio::test]
    async fn revenue_is_what_customers_paid_not_todays_price() {
        let db = shop().await;
        // Every price changes after the orders were placed: the report must not move, because
        // the order lines remember the price paid (10 novels were sold at 1400, not 1500).
        sqlx::query("UPDATE products SET price_minor = price_minor * 3 + 7")
            .execute(db.pool())
            .await
            .expect("the prices change");

        let report = report(&db, &RevenueFilter::all(Currency::Eur)).await;

        assert_eq!(
            report,
            all_time_eur(),
            "revenue is quantity × order_items.unit_price_minor, the price paid, never today's \
             products.price_minor"
        );
    }

    #[tokio::test]
    async fn a_period_includes_its_start_and_excludes_its_end() {
        let db = shop().await;
        // [March 15, April 1): O2 (placed exactly at the start) counts, O6 (exactly at the end)
        // does not, O1 is before. audio and garden tie at zero: both rank 3, ordered by slug.
        let march_second_half = RevenueFilter {
            placed_from: Some(datetime!(2025-03-15 00:00 UTC)),
            placed_before: Some(datetime!(2025-04-01 00:00 UTC)),
            ..RevenueFilter::all(Currency::Eur)
        };

        let report = report(&db, &march_second_half).await;

        // 14000 / 19000 = 73.68…%, 5000 / 19000 = 26.31…%.
        let expected = rows(&[
            ("books", 14_000, 1, 73.7, 14_000),
            ("games", 5_000, 2, 26.3, 19_000),
            ("audio", 0, 3, 0.0, 19_000),
            ("garden", 0, 3, 0.0, 19_000),
        ]);
        assert_eq!(
            report, expected,
            "a period is half-open, placed_from <= placed_at < placed_before: O2, placed exactly \
             at the start, counts; O6, placed exactly at the end, does not"
        );
    }

    #[tokio::test]
    async fn a_period_open_at_one_end_filters_on_the_other_only() {
        let db = shop().await;
        let since_mid_march = RevenueFilter {
            placed_from: Some(datetime!(2025-03-15 00:00 UTC)),
            ..RevenueFilter::all(Currency::Eur)
        };
        let before_mid_march = RevenueFilter {
            placed_before: Some(datetime!(2025-03-15 00:00 UTC)),
            ..RevenueFilter::all(Currency::Eur)
        };

        let since = report(&db, &since_mid_march).await;
        let before = report(&db, &before_mid_march).await;

        // O2 and O6: books 14000 and games 5000 + 9000 tie, ordered by slug.
        let expected_since = rows(&[
            ("books", 14_000, 1, 50.0, 14_000),
            ("games", 14_000, 1, 50.0, 28_000),
            ("audio", 0, 3, 0.0, 28_000),
            ("garden", 0, 3, 0.0, 28_000),
        ]);
        // O1 only: 20000 / 26000 = 76.92…%, 6000 / 26000 = 23.07…%.
        let expected_before = rows(&[
            ("audio", 20_000, 1, 76.9, 20_000),
            ("books", 6_000, 2, 23.1, 26_000),
            ("games", 0, 3, 0.0, 26_000),
            ("garden", 0, 3, 0.0, 26_000),
        ]);
        assert_eq!(
            since, expected_since,
            "placed_from alone: every order from March 15 on, with no end"
        );
        assert_eq!(
            before, expected_before,
            "placed_before alone: every order before March 15, with no start"
        );
    }

    #[tokio::test]
    async fn a_period_without_sales_gives_zero_shares_not_a_division_by_zero() {
        let db = shop().await;
        let january = RevenueFilter {
            placed_from: Some(datetime!(2025-01-01 00:00 UTC)),
            placed_before: Some(datetime!(2025-02-01 00:00 UTC)),
            ..RevenueFilter::all(Currency::Eur)
        };

        let report = report(&db, &january).await;

        let expected = rows(&[
            ("audio", 0, 1, 0.0, 0),
            ("books", 0, 1, 0.0, 0),
            ("games", 0, 1, 0.0, 0),
            ("garden", 0, 1, 0.0, 0),
        ]);
        assert_eq!(
            report, expected,
            "with no sales at all every category still has its row, all rank 1, and every share \
             is 0.0 (the total is zero: no division)"
        );
    }

    #[tokio::test]
    async fn only_orders_in_the_requested_currency_count() {
        let db = shop().await;

        let report = report(&db, &RevenueFilter::all(Currency::Usd)).await;

        // O5 alone: headphones 12000 and hoses 6000; the euro orders are not added to dollars.
        let expected = rows(&[
            ("audio", 12_000, 1, 66.7, 12_000),
            ("garden", 6_000, 2, 33.3, 18_000),
            ("books", 0, 3, 0.0, 18_000),
            ("games", 0, 3, 0.0, 18_000),
        ]);
        assert_eq!(
            report, expected,
            "only orders in the filter's currency count: euros are never added to dollars"
        );
    }
}
