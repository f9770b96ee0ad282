//! Step 1: reading plans. A table of 150,000 orders, the same queries before and after an
//! index, and what `EXPLAIN (ANALYZE, BUFFERS)` says each cost: the plan's nodes, the rows,
//! the buffers (8 kB pages) it touched and the server's execution time.

use std::time::Instant;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show, thousands};
use sqlx::PgPool;

use super::{Demo, StepError, explain};
use crate::plan::PlanSummary;

const ORDERS: i64 = 150_000;

/// Deterministic rows (every customer has 15 orders, one order in 50 is pending), so that two
/// runs print the same plans. Autovacuum is off for the table, so that the covering index
/// below shows the difference VACUUM makes, when this step says, not when a daemon decides.
const CREATE: &str = "
    CREATE TABLE orders (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        customer_id integer NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL,
        total_cents integer NOT NULL,
        attrs jsonb NOT NULL,
        description text NOT NULL
    ) WITH (autovacuum_enabled = off)";

const FILL: &str = "
    INSERT INTO orders (customer_id, status, created_at, total_cents, attrs, description)
    SELECT 1 + (i * 7919) % 10000,
           CASE WHEN i % 50 = 0 THEN 'pending' WHEN i % 2 = 0 THEN 'shipped' ELSE 'delivered' END,
           now() - ((i * 104729) % 525600) * interval '1 minute',
           100 + (i * 37) % 20000,
           jsonb_build_object('channel', (ARRAY['web', 'app', 'store', 'phone'])[1 + (i / 3) % 4],
                              'gift', i % 10 = 7)
           || CASE WHEN i % 400 = 0 THEN jsonb_build_object('coupon', 'WINTER24') ELSE '{}' END,
           (ARRAY['red', 'blue', 'green', 'oak', 'steel', 'glass', 'linen', 'wool'])[1 + i % 8]
           || ' ' || (ARRAY['chair', 'table', 'lamp', 'vase', 'rug', 'shelf', 'mirror', 'clock'])[1 + (i / 8) % 8]
           || ', ' || (ARRAY['fragile', 'heavy', 'gift wrapped', 'express', 'oversized', 'standard'])[1 + (i / 64) % 6]
    FROM generate_series(1, $1) AS i";

const ONE_CUSTOMER: &str = "SELECT id, total_cents FROM orders
    WHERE customer_id = 4242 AND created_at >= now() - interval '90 days'";
const LAST_DAY: &str =
    "SELECT id, total_cents FROM orders WHERE created_at >= now() - interval '1 day'";
const OLDEST_PENDING: &str =
    "SELECT id FROM orders WHERE status = 'pending' ORDER BY created_at LIMIT 20";
const CUSTOMER_RANGE: &str =
    "SELECT created_at, total_cents FROM orders WHERE customer_id BETWEEN 100 AND 199";
const COUPON: &str = r#"SELECT id FROM orders WHERE attrs @> '{"coupon": "WINTER24"}'"#;
const SEARCH: &str = "SELECT id FROM orders
    WHERE to_tsvector('english', description) @@ websearch_to_tsquery('english', 'fragile glass vase')";

