//! The inventory's data in PostgreSQL: stock levels and the reservations held against them.
//!
//! What this module shows (chapter 08):
//! - a reservation is one transaction, all or nothing: each line is a conditional `UPDATE` that
//!   takes its units only if they are there, and the first line that cannot be served rolls the
//!   whole reservation back;
//! - idempotency rides on a UNIQUE key: a retried `reserve` finds the reservation its first
//!   attempt made instead of making a second one, even when the two race;
//! - each state change (commit, release, expiry) locks its reservation first, so two of them
//!   on one reservation happen one after the other and the second sees the first's result;
//! - the reaper takes due reservations in batches with `FOR UPDATE SKIP LOCKED`: reservations a
//!   commit is working on are skipped, not waited for, and two reapers share the work.
//!
//! Time is the service's clock (`OffsetDateTime::now_utc`), passed to the database as a value,
//! so expiry means one thing everywhere; [`Store::expire_due`] takes the instant to expire at,
//! which is how a test moves time forward without sleeping.
//!
//! Whether the conditional update prevents overselling under concurrent checkouts is lesson
//! 11's proof; the tests here show it is correct one call at a time.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::Duration;

use shop_domain::Sku;
use sqlx::{PgConnection, PgPool};
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{Reservation, ReservationId, ReservationStatus, ReserveLine, StockLevel};

/// SQLSTATE 22003, `numeric_value_out_of_range`: a restock would take `on_hand` past `integer`.
const OUT_OF_RANGE: &str = "22003";

