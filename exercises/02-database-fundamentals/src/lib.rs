//! Exercise 02, database fundamentals: SQL that does the arithmetic, a transaction that keeps
//! its promises under concurrency, and a MongoDB aggregation pipeline.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-02`
//! passes; run one part at a time with `cargo test -p exercise-02 part_a` (`part_b`, `part_c`).
//! The brief is book chapter 02, section "Exercise". Stuck? `cargo xtask hint 02 a` shows part
//! (a)'s hints one level at a time (`b` and `c` for the other parts; the files are in `hints/`).
//!
//! Three parts, in order:
//! - (a) [`revenue_by_category`]: one SQL query with a CTE and window functions.
//! - (b) [`transfer_stock`]: move units between warehouses in one transaction, safely under
//!   concurrency.
//! - (c) [`RatingReport::build`] and [`RatingReport::run`]: an aggregation pipeline, built as
//!   BSON documents and run over a typed collection.
//!
//! The tests are live: parts (a) and (b) need PostgreSQL, part (c) MongoDB. `cargo xtask
//! services up` starts them (or see `cargo xtask services status`). Each test gets its own
//! fresh database with the shop schema of `capstone/crates/shop-db/migrations`.
//!
//! The given code (types, error enums, the builder's setters) is in `src/given.rs`: read it,
//! it is part of the brief.

// Stub bodies ignore their parameters; this line goes away with the solution.
#![allow(unused_variables)]

use mongodb::Collection;
use mongodb::bson::Document;
use shop_domain::ProductId;
use sqlx::PgPool;

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

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
    todo!("exercise 02, part a, revenue_by_category: see book chapter 02, section 'Exercise'")
}

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
    todo!("exercise 02, part b, transfer_stock: see book chapter 02, section 'Exercise'")
}

// The setters are given in given.rs; these two are yours.
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
        todo!("exercise 02, part c, RatingReport::build: see book chapter 02, section 'Exercise'")
    }

    /// Runs [`build`](Self::build)'s pipeline on `reviews` and returns its output, read as
    /// [`ProductRating`]s, in the pipeline's order.
    pub async fn run(
        &self,
        reviews: &Collection<Review>,
    ) -> Result<Vec<ProductRating>, mongodb::error::Error> {
        todo!("exercise 02, part c, RatingReport::run: see book chapter 02, section 'Exercise'")
    }
}
