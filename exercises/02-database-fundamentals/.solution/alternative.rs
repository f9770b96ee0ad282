//! Exercise 02, database fundamentals: a second correct solution, written differently on
//! purpose.
//!
//! `cargo xtask verify` runs the shared tests against this file too, so a test that accepts
//! only the reference's way of writing an answer is caught. How it differs from `lib.rs`:
//!
//! - (a) One `GROUP BY` over `LEFT JOIN`s from the categories, with the order filters in the
//!   join condition and an aggregate `FILTER` clause, instead of two CTEs joined at the end;
//!   open ends of the period become `-infinity`/`infinity` instead of `$n IS NULL OR ...`; the
//!   share uses `CASE` instead of `NULLIF`, and the running total relies on the default window
//!   frame, which is right because `(revenue, slug)` has no ties.
//! - (b) Transfers of one product queue on a transaction-scoped advisory lock instead of locking
//!   the two rows in a fixed order: two transfers of a product can then never hold each other's
//!   rows. The source row is still read `FOR UPDATE`, because other transactions (an order
//!   taking stock) do not take the advisory lock; the destination is one upsert. The three
//!   existence checks are one query.
//! - (c) Another spelling of the same pipeline: an explicit `$and`, `{ "$count": {} }`,
//!   `$expr` for the minimum, `false` in the projection, `Int32` where a number fits; `run`
//!   reads raw documents and converts each one itself.
//!
//! Both are right because the tests judge what the SQL and the pipeline return, and the rows
//! they leave behind, never their text.

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

/// Revenue per category, ranked, with each share and a running total, in one SQL query.
pub async fn revenue_by_category(
    pool: &PgPool,
    filter: &RevenueFilter,
) -> Result<Vec<CategoryRevenue>, sqlx::Error> {
    sqlx::query_as::<_, CategoryRevenue>(
        r#"
        SELECT
            category,
            revenue_minor,
            RANK() OVER (ORDER BY revenue_minor DESC) AS rank,
            CASE WHEN total = 0 THEN 0
                 ELSE round(revenue_minor * 100.0 / total, 1)
            END::float8 AS share_percent,
            (SUM(revenue_minor) OVER report_order)::bigint AS running_total_minor
        FROM (
            SELECT
                c.slug AS category,
                -- An order line joins to NULL when its order does not count, so the FILTER
                -- keeps only the lines whose order matched the conditions of the join.
                COALESCE(
                    SUM(oi.quantity * oi.unit_price_minor) FILTER (WHERE o.id IS NOT NULL),
                    0
                )::bigint AS revenue_minor,
                -- A window over the aggregate: the grand total, on every category's row.
                SUM(
                    COALESCE(
                        SUM(oi.quantity * oi.unit_price_minor) FILTER (WHERE o.id IS NOT NULL),
                        0
                    )
                ) OVER () AS total
            FROM categories AS c
            LEFT JOIN products AS p ON p.category_id = c.id
            LEFT JOIN order_items AS oi ON oi.product_id = p.id
            LEFT JOIN orders AS o
                ON o.id = oi.order_id
               AND o.status = ANY (ARRAY['paid', 'shipped', 'delivered'])
               AND o.currency = $1
               AND o.placed_at >= COALESCE($2::timestamptz, '-infinity'::timestamptz)
               AND o.placed_at < COALESCE($3::timestamptz, 'infinity'::timestamptz)
            GROUP BY c.id, c.slug
        ) AS per_category
        WINDOW report_order AS (ORDER BY revenue_minor DESC, category)
        ORDER BY revenue_minor DESC, category
        "#,
    )
    .bind(filter.currency.code())
    .bind(filter.placed_from)
    .bind(filter.placed_before)
    .fetch_all(pool)
    .await
}

