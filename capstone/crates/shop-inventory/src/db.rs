//! The inventory's database at start-up: reach it, create it with `--migrate`, and make sure its
//! schema is the one this binary embeds ([`crate::MIGRATOR`]).
//!
//! The shop API does the same for its own database (`shop_api::db`), but its functions take the
//! API's `Config` and migrate with `shop_db::MIGRATOR`, so this service has its own small
//! version over any URL and any migrator.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::{Migrate, MigrateDatabase, MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres};
use thiserror::Error;

/// How long to wait for a connection: the pool's default of 30 s looks like a hang when the
/// server is simply not running.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// SQLSTATE 3D000, `invalid_catalog_name`: the database in the URL does not exist.
const UNDEFINED_DATABASE: &str = "3D000";

/// Why the service cannot use its database, each with what to do about it.
#[derive(Debug, Error)]
pub enum DbStartupError {
    #[error(
        "PostgreSQL at {target} is not reachable ({reason}); start it with `cargo xtask services up`"
    )]
    Unreachable { target: String, reason: String },
    #[error(
        "database `{database}` does not exist; run with --migrate to create it and apply the migrations"
    )]
    MissingDatabase { database: String },
    #[error(
        "the database's schema is behind this binary ({pending} migration(s) not applied, starting with {first}); run with --migrate to apply them"
    )]
    Behind { pending: usize, first: i64 },
    #[error(
        "migration {0} was changed after it was applied to this database; restore it or rebuild the database"
    )]
    Edited(i64),
    #[error("a migration failed")]
    Migrate(#[from] MigrateError),
    #[error("PostgreSQL error during start-up")]
    Sqlx(#[from] sqlx::Error),
}

/// Opens a pool on `url`; with `create_missing`, creates the database first if it is not there.
#[tracing::instrument(skip_all)]
pub async fn connect(url: &SecretString, create_missing: bool) -> Result<PgPool, DbStartupError> {
    let url = url.expose_secret();
    let options = PgConnectOptions::from_str(url)?;
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    // One plain connection first: it fails at once with the real reason, where a pool would
    // retry until its timeout and then say only "timed out".
    match tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
        }
        Ok(Err(sqlx::Error::Database(error)))
            if error.code().as_deref() == Some(UNDEFINED_DATABASE) =>
        {
            let database = options.get_database().unwrap_or_default().to_owned();
            if !create_missing {
                return Err(DbStartupError::MissingDatabase { database });
            }
            tracing::info!(database, "creating the database");
            Postgres::create_database(url).await?;
        }
        Ok(Err(error @ sqlx::Error::Io(_))) => {
            return Err(DbStartupError::Unreachable {
                target,
                reason: error.to_string(),
            });
        }
        Ok(Err(error)) => return Err(error.into()),
        Err(_elapsed) => {
            return Err(DbStartupError::Unreachable {
                target,
                reason: format!("no answer within {ACQUIRE_TIMEOUT:?}"),
            });
        }
    }
    Ok(PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?)
}

// ANCHOR: check_schema
/// Refuses a database that lacks one of `migrator`'s migrations or holds an edited one.
/// Read-only: unlike `migrator.run`, it creates no table and takes no lock.
#[tracing::instrument(skip_all)]
pub async fn check_schema(pool: &PgPool, migrator: &Migrator) -> Result<(), DbStartupError> {
    let mut conn = pool.acquire().await?;
    let table = migrator.table_name.as_ref();
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
    let applied = if exists {
        if let Some(version) = conn.dirty_version(table).await? {
            return Err(MigrateError::Dirty(version).into());
        }
        conn.list_applied_migrations(table).await?
    } else {
        Vec::new()
    };
    let mut pending = Vec::new();
    for migration in migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
    {
        match applied.iter().find(|a| a.version == migration.version) {
            None => pending.push(migration.version),
            Some(done) if done.checksum != migration.checksum => {
                return Err(DbStartupError::Edited(migration.version));
            }
            Some(_) => {}
        }
    }
    match pending.first() {
        None => Ok(()),
        Some(&first) => Err(DbStartupError::Behind {
            pending: pending.len(),
            first,
        }),
    }
}
// ANCHOR_END: check_schema
