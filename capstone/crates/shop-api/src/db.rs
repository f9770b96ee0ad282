//! Start-up checks for PostgreSQL: reach the server, find (or create) the database, and make
//! sure its schema is the one this binary was built for.
//!
//! The binary embeds its migrations (`shop_db::MIGRATOR`). Started with `--migrate` it applies
//! the pending ones (creating the database first if needed); without it, it compares them with
//! the `_sqlx_migrations` table and refuses to start when any is missing or was edited after it
//! ran. A service that starts against the wrong schema fails later, on some request, with an
//! error about a missing column; failing now, with the fix in the message, is kinder.

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use shop_db::MIGRATOR;
use sqlx::migrate::{Migrate, MigrateDatabase, MigrateError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres};
use thiserror::Error;

use crate::config::Config;

/// How long to wait for a connection, at start-up and from the pool later. The pool's default
/// is 30 s, which looks like a hang when PostgreSQL is simply not running.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// SQLSTATE 3D000, `invalid_catalog_name`: the database named in the URL does not exist.
const UNDEFINED_DATABASE: &str = "3D000";

/// Why the service cannot use its database. Each message is one line that says what to do.
#[derive(Debug, Error)]
pub enum DbStartupError {
    #[error(
        "PostgreSQL at {target} is not reachable ({reason}); start it with `cargo xtask services up`"
    )]
    Unreachable { target: String, reason: String },
    #[error("PostgreSQL at {target} refused the connection: {reason}")]
    Refused { target: String, reason: String },
    #[error(
        "database `{database}` does not exist on {server}; run with --migrate to create it and apply the migrations"
    )]
    MissingDatabase { server: String, database: String },
    #[error(
        "the database lacks {count} migration(s) this binary expects, starting with {first}; run with --migrate to apply them"
    )]
    PendingMigrations { count: usize, first: String },
    #[error(
        "migration {version} was edited after it was applied to this database; restore the file or rebuild the database"
    )]
    EditedMigration { version: i64 },
    #[error("a migration failed")]
    Migrate(#[from] MigrateError),
    #[error("PostgreSQL error during start-up")]
    Sqlx(#[from] sqlx::Error),
}

/// The server a URL points at, without user or password: `127.0.0.1:5432`.
fn server(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

/// The database a URL names; PostgreSQL's default is the one named like the user.
fn database(options: &PgConnectOptions) -> String {
    options
        .get_database()
        .unwrap_or(options.get_username())
        .to_owned()
}

/// Opens the pool. With `create_missing`, a database that does not exist yet is created.
//
// No `err` in `instrument`: the caller reports a start-up error (main prints it and exits), and
// logging it here as well would print every failure twice.
#[tracing::instrument(skip_all)]
pub async fn connect(config: &Config, create_missing: bool) -> Result<PgPool, DbStartupError> {
    let url = config.database_url.expose_secret();
    // `Config` already checked that the URL parses.
    let options = PgConnectOptions::from_str(url)?;

    // One plain connection first. A pool retries failed connections until its acquire timeout
    // and then reports only "timed out"; a single attempt fails at once with the real reason
    // (connection refused, unknown database, bad password), which is what the user needs.
    match tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            // Closing politely; if even that fails, the pool below will say why.
            let _ = connection.close().await;
        }
        Ok(Err(sqlx::Error::Database(error)))
            if error.code().as_deref() == Some(UNDEFINED_DATABASE) =>
        {
            if !create_missing {
                return Err(DbStartupError::MissingDatabase {
                    server: server(&options),
                    database: database(&options),
                });
            }
            tracing::info!(database = database(&options), "creating the database");
            Postgres::create_database(url).await?;
        }
        Ok(Err(error)) => return Err(classify(&options, error)),
        Err(_elapsed) => {
            return Err(DbStartupError::Unreachable {
                target: format!("{}/{}", server(&options), database(&options)),
                reason: format!("no answer within {ACQUIRE_TIMEOUT:?}"),
            });
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok(pool)
}

// ANCHOR: replica_pool
/// The replica's pool, when `database_replica_url` is set. It connects lazily: the service
/// starts while the replica is down, and a read that cannot get a connection within a second
/// goes to the primary instead (see `AppState::catalog_read`). Every connection names itself
/// `shop-api (replica reads)`, which `pg_stat_activity` on the replica shows.
pub fn replica_pool(config: &Config) -> Result<Option<PgPool>, DbStartupError> {
    let Some(url) = &config.database_replica_url else {
        return Ok(None);
    };
    let options =
        PgConnectOptions::from_str(url.expose_secret())?.application_name(REPLICA_APPLICATION);
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(REPLICA_ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    Ok(Some(pool))
}
// ANCHOR_END: replica_pool

/// How the replica's connections name themselves to the server.
pub const REPLICA_APPLICATION: &str = "shop-api (replica reads)";

/// How long a catalog read waits for a replica connection before it reads the primary.
const REPLICA_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

fn classify(options: &PgConnectOptions, error: sqlx::Error) -> DbStartupError {
    let target = format!("{}/{}", server(options), database(options));
    match error {
        // Nothing listens, or nothing answers in time: the server is not running.
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => DbStartupError::Unreachable {
            target,
            reason: error.to_string(),
        },
        // It answered and said no: wrong password, unknown role, too many connections.
        sqlx::Error::Database(db) => DbStartupError::Refused {
            target,
            reason: db.message().to_owned(),
        },
        other => DbStartupError::Sqlx(other),
    }
}

/// Applies every pending migration, in order, each in its own transaction.
#[tracing::instrument(skip_all)]
pub async fn migrate(pool: &PgPool) -> Result<(), DbStartupError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

// ANCHOR: check_migrations
/// Refuses a database whose schema is behind (or different from) the embedded migrations.
/// Reads only: unlike `MIGRATOR.run`, it creates no table and takes no lock.
#[tracing::instrument(skip_all)]
pub async fn check_migrations(pool: &PgPool) -> Result<(), DbStartupError> {
    let mut conn = pool.acquire().await?;
    let table = MIGRATOR.table_name.as_ref();
    let table_exists =
        sqlx::query_scalar!(r#"SELECT to_regclass($1) IS NOT NULL AS "exists!""#, table)
            .fetch_one(&mut *conn)
            .await?;
    let applied = if table_exists {
        if let Some(version) = conn.dirty_version(table).await? {
            return Err(MigrateError::Dirty(version).into());
        }
        conn.list_applied_migrations(table).await?
    } else {
        Vec::new()
    };

    let mut pending = Vec::new();
    for migration in MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
    {
        match applied.iter().find(|a| a.version == migration.version) {
            None => pending.push(migration),
            Some(done) if done.checksum != migration.checksum => {
                return Err(DbStartupError::EditedMigration {
                    version: migration.version,
                });
            }
            Some(_) => {}
        }
    }
    match pending.first() {
        None => Ok(()),
        Some(first) => Err(DbStartupError::PendingMigrations {
            count: pending.len(),
            first: format!("{}_{}", first.version, first.description.replace(' ', "_")),
        }),
    }
}
// ANCHOR_END: check_migrations