/// Moves `quantity` units of `product` from warehouse `from` to `to`, in one transaction.
pub async fn transfer_stock(
    pool: &PgPool,
    product: ProductId,
    from: &str,
    to: &str,
    quantity: u32,
) -> Result<Transfer, TransferError> {
    if quantity == 0 {
        return Err(TransferError::ZeroQuantity);
    }
    if from == to {
        return Err(TransferError::SameWarehouse(from.to_owned()));
    }

    let mut tx = pool.begin().await?;

    // Both warehouses and the product in one round trip; the errors keep the brief's order.
    let (from_id, to_id, product_exists): (Option<Uuid>, Option<Uuid>, bool) = sqlx::query_as(
        "SELECT (SELECT id FROM warehouses WHERE code = $1),
                (SELECT id FROM warehouses WHERE code = $2),
                EXISTS (SELECT 1 FROM products WHERE id = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(product.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    let from_id = from_id.ok_or_else(|| TransferError::UnknownWarehouse(from.to_owned()))?;
    let to_id = to_id.ok_or_else(|| TransferError::UnknownWarehouse(to.to_owned()))?;
    if !product_exists {
        return Err(TransferError::UnknownProduct(product));
    }

    // Every transfer of this product waits here for the one before it to commit or roll back,
    // so two transfers never hold rows the other needs. The key is a 64-bit hash of the id: a
    // collision only makes two products queue together, which is slower, never wrong.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(product.as_uuid())
        .execute(&mut *tx)
        .await?;

    // Other writers (a sale) ignore the advisory lock, so the level that decides is read under
    // the row's own lock, as the writer before us left it.
    let on_hand: i32 = sqlx::query_scalar(
        "SELECT on_hand FROM stock_levels
         WHERE warehouse_id = $1 AND product_id = $2
         FOR UPDATE",
    )
    .bind(from_id)
    .bind(product.as_uuid())
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or(0);
    let Some(quantity) = i32::try_from(quantity)
        .ok()
        .filter(|&wanted| wanted <= on_hand)
    else {
        return Err(TransferError::InsufficientStock {
            warehouse: from.to_owned(),
            product,
            on_hand,
            requested: quantity,
        });
    };

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
        "INSERT INTO stock_levels (warehouse_id, product_id, on_hand) VALUES ($1, $2, $3)
         ON CONFLICT (warehouse_id, product_id)
         DO UPDATE SET on_hand = stock_levels.on_hand + EXCLUDED.on_hand, updated_at = now()
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

impl RatingReport {
    /// The aggregation pipeline, one document per stage, in the order of the brief.
    pub fn build(&self) -> Vec<Document> {
        let mut conditions = Vec::new();
        if let Some(products) = &self.products {
            let ids: Vec<String> = products.iter().map(ProductId::to_string).collect();
            conditions.push(doc! { "product_id": { "$in": ids } });
        }
        if let Some(since) = self.since {
            conditions.push(doc! { "created_at": { "$gte": since } });
        }

        let mut pipeline = Vec::with_capacity(6);
        if !conditions.is_empty() {
            pipeline.push(doc! { "$match": { "$and": conditions } });
        }
        pipeline.push(doc! {
            "$group": {
                "_id": "$product_id",
                "reviews": { "$count": {} },
                "average": { "$avg": "$rating" },
            }
        });
        if let Some(n) = self.min_reviews {
            pipeline.push(doc! { "$match": { "$expr": { "$gte": ["$reviews", small(n)] } } });
        }
        pipeline.push(doc! { "$sort": { "average": -1, "reviews": -1, "_id": 1 } });
        if let Some(k) = self.top {
            pipeline.push(doc! { "$limit": small(k.get()) });
        }
        pipeline.push(doc! {
            "$project": { "_id": false, "product_id": "$_id", "reviews": true, "average": true }
        });
        pipeline
    }

    /// Runs [`build`](Self::build)'s pipeline on `reviews` and returns its output, read as
    /// [`ProductRating`]s, in the pipeline's order.
    pub async fn run(
        &self,
        reviews: &Collection<Review>,
    ) -> Result<Vec<ProductRating>, mongodb::error::Error> {
        // The output documents are not reviews: read them raw, then convert one by one.
        let mut cursor = reviews
            .clone_with_type::<Document>()
            .aggregate(self.build())
            .await?;
        let mut ratings = Vec::new();
        while let Some(document) = cursor.try_next().await? {
            ratings.push(mongodb::bson::deserialize_from_document(document)?);
        }
        Ok(ratings)
    }
}

/// `n` as BSON's smallest integer type that holds it: `Int32` when it fits, else `Int64`.
fn small(n: u32) -> Bson {
    i32::try_from(n).map_or_else(|_| Bson::Int64(i64::from(n)), Bson::Int32)
}
