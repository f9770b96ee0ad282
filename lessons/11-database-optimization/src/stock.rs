//! Taking one unit of stock without losing an update: the read-modify-write that goes wrong at
//! READ COMMITTED, and three ways to make it right (a row lock, an atomic UPDATE, a version
//! column). SERIALIZABLE with a retry is the fourth, in [`crate::retry`].
//!
//! `cargo test -p lesson-11 --test live`

use std::num::NonZeroU32;

use sqlx::{PgConnection, PgPool};
use thiserror::Error;

pub const SCHEMA: &str = "
    CREATE TABLE stock (
        item text PRIMARY KEY,
        quantity integer NOT NULL,
        version integer NOT NULL DEFAULT 1
    );
";

/// Creates the table.
pub async fn create(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    Ok(())
}

/// Puts `quantity` units of `item` on the shelf, at version 1.
pub async fn restock(pool: &PgPool, item: &str, quantity: i32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock (item, quantity) VALUES ($1, $2)
         ON CONFLICT (item) DO UPDATE SET quantity = $2, version = 1",
    )
    .bind(item)
    .bind(quantity)
    .execute(pool)
    .await?;
    Ok(())
}

/// How many units are left, and the row's version.
pub async fn level(conn: &mut PgConnection, item: &str) -> Result<Versioned, sqlx::Error> {
    let (quantity, version) = sqlx::query_as("SELECT quantity, version FROM stock WHERE item = $1")
        .bind(item)
        .fetch_one(conn)
        .await?;
    Ok(Versioned { quantity, version })
}

/// The quantity a reader saw, and the version it saw it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned {
    pub quantity: i32,
    pub version: i32,
}

/// Sets the quantity, whatever it is now: the second half of a read-modify-write. At READ
/// COMMITTED, between the read and this write another transaction may have written too, and
/// this overwrites it: the lost update.
pub async fn set(conn: &mut PgConnection, item: &str, quantity: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stock SET quantity = $2 WHERE item = $1")
        .bind(item)
        .bind(quantity)
        .execute(conn)
        .await?;
    Ok(())
}

// ANCHOR: for_update
/// The read of a read-modify-write that locks the row: a second `SELECT … FOR UPDATE` of it
/// waits until this transaction ends, and then reads the committed value.
pub async fn level_for_update(conn: &mut PgConnection, item: &str) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT quantity FROM stock WHERE item = $1 FOR UPDATE")
        .bind(item)
        .fetch_one(conn)
        .await
}
// ANCHOR_END: for_update

// ANCHOR: atomic
/// No read at all: the database computes the new value from the current one, under the row
/// lock the UPDATE takes anyway. `quantity > 0` makes it refuse to oversell; `None` when it
/// did. The best fix when the change can be said in SQL.
pub async fn take_one_atomically(
    conn: &mut PgConnection,
    item: &str,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE stock SET quantity = quantity - 1
         WHERE item = $1 AND quantity > 0 RETURNING quantity",
    )
    .bind(item)
    .fetch_optional(conn)
    .await
}
// ANCHOR_END: atomic

// ANCHOR: optimistic_update
/// Writes `quantity` only if the row is still at the version `seen` was read at, and moves it
/// to the next version. `false` means someone else wrote first (0 rows updated): read again
/// and redo the change. No lock is held between the read and the write, so a reader that
/// thinks for a while (a form on a screen) blocks nobody.
pub async fn write_if_unchanged(
    conn: &mut PgConnection,
    item: &str,
    seen: Versioned,
    quantity: i32,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE stock SET quantity = $3, version = version + 1
         WHERE item = $1 AND version = $2",
    )
    .bind(item)
    .bind(seen.version)
    .bind(quantity)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Takes one unit optimistically: read, compute, write if unchanged, and again from the read
/// when another writer got there first. Returns the attempts it took.
pub async fn take_one_optimistically(
    pool: &PgPool,
    item: &str,
    attempts: NonZeroU32,
) -> Result<u32, StockError> {
    let mut conn = pool.acquire().await?;
    for attempt in 1..=attempts.get() {
        let seen = level(&mut conn, item).await?;
        if seen.quantity <= 0 {
            return Err(StockError::SoldOut);
        }
        if write_if_unchanged(&mut conn, item, seen, seen.quantity - 1).await? {
            return Ok(attempt);
        }
    }
    Err(StockError::Contended(attempts.get()))
}
// ANCHOR_END: optimistic_update

/// Why a unit could not be taken.
#[derive(Debug, Error)]
pub enum StockError {
    #[error("sold out")]
    SoldOut,
    #[error("another writer won all {0} attempts")]
    Contended(u32),
    #[error("a query failed")]
    Sql(#[from] sqlx::Error),
}
