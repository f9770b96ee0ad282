//! A job queue in a PostgreSQL table, worked by several workers at once: each claims the
//! oldest queued job with `SELECT … FOR UPDATE SKIP LOCKED`, works it inside the transaction
//! that holds the lock, and marks it done. A job is claimed by one worker only (the row lock),
//! a crashed worker's job goes back to the queue (its transaction rolls back), and no worker
//! waits for another (SKIP LOCKED passes over rows that are locked).
//!
//! `cargo test -p lesson-11 --test live`

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

pub const SCHEMA: &str = "
    CREATE TABLE jobs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        status text NOT NULL DEFAULT 'queued',
        runs integer NOT NULL DEFAULT 0,
        worker integer
    );
    CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';
";

/// Creates the table, empty.
pub async fn create(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA).execute(pool).await?;
    Ok(())
}

/// Replaces whatever is in the queue with `n` new jobs.
pub async fn enqueue(pool: &PgPool, n: i64) -> Result<(), sqlx::Error> {
    sqlx::query("TRUNCATE jobs RESTART IDENTITY")
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO jobs (status) SELECT 'queued' FROM generate_series(1, $1)")
        .bind(n)
        .execute(pool)
        .await?;
    Ok(())
}

/// How a worker claims a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// `FOR UPDATE SKIP LOCKED`: take the first job nobody holds.
    SkipLocked,
    /// Plain `FOR UPDATE`: wait for the worker holding the first job.
    Wait,
}

// ANCHOR: skip_locked_claim
/// Claims the oldest queued job in the caller's transaction, or `None`. The lock lasts until
/// that transaction ends: commit after marking the job done.
///
/// With [`Claim::Wait`], `None` does not mean the queue is empty: a worker that waited for a
/// row finds it done when the lock is released, and `LIMIT 1` does not go on to the next one.
pub async fn claim(conn: &mut PgConnection, how: Claim) -> Result<Option<i64>, sqlx::Error> {
    let sql = match how {
        Claim::SkipLocked => {
            "SELECT id FROM jobs WHERE status = 'queued'
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        }
        Claim::Wait => "SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE",
    };
    sqlx::query_scalar(sql).fetch_optional(conn).await
}
// ANCHOR_END: skip_locked_claim

/// A worker: claims, works for `work` (inside the transaction, lock held), marks the job done
/// and commits, until no job is queued or `stop` is cancelled. Returns the jobs it did.
pub async fn work(
    pool: &PgPool,
    worker: i32,
    how: Claim,
    work: Duration,
    stop: &CancellationToken,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut done = Vec::new();
    while !stop.is_cancelled() {
        let mut tx = pool.begin().await?;
        let Some(job) = claim(&mut tx, how).await? else {
            tx.commit().await?;
            if queued(pool).await? == 0 {
                break;
            }
            continue;
        };
        tokio::time::sleep(work).await; // the job itself
        sqlx::query("UPDATE jobs SET status = 'done', runs = runs + 1, worker = $2 WHERE id = $1")
            .bind(job)
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done.push(job);
    }
    Ok(done)
}

/// Jobs still queued.
pub async fn queued(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'queued'")
        .fetch_one(pool)
        .await
}

/// How many jobs ran how many times: `[(1, 200)]` when every job ran exactly once.
pub async fn runs(pool: &PgPool) -> Result<Vec<(i32, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT runs, count(*) FROM jobs GROUP BY runs ORDER BY runs")
        .fetch_all(pool)
        .await
}