/// Why a store call did not do what it was asked.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("no SKU {0} in the inventory")]
    UnknownSku(Sku),
    #[error("not enough {sku}: {requested} requested, {available} available")]
    Insufficient {
        sku: Sku,
        requested: u32,
        available: u32,
    },
    #[error("SKU {0} appears on more than one line")]
    DuplicateSku(Sku),
    #[error("no reservation {0}")]
    UnknownReservation(ReservationId),
    /// The reservation has moved on: a committed one cannot be released, an expired or
    /// released one cannot be committed.
    #[error("reservation {id} is {status}: it can no longer be {action}")]
    WrongState {
        id: ReservationId,
        status: ReservationStatus,
        action: &'static str,
    },
    #[error("the idempotency key {key:?} was already used for other lines")]
    KeyReused { key: String },
    #[error("SKU {0} cannot hold that much stock")]
    TooMuchStock(Sku),
    /// A stored value the types refuse: a bug or a hand edit, not the caller's mistake.
    #[error("invalid stored data: {0}")]
    InvalidRow(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// The inventory's tables behind a pool. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Store { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The levels of the SKUs the inventory knows among `skus`, sorted by SKU. With no SKUs it
    /// still asks the database, which makes it the service's readiness probe.
    #[tracing::instrument(skip_all, fields(skus = skus.len()), err(level = "debug"))]
    pub async fn get_stock(&self, skus: &[Sku]) -> Result<Vec<StockLevel>, StoreError> {
        let skus: Vec<String> = skus.iter().map(Sku::to_string).collect();
        let rows = sqlx::query!(
            "SELECT sku, on_hand, reserved FROM stock WHERE sku = ANY($1) ORDER BY sku",
            &skus
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| level(&row.sku, row.on_hand, row.reserved))
            .collect()
    }

    /// Sets every line aside for `hold`, all or nothing. The same `key` with the same lines
    /// answers the reservation made the first time (whatever its status now); with other lines
    /// it is [`StoreError::KeyReused`]. A refused reservation stores nothing, so the key can
    /// be tried again after a restock.
    #[tracing::instrument(skip_all, fields(lines = lines.len()), err(level = "debug"))]
    pub async fn reserve(
        &self,
        key: &str,
        lines: &[ReserveLine],
        hold: Duration,
    ) -> Result<Reservation, StoreError> {
        let lines = sorted_lines(lines)?;
        let id = ReservationId(Uuid::now_v7());
        let expires_at = OffsetDateTime::now_utc() + hold;
        let mut tx = self.pool.begin().await?;

        // The key first: if a reservation already has it, this inserts nothing (waiting, if
        // the other one is still being made, to learn whether it was), and the call is a replay.
        let inserted = sqlx::query_scalar!(
            "INSERT INTO reservations (id, idempotency_key, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            id.0,
            key,
            expires_at
        )
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            drop(tx);
            return self.replay(key, &lines).await;
        }

        // ANCHOR: reserve_sql
        // Lines in SKU order: two reservations that share SKUs lock their rows in the same
        // order, so they queue behind each other instead of deadlocking.
        for line in &lines {
            let taken = match db_quantity(line.quantity) {
                Some(quantity) => {
                    // Takes the units only if they are there. Under concurrency the row lock
                    // makes a second UPDATE wait, and PostgreSQL re-checks the WHERE against
                    // the row the first one left.
                    sqlx::query!(
                        "UPDATE stock SET reserved = reserved + $2
                         WHERE sku = $1 AND on_hand - reserved >= $2",
                        line.sku.as_str(),
                        quantity
                    )
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                }
                // More than an `integer` holds is more than any SKU has.
                None => 0,
            };
            if taken == 0 {
                // Dropping `tx` rolls back the lines already taken and the key: all or nothing.
                return Err(shortfall(&mut tx, line).await?);
            }
        }
        // ANCHOR_END: reserve_sql

        let skus: Vec<String> = lines.iter().map(|line| line.sku.to_string()).collect();
        let quantities: Vec<i32> = lines
            .iter()
            .filter_map(|l| db_quantity(l.quantity))
            .collect();
        sqlx::query!(
            "INSERT INTO reservation_lines (reservation_id, sku, quantity)
             SELECT $1, sku, quantity FROM UNNEST($2::text[], $3::int4[]) AS l (sku, quantity)",
            id.0,
            &skus,
            &quantities
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Reservation {
            id,
            status: ReservationStatus::Held,
            lines,
            expires_at,
        })
    }

    /// Turns a held reservation into a sale: its units leave `on_hand` and `reserved`.
    /// Committing a committed reservation answers it again; an expired or released one is
    /// [`StoreError::WrongState`].
    #[tracing::instrument(skip_all, fields(reservation = %id), err(level = "debug"))]
    pub async fn commit(&self, id: ReservationId) -> Result<Reservation, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut reservation = lock(&mut tx, id).await?;
        match reservation.status {
            ReservationStatus::Committed => return Ok(reservation),
            ReservationStatus::Held if reservation.expires_at <= OffsetDateTime::now_utc() => {
                // Its hold ran out and the reaper has not come by yet: it is expired all the
                // same, and is recorded so before the refusal.
                give_back(&mut tx, id, ReservationStatus::Expired).await?;
                tx.commit().await?;
                return Err(wrong_state(id, ReservationStatus::Expired, "committed"));
            }
            ReservationStatus::Held => {}
            status @ (ReservationStatus::Released | ReservationStatus::Expired) => {
                return Err(wrong_state(id, status, "committed"));
            }
        }
        sqlx::query!(
            "UPDATE stock SET on_hand = stock.on_hand - l.quantity,
                              reserved = stock.reserved - l.quantity
             FROM reservation_lines l
             WHERE l.reservation_id = $1 AND stock.sku = l.sku",
            id.0
        )
        .execute(&mut *tx)
        .await?;
        set_status(&mut tx, id, ReservationStatus::Committed).await?;
        tx.commit().await?;
        reservation.status = ReservationStatus::Committed;
        Ok(reservation)
    }

    /// Gives a held reservation's units back. Releasing a released or expired reservation
    /// answers it as it is (its units are already back); a committed one is
    /// [`StoreError::WrongState`]: a sale is undone by a refund and a restock.
    #[tracing::instrument(skip_all, fields(reservation = %id), err(level = "debug"))]
    pub async fn release(&self, id: ReservationId) -> Result<Reservation, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut reservation = lock(&mut tx, id).await?;
        let next = match reservation.status {
            ReservationStatus::Released | ReservationStatus::Expired => return Ok(reservation),
            ReservationStatus::Committed => {
                return Err(wrong_state(id, reservation.status, "released"));
            }
            // A hold past its expiry is expired, whether or not the reaper got there first.
            ReservationStatus::Held if reservation.expires_at <= OffsetDateTime::now_utc() => {
                ReservationStatus::Expired
            }
            ReservationStatus::Held => ReservationStatus::Released,
        };
        give_back(&mut tx, id, next).await?;
        tx.commit().await?;
        reservation.status = next;
        Ok(reservation)
    }

    /// Adds `quantity` units to `sku`, creating it at zero first if it is new.
    #[tracing::instrument(skip_all, fields(sku = %sku, quantity), err(level = "debug"))]
    pub async fn restock(&self, sku: &Sku, quantity: NonZeroU32) -> Result<StockLevel, StoreError> {
        let quantity =
            db_quantity(quantity).ok_or_else(|| StoreError::TooMuchStock(sku.clone()))?;
        let row = sqlx::query!(
            "INSERT INTO stock (sku, on_hand) VALUES ($1, $2)
             ON CONFLICT (sku) DO UPDATE SET on_hand = stock.on_hand + EXCLUDED.on_hand
             RETURNING sku, on_hand, reserved",
            sku.as_str(),
            quantity
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.code().as_deref() == Some(OUT_OF_RANGE) => {
                StoreError::TooMuchStock(sku.clone())
            }
            _ => StoreError::Database(error),
        })?;
        level(&row.sku, row.on_hand, row.reserved)
    }

    /// Expires up to `limit` held reservations whose expiry is at or before `as_of`, giving
    /// their units back; returns how many it expired. The reaper calls it until a batch comes
    /// back short.
    #[tracing::instrument(skip_all, fields(limit), err(level = "debug"))]
    pub async fn expire_due(&self, as_of: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let limit = i64::from(limit);
        // One statement: the CTEs lock the due reservations (skipping any a commit or another
        // reaper holds), mark them, and subtract their lines from `reserved`, summed per SKU
        // because an UPDATE ... FROM applies only one matching row to each target row.
        let expired = sqlx::query_scalar!(
            r#"WITH due AS (
                   SELECT id FROM reservations
                   WHERE status = 'held' AND expires_at <= $1
                   ORDER BY expires_at
                   LIMIT $2
                   FOR UPDATE SKIP LOCKED
               ), expired AS (
                   UPDATE reservations SET status = 'expired'
                   FROM due WHERE reservations.id = due.id
                   RETURNING reservations.id
               ), given_back AS (
                   UPDATE stock SET reserved = stock.reserved - held.quantity
                   FROM (SELECT l.sku, sum(l.quantity)::int4 AS quantity
                         FROM reservation_lines l JOIN expired e ON e.id = l.reservation_id
                         GROUP BY l.sku) AS held
                   WHERE stock.sku = held.sku
               )
               SELECT count(*) AS "expired!" FROM expired"#,
            as_of,
            limit
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(expired).unwrap_or(0))
    }

    /// The reservation an earlier call made with `key`, if it holds the same lines.
    async fn replay(&self, key: &str, lines: &[ReserveLine]) -> Result<Reservation, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query!(
            "SELECT id, status, expires_at FROM reservations WHERE idempotency_key = $1",
            key
        )
        .fetch_optional(&mut *conn)
        .await?
        // Reservations are never deleted, and the conflicting one was committed.
        .ok_or_else(|| StoreError::InvalidRow(format!("the reservation of key {key:?} is gone")))?;
        let id = ReservationId(row.id);
        let reservation = Reservation {
            id,
            status: status(&row.status)?,
            lines: lines_of(&mut conn, id).await?,
            expires_at: row.expires_at,
        };
        if reservation.lines == lines {
            Ok(reservation)
        } else {
            Err(StoreError::KeyReused {
                key: key.to_owned(),
            })
        }
    }
}

