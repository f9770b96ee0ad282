//! The lesson's SQL against a real, freshly seeded PostgreSQL database: what each showcase
//! query promises, the plan change an index makes, the checkout transaction's guarantees, and
//! which deadlines stop a statement on the server.
//!
//! `cargo test -p lesson-02 --test postgres` (needs PostgreSQL; skipped by the runner when it
//! is down)

mod needs_postgres {
    use std::time::Duration;

    use lesson_02::checkout::{self, CheckoutError, Line, Stocked};
    use lesson_02::deadline::{self, Outcome, QUERY_CANCELED};
    use lesson_02::{plan, queries};
    use shop_db::seed::{self, SeedSize};
    use sqlx::postgres::PgPoolOptions;
    use testkit::PgDatabase;

    async fn seeded(size: SeedSize) -> PgDatabase {
        let db = testkit::postgres().await;
        shop_db::migrator_through(shop_db::SCHEMA_OF_LESSON_05)
            .run(db.pool())
            .await
            .expect("the migrations apply to an empty database");
        seed::seed(db.pool(), &size)
            .await
            .expect("the seed fits the schema");
        db
    }

    async fn scalar(db: &PgDatabase, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(db.pool())
            .await
            .expect("the query returns one bigint")
    }

    #[tokio::test]
    async fn having_keeps_only_groups_that_pass_and_the_groups_add_up() {
        let db = seeded(SeedSize::small()).await;
        let all = queries::revenue_by_category(db.pool(), 0).await.unwrap();
        let pricey = queries::revenue_by_category(db.pool(), 10_000)
            .await
            .unwrap();

        let revenue: i64 = all.iter().map(|c| c.revenue_minor).sum();
        let expected = scalar(
            &db,
            "SELECT sum(i.quantity * i.unit_price_minor)::bigint FROM order_items i
             JOIN orders o ON o.id = i.order_id WHERE o.status <> 'cancelled'",
        )
        .await;
        assert_eq!(revenue, expected, "every non-cancelled line counted once");
        assert!(pricey.len() < all.len(), "HAVING removed some categories");
        assert!(pricey.iter().all(|c| c.average_price_minor >= 10_000));
        assert!(
            all.windows(2)
                .all(|w| w[0].revenue_minor >= w[1].revenue_minor)
        );
    }

    #[tokio::test]
    async fn the_recursive_cte_counts_whole_subtrees() {
        let db = seeded(SeedSize::small()).await;
        let tree = queries::category_tree(db.pool()).await.unwrap();

        assert_eq!(tree.len(), 10);
        let roots: i64 = tree
            .iter()
            .filter(|n| n.depth == 0)
            .map(|n| n.products)
            .sum();
        assert_eq!(roots, SeedSize::small().products as i64);
        // Display order: each department, then its subcategories, whose counts add up to it.
        for (i, node) in tree.iter().enumerate().filter(|(_, n)| n.depth == 0) {
            let children: i64 = tree[i + 1..]
                .iter()
                .take_while(|n| n.depth == 1)
                .map(|n| n.products)
                .sum();
            assert_eq!(node.products, children, "{}", node.name);
        }
    }

    #[tokio::test]
    async fn window_functions_rank_within_departments_and_accumulate_by_day() {
        let db = seeded(SeedSize::small()).await;
        let ranked = queries::top_products_per_department(db.pool(), 2)
            .await
            .unwrap();
        for department in ranked.chunk_by(|a, b| a.department == b.department) {
            assert!(department.len() <= 2);
            assert_eq!(department[0].rank, 1);
            assert!(
                department
                    .windows(2)
                    .all(|w| w[0].revenue_minor >= w[1].revenue_minor)
            );
            assert!(department.iter().map(|p| p.share).sum::<f64>() <= 1.0 + 1e-9);
        }

        let days = queries::daily_revenue(db.pool(), 30).await.unwrap();
        assert!(!days.is_empty());
        let mut running = 0;
        for day in &days {
            running += day.revenue_minor;
            assert_eq!(day.running_total_minor, running, "{}", day.day);
        }
    }

