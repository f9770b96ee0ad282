//! Running a transaction at SERIALIZABLE, and running it again when PostgreSQL says it could
//! not serialize it.
//!
//! SERIALIZABLE promises that the committed transactions had the effect of *some* one-at-a-time
//! order. PostgreSQL keeps the promise by letting transactions run concurrently and aborting
//! one, with SQLSTATE `40001` (`serialization_failure`), when their reads and writes could not
//! be put in any order. The aborted one did nothing; running it again from the start, on a
//! fresh snapshot, is always safe and is the application's job. So code at SERIALIZABLE is a
//! closure, not a block: it must be something that can run twice.

use std::num::NonZeroU32;
use std::time::Duration;

use futures::future::BoxFuture;
use rand::RngExt;
use sqlx::{PgConnection, PgPool};

/// SQLSTATE 40001: the transaction could not be serialized with the others and was rolled back.
pub const SERIALIZATION_FAILURE: &str = "40001";

/// True when `error` is PostgreSQL's serialization failure, the one worth retrying.
pub fn is_serialization_failure(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == SERIALIZATION_FAILURE)
}

/// What a retried transaction returned, and how many attempts it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried<T> {
    pub value: T,
    pub attempts: u32,
}

// ANCHOR: serializable_retry
/// Runs `work` in a SERIALIZABLE transaction and commits it; on a serialization failure (from
/// any statement, or from the COMMIT) runs it again in a new transaction, up to `attempts`
/// times in all. `work` gets the connection and the attempt number (from 1); any other error
/// ends the retries at once.
pub async fn serializable<T, F>(
    pool: &PgPool,
    attempts: NonZeroU32,
    mut work: F,
) -> Result<Retried<T>, sqlx::Error>
where
    F: for<'c> FnMut(&'c mut PgConnection, u32) -> BoxFuture<'c, Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        let result = async {
            let mut tx = pool
                .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
                .await?;
            let value = work(&mut tx, attempt).await?;
            tx.commit().await?;
            Ok(value)
        }
        .await;
        match result {
            Ok(value) => {
                return Ok(Retried {
                    value,
                    attempts: attempt,
                });
            }
            Err(error) if is_serialization_failure(&error) && attempt < attempts.get() => {
                // A short, random pause, growing with each attempt, so that two transactions
                // that keep colliding stop doing it in lockstep.
                let jitter = rand::rng().random_range(1..=5) * u64::from(attempt);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}
// ANCHOR_END: serializable_retry
