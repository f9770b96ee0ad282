//! Step 1: a database of the demo's own, migrated with the capstone's schema and seeded.
//!
//! The demo never touches data it did not create: it drops and re-creates [`DEMO_DATABASE`]
//! at every run, and drops it again at the end unless `--keep` asks otherwise.

use std::str::FromStr;
use std::time::Duration;

use shop_db::seed::{self, SeedError, SeedSize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};
use testkit::Service;
use thiserror::Error;

/// The database the demo creates and, without `--keep`, drops.
pub const DEMO_DATABASE: &str = "backend_rs_lesson05";

/// How long to wait for PostgreSQL: a local server answers in milliseconds, a wrong host could
/// otherwise hang for the operating system's TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `DATABASE_URL` when set and not blank, else the server `cargo xtask services up` starts
/// (the default comes from testkit, so the demo looks where the tests look).
pub fn server_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => Service::Postgres.default_url().to_owned(),
    }
}

/// Why the demo has no database to work in.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error("{url} is not a PostgreSQL URL")]
    BadUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "PostgreSQL is not reachable at {url}: start it with `cargo xtask services up` \
         (or point DATABASE_URL at a running server)"
    )]
    Unreachable {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "PostgreSQL did not answer within {0:?} at {1}: start it with `cargo xtask services up`"
    )]
    Timeout(Duration, String),
    #[error("could not re-create the demo database {DEMO_DATABASE}")]
    CreateDatabase(#[source] sqlx::Error),
    #[error("the migrations could not be applied")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("seeding failed")]
    Seed(#[from] SeedError),
    #[error("a setup query failed")]
    Database(#[from] sqlx::Error),
}

/// The demo's database and a pool of connections to it.
#[derive(Debug)]
pub struct DemoDatabase {
    pub pool: PgPool,
    server: PgConnectOptions,
}

// ANCHOR: create
/// Connects, re-creates [`DEMO_DATABASE`], and opens a pool to it.
pub async fn create(url: &str) -> Result<DemoDatabase, SetupError> {
    let shown = redact(url);
    let server = PgConnectOptions::from_str(url).map_err(|source| SetupError::BadUrl {
        url: shown.clone(),
        source,
    })?;
    // DROP/CREATE DATABASE cannot run in a transaction nor in the database concerned, so a
    // single connection to the server's default database does it.
    let mut admin = tokio::time::timeout(CONNECT_TIMEOUT, admin(&server).connect())
        .await
        .map_err(|_| SetupError::Timeout(CONNECT_TIMEOUT, shown.clone()))?
        .map_err(|source| SetupError::Unreachable {
            url: shown.clone(),
            source,
        })?;
    for statement in [
        format!("DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)"),
        format!("CREATE DATABASE {DEMO_DATABASE}"),
    ] {
        // An identifier cannot be a bind parameter. The name is our constant, not input:
        // AssertSqlSafe records that someone checked.
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .map_err(SetupError::CreateDatabase)?;
    }
    let _ = admin.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(server.clone().database(DEMO_DATABASE))
        .await
        .map_err(|source| SetupError::Unreachable { url: shown, source })?;
    Ok(DemoDatabase { pool, server })
}
// ANCHOR_END: create

/// Statement logging off: DROP DATABASE may take a second, which sqlx would report as slow.
fn admin(server: &PgConnectOptions) -> PgConnectOptions {
    server.clone().disable_statement_logging()
}

/// The capstone's migrations, then `size` worth of seed data, then the price index.
pub async fn prepare(pool: &PgPool, size: &SeedSize) -> Result<(), SetupError> {
    shop_db::MIGRATOR.run(pool).await?;
    seed::seed(pool, size).await?;
    crate::pagination::create_price_index(pool).await?;
    Ok(())
}

impl DemoDatabase {
    /// Closes the pool and drops the database.
    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        self.pool.close().await;
        let mut admin = admin(&self.server).connect().await?;
        let drop = format!("DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)");
        sqlx::query(AssertSqlSafe(drop)).execute(&mut admin).await?;
        admin.close().await
    }
}

/// The URL with its password hidden, for anything printed.
pub use testkit::discover::redact;
