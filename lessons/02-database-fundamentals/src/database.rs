//! Steps 1 and 2: find PostgreSQL, make a fresh database for the demo, migrate it.
//!
//! The demo never touches data it did not create: it works in its own database,
//! [`DEMO_DATABASE`], dropped and re-created at every run so each run starts from the same place.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, PgPool};
use testkit::Service;
use thiserror::Error;

/// The database the demo creates (and, without `--keep`, drops again).
pub const DEMO_DATABASE: &str = "backend_rs_lesson02";

/// Where the PostgreSQL URL came from, so messages can say which knob to turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub url: String,
    pub from_env: bool,
}

impl ServerUrl {
    /// `DATABASE_URL` if it is set and not blank, else the server `cargo xtask services up`
    /// starts. The default comes from `testkit`, the crate the test runner finds services
    /// with, so the demo and the tests look in the same place (a trust-auth server ignores the
    /// password in it).
    pub fn from_env() -> Self {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => ServerUrl {
                url,
                from_env: true,
            },
            _ => ServerUrl {
                url: Service::Postgres.default_url().to_owned(),
                from_env: false,
            },
        }
    }

    /// The URL with its password hidden, and where it came from.
    pub fn describe(&self) -> String {
        let source = if self.from_env {
            "from DATABASE_URL"
        } else {
            "the default; DATABASE_URL overrides it"
        };
        format!("{} ({source})", redact(&self.url))
    }
}

/// Why the demo could not get a database.
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
    #[error("PostgreSQL did not answer within {0:?} at {1}")]
    Timeout(Duration, String),
    #[error("could not re-create the demo database {DEMO_DATABASE}")]
    CreateDatabase(#[source] sqlx::Error),
}

/// The demo's own database and a pool of connections to it.
#[derive(Debug)]
pub struct DemoDatabase {
    pub pool: PgPool,
    server: PgConnectOptions,
}

/// How long to wait for the first connection. A local server answers in milliseconds; a wrong
/// host can otherwise hang for the operating system's TCP timeout, a minute or more.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

// ANCHOR: connect
/// Connects to the server, drops and re-creates [`DEMO_DATABASE`], and opens a pool to it.
#[tracing::instrument(skip_all, err)]
pub async fn create_demo_database(server: &ServerUrl) -> Result<DemoDatabase, SetupError> {
    let shown = redact(&server.url);
    let options = PgConnectOptions::from_str(&server.url).map_err(|source| SetupError::BadUrl {
        url: shown.clone(),
        source,
    })?;
    // One plain connection to the server's default database, only to run DROP and CREATE
    // DATABASE (neither may run inside a transaction, nor in the database being dropped).
    let mut admin = tokio::time::timeout(CONNECT_TIMEOUT, admin_options(&options).connect())
        .await
        .map_err(|_| SetupError::Timeout(CONNECT_TIMEOUT, shown.clone()))?
        .map_err(|source| SetupError::Unreachable {
            url: shown.clone(),
            source,
        })?;
    recreate(&mut admin)
        .await
        .map_err(SetupError::CreateDatabase)?;
    let _ = admin.close().await;

    // The pool the rest of the demo shares. Connections are opened on demand, up to five, and
    // reused: a new PostgreSQL connection is a new server process (a few milliseconds), a
    // pooled one is free. `acquire_timeout` bounds the wait when all five are busy.
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options.clone().database(DEMO_DATABASE))
        .await
        .map_err(|source| SetupError::Unreachable { url: shown, source })?;
    Ok(DemoDatabase {
        pool,
        server: options,
    })
}

/// DROP DATABASE can take a second, which sqlx would log as a slow statement: not news here.
fn admin_options(server: &PgConnectOptions) -> PgConnectOptions {
    server.clone().disable_statement_logging()
}

async fn recreate(admin: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Identifiers cannot be bind parameters, so these statements are built with format!.
    // That is safe because DEMO_DATABASE is our constant; AssertSqlSafe records the check.
    // WITH (FORCE) ends connections a previous, interrupted run may have left open.
    let drop = format!("DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)");
    sqlx::query(AssertSqlSafe(drop))
        .execute(&mut *admin)
        .await?;
    let create = format!("CREATE DATABASE {DEMO_DATABASE}");
    sqlx::query(AssertSqlSafe(create))
        .execute(&mut *admin)
        .await?;
    Ok(())
}
// ANCHOR_END: connect

impl DemoDatabase {
    /// Closes the pool and drops the demo database.
    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        self.pool.close().await;
        let mut admin = admin_options(&self.server).connect().await?;
        let drop = format!("DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)");
        sqlx::query(AssertSqlSafe(drop)).execute(&mut admin).await?;
        admin.close().await
    }
}

/// One row of sqlx's bookkeeping table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    /// Nanoseconds, as sqlx records it.
    pub execution_time: i64,
}

// ANCHOR: migrate
/// Applies the shop's migrations and lists what the database now records as applied.
#[tracing::instrument(skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<Vec<AppliedMigration>, sqlx::migrate::MigrateError> {
    // Every file in capstone/crates/shop-db/migrations/, embedded in the binary at compile
    // time. run() takes an advisory lock (two instances starting at once do not race), skips
    // versions already applied, and refuses to continue if an applied file's checksum changed.
    shop_db::MIGRATOR.run(pool).await?;
    // sqlx keeps its own table, which is not part of our schema: a runtime query.
    let applied = sqlx::query_as::<_, AppliedMigration>(
        "SELECT version, description, execution_time FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    Ok(applied)
}
// ANCHOR_END: migrate

/// Hides the password in `scheme://user:password@host/...`, for anything printed. The same
/// function the test runner uses, from the workspace's service-discovery crate.
pub use testkit::discover::redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_screen() {
        assert_eq!(
            redact("postgres://postgres:postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres:***@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            redact("postgres://app@db.internal/shop?sslmode=require"),
            "postgres://app@db.internal/shop?sslmode=require"
        );
    }
}
