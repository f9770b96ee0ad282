//! Writing many rows: one statement per row against one statement for all of them, and an
//! upsert that says which rows it inserted and which it updated.
//!
//! What this module shows:
//! - [`insert_row_by_row`] sends one INSERT per row (one network round trip each, even inside
//!   a transaction); [`insert_unnest`] sends each column as one array and lets `UNNEST` zip
//!   them back into rows: one round trip and one statement for any number of rows, with a
//!   fixed number of bind parameters (PostgreSQL allows at most 65,535 per statement, which a
//!   multi-row `VALUES` list runs into);
//! - [`upsert_feed`]: `INSERT ... ON CONFLICT (sku) DO UPDATE`, the atomic "insert or update",
//!   with a `WHERE` that skips rows whose values did not change and `RETURNING (xmax = 0)` to
//!   tell an inserted row from an updated one.
//!
//! Tests: `cargo test -p lesson-05 --test postgres` (needs PostgreSQL).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

/// A product line of a supplier's price feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    pub sku: String,
    pub name: String,
    pub price_minor: i64,
}

/// How a bulk write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReport {
    pub rows: u64,
    /// Statements sent to the server (BEGIN and COMMIT included).
    pub round_trips: u32,
    pub elapsed: Duration,
}

// ANCHOR: row_by_row
/// One INSERT per row, in one transaction.
pub async fn insert_row_by_row(
    pool: &PgPool,
    category: Uuid,
    rows: &[FeedRow],
) -> sqlx::Result<WriteReport> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for row in rows {
        inserted += sqlx::query(
            "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
             VALUES ($1, $2, $3, $4, $5, 'EUR')",
        )
        .bind(Uuid::now_v7())
        .bind(&row.sku)
        .bind(&row.name)
        .bind(category)
        .bind(row.price_minor)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(WriteReport {
        rows: inserted,
        round_trips: rows.len() as u32 + 2,
        elapsed: started.elapsed(),
    })
}
// ANCHOR_END: row_by_row

/// The feed as one array per column, the shape `UNNEST` takes.
struct Columns {
    ids: Vec<Uuid>,
    skus: Vec<String>,
    names: Vec<String>,
    prices: Vec<i64>,
}

impl Columns {
    fn of(rows: &[FeedRow]) -> Self {
        Columns {
            ids: rows.iter().map(|_| Uuid::now_v7()).collect(),
            skus: rows.iter().map(|r| r.sku.clone()).collect(),
            names: rows.iter().map(|r| r.name.clone()).collect(),
            prices: rows.iter().map(|r| r.price_minor).collect(),
        }
    }
}

// ANCHOR: unnest
/// Every row in one INSERT: four array binds, whatever the row count.
pub async fn insert_unnest(
    pool: &PgPool,
    category: Uuid,
    rows: &[FeedRow],
) -> sqlx::Result<WriteReport> {
    let started = Instant::now();
    let columns = Columns::of(rows);
    let done = sqlx::query(
        "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
         SELECT id, sku, name, $5, price_minor, 'EUR'
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[])
              AS feed(id, sku, name, price_minor)",
    )
    .bind(&columns.ids)
    .bind(&columns.skus)
    .bind(&columns.names)
    .bind(&columns.prices)
    .bind(category)
    .execute(pool)
    .await?;
    Ok(WriteReport {
        rows: done.rows_affected(),
        round_trips: 1,
        elapsed: started.elapsed(),
    })
}
// ANCHOR_END: unnest

/// What an upsert did to each row of the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpsertReport {
    pub inserted: usize,
    pub updated: usize,
    /// Rows of the feed already stored with the same name and price: no write at all.
    pub unchanged: usize,
}

/// Why a feed was refused before anything was written.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// PostgreSQL refuses to update one row twice in one statement ("ON CONFLICT DO UPDATE
    /// command cannot affect row a second time"), so duplicates are caught here, with a
    /// message that names the SKU.
    #[error("the feed lists SKU {0} more than once")]
    DuplicateSku(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

// ANCHOR: upsert
/// Inserts the feed's new SKUs and updates the name and price of the known ones, in one
/// statement, and counts which was which.
pub async fn upsert_feed(
    pool: &PgPool,
    category: Uuid,
    rows: &[FeedRow],
) -> Result<UpsertReport, FeedError> {
    let mut skus = HashSet::new();
    if let Some(twice) = rows.iter().find(|row| !skus.insert(row.sku.as_str())) {
        return Err(FeedError::DuplicateSku(twice.sku.clone()));
    }
    let columns = Columns::of(rows);
    // xmax is the id of the transaction that deleted or locked a row version. A freshly
    // inserted row has none (0); the version an ON CONFLICT UPDATE writes records the
    // updating transaction. It is an implementation detail of PostgreSQL's MVCC, widely used
    // for exactly this and stable for years, but still a system column: keep it in one place.
    let inserted: Vec<bool> = sqlx::query_scalar(
        "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
         SELECT id, sku, name, $5, price_minor, 'EUR'
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[])
              AS feed(id, sku, name, price_minor)
         ON CONFLICT (sku) DO UPDATE
            SET name = EXCLUDED.name, price_minor = EXCLUDED.price_minor, updated_at = now()
            WHERE (products.name, products.price_minor)
                  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.price_minor)
         RETURNING (xmax = 0) AS inserted",
    )
    .bind(&columns.ids)
    .bind(&columns.skus)
    .bind(&columns.names)
    .bind(&columns.prices)
    .bind(category)
    .fetch_all(pool)
    .await?;
    let new = inserted
        .iter()
        .filter(|&&was_inserted| was_inserted)
        .count();
    Ok(UpsertReport {
        inserted: new,
        updated: inserted.len() - new,
        // The WHERE skipped these: no new row version, no RETURNING row.
        unchanged: rows.len() - inserted.len(),
    })
}
// ANCHOR_END: upsert

/// `count` feed rows with SKUs `{prefix}-000001`, ... and prices from `base` up.
pub fn feed(prefix: &str, count: usize, base: i64) -> Vec<FeedRow> {
    (1..=count)
        .map(|n| FeedRow {
            sku: format!("{prefix}-{n:06}"),
            name: format!("{prefix} catalog item {n}"),
            price_minor: base + (n as i64 % 50) * 100,
        })
        .collect()
}