/// The lines sorted by SKU, refusing a SKU named twice (its units would be counted twice).
fn sorted_lines(lines: &[ReserveLine]) -> Result<Vec<ReserveLine>, StoreError> {
    let mut sorted = lines.to_vec();
    sorted.sort();
    let mut seen = BTreeSet::new();
    for line in &sorted {
        if !seen.insert(&line.sku) {
            return Err(StoreError::DuplicateSku(line.sku.clone()));
        }
    }
    Ok(sorted)
}

/// Why `line` could not be taken: its SKU is unknown, or has fewer units available.
async fn shortfall(conn: &mut PgConnection, line: &ReserveLine) -> Result<StoreError, StoreError> {
    let available = sqlx::query_scalar!(
        r#"SELECT on_hand - reserved AS "available!" FROM stock WHERE sku = $1"#,
        line.sku.as_str()
    )
    .fetch_optional(conn)
    .await?;
    Ok(match available {
        None => StoreError::UnknownSku(line.sku.clone()),
        Some(available) => StoreError::Insufficient {
            sku: line.sku.clone(),
            requested: line.quantity.get(),
            available: u32::try_from(available).unwrap_or(0),
        },
    })
}

/// Locks reservation `id` for the rest of the transaction and reads it.
async fn lock(conn: &mut PgConnection, id: ReservationId) -> Result<Reservation, StoreError> {
    let row = sqlx::query!(
        "SELECT status, expires_at FROM reservations WHERE id = $1 FOR UPDATE",
        id.0
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::UnknownReservation(id))?;
    Ok(Reservation {
        id,
        status: status(&row.status)?,
        lines: lines_of(conn, id).await?,
        expires_at: row.expires_at,
    })
}

