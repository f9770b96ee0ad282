//! Steps 1-7: PostgreSQL.

use std::time::{Duration, Instant};

use shop_db::seed::{self, SeedSize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::StepError;
use crate::checkout::{self, CheckoutError, Line};
use crate::database::{self, DEMO_DATABASE, DemoDatabase, ServerUrl, SetupError, redact};
use crate::deadline::{self, Outcome, QUERY_CANCELED};
use crate::plan::{self, Plan};
use crate::queries;
use narrate::{Table, duration, heading, say, show, thousands, truncate};

use crate::text::euros;

pub async fn connect(server: &ServerUrl) -> Result<DemoDatabase, SetupError> {
    heading(1, "Connect, with a pool");
    say(format_args!("Server: {}", server.describe()));
    let started = Instant::now();
    let db = DemoDatabase::create(server, &database::demo_database()).await?;
    say(format_args!(
        "Dropped and re-created the database {DEMO_DATABASE} ({}), so every run starts empty and",
        duration(started.elapsed())
    ));
    say("nothing outside it is touched. The rest of the demo borrows connections from a pool of");
    say(format_args!(
        "at most 5 (open now: {}): a pooled connection is ready at once, a new one costs a server",
        db.pool().size()
    ));
    say("process and a few round trips.");
    Ok(db)
}

pub async fn migrate(pool: &PgPool) -> Result<(), StepError> {
    heading(2, "Migrate: the schema as numbered SQL files");
    let started = Instant::now();
    let applied = database::migrate(pool).await?;
    say(format_args!(
        "shop_db::MIGRATOR applied {} migrations in {}; sqlx records each in _sqlx_migrations:",
        applied.len(),
        duration(started.elapsed())
    ));
    let mut table = Table::new(["version", "description", "took>"]);
    for m in &applied {
        let took = Duration::from_nanos(m.execution_time.max(0) as u64);
        table.row([m.version.to_string(), m.description.clone(), duration(took)]);
    }
    print!("{table}");
    say("Running it again applies nothing: versions already recorded are skipped, and an applied");
    say("file whose checksum changed is refused (a migration, once shipped, is never edited).");
    let again = database::migrate(pool).await?;
    show(format_args!(
        "second run: still {} recorded, none new",
        again.len()
    ));
    Ok(())
}

pub async fn seed(pool: &PgPool, size: &SeedSize) -> Result<(), StepError> {
    heading(3, "Seed: a year of shop history");
    say("Generated in memory from a fixed-seed PRNG (the same rows every run), then inserted one");
    say("table per statement, whole columns as arrays through UNNEST, all in one transaction:");
    let mut table = Table::new(["table", "rows>", "took>"]);
    let report = seed::seed_with_progress(pool, size, |t| {
        table.row([
            t.table.to_owned(),
            thousands(t.rows as i64),
            duration(t.elapsed),
        ]);
    })
    .await?;
    print!("{table}");
    say(format_args!(
        "{} rows: generated in {}, inserted, committed and ANALYZEd in {}.",
        thousands(report.total_rows() as i64),
        duration(report.generated_in),
        duration(report.inserted_in)
    ));
    Ok(())
}

pub async fn showcase_queries(pool: &PgPool) -> Result<(), StepError> {
    heading(4, "Questions in SQL");
    joins(pool).await?;
    aggregates(pool).await?;
    recursive_cte(pool).await?;
    window_functions(pool).await?;
    runtime_query(pool).await?;
    Ok(())
}

async fn joins(pool: &PgPool) -> Result<(), StepError> {
    say("A join follows foreign keys: the latest order lines, with customer and product names.");
    let mut table = Table::new(["placed (UTC)", "customer", "product", "qty>", "unit €>"]);
    for line in queries::latest_order_lines(pool, 6).await? {
        table.row([
            timestamp(line.placed_at),
            line.customer,
            truncate(&line.product, 36),
            line.quantity.to_string(),
            euros(line.unit_price_minor),
        ]);
    }
    print!("{table}");
    Ok(())
}

async fn aggregates(pool: &PgPool) -> Result<(), StepError> {
    let min_average = 10_000; // cents: 100.00 €
    let rows = queries::revenue_by_category(pool, min_average).await?;
    say(format_args!(
        "GROUP BY with HAVING: revenue per category, keeping the {} categories whose average",
        rows.len()
    ));
    say(format_args!(
        "selling price is at least {} € (WHERE drops cancelled orders before grouping):",
        euros(min_average)
    ));
    let mut table = Table::new([
        "department",
        "category",
        "orders>",
        "units>",
        "revenue €>",
        "avg price €>",
    ]);
    for row in rows.iter().take(8) {
        table.row([
            row.department.clone(),
            row.category.clone(),
            thousands(row.orders),
            thousands(row.units),
            euros(row.revenue_minor),
            euros(row.average_price_minor),
        ]);
    }
    print!("{table}");
    if rows.len() > 8 {
        show(format_args!("... and {} more", rows.len() - 8));
    }
    Ok(())
}

async fn recursive_cte(pool: &PgPool) -> Result<(), StepError> {
    say("A recursive CTE walks the category tree; each node counts the products in its subtree:");
    let nodes = queries::category_tree(pool).await?;
    // Each department on a line of its own, its subcategories on the next.
    for department in nodes.chunk_by(|_, next| next.depth > 0) {
        let (root, children) = department.split_first().expect("chunks are never empty");
        show(format_args!(
            "{:<18} {:>5}",
            root.name,
            thousands(root.products)
        ));
        let children: Vec<String> = children
            .iter()
            .map(|c| format!("{} {}", c.name, c.products))
            .collect();
        show(format_args!("  {}", children.join(" · ")));
    }
    Ok(())
}

async fn window_functions(pool: &PgPool) -> Result<(), StepError> {
    say("Window functions compute across related rows and keep every row: each department's two");
    say("best sellers, by rank() and their share of the department's revenue:");
    let mut table = Table::new(["department", "#>", "product", "revenue €>", "share>"]);
    for row in queries::top_products_per_department(pool, 2).await? {
        table.row([
            row.department,
            row.rank.to_string(),
            truncate(&row.product, 38),
            euros(row.revenue_minor),
            format!("{:.1}%", row.share * 100.0),
        ]);
    }
    print!("{table}");

    say("A running total (sum over an ordered window) and a 7-day moving average (an explicit");
    say("frame of 6 PRECEDING AND CURRENT ROW) of the last ten days' revenue:");
    let mut table = Table::new([
        "day",
        "orders>",
        "revenue €>",
        "running total €>",
        "7-day avg €>",
    ]);
    for day in queries::daily_revenue(pool, 10).await? {
        table.row([
            day.day.to_string(),
            thousands(day.orders),
            euros(day.revenue_minor),
            euros(day.running_total_minor),
            euros(day.moving_average_minor),
        ]);
    }
    print!("{table}");
    Ok(())
}

async fn runtime_query(pool: &PgPool) -> Result<(), StepError> {
    let customer = queries::top_customer(pool).await?;
    say("Every query so far was checked at compile time (query_as!). This one is not: a runtime");
    say(format_args!(
        "query_as::<_, OrderSummary> with #[derive(FromRow)]. {}'s latest orders ({} in all),",
        customer.display_name,
        thousands(customer.orders)
    ));
    say("with totals computed from the lines, since the schema stores none:");
    let mut table = Table::new(["placed (UTC)", "status", "lines>", "total €>"]);
    for order in queries::latest_orders_of(pool, customer.id, 5).await? {
        table.row([
            timestamp(order.placed_at),
            order.status,
            order.lines.to_string(),
            euros(order.total_minor),
        ]);
    }
    print!("{table}");
    Ok(())
}

pub async fn plan_before_and_after_an_index(pool: &PgPool) -> Result<(), StepError> {
    heading(5, "EXPLAIN ANALYZE, before and after an index");
    let customer = queries::top_customer(pool).await?;
    say("A customer's ten latest orders, the query behind an account page:");
    show(plan::LATEST_ORDERS);
    say("orders has no index on user_id yet, so PostgreSQL reads every row and sorts the matches:");
    let before = plan::explain_latest_orders(pool, customer.id).await?;
    print_plan(&before);

    let took = plan::create_latest_orders_index(pool).await?;
    say(format_args!(
        "CREATE INDEX orders_user_id_placed_at_idx ON orders (user_id, placed_at DESC) took {}.",
        duration(took)
    ));
    say("The same query now walks the index: one customer's entries, already newest first.");
    let after = plan::explain_latest_orders(pool, customer.id).await?;
    print_plan(&after);

    say(format_args!(
        "{} → {}:",
        before.scan().unwrap_or("?"),
        after.scan().unwrap_or("?"),
    ));
    say(format_args!(
        "{} pages instead of {}, {} instead of {} ms.",
        after.pages().map_or("?".into(), |p| thousands(p as i64)),
        before.pages().map_or("?".into(), |p| thousands(p as i64)),
        after
            .execution_ms
            .map_or("?".into(), |ms| format!("{ms:.3} ms")),
        before
            .execution_ms
            .map_or("?".into(), |ms| format!("{ms:.3}")),
    ));
    say("The sort disappeared too: the index hands rows over in the order asked for. The price");
    say("is paid on writes: every INSERT into orders now updates this index as well.");
    Ok(())
}

fn print_plan(plan: &Plan) {
    for line in &plan.lines {
        show(line);
    }
    if let Some(ms) = plan.execution_ms {
        show(format_args!("Execution Time: {ms:.3} ms"));
    }
}

pub async fn transactions(pool: &PgPool) -> Result<(), StepError> {
    heading(6, "A transaction keeps stock and orders consistent");
    let customer = queries::top_customer(pool).await?;
    let mut picks = checkout::stocked_products(pool, "BER1", 20, 3).await?;
    if picks.len() < 3 {
        return Err(StepError::MissingData(
            "three products with 20 units in warehouse BER1",
        ));
    }
    // Lines are locked in product-id order; sorting here makes `a` the one locked first.
    picks.sort_by_key(|p| p.product_id);
    let (a, b, c) = (&picks[0], &picks[1], &picks[2]);
    let warehouse = a.warehouse_id;
    let state = |label: &'static str| async move {
        let (sa, sb, orders) = (
            checkout::on_hand(pool, warehouse, a.product_id).await?,
            checkout::on_hand(pool, warehouse, b.product_id).await?,
            checkout::order_count(pool).await?,
        );
        show(format_args!(
            "{label:<7} {}: {sa:>3} on hand   {}: {sb:>3} on hand   orders: {}",
            a.sku,
            b.sku,
            thousands(orders)
        ));
        Ok::<_, sqlx::Error>(sb)
    };

    say(format_args!(
        "{} orders 2 × {} and 1 × {} from {}.",
        customer.display_name, a.sku, b.sku, a.warehouse
    ));
    say("One transaction: lock both stock rows (SELECT ... FOR UPDATE), check, decrement, insert");
    say("the order and its lines, COMMIT.");
    state("before").await?;
    let lines = [
        Line {
            product_id: a.product_id,
            quantity: 2,
        },
        Line {
            product_id: b.product_id,
            quantity: 1,
        },
    ];
    let placed = checkout::place_order(pool, customer.id, warehouse, &lines).await?;
    let left = state("after").await?;
    show(format_args!(
        "placed order {} for {} €",
        placed.order_id,
        euros(placed.total_minor)
    ));

    say(format_args!(
        "Now 1 × {} and {} × {}: more than there is. The first line is",
        a.sku,
        left + 5,
        b.sku
    ));
    say("decremented inside the transaction before the second fails, and the failure rolls");
    say("everything back:");
    let oversell = [
        Line {
            product_id: a.product_id,
            quantity: 1,
        },
        Line {
            product_id: b.product_id,
            quantity: left + 5,
        },
    ];
    match checkout::place_order(pool, customer.id, warehouse, &oversell).await {
        Err(refused @ CheckoutError::OutOfStock { .. }) => show(format_args!("refused: {refused}")),
        Err(other) => return Err(other.into()),
        Ok(_) => {
            return Err(StepError::MissingData(
                "an order that oversells was accepted",
            ));
        }
    }
    state("after").await?;
    say("Same numbers: no half-placed order, no units missing. That is atomicity (the A in ACID).");

    say("Code that skips the check cannot oversell either: the schema's CHECK (on_hand >= 0)");
    say("refuses a bare UPDATE taking more than there is.");
    if let Some(constraint) =
        checkout::take_without_checking(pool, warehouse, b.product_id, left + 1).await?
    {
        show(format_args!("UPDATE refused by constraint {constraint}"));
    }

    race_for_the_last_units(pool, customer.id, c).await
}

