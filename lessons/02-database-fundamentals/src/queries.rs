//! Step 4: showcase queries over the seeded shop: a join, an aggregate with `HAVING`, a
//! recursive CTE, two window functions, and one runtime-checked query for comparison.
//!
//! Every query but the last is written with sqlx's `query_as!`: at compile time the macro sends
//! the SQL to PostgreSQL (or reads the committed `.sqlx/` data) and checks that it parses, that
//! the parameters have the right types, and that the result columns fit the struct's fields.
//! A typo in a column name is a compile error, not a 500 at three in the morning.

use sqlx::{FromRow, PgPool};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

// ANCHOR: join
/// One line of a recent order, with the product and the customer it refers to.
#[derive(Debug, Clone)]
pub struct OrderLine {
    pub placed_at: OffsetDateTime,
    pub customer: String,
    pub product: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// The lines of the most recent orders: four tables joined along their foreign keys.
#[tracing::instrument(skip(pool), err)]
pub async fn latest_order_lines(pool: &PgPool, limit: i64) -> Result<Vec<OrderLine>, sqlx::Error> {
    sqlx::query_as!(
        OrderLine,
        r#"
        SELECT o.placed_at, u.display_name AS customer, p.name AS product,
               i.quantity, i.unit_price_minor
        FROM orders o
        JOIN users u       ON u.id = o.user_id
        JOIN order_items i ON i.order_id = o.id
        JOIN products p    ON p.id = i.product_id
        ORDER BY o.placed_at DESC, p.name
        LIMIT $1
        "#,
        limit
    )
    .fetch_all(pool)
    .await
}
// ANCHOR_END: join

// ANCHOR: aggregate
/// Sales of one category.
#[derive(Debug, Clone)]
pub struct CategoryRevenue {
    pub department: String,
    pub category: String,
    pub orders: i64,
    pub units: i64,
    pub revenue_minor: i64,
    pub average_price_minor: i64,
}

/// Revenue per category, for the categories whose average selling price is at least
/// `min_average_minor`. `WHERE` filters rows before they are grouped (no cancelled orders);
/// `HAVING` filters the groups afterwards, on their aggregates.
#[tracing::instrument(skip(pool), err)]
pub async fn revenue_by_category(
    pool: &PgPool,
    min_average_minor: i64,
) -> Result<Vec<CategoryRevenue>, sqlx::Error> {
    // `AS "orders!"`: aggregates may be NULL in SQL (sum over no rows), so sqlx would make them
    // Option<i64>; the `!` tells it that a group always has rows here.
    sqlx::query_as!(
        CategoryRevenue,
        r#"
        SELECT d.name AS department,
               c.name AS category,
               count(DISTINCT o.id)                        AS "orders!",
               sum(i.quantity)::bigint                     AS "units!",
               sum(i.quantity * i.unit_price_minor)::bigint AS "revenue_minor!",
               avg(i.unit_price_minor)::bigint             AS "average_price_minor!"
        FROM order_items i
        JOIN orders o     ON o.id = i.order_id
        JOIN products p   ON p.id = i.product_id
        JOIN categories c ON c.id = p.category_id
        JOIN categories d ON d.id = c.parent_id
        WHERE o.status <> 'cancelled'
        GROUP BY d.name, c.id, c.name
        HAVING avg(i.unit_price_minor) >= $1::bigint
        ORDER BY sum(i.quantity * i.unit_price_minor) DESC
        "#,
        min_average_minor
    )
    .fetch_all(pool)
    .await
}
// ANCHOR_END: aggregate

// ANCHOR: cte
/// A category with its depth in the tree and the products in its whole subtree.
#[derive(Debug, Clone)]
pub struct CategoryNode {
    pub name: String,
    pub depth: i32,
    pub products: i64,
}

/// The category tree in display order, each node with the number of products below it.
///
/// Two recursive CTEs: `tree` walks down from the roots, building each node's depth and path
/// (the path sorts children under their parent); `subtree` pairs every category with each of
/// its descendants and itself, so counting products per pair counts whole subtrees, at any
/// depth, without knowing the depth in advance.
#[tracing::instrument(skip(pool), err)]
pub async fn category_tree(pool: &PgPool) -> Result<Vec<CategoryNode>, sqlx::Error> {
    sqlx::query_as!(
        CategoryNode,
        r#"
        WITH RECURSIVE tree AS (
            SELECT id, name, 0 AS depth, ARRAY[name] AS path
            FROM categories
            WHERE parent_id IS NULL
          UNION ALL
            SELECT c.id, c.name, t.depth + 1, t.path || c.name
            FROM categories c
            JOIN tree t ON c.parent_id = t.id
        ),
        subtree AS (
            SELECT id AS root_id, id FROM categories
          UNION ALL
            SELECT s.root_id, c.id
            FROM subtree s
            JOIN categories c ON c.parent_id = s.id
        )
        SELECT t.name AS "name!", t.depth AS "depth!", count(p.id) AS "products!"
        FROM tree t
        JOIN subtree s       ON s.root_id = t.id
        LEFT JOIN products p ON p.category_id = s.id
        GROUP BY t.id, t.name, t.depth, t.path
        ORDER BY t.path
        "#
    )
    .fetch_all(pool)
    .await
}
// ANCHOR_END: cte

// ANCHOR: window_rank
/// A product's place among its department's best sellers.
#[derive(Debug, Clone)]
pub struct RankedProduct {
    pub department: String,
    pub product: String,
    pub revenue_minor: i64,
    pub rank: i64,
    /// The product's share of its department's revenue, 0.0 to 1.0.
    pub share: f64,
}

/// The `top` best-selling products of each department. `rank()` and `sum()` are window
/// functions: computed over a *window* of rows (here, the product's department) while every row
/// stays in the result, where `GROUP BY` would collapse them into one.
#[tracing::instrument(skip(pool), err)]
pub async fn top_products_per_department(
    pool: &PgPool,
    top: i64,
) -> Result<Vec<RankedProduct>, sqlx::Error> {
    sqlx::query_as!(
        RankedProduct,
        r#"
        WITH product_revenue AS (
            SELECT d.name AS department, p.name AS product,
                   sum(i.quantity * i.unit_price_minor)::bigint AS revenue
            FROM order_items i
            JOIN orders o     ON o.id = i.order_id AND o.status <> 'cancelled'
            JOIN products p   ON p.id = i.product_id
            JOIN categories c ON c.id = p.category_id
            JOIN categories d ON d.id = c.parent_id
            GROUP BY d.name, p.id, p.name
        ),
        ranked AS (
            SELECT department, product, revenue,
                   rank() OVER (PARTITION BY department ORDER BY revenue DESC) AS rank,
                   revenue::float8 / sum(revenue) OVER (PARTITION BY department) AS share
            FROM product_revenue
        )
        SELECT department AS "department!", product AS "product!", revenue AS "revenue_minor!",
               rank AS "rank!", share AS "share!"
        FROM ranked
        WHERE rank <= $1
        ORDER BY department, rank
        "#,
        top
    )
    .fetch_all(pool)
    .await
}
// ANCHOR_END: window_rank

// ANCHOR: window_running
/// One day of sales with a running total and a 7-day moving average.
#[derive(Debug, Clone)]
pub struct DailyRevenue {
    pub day: Date,
    pub orders: i64,
    pub revenue_minor: i64,
    pub running_total_minor: i64,
    pub moving_average_minor: i64,
}

/// The last `days` days of sales. `sum(...) OVER (ORDER BY day)` adds up every day so far (the
/// default frame of an ordered window); the moving average names its frame explicitly: this row
/// and the six before it.
#[tracing::instrument(skip(pool), err)]
pub async fn daily_revenue(pool: &PgPool, days: i32) -> Result<Vec<DailyRevenue>, sqlx::Error> {
    sqlx::query_as!(
        DailyRevenue,
        r#"
        WITH daily AS (
            SELECT (o.placed_at AT TIME ZONE 'UTC')::date AS day,
                   count(DISTINCT o.id) AS orders,
                   sum(i.quantity * i.unit_price_minor)::bigint AS revenue
            FROM orders o
            JOIN order_items i ON i.order_id = o.id
            WHERE o.status <> 'cancelled'
              AND (o.placed_at AT TIME ZONE 'UTC')::date
                  > (SELECT max(placed_at AT TIME ZONE 'UTC')::date FROM orders) - $1::int
            GROUP BY day
        )
        SELECT day AS "day!", orders AS "orders!", revenue AS "revenue_minor!",
               sum(revenue) OVER (ORDER BY day)::bigint AS "running_total_minor!",
               avg(revenue) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)::bigint
                   AS "moving_average_minor!"
        FROM daily
        ORDER BY day
        "#,
        days
    )
    .fetch_all(pool)
    .await
}
// ANCHOR_END: window_running

