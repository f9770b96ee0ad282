//! A fresh PostgreSQL database per test.
//!
//! Each test gets `CREATE DATABASE testkit_<test>_<random>` on the server that discovery found,
//! and a pool connected to it. Nothing a test creates can be seen by another, tests run in
//! parallel safely, and the database is dropped when the [`PgDatabase`] is.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};

use crate::discover::Service;
use crate::isolate::{cleanup_blocking, endpoint, unique_name};

/// A database that exists for one test. Drop it to drop the database.
pub struct PgDatabase {
    pool: PgPool,
    name: String,
    server: PgConnectOptions,
}

impl PgDatabase {
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Options that connect to this test's database (for code under test that opens its own
    /// pool, like an application started on port 0).
    pub fn connect_options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }
}

/// Creates a fresh database for the calling test. The test's name must contain
/// `needs_postgres`; the test panics with instructions when no PostgreSQL answers.
pub async fn postgres() -> PgDatabase {
    let endpoint = endpoint(Service::Postgres).await;
    let server = match PgConnectOptions::from_str(&endpoint.url) {
        Ok(options) => options,
        Err(e) => panic!("{} is not a PostgreSQL URL: {e}", endpoint),
    };
    let name = unique_name();
    let mut admin = match server.connect().await {
        Ok(conn) => conn,
        Err(e) => panic!("PostgreSQL at {endpoint} refused the connection: {e}"),
    };
    // An identifier cannot be a bind parameter, so this SQL is built with format!. That is safe
    // only because `name` is ours (ASCII letters, digits and `_`); AssertSqlSafe records that
    // someone checked, which sqlx 0.9 insists on for any SQL that is not a literal.
    let create = format!(r#"CREATE DATABASE "{name}""#);
    if let Err(e) = sqlx::query(AssertSqlSafe(create)).execute(&mut admin).await {
        panic!("could not create test database {name} on {endpoint}: {e}");
    }
    let _ = admin.close().await;
    let pool = match PgPoolOptions::new()
        .max_connections(5)
        .connect_with(server.clone().database(&name))
        .await
    {
        Ok(pool) => pool,
        Err(e) => panic!("could not connect to test database {name}: {e}"),
    };
    PgDatabase { pool, name, server }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // WITH (FORCE) ends the pool's connections, which are still open: the pool closes
        // asynchronously and Drop cannot wait for it.
        cleanup_blocking(&format!("database {name}"), move || async move {
            let mut admin = server.connect().await.map_err(|e| e.to_string())?;
            let drop = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
            sqlx::query(AssertSqlSafe(drop))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
            admin.close().await.map_err(|e| e.to_string())
        });
    }
}
