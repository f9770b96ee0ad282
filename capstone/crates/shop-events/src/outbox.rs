//! Writing events into the outbox table, inside the caller's transaction.

use sqlx::PgConnection;

use crate::Envelope;

/// Inserts `event` into `outbox_events` on `conn`, which should be the transaction that makes
/// the state change the event describes: then both commit, or neither does.
///
/// # Errors
/// Whatever PostgreSQL reports (the caller's transaction is then to be rolled back).
pub async fn enqueue(conn: &mut PgConnection, event: &Envelope) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox_events (id, kind, version, key, payload, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id)
    .bind(&event.kind)
    .bind(i32::from(event.version))
    .bind(&event.key)
    .bind(&event.payload)
    .bind(event.occurred_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many rows are waiting for the relay (for health checks, tests and demonstrations).
///
/// # Errors
/// Whatever PostgreSQL reports.
pub async fn unsent(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox_events WHERE sent_at IS NULL")
        .fetch_one(conn)
        .await
}