/// The customer with the most orders.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: Uuid,
    pub display_name: String,
    pub orders: i64,
}

#[tracing::instrument(skip(pool), err)]
pub async fn top_customer(pool: &PgPool) -> Result<Customer, sqlx::Error> {
    sqlx::query_as!(
        Customer,
        r#"
        SELECT u.id, u.display_name, count(*) AS "orders!"
        FROM orders o
        JOIN users u ON u.id = o.user_id
        GROUP BY u.id
        ORDER BY count(*) DESC, u.id
        LIMIT 1
        "#
    )
    .fetch_one(pool)
    .await
}

// ANCHOR: runtime_query
/// An order with its total, computed from its lines: the schema stores no total (see the
/// orders migration), so it can never disagree with them.
#[derive(Debug, Clone, FromRow)]
pub struct OrderSummary {
    pub id: Uuid,
    pub placed_at: OffsetDateTime,
    pub status: String,
    pub lines: i64,
    pub total_minor: i64,
}

/// A customer's latest orders, written as a runtime query for comparison with the macros
/// above. `query_as::<_, OrderSummary>` maps columns to fields by name through the derived
/// `FromRow` when the query runs: nothing is checked at compile time, so a misspelt column is
/// an error at run time (a test catches it; the compiler would have). In exchange it needs no
/// database or offline data to build, and the SQL may be assembled at run time (a search
/// form's optional filters, say), which the macros cannot check at all.
#[tracing::instrument(skip(pool), err)]
pub async fn latest_orders_of(
    pool: &PgPool,
    user_id: Uuid,
    limit: i64,
) -> Result<Vec<OrderSummary>, sqlx::Error> {
    // GROUP BY o.id may select o.placed_at and o.status: they depend on the primary key.
    sqlx::query_as::<_, OrderSummary>(
        "SELECT o.id, o.placed_at, o.status,
                count(*) AS lines,
                sum(i.quantity * i.unit_price_minor)::bigint AS total_minor
         FROM orders o
         JOIN order_items i ON i.order_id = o.id
         WHERE o.user_id = $1
         GROUP BY o.id
         ORDER BY o.placed_at DESC
         LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
// ANCHOR_END: runtime_query
