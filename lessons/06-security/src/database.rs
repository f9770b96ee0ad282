//! The demo's own PostgreSQL database for the SQL-injection endpoints: created fresh at every
//! run, dropped at the end unless `--keep`.
//!
//! The demo never touches data it did not create. If PostgreSQL is not running, the lab
//! starts without it and the SQL routes answer 503; the other steps do not need it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, PgPool};
use testkit::Service;
use thiserror::Error;

use crate::sqli;

/// The database the demo creates (and, without `--keep`, drops again).
pub const DEMO_DATABASE: &str = "backend_rs_lesson06";

/// How long to wait for PostgreSQL: a local server answers in milliseconds, and a wrong host
/// would otherwise hang for the operating system's TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `DATABASE_URL` if set, else the server `cargo xtask services up` starts.
pub fn server_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => Service::Postgres.default_url().to_owned(),
    }
}

#[derive(Debug, Error)]
pub enum DatabaseError {
    #[error("{0} is not a PostgreSQL URL")]
    BadUrl(String),
    #[error("PostgreSQL is not reachable at {0}")]
    Unreachable(String),
    #[error("could not set up the demo database {DEMO_DATABASE}")]
    Setup(#[source] sqlx::Error),
}

/// The demo database and a pool of connections to it.
#[derive(Debug)]
pub struct DemoDatabase {
    pub pool: PgPool,
    server: PgConnectOptions,
}

impl DemoDatabase {
    /// Drops and re-creates [`DEMO_DATABASE`] on the server at `url`, and fills it.
    pub async fn create(url: &str) -> Result<Self, DatabaseError> {
        let shown = testkit::discover::redact(url);
        let server = PgConnectOptions::from_str(url)
            .map_err(|_| DatabaseError::BadUrl(shown.clone()))?
            .disable_statement_logging();
        let mut admin = tokio::time::timeout(CONNECT_TIMEOUT, server.connect())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| DatabaseError::Unreachable(shown.clone()))?;
        recreate(&mut admin).await.map_err(DatabaseError::Setup)?;
        let _ = admin.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(server.clone().database(DEMO_DATABASE))
            .await
            .map_err(|_| DatabaseError::Unreachable(shown))?;
        sqli::create_tables(&pool)
            .await
            .map_err(DatabaseError::Setup)?;
        Ok(DemoDatabase { pool, server })
    }

    /// Closes the pool and drops the demo database.
    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        self.pool.close().await;
        let mut admin = self.server.connect().await?;
        sqlx::query(AssertSqlSafe(drop_statement()))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }
}

/// Identifiers cannot be bind parameters, so these statements are built with `format!`, from
/// our own constant: `AssertSqlSafe` records that someone checked that it is not user input.
fn drop_statement() -> String {
    format!("DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)")
}

async fn recreate(admin: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(drop_statement()))
        .execute(&mut *admin)
        .await?;
    let create = format!("CREATE DATABASE {DEMO_DATABASE}");
    sqlx::query(AssertSqlSafe(create))
        .execute(&mut *admin)
        .await?;
    Ok(())
}
