//! Step 7: a deadline the server enforces.
//!
//! Dropping a sqlx future stops the *client* from waiting, and nothing more: sqlx sends
//! PostgreSQL no cancel request, so the statement runs on, holding its connection and any
//! locks it took, until it finishes by itself. A deadline that stops the work has to be one the
//! server knows about: the `statement_timeout` setting, per transaction (`SET LOCAL`), per
//! connection (a start-up option of the pool) or per role (`ALTER ROLE ... SET`).

use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

/// SQLSTATE 57014, `query_canceled`: what PostgreSQL answers when `statement_timeout`,
/// `pg_cancel_backend` or a client's cancel request stops a statement.
pub const QUERY_CANCELED: &str = "57014";

/// How a statement with a deadline ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It finished in time, after this long.
    Finished(Duration),
    /// The server cancelled it (SQLSTATE 57014) after this long, with this message.
    Cancelled { after: Duration, message: String },
}

// ANCHOR: statement_timeout
/// Sleeps for `sleep` on the server, inside a transaction whose statements may each run for
/// `limit` at most.
#[tracing::instrument(skip(pool), err)]
pub async fn sleep_under_statement_timeout(
    pool: &PgPool,
    limit: Duration,
    sleep: Duration,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // SET LOCAL ends with the transaction, so the connection goes back to the pool with its
    // own setting. SET takes no bind parameters; set_config(name, value, true) is the same
    // SET LOCAL written as a function, which does.
    sqlx::query("SELECT set_config('statement_timeout', $1, true)")
        .bind(limit.as_millis().to_string())
        .execute(&mut *tx)
        .await?;
    let started = Instant::now();
    let outcome = match sqlx::query("SELECT pg_sleep($1)")
        .bind(sleep.as_secs_f64())
        .execute(&mut *tx)
        .await
    {
        Ok(_) => Outcome::Finished(started.elapsed()),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(QUERY_CANCELED) => {
            Outcome::Cancelled {
                after: started.elapsed(),
                message: e.message().to_owned(),
            }
        }
        Err(e) => return Err(e),
    };
    // Nothing to keep (and after a cancel, nothing PostgreSQL would let us commit).
    tx.rollback().await?;
    Ok(outcome)
}
// ANCHOR_END: statement_timeout

// ANCHOR: pool_default
/// `options` with a `statement_timeout` that every connection starts with: sent in the
/// start-up packet (`-c statement_timeout=...`), so no `SET` is needed, and a `SET LOCAL` can
/// still lower or raise it for one transaction.
pub fn with_statement_timeout(options: PgConnectOptions, limit: Duration) -> PgConnectOptions {
    options.options([("statement_timeout", format!("{}ms", limit.as_millis()))])
}
// ANCHOR_END: pool_default

/// The `statement_timeout` a connection of `pool` has (`0` means none).
pub async fn statement_timeout(pool: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(pool)
        .await
}

/// A statement the server is running, as `pg_stat_activity` reports it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Backend {
    pub pid: i32,
    /// `active` while the statement runs.
    pub state: Option<String>,
    /// What it waits for, if anything (`PgSleep` for `pg_sleep`).
    pub wait_event: Option<String>,
    /// Milliseconds since the statement started.
    pub running_ms: f64,
}

/// The statement [`abandon_a_slow_query`] gives up on, recognisable in `pg_stat_activity`.
const ABANDONED: &str = "SELECT pg_sleep($1) /* abandoned by its caller */";

// ANCHOR: abandoned
/// Starts `SELECT pg_sleep(..)` and gives up on it after `patience` by dropping its future, as
/// `tokio::time::timeout` does. Then asks the server what became of it: the backend still
/// running it, or `None` if it finished in time after all.
#[tracing::instrument(skip(pool), err)]
pub async fn abandon_a_slow_query(
    pool: &PgPool,
    patience: Duration,
    sleep: Duration,
) -> Result<Option<Backend>, sqlx::Error> {
    let query = sqlx::query(ABANDONED)
        .bind(sleep.as_secs_f64())
        .execute(pool);
    if tokio::time::timeout(patience, query).await.is_ok() {
        return Ok(None);
    }
    // The future is gone. The statement is not: no cancel request was sent.
    sqlx::query_as(
        "SELECT pid, state, wait_event,
                extract(epoch FROM clock_timestamp() - query_start)::float8 * 1000 AS running_ms
         FROM pg_stat_activity
         WHERE datname = current_database() AND query = $1",
    )
    .bind(ABANDONED)
    .fetch_optional(pool)
    .await
}
// ANCHOR_END: abandoned

/// Stops what backend `pid` is running, from SQL: the signal a driver's cancel request (pgx's
/// when a context ends) makes the server send. Returns whether the backend existed.
pub async fn cancel_backend(pool: &PgPool, pid: i32) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_cancel_backend($1)")
        .bind(pid)
        .fetch_one(pool)
        .await
}
