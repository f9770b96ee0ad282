//! The narration: each public function is one step of `cargo run -p lesson-11`. It uses the
//! real PostgreSQL, prints what it measured, and checks that it saw what the lesson says, so
//! a server that behaved otherwise fails the demo instead of printing a story.
//!
//! Every table of a run lives in a schema of its own, `lesson11_<run>` with `<run>` random:
//! every connection the demo opens has it as its `search_path`, so the SQL says `orders`, not
//! `lesson11_1a2b3c4d.orders`. Two runs, or a run and the tests, never share a table, and the
//! run drops the schema at the end, after Ctrl-C too.

mod anomalies;
mod consistent_hashing;
mod expand_contract;
mod n_plus_one;
mod plans;
mod pool_size;
mod replica;
mod skip_locked;

use std::str::FromStr;
use std::time::{Duration, Instant};

use narrate::demo::Unexpected;
use narrate::{duration, say};
use rand::RngExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, PgPool};
use testkit::demo_db::{ServerUrl, SetupError};
use thiserror::Error;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::loaders::BatchedError;
use crate::plan::PlanError;
use crate::stock::StockError;

pub use anomalies::anomalies;
pub use consistent_hashing::consistent_hashing;
pub use expand_contract::expand_contract;
pub use n_plus_one::n_plus_one;
pub use plans::plans;
pub use pool_size::pool_size;
pub use replica::replica;
pub use skip_locked::skip_locked;

/// How long the demo waits for PostgreSQL's first answer before it says it is not there.
pub(crate) const PATIENCE: Duration = Duration::from_secs(5);

/// What every step needs.
#[derive(Debug)]
pub struct Demo {
    /// Cancelled by Ctrl-C: a step that runs traffic for a while stops early.
    pub shutdown: CancellationToken,
    pub server: ServerUrl,
    /// `lesson11_<8 hex digits>`: letters, digits and `_` only, so it may be spliced into SQL.
    schema: String,
    /// The run's pool, or why there is none (said by every step that needs it).
    db: OnceCell<Result<PgPool, SetupError>>,
    /// Set once the schema exists.
    created: OnceCell<()>,
}

impl Demo {
    pub fn new(shutdown: CancellationToken) -> Demo {
        Demo {
            shutdown,
            server: ServerUrl::from_env(),
            schema: format!("lesson11_{:08x}", rand::rng().random::<u32>()),
            db: OnceCell::new(),
            created: OnceCell::new(),
        }
    }

    /// This run's schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Connection options for the server, with this run's schema as the `search_path`.
    fn options(&self) -> Result<PgConnectOptions, SetupError> {
        let options =
            PgConnectOptions::from_str(&self.server.url).map_err(|source| SetupError::BadUrl {
                url: self.server.redacted(),
                source,
            })?;
        // sqlx logs statements slower than a second as warnings; some here are slow on
        // purpose (a sequential scan, a lock wait), and the narration says so.
        Ok(options
            .application_name("lesson-11")
            .options([("search_path", self.schema.as_str())])
            .disable_statement_logging())
    }

    /// The run's pool (ten connections), with the schema created at the first call. Without
    /// PostgreSQL the step says so, with the command that starts it, and ends with
    /// [`StepError::ServiceMissing`].
    pub async fn pool(&self) -> Result<PgPool, StepError> {
        let db = self.db.get_or_init(|| self.connect(10)).await;
        match db {
            Ok(pool) => {
                self.created
                    .get_or_try_init(|| async {
                        let create = format!("CREATE SCHEMA IF NOT EXISTS {}", self.schema);
                        sqlx::query(AssertSqlSafe(create)).execute(pool).await?;
                        Ok::<_, sqlx::Error>(())
                    })
                    .await?;
                Ok(pool.clone())
            }
            Err(error @ (SetupError::Unreachable { .. } | SetupError::Timeout { .. })) => {
                say(format_args!("{error}."));
                Err(StepError::ServiceMissing("PostgreSQL"))
            }
            Err(error) => Err(StepError::Setup(error.to_string())),
        }
    }

    /// A pool of its own with up to `size` connections, all opened before it is returned (so
    /// that opening them is not measured), on this run's schema.
    pub async fn pool_of(&self, size: u32) -> Result<PgPool, StepError> {
        self.pool().await?;
        let pool = self
            .connect(size)
            .await
            .map_err(|e| StepError::Setup(e.to_string()))?;
        let mut open = Vec::new();
        for _ in 0..size {
            open.push(pool.acquire().await?);
        }
        drop(open);
        Ok(pool)
    }