pub async fn plans(demo: &Demo) -> Result<(), StepError> {
    heading(
        1,
        "Reading plans: composite, partial, covering and GIN indexes",
    );
    let pool = demo.pool().await?;
    let started = Instant::now();
    sqlx::query(CREATE).execute(&pool).await?;
    sqlx::query(FILL).bind(ORDERS).execute(&pool).await?;
    sqlx::query("ANALYZE orders").execute(&pool).await?;
    let size: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_relation_size('orders'))")
        .fetch_one(&pool)
        .await?;
    say(format_args!(
        "{} orders ({size}), generated with generate_series in {}. Each query runs under",
        thousands(ORDERS),
        duration(started.elapsed())
    ));
    say("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON), read into the plan's top nodes, the rows, the");
    say("buffers (8 kB pages touched) and the server's execution time.");

    let mut table = Table::new(["query", "index", "plan", "rows>", "buffers>", "time>"]);
    let mut row = |query: &str, index: &str, plan: &PlanSummary| {
        table.row([
            query.to_owned(),
            index.to_owned(),
            plan.chain(),
            thousands(plan.rows as i64),
            thousands(plan.buffers as i64),
            duration(plan.execution),
        ]);
    };

    // Composite: column order decides which queries an index can seek for.
    let scan = explain(&pool, ONE_CUSTOMER).await?;
    row("customer 4242, last 90 days", "none", &scan);
    ddl(
        &pool,
        "CREATE INDEX orders_created_customer ON orders (created_at, customer_id)",
    )
    .await?;
    let range_first = explain(&pool, ONE_CUSTOMER).await?;
    row(
        "customer 4242, last 90 days",
        "(created_at, customer_id)",
        &range_first,
    );
    ddl(&pool, "DROP INDEX orders_created_customer").await?;
    ddl(
        &pool,
        "CREATE INDEX orders_customer_created ON orders (customer_id, created_at)",
    )
    .await?;
    let equality_first = explain(&pool, ONE_CUSTOMER).await?;
    row(
        "customer 4242, last 90 days",
        "(customer_id, created_at)",
        &equality_first,
    );
    let no_leading = explain(&pool, LAST_DAY).await?;
    row(
        "everyone, last day",
        "(customer_id, created_at)",
        &no_leading,
    );

    // Partial: an index of the 2% of rows one query wants.
    let unsorted = explain(&pool, OLDEST_PENDING).await?;
    row("20 oldest pending", "none", &unsorted);
    ddl(
        &pool,
        "CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending'",
    )
    .await?;
    let partial = explain(&pool, OLDEST_PENDING).await?;
    row("20 oldest pending", "partial, WHERE pending", &partial);

    // Covering: INCLUDE the column the query returns, and the table need not be read, once
    // VACUUM has marked its pages all-visible.
    let heap = explain(&pool, CUSTOMER_RANGE).await?;
    row("customers 100-199", "(customer_id, created_at)", &heap);
    ddl(
        &pool,
        "CREATE INDEX orders_covering ON orders (customer_id, created_at) INCLUDE (total_cents)",
    )
    .await?;
    ddl(&pool, "DROP INDEX orders_customer_created").await?;
    let unvacuumed = explain(&pool, CUSTOMER_RANGE).await?;
    row("customers 100-199", "… INCLUDE (total_cents)", &unvacuumed);
    ddl(&pool, "VACUUM orders").await?;
    let covering = explain(&pool, CUSTOMER_RANGE).await?;
    row("customers 100-199", "… INCLUDE, after VACUUM", &covering);

    // GIN: an inverted index, from each JSON key/value or word to the rows that have it.
    let json_scan = explain(&pool, COUPON).await?;
    row("attrs @> {coupon: WINTER24}", "none", &json_scan);
    ddl(
        &pool,
        "CREATE INDEX orders_attrs ON orders USING gin (attrs jsonb_path_ops)",
    )
    .await?;
    let json_gin = explain(&pool, COUPON).await?;
    row(
        "attrs @> {coupon: WINTER24}",
        "GIN jsonb_path_ops",
        &json_gin,
    );
    let text_scan = explain(&pool, SEARCH).await?;
    row("search 'fragile glass vase'", "none", &text_scan);
    ddl(
        &pool,
        "CREATE INDEX orders_search ON orders USING gin (to_tsvector('english', description))",
    )
    .await?;
    let text_gin = explain(&pool, SEARCH).await?;
    row("search 'fragile glass vase'", "GIN to_tsvector", &text_gin);
    print!("{table}");

    let sizes: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_size_pretty(pg_relation_size(c.oid))
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
         WHERE i.indrelid = 'orders'::regclass ORDER BY pg_relation_size(c.oid)",
    )
    .fetch_all(&pool)
    .await?;
    let sizes: Vec<String> = sizes
        .iter()
        .map(|(name, size)| format!("{name} {size}"))
        .collect();
    for (i, line) in sizes.chunks(3).enumerate() {
        let label = if i == 0 { "index sizes:" } else { "" };
        show(format_args!("{label:<12} {}", line.join(", ")));
    }

    expect(
        equality_first.buffers * 5 < range_first.buffers
            && range_first.buffers < scan.buffers
            && no_leading.buffers > equality_first.buffers * 10,
        "equality-first beats range-first, and both beat a scan",
        format!(
            "{} buffers scanning, {} range-first, {} equality-first, {} without the leading column",
            scan.buffers, range_first.buffers, equality_first.buffers, no_leading.buffers
        ),
    )?;
    expect(
        partial.index.as_deref() == Some("orders_pending") && partial.buffers < unsorted.buffers,
        "the partial index serves the pending query",
        format!("{:?}", partial),
    )?;
    expect(
        covering.uses("Index Only Scan") && covering.heap_fetches == Some(0),
        "an index-only scan with no heap fetches after VACUUM",
        format!("{:?}", covering),
    )?;
    expect(
        json_gin.index.as_deref() == Some("orders_attrs")
            && text_gin.index.as_deref() == Some("orders_search")
            && json_gin.rows == json_scan.rows
            && text_gin.rows == text_scan.rows,
        "both GIN indexes used, with the same answers as the scans",
        format!("{json_gin:?} {text_gin:?}"),
    )?;

    say("A composite index is sorted by its first column, then by the next. For one customer's");
    say(format_args!(
        "last 90 days, (customer_id, created_at) is one short range: {} buffers; (created_at,",
        equality_first.buffers
    ));
    say(format_args!(
        "customer_id) walks all customers' last 90 days: {}. Equality columns first, the range",
        range_first.buffers
    ));
    say(format_args!(
        "last. A query without the leading column cannot seek at all: 'everyone, last day' read {}",
        thousands(no_leading.buffers as i64)
    ));
    say("buffers through that index. A partial index holds only the rows its WHERE names: the");
    say("pending orders' index is the smallest above, and the Sort is gone. INCLUDE stores a");
    say("column in the index leaves, but an index-only scan still has to check the table for");
    say("rows whose page is not marked all-visible; before VACUUM that is every page, so the");
    say(format_args!(
        "planner read the table ({} buffers). After VACUUM: {} buffers, {} heap fetches. GIN maps",
        thousands(unvacuumed.buffers as i64),
        covering.buffers,
        covering.heap_fetches.unwrap_or(0)
    ));
    say("each JSON path or word to the rows that have it, so neither @> nor the full-text match");
    say("looks at every row any more.");
    Ok(())
}

/// DDL and maintenance: statements the index story needs, not measured.
async fn ddl(pool: &PgPool, sql: &'static str) -> Result<(), StepError> {
    sqlx::raw_sql(sql).execute(pool).await?;
    Ok(())
}
