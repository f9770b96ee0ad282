//! Exercise 02, database fundamentals: the reference solution.
//!
//! Try the exercise first (`exercises/02-database-fundamentals/src/lib.rs`, hints in `hints/`),
//! then compare. Run the shared tests against this file with `cargo test -p
//! exercise-02-solution` (PostgreSQL and MongoDB must be up: `cargo xtask services up`).
//!
//! The public API is the stub's, item for item; only the bodies (and their comments) differ.
//! The given types are not repeated here: this file includes the stub's own `src/given.rs`.

use futures::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};
use shop_domain::ProductId;
use sqlx::PgPool;
use sqlx::types::Uuid;

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

// ANCHOR: revenue
/// Revenue per product category, ranked, with each category's share and a running total,
/// computed by ONE SQL query.
///
/// - Counted orders: status `paid`, `shipped` or `delivered` (money received; `placed` is not
///   paid yet and `cancelled` never will be), in `filter.currency`, placed within the filter's
///   period.
/// - The revenue of an order line is `quantity × unit_price_minor`: the price paid, which
///   stays put when `products.price_minor` changes later.
/// - Every category appears, including those that sold nothing in the period (revenue 0).
///   Each product counts towards its own category only (no roll-up to parent categories).
/// - Rows come in descending revenue, ties by ascending slug. `rank` and `running_total_minor`
///   follow that order; see [`CategoryRevenue`] for each column.
///
/// Write the query with `sqlx::query_as::<_, CategoryRevenue>("...")` and bind the filter's
/// values (`.bind(...)`), never `format!` them into the SQL. Not `sqlx::query_as!`: the macro
/// checks SQL against a database at compile time, or against the offline data in `.sqlx/`
/// when `SQLX_OFFLINE=true`, and that data does not know a query you have just written, so the
/// workspace would stop compiling. The runtime function checks the same things when the query
/// runs, which the tests do.
pub async fn revenue_by_category(
    pool: &PgPool,
    filter: &RevenueFilter,
) -> Result<Vec<CategoryRevenue>, sqlx::Error> {
    // ANCHOR: revenue_sql
    // Two CTEs, then one pass of window functions over their few rows:
    // - `sales` aggregates the counted order lines per category. The filters sit here, on an
    //   inner join, so they decide which *lines* count without deciding which categories exist.
    // - `per_category` LEFT JOINs every category to its sales. Had the status filter gone in a
    //   WHERE clause after a LEFT JOIN from categories, the categories without matching orders
    //   (NULL status) would silently drop out: the classic outer-join trap.
    // SUM over bigint returns numeric (so that it cannot overflow), hence the casts back to
    // bigint, the type an i64 decodes from. An optional filter is one bind either way:
    // `$2 IS NULL OR ...` switches itself off when the Rust side passes None. That form can
    // keep PostgreSQL from using an index on the column (`ProductRepo::list` in shop-db says
    // why and avoids it); the schema has no index on `orders.placed_at`, so every order is
    // read either way.
    sqlx::query_as::<_, CategoryRevenue>(
        r#"
        WITH sales AS (
            SELECT p.category_id, SUM(oi.quantity * oi.unit_price_minor) AS revenue
            FROM orders AS o
            JOIN order_items AS oi ON oi.order_id = o.id
            JOIN products AS p ON p.id = oi.product_id
            WHERE o.status IN ('paid', 'shipped', 'delivered')
              AND o.currency = $1
              AND ($2::timestamptz IS NULL OR o.placed_at >= $2)
              AND ($3::timestamptz IS NULL OR o.placed_at < $3)
            GROUP BY p.category_id
        ),
        per_category AS (
            SELECT c.slug, COALESCE(s.revenue, 0)::bigint AS revenue_minor
            FROM categories AS c
            LEFT JOIN sales AS s ON s.category_id = c.id
        )
        SELECT
            slug AS category,
            revenue_minor,
            RANK() OVER (ORDER BY revenue_minor DESC) AS rank,
            -- NULLIF turns a zero total into NULL, so the division yields NULL instead of an
            -- error, and COALESCE turns that into 0. 100.0 makes the arithmetic numeric
            -- (exact decimal); the cast to float8 is for the Rust side.
            COALESCE(
                round(100.0 * revenue_minor / NULLIF(SUM(revenue_minor) OVER (), 0), 1),
                0
            )::float8 AS share_percent,
            -- An explicit ROWS frame: the default (RANGE ... CURRENT ROW) includes every row
            -- that ties with the current one in the ORDER BY, which would give tied categories
            -- the same running total. The slug makes the order, and so the totals, total.
            SUM(revenue_minor) OVER (
                ORDER BY revenue_minor DESC, slug
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            )::bigint AS running_total_minor
        FROM per_category
        ORDER BY revenue_minor DESC, slug
        "#,
    )
    .bind(filter.currency.code())
    .bind(filter.placed_from)
    .bind(filter.placed_before)
    .fetch_all(pool)
    .await
    // ANCHOR_END: revenue_sql
}
// ANCHOR_END: revenue

