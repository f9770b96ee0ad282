//! Customers and their purchases, loaded four ways: the N+1 loop, one JOIN, two queries with
//! `= ANY($1)`, and per-customer code behind a [`Batcher`]. Every way returns the same
//! [`CustomerPurchases`]; they differ in how many statements they send, which a [`Counted`]
//! pool counts.
//!
//! `cargo test -p lesson-11 --test live` (the loaders against PostgreSQL)

use std::collections::HashMap;

use futures::future::join_all;
use sqlx::PgPool;
use thiserror::Error;

use crate::batcher::{Batcher, LoadError};
use crate::counter::Counted;

/// The tables: customers in regions, each with some purchases.
pub const SCHEMA: &str = "
    CREATE TABLE customers (
        id bigint PRIMARY KEY,
        name text NOT NULL,
        region text NOT NULL
    );
    CREATE TABLE purchases (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        customer_id bigint NOT NULL REFERENCES customers (id),
        total_cents integer NOT NULL
    );
    CREATE INDEX ON customers (region);
    CREATE INDEX ON purchases (customer_id);
";

/// Creates the tables with `customers` customers spread over ten regions (`region-0` to
/// `region-9`) and `purchases` purchases spread over the customers.
pub async fn seed(pool: &PgPool, customers: i64, purchases: i64) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    sqlx::query(
        "INSERT INTO customers (id, name, region)
         SELECT i, 'customer ' || i, 'region-' || (i % 10) FROM generate_series(1, $1) AS i",
    )
    .bind(customers)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO purchases (customer_id, total_cents)
         SELECT 1 + (i * 7919) % $1, 100 + (i * 37) % 9900 FROM generate_series(1, $2) AS i",
    )
    .bind(customers)
    .bind(purchases)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE customers, purchases")
        .execute(pool)
        .await?;
    Ok(())
}

/// One customer and what they bought, purchases in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPurchases {
    pub id: i64,
    pub name: String,
    pub purchases: Vec<Purchase>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Purchase {
    pub id: i64,
    pub total_cents: i32,
}

async fn customers(db: &Counted, region: &str) -> Result<Vec<(i64, String)>, sqlx::Error> {
    db.fetch_all(
        sqlx::query_as("SELECT id, name FROM customers WHERE region = $1 ORDER BY id").bind(region),
    )
    .await
}

// ANCHOR: n_plus_one
/// One query for the customers, then one more per customer: 1 + N statements.
pub async fn n_plus_one(db: &Counted, region: &str) -> Result<Vec<CustomerPurchases>, sqlx::Error> {
    let mut out = Vec::new();
    for (id, name) in customers(db, region).await? {
        let purchases = db
            .fetch_all(
                sqlx::query_as(
                    "SELECT id, total_cents FROM purchases WHERE customer_id = $1 ORDER BY id",
                )
                .bind(id),
            )
            .await?;
        out.push(CustomerPurchases {
            id,
            name,
            purchases,
        });
    }
    Ok(out)
}
// ANCHOR_END: n_plus_one

// ANCHOR: join
/// One statement: the JOIN repeats each customer's columns on every purchase row, and the
/// rows are folded back into customers here. LEFT JOIN keeps customers who bought nothing.
pub async fn join(db: &Counted, region: &str) -> Result<Vec<CustomerPurchases>, sqlx::Error> {
    let rows: Vec<(i64, String, Option<i64>, Option<i32>)> = db
        .fetch_all(
            sqlx::query_as(
                "SELECT c.id, c.name, p.id, p.total_cents
                 FROM customers c LEFT JOIN purchases p ON p.customer_id = c.id
                 WHERE c.region = $1
                 ORDER BY c.id, p.id",
            )
            .bind(region),
        )
        .await?;
    let mut out: Vec<CustomerPurchases> = Vec::new();
    for (id, name, purchase, total_cents) in rows {
        if out.last().is_none_or(|last| last.id != id) {
            out.push(CustomerPurchases {
                id,
                name,
                purchases: Vec::new(),
            });
        }
        if let (Some(last), Some(id), Some(total_cents)) = (out.last_mut(), purchase, total_cents) {
            last.purchases.push(Purchase { id, total_cents });
        }
    }
    Ok(out)
}
// ANCHOR_END: join

// ANCHOR: any
/// Two statements whatever N is: the customers, then every purchase of all of them with
/// `= ANY($1)` (one array parameter, so the SQL text is the same for any number of ids).
pub async fn any(db: &Counted, region: &str) -> Result<Vec<CustomerPurchases>, sqlx::Error> {
    let customers = customers(db, region).await?;
    let ids: Vec<i64> = customers.iter().map(|(id, _)| *id).collect();
    let mut by_customer = purchases_of(db, ids).await?;
    Ok(customers
        .into_iter()
        .map(|(id, name)| CustomerPurchases {
            id,
            name,
            purchases: by_customer.remove(&id).unwrap_or_default(),
        })
        .collect())
}

/// Every purchase of the customers `ids`, grouped by customer.
pub async fn purchases_of(
    db: &Counted,
    ids: Vec<i64>,
) -> Result<HashMap<i64, Vec<Purchase>>, sqlx::Error> {
    let rows: Vec<(i64, i64, i32)> = db
        .fetch_all(
            sqlx::query_as(
                "SELECT customer_id, id, total_cents FROM purchases
                 WHERE customer_id = ANY($1) ORDER BY id",
            )
            .bind(ids),
        )
        .await?;
    let mut by_customer: HashMap<i64, Vec<Purchase>> = HashMap::new();
    for (customer, id, total_cents) in rows {
        by_customer
            .entry(customer)
            .or_default()
            .push(Purchase { id, total_cents });
    }
    Ok(by_customer)
}
// ANCHOR_END: any

// ANCHOR: batched
/// The N+1 loop's shape (one `load` per customer), a batcher underneath: the loads are
/// polled together, so they become one `= ANY($1)` query. Two statements, like [`any`].
pub async fn batched(db: &Counted, region: &str) -> Result<Vec<CustomerPurchases>, BatchedError> {
    let customers = customers(db, region)
        .await
        .map_err(BatchedError::Customers)?;
    let loader = Batcher::new(|ids: Vec<i64>| purchases_of(db, ids));
    let loads = customers.into_iter().map(|(id, name)| {
        let loader = &loader;
        async move {
            let purchases = loader.load(id).await?.unwrap_or_default();
            Ok(CustomerPurchases {
                id,
                name,
                purchases,
            })
        }
    });
    join_all(loads).await.into_iter().collect()
}
// ANCHOR_END: batched

/// Why [`batched`] has no page.
#[derive(Debug, Error)]
pub enum BatchedError {
    #[error("the customers query failed")]
    Customers(#[source] sqlx::Error),
    #[error(transparent)]
    Load(#[from] LoadError<sqlx::Error>),
}