    /// One connection outside any pool, for steps that interleave transactions by hand.
    pub async fn connection(&self) -> Result<PgConnection, StepError> {
        self.pool().await?;
        let options = self
            .options()
            .map_err(|e| StepError::Setup(e.to_string()))?;
        Ok(options.connect().await?)
    }

    async fn connect(&self, size: u32) -> Result<PgPool, SetupError> {
        let options = self.options()?;
        let shown = self.server.redacted();
        // One plain connection first: a refused port fails it at once, where a pool would
        // keep trying until its acquire timeout.
        match tokio::time::timeout(PATIENCE, options.connect()).await {
            Ok(Ok(probe)) => {
                let _ = probe.close().await;
            }
            Ok(Err(source)) => return Err(SetupError::Unreachable { url: shown, source }),
            Err(_) => {
                return Err(SetupError::Timeout {
                    after: PATIENCE,
                    url: shown,
                });
            }
        }
        PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(PATIENCE)
            .connect_with(options)
            .await
            .map_err(|source| SetupError::Unreachable { url: shown, source })
    }

    /// The end of a run: drops this run's schema and everything in it. Runs after Ctrl-C too
    /// (see `main.rs`).
    pub async fn finish(self) {
        let Some(Ok(pool)) = self.db.get() else {
            return;
        };
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        match sqlx::query(AssertSqlSafe(drop)).execute(pool).await {
            Ok(_) => say(format_args!(
                "Dropped this run's schema ({}) and its tables.",
                self.schema
            )),
            Err(error) => say(format_args!(
                "Could not drop this run's schema ({error}); `psql -h 127.0.0.1 -U postgres \
                 -c 'DROP SCHEMA {} CASCADE'` does.",
                self.schema
            )),
        }
        pool.close().await;
    }
}

/// Runs `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of `sql` and reduces it to what it cost.
pub async fn explain(pool: &PgPool, sql: &str) -> Result<crate::plan::PlanSummary, StepError> {
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}");
    let json: serde_json::Value = sqlx::query_scalar(AssertSqlSafe(explain))
        .fetch_one(pool)
        .await?;
    Ok(crate::plan::summarize(&json)?)
}

/// Waits until the backend `pid` is waiting for a lock (PostgreSQL's own view of it, in
/// `pg_stat_activity`), for at most five seconds. This is how the steps that interleave
/// transactions know that a statement is blocked, instead of sleeping and hoping.
pub async fn until_blocked(pool: &PgPool, pid: i32) -> Result<Duration, StepError> {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        let waiting: Option<String> =
            sqlx::query_scalar("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_optional(pool)
                .await?
                .flatten();
        if waiting.as_deref() == Some("Lock") {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(Unexpected {
        expected: "the second transaction to wait for the first one's lock",
        got: format!("backend {pid} was not waiting for a lock after five seconds"),
    }
    .into())
}

/// The server process behind a connection.
pub async fn backend_pid(conn: &mut PgConnection) -> Result<i32, StepError> {
    Ok(sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await?)
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    /// The server URL is not one (said with its password hidden).
    #[error("{0}")]
    Setup(String),
    #[error("a query failed")]
    Sql(#[from] sqlx::Error),
    #[error("a plan did not read")]
    Plan(#[from] PlanError),
    #[error("a batched load failed")]
    Batched(#[from] BatchedError),
    #[error("a stock update failed")]
    Stock(#[from] StockError),
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
    /// The step said which service is missing, and how to start it, in one sentence.
    #[error("{0} is not running")]
    ServiceMissing(&'static str),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub fn intro() {
    println!("Lesson 11 · Database optimization: fewer pages, fewer trips, no lost writes");
    println!();
    say("Plans and the indexes that change them; N+1 queries counted and fixed; lost updates");
    say("and write skew made to happen, then prevented; a job queue; pool sizes; a hash ring;");
    say("a column renamed under live traffic; reads split to a streaming replica. Every number");
    say("below is measured in this run.");
}

pub fn outro(elapsed: Duration) {
    println!();
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Next: chapter 11 of the book, which walks through each step.");
}