// ANCHOR: transfer
/// Moves `quantity` units of `product` from the warehouse whose code is `from` to the one
/// whose code is `to` (codes like `"PAR1"`), in one transaction.
///
/// - All or nothing: on any error, no row has changed, none has been created.
/// - The destination's `stock_levels` row is created when missing (an upsert); the source's
///   row stays, even at 0. Both rows get `updated_at = now()`.
/// - Concurrency-safe: while this runs, other transfers, or any other transaction (an order
///   taking stock), may change the same rows. The decision "is there enough?" must be taken on
///   the row as it is when this transaction writes it, so that no update is lost and no stock
///   goes negative; `InsufficientStock::on_hand` reports the level that decision saw.
/// - No deadlocks between transfers: two transfers in opposite directions (A to B while B to
///   A) must both complete, whatever the timing.
///
/// The tests check each of these, the last two with many transfers at once and with a test
/// that holds a row lock while your transfer runs.
pub async fn transfer_stock(
    pool: &PgPool,
    product: ProductId,
    from: &str,
    to: &str,
    quantity: u32,
) -> Result<Transfer, TransferError> {
    // Checks that need no database come first: no connection is spent on them.
    if quantity == 0 {
        return Err(TransferError::ZeroQuantity);
    }
    if from == to {
        return Err(TransferError::SameWarehouse(from.to_owned()));
    }

    // Every statement below runs on `tx`. Dropping `tx` without `commit` (which every `?` and
    // early `return` does) rolls it back: "nothing changes on failure" costs no code at all.
    let mut tx = pool.begin().await?;

    let from_id = warehouse_id(&mut tx, from).await?;
    let to_id = warehouse_id(&mut tx, to).await?;
    let product_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)")
            .bind(product.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
    if !product_exists {
        return Err(TransferError::UnknownProduct(product));
    }

    // ANCHOR: transfer_locks
    // Make sure the destination row exists before locking anything. A row that another
    // transaction inserts after our snapshot would otherwise be locked later, by the upsert,
    // out of the order below, and that is how deadlocks are born. If a concurrent transfer is
    // inserting the same row right now, this waits for it while holding no row lock of ours.
    sqlx::query(
        "INSERT INTO stock_levels (warehouse_id, product_id, on_hand) VALUES ($1, $2, 0)
         ON CONFLICT (warehouse_id, product_id) DO NOTHING",
    )
    .bind(to_id)
    .bind(product.as_uuid())
    .execute(&mut *tx)
    .await?;

    // Lock both rows, always in the same order (by warehouse id) whichever way the stock
    // moves: A-to-B and B-to-A transfers then queue for the same first lock instead of each
    // holding the lock the other waits for. FOR UPDATE waits for any transaction that holds
    // a row and then returns the row as that transaction committed it, so the level checked
    // below is the level we are about to change: no lost update, no negative stock.
    let locked: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT warehouse_id, on_hand FROM stock_levels
         WHERE product_id = $1 AND warehouse_id IN ($2, $3)
         ORDER BY warehouse_id
         FOR UPDATE",
    )
    .bind(product.as_uuid())
    .bind(from_id)
    .bind(to_id)
    .fetch_all(&mut *tx)
    .await?;
    // ANCHOR_END: transfer_locks

    let on_hand = locked
        .iter()
        .find(|(warehouse, _)| *warehouse == from_id)
        .map_or(0, |(_, on_hand)| *on_hand);
    // Compared as i64, where every i32 and every u32 fit: a quantity above i32::MAX is simply
    // more than any warehouse can hold.
    if i64::from(on_hand) < i64::from(quantity) {
        return Err(TransferError::InsufficientStock {
            warehouse: from.to_owned(),
            product,
            on_hand,
            requested: quantity,
        });
    }
    let quantity = i32::try_from(quantity).expect("quantity <= on_hand, which is an i32");

    // Relative updates (`on_hand - $3`) rather than values computed in Rust: with the rows
    // locked both are correct, but this form stays correct if a later edit drops the lock.
    let from_on_hand: i32 = sqlx::query_scalar(
        "UPDATE stock_levels SET on_hand = on_hand - $3, updated_at = now()
         WHERE warehouse_id = $1 AND product_id = $2
         RETURNING on_hand",
    )
    .bind(from_id)
    .bind(product.as_uuid())
    .bind(quantity)
    .fetch_one(&mut *tx)
    .await?;
    let to_on_hand: i32 = sqlx::query_scalar(
        "UPDATE stock_levels SET on_hand = on_hand + $3, updated_at = now()
         WHERE warehouse_id = $1 AND product_id = $2
         RETURNING on_hand",
    )
    .bind(to_id)
    .bind(product.as_uuid())
    .bind(quantity)
    .fetch_one(&mut *tx)
    .await?;

    tx.commit().await?;
    Ok(Transfer {
        from_on_hand,
        to_on_hand,
    })
}