/// Two checkouts for 3 units each, with 5 on hand, at the same moment.
async fn race_for_the_last_units(
    pool: &PgPool,
    customer: uuid::Uuid,
    product: &checkout::Stocked,
) -> Result<(), StepError> {
    say(format_args!(
        "Isolation: {} has 5 units left and two browser tabs order 3 each, concurrently.",
        product.sku
    ));
    checkout::set_on_hand(pool, product.warehouse_id, product.product_id, 5).await?;
    let basket = [Line {
        product_id: product.product_id,
        quantity: 3,
    }];
    let (first, second) = tokio::join!(
        checkout::place_order(pool, customer, product.warehouse_id, &basket),
        checkout::place_order(pool, customer, product.warehouse_id, &basket),
    );
    for (tab, outcome) in [("tab 1", first), ("tab 2", second)] {
        match outcome {
            Ok(order) => show(format_args!("{tab}: placed {}", order.order_id)),
            Err(refused @ CheckoutError::OutOfStock { .. }) => {
                show(format_args!("{tab}: refused: {refused}"))
            }
            Err(other) => return Err(other.into()),
        }
    }
    let left = checkout::on_hand(pool, product.warehouse_id, product.product_id).await?;
    show(format_args!("{} on hand afterwards: {left}", product.sku));
    say(
        "Under READ COMMITTED, PostgreSQL's default, the second transaction's SELECT ... FOR UPDATE",
    );
    say("waited for the first to commit, then read the 2 units it left. Without the lock both");
    say("would have read 5, and only the CHECK constraint would have stopped the oversell.");
    Ok(())
}