    #[tokio::test]
    async fn the_runtime_query_computes_totals_from_the_lines() {
        let db = seeded(SeedSize::small()).await;
        let customer = queries::top_customer(db.pool()).await.unwrap();
        let orders = queries::latest_orders_of(db.pool(), customer.id, 100)
            .await
            .unwrap();

        assert_eq!(orders.len() as i64, customer.orders);
        assert!(orders.windows(2).all(|w| w[0].placed_at >= w[1].placed_at));
        let first = &orders[0];
        let total: i64 = sqlx::query_scalar(
            "SELECT sum(quantity * unit_price_minor)::bigint FROM order_items WHERE order_id = $1",
        )
        .bind(first.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(first.total_minor, total);
    }

    #[tokio::test]
    async fn the_index_turns_a_seq_scan_into_an_index_scan() {
        let db = seeded(SeedSize::scaled(1_000)).await;
        let customer = queries::top_customer(db.pool()).await.unwrap();

        let before = plan::explain_latest_orders(db.pool(), customer.id)
            .await
            .unwrap();
        plan::create_latest_orders_index(db.pool()).await.unwrap();
        let after = plan::explain_latest_orders(db.pool(), customer.id)
            .await
            .unwrap();

        assert_eq!(before.scan(), Some("Seq Scan"), "{:#?}", before.lines);
        assert_eq!(
            after.scan(),
            Some("Index Scan using orders_user_id_placed_at_idx"),
            "{:#?}",
            after.lines
        );
        // Both plans must report their pages: `None < Some(_)` would pass this comparison.
        let (pages_before, pages_after) = (before.pages().unwrap(), after.pages().unwrap());
        assert!(
            pages_after < pages_before,
            "{pages_after} pages with the index, {pages_before} without"
        );
        assert!(before.lines.iter().any(|l| l.contains("Sort Key")));
        assert!(
            !after.lines.iter().any(|l| l.contains("Sort Key")),
            "the index gives the order"
        );
    }

    /// Two products with at least 5 units in Berlin, the first one locked first by checkout.
    async fn two_stocked(db: &PgDatabase) -> (Stocked, Stocked) {
        let picks = checkout::stocked_products(db.pool(), "BER1", 5, 2)
            .await
            .expect("the stock query runs");
        let [a, b]: [Stocked; 2] = picks
            .try_into()
            .expect("the small seed stocks two products in Berlin");
        if a.product_id < b.product_id {
            (a, b)
        } else {
            (b, a)
        }
    }

    #[tokio::test]
    async fn an_order_takes_stock_and_records_every_line() {
        let db = seeded(SeedSize::small()).await;
        let customer = queries::top_customer(db.pool()).await.unwrap();
        let (a, b) = two_stocked(&db).await;
        let lines = [
            Line {
                product_id: b.product_id,
                quantity: 2,
            },
            Line {
                product_id: a.product_id,
                quantity: 1,
            },
        ];

        let placed = checkout::place_order(db.pool(), customer.id, a.warehouse_id, &lines)
            .await
            .unwrap();

        let on_hand = |p: &Stocked| checkout::on_hand(db.pool(), p.warehouse_id, p.product_id);
        assert_eq!(on_hand(&a).await.unwrap(), a.on_hand - 1);
        assert_eq!(on_hand(&b).await.unwrap(), b.on_hand - 2);
        let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM order_items WHERE order_id = $1")
            .bind(placed.order_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(lines, 2);
        let orders = queries::latest_orders_of(db.pool(), customer.id, 1)
            .await
            .unwrap();
        assert_eq!(
            (orders[0].id, orders[0].total_minor),
            (placed.order_id, placed.total_minor)
        );
    }

    #[tokio::test]
    async fn an_order_that_would_oversell_changes_nothing() {
        let db = seeded(SeedSize::small()).await;
        let customer = queries::top_customer(db.pool()).await.unwrap();
        let (a, b) = two_stocked(&db).await;
        let orders_before = checkout::order_count(db.pool()).await.unwrap();
        // `a` sorts first, so its stock is decremented before `b` turns out to be short.
        let lines = [
            Line {
                product_id: a.product_id,
                quantity: 1,
            },
            Line {
                product_id: b.product_id,
                quantity: b.on_hand + 1,
            },
        ];

        let error = checkout::place_order(db.pool(), customer.id, a.warehouse_id, &lines)
            .await
            .unwrap_err();

        assert!(
            matches!(&error, CheckoutError::OutOfStock { sku, wanted, available }
                if *sku == b.sku && *wanted == b.on_hand + 1 && *available == b.on_hand),
            "{error:?}"
        );
        let on_hand = |p: &Stocked| checkout::on_hand(db.pool(), p.warehouse_id, p.product_id);
        assert_eq!(on_hand(&a).await.unwrap(), a.on_hand, "rolled back");
        assert_eq!(on_hand(&b).await.unwrap(), b.on_hand);
        assert_eq!(
            checkout::order_count(db.pool()).await.unwrap(),
            orders_before
        );
    }

    #[tokio::test]
    async fn concurrent_checkouts_for_the_last_units_never_oversell() {
        let db = seeded(SeedSize::small()).await;
        let customer = queries::top_customer(db.pool()).await.unwrap();
        let (a, _) = two_stocked(&db).await;
        checkout::set_on_hand(db.pool(), a.warehouse_id, a.product_id, 5)
            .await
            .unwrap();
        let basket = [Line {
            product_id: a.product_id,
            quantity: 2,
        }];

        let attempts =
            (0..4).map(|_| checkout::place_order(db.pool(), customer.id, a.warehouse_id, &basket));
        let outcomes = futures::future::join_all(attempts).await;

        let placed = outcomes.iter().filter(|o| o.is_ok()).count();
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, Err(CheckoutError::OutOfStock { .. })))
            .count();
        assert_eq!((placed, refused), (2, 2), "5 units buy two baskets of 2");
        let left = checkout::on_hand(db.pool(), a.warehouse_id, a.product_id)
            .await
            .unwrap();
        assert_eq!(left, 1);
    }