/// The id of the warehouse whose code is `code`.
async fn warehouse_id(tx: &mut sqlx::PgTransaction<'_>, code: &str) -> Result<Uuid, TransferError> {
    sqlx::query_scalar("SELECT id FROM warehouses WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| TransferError::UnknownWarehouse(code.to_owned()))
}
// ANCHOR_END: transfer

// ANCHOR: pipeline
impl RatingReport {
    /// The aggregation pipeline, one document per stage, in this order:
    ///
    /// 1. One `$match` on the reviews, only when [`for_products`](Self::for_products) or
    ///    [`since`](Self::since) was called, with only the conditions that were set:
    ///    `product_id` `$in` the ids as strings, `created_at` `$gte` the date. Filtering first
    ///    means fewer documents to group, and an index can help.
    /// 2. `$group` by the `product_id` field: `reviews` counts the documents (`$sum` of 1),
    ///    `average` is the `$avg` of `rating`.
    /// 3. `$match` on `reviews` `$gte` n, only when [`min_reviews`](Self::min_reviews) was
    ///    called.
    /// 4. `$sort` by `average` descending, then `reviews` descending, then `_id` ascending, so
    ///    that ties come out in the same order every time.
    /// 5. `$limit` k, only when [`top`](Self::top) was called.
    /// 6. `$project` to the shape of [`ProductRating`]: drop `_id`, output it as `product_id`,
    ///    keep `reviews` and `average`.
    ///
    /// Spell each stage any way MongoDB accepts (`0` or `false`, `{ "$sum": 1 }` or
    /// `{ "$count": {} }`, `Int32` or `Int64`, with or without an explicit `$and`): the tests
    /// check the stages and their order, and run the pipeline to judge what it returns.
    pub fn build(&self) -> Vec<Document> {
        let mut pipeline = Vec::new();

        let mut filter = Document::new();
        if let Some(products) = &self.products {
            let ids: Vec<Bson> = products
                .iter()
                .map(|id| Bson::String(id.to_string()))
                .collect();
            filter.insert("product_id", doc! { "$in": ids });
        }
        if let Some(since) = self.since {
            filter.insert("created_at", doc! { "$gte": since });
        }
        if !filter.is_empty() {
            pipeline.push(doc! { "$match": filter });
        }

        pipeline.push(doc! {
            "$group": {
                "_id": "$product_id",
                "reviews": { "$sum": 1 },
                "average": { "$avg": "$rating" },
            }
        });
        if let Some(n) = self.min_reviews {
            // i64: BSON has no unsigned integers, and every u32 fits in an Int64.
            pipeline.push(doc! { "$match": { "reviews": { "$gte": i64::from(n) } } });
        }
        // A document keeps its keys in insertion order, and for $sort that order is the
        // precedence: average first, then reviews, then the id as the final tie-breaker.
        pipeline.push(doc! { "$sort": { "average": -1, "reviews": -1, "_id": 1 } });
        if let Some(k) = self.top {
            pipeline.push(doc! { "$limit": i64::from(k.get()) });
        }
        pipeline.push(doc! {
            "$project": { "_id": 0, "product_id": "$_id", "reviews": 1, "average": 1 }
        });
        pipeline
    }

    /// Runs [`build`](Self::build)'s pipeline on `reviews` and returns its output, read as
    /// [`ProductRating`]s, in the pipeline's order.
    pub async fn run(
        &self,
        reviews: &Collection<Review>,
    ) -> Result<Vec<ProductRating>, mongodb::error::Error> {
        // A pipeline's output has its own shape, not the collection's: `with_type` says which
        // type the cursor deserializes each output document into.
        reviews
            .aggregate(self.build())
            .with_type::<ProductRating>()
            .await?
            .try_collect()
            .await
    }
}
// ANCHOR_END: pipeline
