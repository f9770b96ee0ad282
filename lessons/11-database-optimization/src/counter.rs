//! A query counter: the piece of an N+1 hunt that turns "it feels slow" into a number.
//!
//! The code under test sends its statements through a [`Counted`] instead of the pool, and
//! the counter says how many it sent. The pool inside is private, so nothing can go round it.
//! A real application gets the same number from its database driver's metrics or from
//! `pg_stat_statements`; a wrapper like this is what a test asserts on ("loading a page of
//! customers sends two statements, whatever the page size").

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, PgPool, Postgres};

// ANCHOR: counter
/// A pool that counts the statements sent through it.
#[derive(Debug)]
pub struct Counted {
    pool: PgPool,
    statements: AtomicUsize,
}

impl Counted {
    pub fn new(pool: PgPool) -> Counted {
        Counted {
            pool,
            statements: AtomicUsize::new(0),
        }
    }

    /// Sends `query` (one statement, one round trip) and returns every row.
    pub async fn fetch_all<'q, O>(
        &self,
        query: QueryAs<'q, Postgres, O, PgArguments>,
    ) -> Result<Vec<O>, sqlx::Error>
    where
        O: Send + Unpin + for<'r> FromRow<'r, PgRow> + 'q,
    {
        self.statements.fetch_add(1, Ordering::Relaxed);
        query.fetch_all(&self.pool).await
    }

    /// How many statements were sent since the last [`Counted::take`].
    pub fn statements(&self) -> usize {
        self.statements.load(Ordering::Relaxed)
    }

    /// The count so far, and back to zero.
    pub fn take(&self) -> usize {
        self.statements.swap(0, Ordering::Relaxed)
    }
}
// ANCHOR_END: counter