    #[tokio::test]
    async fn the_check_constraint_refuses_negative_stock() {
        let db = seeded(SeedSize::small()).await;
        let (a, _) = two_stocked(&db).await;

        let refused =
            checkout::take_without_checking(db.pool(), a.warehouse_id, a.product_id, a.on_hand + 1)
                .await
                .unwrap();

        assert_eq!(refused.as_deref(), Some("stock_levels_on_hand_check"));
        let left = checkout::on_hand(db.pool(), a.warehouse_id, a.product_id)
            .await
            .unwrap();
        assert_eq!(left, a.on_hand);
    }

    #[tokio::test]
    async fn statement_timeout_stops_a_slow_statement_on_the_server_for_one_transaction() {
        let db = testkit::postgres().await;
        // One connection, so the check afterwards reads the connection the transaction used.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(db.connect_options())
            .await
            .expect("a one-connection pool to the test database");

        let outcome = deadline::sleep_under_statement_timeout(
            &pool,
            Duration::from_millis(200),
            Duration::from_secs(5),
        )
        .await
        .expect("the statements run");

        match outcome {
            Outcome::Cancelled { after, .. } => assert!(
                after < Duration::from_secs(2),
                "a 200 ms statement_timeout should stop pg_sleep(5) early; it took {after:?}"
            ),
            Outcome::Finished(took) => panic!(
                "pg_sleep(5) under a 200 ms statement_timeout finished after {took:?}: \
                 the timeout never reached the server"
            ),
        }
        assert_eq!(
            deadline::statement_timeout(&pool).await.unwrap(),
            "0",
            "SET LOCAL ends with its transaction; the pooled connection must not keep the limit"
        );
        let quick =
            deadline::sleep_under_statement_timeout(&pool, Duration::from_secs(5), Duration::ZERO)
                .await
                .expect("the statements run");
        assert!(
            matches!(quick, Outcome::Finished(_)),
            "a statement inside its limit finishes: {quick:?}"
        );
    }

    #[tokio::test]
    async fn a_pool_wide_statement_timeout_applies_without_any_set() {
        let db = testkit::postgres().await;
        let options =
            deadline::with_statement_timeout(db.connect_options(), Duration::from_millis(1_500));
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("a pool whose connections start with a statement_timeout");

        assert_eq!(deadline::statement_timeout(&pool).await.unwrap(), "1500ms");
        let error = sqlx::query("SELECT pg_sleep(5)")
            .execute(&pool)
            .await
            .expect_err("a 5 s statement under the pool's 1.5 s statement_timeout is cancelled");
        let code = error
            .as_database_error()
            .and_then(|e| e.code().map(|code| code.into_owned()));
        assert_eq!(code.as_deref(), Some(QUERY_CANCELED), "{error}");
    }

    #[tokio::test]
    async fn a_dropped_future_leaves_its_statement_running_on_the_server() {
        let db = testkit::postgres().await;

        let backend = deadline::abandon_a_slow_query(
            db.pool(),
            Duration::from_millis(100),
            Duration::from_secs(5),
        )
        .await
        .expect("the queries run")
        .expect(
            "pg_stat_activity should still list the pg_sleep(5) its caller dropped: \
                     sqlx sends no cancel request",
        );

        assert_eq!(
            backend.state.as_deref(),
            Some("active"),
            "the abandoned statement is still running: {backend:?}"
        );
        assert!(
            deadline::cancel_backend(db.pool(), backend.pid)
                .await
                .unwrap(),
            "pg_cancel_backend finds the backend that runs the abandoned statement"
        );
    }
}
