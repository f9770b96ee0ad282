//! The demo's products in PostgreSQL: the slow, authoritative store every cache in this lesson
//! sits in front of.
//!
//! Besides the table, the schema has `product_loads`, where every *load* (a read on behalf of a
//! cache that missed) writes a row. The stampede and early-expiry steps count those rows, so the
//! number of queries that reached the database is the database's own count, not the demo's.
//!
//! Tests: `cargo test -p lesson-09 catalog` (with PostgreSQL).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// How many products the demo seeds: ids 1 to `PRODUCTS`.
pub const PRODUCTS: i64 = 1_000;

/// One product, as the caches keep it (JSON in Redis, an `Arc` in memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub price_cents: i64,
    pub description: String,
}

const SCHEMA: &str = r"
CREATE TABLE products (
    id          bigint PRIMARY KEY,
    name        text   NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    description text   NOT NULL
);

-- One row per load: what a cache miss cost the database.
CREATE TABLE product_loads (
    id         bigserial   PRIMARY KEY,
    product_id bigint      NOT NULL,
    tag        text        NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON product_loads (tag);

INSERT INTO products (id, name, price_cents, description)
SELECT n,
       (ARRAY['Walnut', 'Oak', 'Linen', 'Copper', 'Slate', 'Wool', 'Cedar', 'Brass'])[1 + n % 8]
           || ' ' ||
       (ARRAY['desk lamp', 'chair', 'throw', 'kettle', 'shelf', 'rug', 'mug', 'clock'])[1 + (n / 8) % 8],
       500 + (n * 7919) % 20000,
       'Made to last, and priced to match. Ships in recycled packaging.'
FROM generate_series(1, 1000) AS n;
";

/// Creates the tables in an empty database and seeds [`PRODUCTS`] products.
pub async fn create(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    Ok(())
}

/// A plain read by primary key: what every cache in this lesson saves.
pub async fn read(pool: &PgPool, id: i64) -> Result<Option<Product>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, price_cents, description FROM products WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

// ANCHOR: load
/// A read on behalf of a cache: it records itself in `product_loads` under `tag`, and takes at
/// least `delay` (`pg_sleep`), standing for the heavier query a real product page needs (joins,
/// stock, reviews), so that concurrent loads overlap for real.
pub async fn load(
    pool: &PgPool,
    id: i64,
    tag: &str,
    delay: Duration,
) -> Result<Option<Product>, sqlx::Error> {
    // A data-modifying CTE runs to completion even though the query does not read it.
    sqlx::query_as(
        "WITH logged AS (INSERT INTO product_loads (product_id, tag) VALUES ($1, $2))
         SELECT p.id, p.name, p.price_cents, p.description
         FROM products p, pg_sleep($3)
         WHERE p.id = $1",
    )
    .bind(id)
    .bind(tag)
    .bind(delay.as_secs_f64())
    .fetch_optional(pool)
    .await
}
// ANCHOR_END: load

/// How many loads `tag` has recorded: the queries that reached the database.
pub async fn loads(pool: &PgPool, tag: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM product_loads WHERE tag = $1")
        .bind(tag)
        .fetch_one(pool)
        .await
}

/// Sets a product's price, as an admin's edit would.
pub async fn set_price(pool: &PgPool, id: i64, price_cents: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE products SET price_cents = $2 WHERE id = $1")
        .bind(id)
        .bind(price_cents)
        .execute(pool)
        .await?;
    Ok(())
}

/// Adds a product with `id` (a create, for negative caching).
pub async fn insert(
    pool: &PgPool,
    id: i64,
    name: &str,
    price_cents: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO products (id, name, price_cents, description) VALUES ($1, $2, $3, 'New.')",
    )
    .bind(id)
    .bind(name)
    .bind(price_cents)
    .execute(pool)
    .await?;
    Ok(())
}

/// The prices of `ids` in the database, in the order of `ids` (a missing product is left out).
pub async fn prices(pool: &PgPool, ids: &[i64]) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, price_cents FROM products WHERE id = ANY($1) ORDER BY array_position($1, id)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod needs_postgres {
    use super::*;

    #[tokio::test]
    async fn the_seed_reads_back_and_every_load_is_counted_by_tag() {
        let db = testkit::postgres().await;
        create(db.pool()).await.expect("the schema applies");
        let lamp = read(db.pool(), 1).await.unwrap().expect("product 1 exists");
        assert_eq!(lamp.id, 1);
        assert!(read(db.pool(), PRODUCTS + 1).await.unwrap().is_none());

        let loaded = load(db.pool(), 1, "t", Duration::ZERO).await.unwrap();
        assert_eq!(loaded, Some(lamp));
        assert!(
            load(db.pool(), -1, "t", Duration::ZERO)
                .await
                .unwrap()
                .is_none()
        );
        load(db.pool(), 2, "other", Duration::ZERO).await.unwrap();
        assert_eq!(
            loads(db.pool(), "t").await.unwrap(),
            2,
            "a miss is a load too"
        );

        set_price(db.pool(), 2, 123).await.unwrap();
        insert(db.pool(), 5_000, "New lamp", 99).await.unwrap();
        assert_eq!(
            prices(db.pool(), &[5_000, 2, 9_999]).await.unwrap(),
            [(5_000, 99), (2, 123)]
        );
    }
}
