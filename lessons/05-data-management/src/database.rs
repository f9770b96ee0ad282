//! Step 1: a database of the demo's own, migrated with the capstone's schema and seeded.
//!
//! The demo never touches data it did not create: it drops and re-creates [`DEMO_DATABASE`]
//! (or the [`DatabaseName`] that `--database` gives) at every run, and drops it again at the
//! end unless `--keep` asks otherwise.

use std::str::FromStr;
use std::time::Duration;

use shop_db::seed::{self, SeedError, SeedSize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};
use testkit::Service;
use thiserror::Error;

/// The database the demo creates and, without `--keep`, drops.
pub const DEMO_DATABASE: &str = "backend_rs_lesson05";

/// The name of the database the demo creates and drops: [`DEMO_DATABASE`], or a name that
/// starts with it (`--database backend_rs_lesson05_b`, so that two runs, or a run and the CLI
/// test, do not drop each other's database).
///
/// The prefix is a safety rule: the demo runs `DROP DATABASE ... WITH (FORCE)` on this name,
/// so `--database postgres` must not be accepted. The rest is limited to lower-case letters,
/// digits and `_`, which PostgreSQL takes as an identifier without quoting, and to 63 bytes,
/// its identifier limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseName(String);

impl FromStr for DatabaseName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let valid = name.len() <= 63
            && name.strip_prefix(DEMO_DATABASE).is_some_and(|rest| {
                rest.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "the demo drops this database, so its name must start with {DEMO_DATABASE} and \
                 go on with lower-case letters, digits or _ (63 bytes at most)"
            ))
        }
    }
}

impl Default for DatabaseName {
    fn default() -> Self {
        Self(DEMO_DATABASE.to_owned())
    }
}

impl std::fmt::Display for DatabaseName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

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
    #[error("could not re-create the demo database {name}")]
    CreateDatabase {
        name: DatabaseName,
        #[source]
        source: sqlx::Error,
    },
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
    pub name: DatabaseName,
    server: PgConnectOptions,
}

// ANCHOR: create
/// Connects, re-creates the database `name`, and opens a pool to it.
pub async fn create(url: &str, name: &DatabaseName) -> Result<DemoDatabase, SetupError> {
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
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        // An identifier cannot be a bind parameter. The name is our constant or passed
        // `DatabaseName`'s check (letters, digits, `_`): AssertSqlSafe records that someone
        // checked.
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .map_err(|source| SetupError::CreateDatabase {
                name: name.clone(),
                source,
            })?;
    }
    let _ = admin.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(server.clone().database(&name.0))
        .await
        .map_err(|source| SetupError::Unreachable { url: shown, source })?;
    Ok(DemoDatabase {
        pool,
        name: name.clone(),
        server,
    })
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
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(AssertSqlSafe(drop)).execute(&mut admin).await?;
        admin.close().await
    }
}

/// The URL with its password hidden, for anything printed.
pub use testkit::discover::redact;