pub async fn deadlines(pool: &PgPool) -> Result<(), StepError> {
    heading(7, "A deadline the server enforces: statement_timeout");
    say("Giving up on a query in Rust, by dropping its future as tokio::time::timeout does,");
    say("only stops the waiting: sqlx sends PostgreSQL no cancel request. A pg_sleep(3) given");
    say("up on after 100 ms, as pg_stat_activity sees it a moment later:");
    match deadline::abandon_a_slow_query(pool, ms(100), Duration::from_secs(3)).await? {
        Some(backend) => {
            let running = Duration::from_secs_f64(backend.running_ms.max(0.0) / 1000.0);
            show(format_args!(
                "backend {}: {}, waiting on {}, running for {}",
                backend.pid,
                backend.state.as_deref().unwrap_or("?"),
                backend.wait_event.as_deref().unwrap_or("nothing"),
                duration(running),
            ));
            say("The statement keeps its connection, and would keep any locks, until it ends by");
            say("itself. pgx and lib/pq send a cancel request when a context ends; here we cancel");
            say("it by hand:");
            let cancelled = deadline::cancel_backend(pool, backend.pid).await?;
            show(format_args!(
                "SELECT pg_cancel_backend({}) → {cancelled}",
                backend.pid
            ));
        }
        None => show("(it finished within 100 ms after all: nothing left to see)"),
    }

    say("A deadline that stops the work is one the server knows. SET LOCAL statement_timeout");
    say("bounds each statement of one transaction, and ends with it:");
    let limit = ms(250);
    match deadline::sleep_under_statement_timeout(pool, limit, Duration::from_secs(5)).await? {
        Outcome::Cancelled { after, message } => {
            show(format_args!(
                "pg_sleep(5) under 250 ms: SQLSTATE {QUERY_CANCELED} query_canceled after {}",
                duration(after)
            ));
            show(format_args!("the server's message: {message}"));
        }
        Outcome::Finished(took) => show(format_args!(
            "pg_sleep(5) under 250 ms finished after {}: the timeout did not apply",
            duration(took)
        )),
    }

    say("Or as a default for every connection of a pool, sent when each connection starts:");
    let options = (*pool.connect_options()).clone();
    let bounded = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(deadline::with_statement_timeout(options, ms(2_000)))
        .await?;
    show(format_args!(
        "SHOW statement_timeout: {} on that pool, {} on the demo's own",
        deadline::statement_timeout(&bounded).await?,
        deadline::statement_timeout(pool).await?,
    ));
    bounded.close().await;
    Ok(())
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// `2026-10-31 23:58`
fn timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02}", at.date(), at.hour(), at.minute())
}

/// The server URL pointed at the demo database, password hidden: what to give `psql`.
pub fn demo_database_url(server: &ServerUrl) -> String {
    let url = redact(&server.url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}/{DEMO_DATABASE}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_psql_hint_names_the_demo_database_without_the_password() {
        let server = ServerUrl {
            url: "postgres://postgres:secret@127.0.0.1:5432/postgres?sslmode=disable".into(),
            from_env: true,
        };
        assert_eq!(
            demo_database_url(&server),
            "postgres://postgres:***@127.0.0.1:5432/backend_rs_lesson02"
        );
    }
}
