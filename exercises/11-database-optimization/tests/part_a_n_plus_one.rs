//! Part (a): the N+1, against a live PostgreSQL.
//!
//! Every test creates the orders schema in a fresh database. The small shop below gives ada
//! four orders whose ids were not inserted in order, one of them without lines, and lines
//! whose SKUs are not in the order they were added; bob's orders sit in between.
//!
//! Run with `cargo test -p exercise-11 part_a` (PostgreSQL must be up).

mod needs_postgres {
    use exercise_11::{
        CountingDb, Line, ORDERS_SCHEMA, Order, orders_with_lines, orders_with_lines_one_by_one,
    };

    async fn database() -> testkit::PgDatabase {
        let db = testkit::postgres().await;
        sqlx::raw_sql(ORDERS_SCHEMA)
            .execute(db.pool())
            .await
            .expect("the orders schema applies to a fresh database");
        db
    }

    async fn order(db: &testkit::PgDatabase, id: i64, customer: &str) {
        sqlx::query("INSERT INTO orders (id, customer) VALUES ($1, $2)")
            .bind(id)
            .bind(customer)
            .execute(db.pool())
            .await
            .expect("the fixture inserts an order");
    }

    async fn line(db: &testkit::PgDatabase, order_id: i64, sku: &str, quantity: i32) {
        sqlx::query("INSERT INTO order_lines (order_id, sku, quantity) VALUES ($1, $2, $3)")
            .bind(order_id)
            .bind(sku)
            .bind(quantity)
            .execute(db.pool())
            .await
            .expect("the fixture inserts a line");
    }

    /// ada: orders 30, 10, 40 (no lines), 20, inserted in that order; bob: 15 and 25.
    async fn small_shop() -> testkit::PgDatabase {
        let db = database().await;
        for (id, customer) in [
            (30, "ada"),
            (15, "bob"),
            (10, "ada"),
            (40, "ada"),
            (25, "bob"),
            (20, "ada"),
        ] {
            order(&db, id, customer).await;
        }
        for (order_id, sku, quantity) in [
            (20, "zeta", 1),
            (10, "mu", 2),
            (15, "bob-1", 7),
            (20, "alpha", 3),
            (30, "kappa", 1),
            (10, "beta", 5),
            (25, "bob-2", 1),
            (20, "omega", 2),
        ] {
            line(&db, order_id, sku, quantity).await;
        }
        db
    }

    fn lines(lines: &[(&str, i32)]) -> Vec<Line> {
        lines
            .iter()
            .map(|&(sku, quantity)| Line {
                sku: sku.to_owned(),
                quantity,
            })
            .collect()
    }

    fn ada() -> Vec<Order> {
        let order = |id, items: &[(&str, i32)]| Order {
            id,
            customer: "ada".to_owned(),
            lines: lines(items),
        };
        vec![
            order(10, &[("mu", 2), ("beta", 5)]),
            order(20, &[("zeta", 1), ("alpha", 3), ("omega", 2)]),
            order(30, &[("kappa", 1)]),
            order(40, &[]),
        ]
    }

    #[tokio::test]
    async fn orders_come_by_id_with_their_lines_in_the_order_they_were_added() {
        let db = small_shop().await;
        let counted = CountingDb::new(db.pool().clone());

        let loaded = orders_with_lines(&counted, "ada")
            .await
            .expect("the orders load");

        assert_eq!(
            loaded,
            ada(),
            "ada's orders by ascending id, each with its own lines by ascending line id (not by \
             SKU), order 40 with none"
        );
    }

    #[tokio::test]
    async fn an_order_without_lines_is_kept() {
        let db = database().await;
        order(&db, 7, "cy").await;
        order(&db, 8, "cy").await;
        line(&db, 8, "only", 1).await;
        let counted = CountingDb::new(db.pool().clone());

        let loaded = orders_with_lines(&counted, "cy")
            .await
            .expect("the orders load");

        assert_eq!(
            loaded,
            vec![
                Order {
                    id: 7,
                    customer: "cy".to_owned(),
                    lines: Vec::new(),
                },
                Order {
                    id: 8,
                    customer: "cy".to_owned(),
                    lines: lines(&[("only", 1)]),
                },
            ],
            "an order without lines is still an order: it stays, with no lines"
        );
    }

    #[tokio::test]
    async fn the_result_is_the_one_by_one_loaders_for_every_customer() {
        let db = small_shop().await;
        let counted = CountingDb::new(db.pool().clone());

        for customer in ["ada", "bob", "nobody"] {
            let expected = orders_with_lines_one_by_one(&counted, customer)
                .await
                .expect("the given loader loads");
            let loaded = orders_with_lines(&counted, customer)
                .await
                .expect("the orders load");
            assert_eq!(
                loaded, expected,
                "{customer}'s orders: the same as the given loader's, no other customer's \
                 orders or lines mixed in"
            );
        }
    }

    #[tokio::test]
    async fn a_customer_without_orders_gets_an_empty_list_in_at_most_two_statements() {
        let db = small_shop().await;
        let counted = CountingDb::new(db.pool().clone());

        let loaded = orders_with_lines(&counted, "nobody")
            .await
            .expect("the orders load");

        assert_eq!(loaded, Vec::new(), "nobody has no orders");
        assert!(
            (1..=2).contains(&counted.statements()),
            "{} statements sent: the orders must be asked for, in one or two statements",
            counted.statements()
        );
    }

    #[tokio::test]
    async fn at_most_two_statements_whatever_the_number_of_orders() {
        let db = database().await;
        // Orders 1..=200 of "many", with 0 to 3 lines each, bulk-inserted.
        sqlx::query(
            "INSERT INTO orders (id, customer) SELECT g, 'many' FROM generate_series(1, 200) AS g",
        )
        .execute(db.pool())
        .await
        .expect("the fixture inserts orders");
        sqlx::query(
            "INSERT INTO order_lines (order_id, sku, quantity)
             SELECT o, 'sku-' || (o * 7 + l) % 13, l
             FROM generate_series(1, 200) AS o, generate_series(1, 3) AS l
             WHERE l <= o % 4
             ORDER BY o * 37 % 200, l",
        )
        .execute(db.pool())
        .await
        .expect("the fixture inserts lines");

        for orders in [1_i64, 2, 10, 200] {
            sqlx::query(
                "UPDATE orders SET customer = CASE WHEN id <= $1 THEN 'many' ELSE 'other' END",
            )
            .bind(orders)
            .execute(db.pool())
            .await
            .expect("the fixture reassigns orders");

            let slow = CountingDb::new(db.pool().clone());
            let expected = orders_with_lines_one_by_one(&slow, "many")
                .await
                .expect("the given loader loads");
            assert_eq!(
                slow.statements(),
                1 + expected.len(),
                "the given loader sends one statement, then one per order"
            );

            let counted = CountingDb::new(db.pool().clone());
            let loaded = orders_with_lines(&counted, "many")
                .await
                .expect("the orders load");
            assert_eq!(
                loaded, expected,
                "with {orders} order(s): the given loader's result"
            );
            assert!(
                (1..=2).contains(&counted.statements()),
                "with {orders} order(s), {} statements were sent: at most 2, whatever the number \
                 of orders",
                counted.statements()
            );
        }
    }
}