/// Subtracts a held reservation's lines from `reserved` and moves it to `next`.
async fn give_back(
    conn: &mut PgConnection,
    id: ReservationId,
    next: ReservationStatus,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE stock SET reserved = stock.reserved - l.quantity
         FROM reservation_lines l
         WHERE l.reservation_id = $1 AND stock.sku = l.sku",
        id.0
    )
    .execute(&mut *conn)
    .await?;
    set_status(conn, id, next).await
}

async fn set_status(
    conn: &mut PgConnection,
    id: ReservationId,
    status: ReservationStatus,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE reservations SET status = $2 WHERE id = $1",
        id.0,
        status.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn lines_of(
    conn: &mut PgConnection,
    id: ReservationId,
) -> Result<Vec<ReserveLine>, StoreError> {
    let rows = sqlx::query!(
        "SELECT sku, quantity FROM reservation_lines WHERE reservation_id = $1 ORDER BY sku",
        id.0
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let quantity = u32::try_from(row.quantity)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| {
                    StoreError::InvalidRow(format!("reservation {id}: quantity {}", row.quantity))
                })?;
            Ok(ReserveLine {
                sku: sku(&row.sku)?,
                quantity,
            })
        })
        .collect()
}

fn wrong_state(id: ReservationId, status: ReservationStatus, action: &'static str) -> StoreError {
    StoreError::WrongState { id, status, action }
}

/// A quantity as the `integer` columns hold it; `None` beyond their range.
fn db_quantity(quantity: NonZeroU32) -> Option<i32> {
    i32::try_from(quantity.get()).ok()
}

fn level(sku_column: &str, on_hand: i32, reserved: i32) -> Result<StockLevel, StoreError> {
    let count = |value: i32| {
        u32::try_from(value)
            .map_err(|_| StoreError::InvalidRow(format!("stock of {sku_column}: {value}")))
    };
    Ok(StockLevel::new(
        sku(sku_column)?,
        count(on_hand)?,
        count(reserved)?,
    ))
}

fn sku(column: &str) -> Result<Sku, StoreError> {
    Sku::parse(column).map_err(|error| StoreError::InvalidRow(format!("SKU {column:?}: {error}")))
}

fn status(column: &str) -> Result<ReservationStatus, StoreError> {
    ReservationStatus::from_db(column)
        .ok_or_else(|| StoreError::InvalidRow(format!("reservation status {column:?}")))
}
