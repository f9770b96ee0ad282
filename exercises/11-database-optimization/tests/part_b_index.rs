//! Part (b): an index that the plan proves, against a live PostgreSQL.
//!
//! Every test creates `shipments`, fills it with 100,000 rows (2,000 customers with 50
//! shipments each, `created_at` scattered so that it says nothing about `id` or the row's
//! place in the table), runs your statement, then `VACUUM ANALYZE`, and reads the plan of
//! `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` for the given query. The tests never look at the
//! text of your statement, only at what PostgreSQL does with the index it creates.
//!
//! Run with `cargo test -p exercise-11 part_b` (PostgreSQL must be up).

mod needs_postgres {
    use exercise_11::{LATEST_SHIPMENTS, SHIPMENTS_SCHEMA, latest_shipments_index};
    use sqlx::AssertSqlSafe;
    use sqlx::types::JsonValue;

    /// The most buffers (8 kB pages, in shared memory or read from disk) the query may touch.
    const MAX_BUFFERS: i64 = 25;

    struct Shipments {
        db: testkit::PgDatabase,
        /// The indexes your statement created.
        created: Vec<String>,
    }

    async fn indexes(db: &testkit::PgDatabase) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes
             WHERE tablename = 'shipments' AND indexname <> 'shipments_pkey'
             ORDER BY indexname",
        )
        .fetch_all(db.pool())
        .await
        .expect("pg_indexes can be read")
    }

    async fn shipments() -> Shipments {
        // Your statement first: an unfinished part fails before the table is filled.
        let statement = latest_shipments_index();
        let db = testkit::postgres().await;
        sqlx::raw_sql(SHIPMENTS_SCHEMA)
            .execute(db.pool())
            .await
            .expect("the shipments schema applies to a fresh database");
        sqlx::query(
            "INSERT INTO shipments (customer_id, created_at, weight_grams, label)
             SELECT g % 2000,
                    timestamptz '2026-01-01 00:00:00+00' + ((g * 7919) % 100000) * interval '1 minute',
                    100 + g % 5000,
                    'parcel ' || g || ' ' || repeat('x', 40)
             FROM generate_series(1, 100000) AS g",
        )
        .execute(db.pool())
        .await
        .expect("the fixture fills shipments");
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(db.pool())
            .await
            .unwrap_or_else(|e| panic!("your statement fails: {e}\n{statement}"));
        sqlx::query("VACUUM ANALYZE shipments")
            .execute(db.pool())
            .await
            .expect("shipments can be vacuumed and analyzed");
        let created = indexes(&db).await;
        Shipments { db, created }
    }

    /// Every node of a plan, depth first.
    fn nodes(plan: &JsonValue) -> Vec<&JsonValue> {
        let mut found = vec![plan];
        if let Some(children) = plan.get("Plans").and_then(JsonValue::as_array) {
            for child in children {
                found.extend(nodes(child));
            }
        }
        found
    }

    fn node_type(node: &JsonValue) -> &str {
        node.get("Node Type")
            .and_then(JsonValue::as_str)
            .unwrap_or("?")
    }

    /// The root node of the plan of the query for `customer`, run for real.
    async fn plan(shipments: &Shipments, customer: i32) -> JsonValue {
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {LATEST_SHIPMENTS}");
        let output: JsonValue = sqlx::query_scalar(AssertSqlSafe(explain))
            .bind(customer)
            .fetch_one(shipments.db.pool())
            .await
            .expect("the query can be explained");
        output
            .get(0)
            .and_then(|o| o.get("Plan"))
            .cloned()
            .expect("EXPLAIN's JSON holds a plan")
    }

    fn chain(plan: &JsonValue) -> String {
        nodes(plan)
            .iter()
            .map(|n| match n.get("Index Name").and_then(JsonValue::as_str) {
                Some(index) => format!("{} using {index}", node_type(n)),
                None => node_type(n).to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" > ")
    }

    fn buffers(plan: &JsonValue) -> i64 {
        ["Shared Hit Blocks", "Shared Read Blocks"]
            .iter()
            .map(|key| plan.get(key).and_then(JsonValue::as_i64).unwrap_or(0))
            .sum()
    }

    #[tokio::test]
    async fn the_statement_creates_one_index_on_shipments() {
        let shipments = shipments().await;

        assert_eq!(
            shipments.created.len(),
            1,
            "one statement, one index on shipments besides its primary key; found {:?}",
            shipments.created
        );
    }

    #[tokio::test]
    async fn the_query_reads_the_rows_through_your_index() {
        let shipments = shipments().await;

        for customer in [0, 777, 1999] {
            let plan = plan(&shipments, customer).await;
            let through_yours = nodes(&plan).iter().any(|n| {
                matches!(node_type(n), "Index Scan" | "Index Only Scan")
                    && n.get("Index Name")
                        .and_then(JsonValue::as_str)
                        .is_some_and(|name| shipments.created.iter().any(|c| c == name))
            });
            assert!(
                through_yours,
                "customer {customer}: the plan is {}, with no Index Scan (or Index Only Scan) \
                 using your index {:?}",
                chain(&plan),
                shipments.created
            );
        }
    }

    #[tokio::test]
    async fn the_rows_come_out_of_the_index_already_sorted() {
        let shipments = shipments().await;

        for customer in [0, 777, 1999] {
            let plan = plan(&shipments, customer).await;
            let sorts: Vec<&str> = nodes(&plan)
                .into_iter()
                .map(node_type)
                .filter(|t| t.contains("Sort"))
                .collect();
            assert!(
                sorts.is_empty(),
                "customer {customer}: the plan is {}; an index in the right column order hands \
                 over the customer's shipments already in created_at order, with no Sort",
                chain(&plan)
            );
        }
    }

    #[tokio::test]
    async fn the_query_touches_few_pages() {
        let shipments = shipments().await;

        for customer in [0, 777, 1999] {
            let plan = plan(&shipments, customer).await;
            let rows = plan.get("Actual Rows").and_then(JsonValue::as_i64);
            assert_eq!(
                rows,
                Some(10),
                "customer {customer} has 50 shipments: 10 come back"
            );
            let touched = buffers(&plan);
            assert!(
                touched <= MAX_BUFFERS,
                "customer {customer}: the query touched {touched} buffers (at most \
                 {MAX_BUFFERS}); its plan is {}",
                chain(&plan)
            );
        }
    }
}
