//! A lesson demo's own PostgreSQL database: created fresh at every run, dropped at the end
//! unless the learner asks to keep it.
//!
//! A test gets a randomly named database from [`crate::postgres`] and loses it when the test
//! ends. A demo (`cargo run -p lesson-02`) is different: the learner may want to explore its
//! database with `psql` afterwards, so it has a name they can type (`backend_rs_lesson02`), is
//! re-created at the start of every run, and is dropped only on request ([`DemoDatabase::finish`]).
//! Lessons 02, 05 and 06 all work this way, and this module is the one place that does it:
//!
//! ```no_run
//! use testkit::demo_db::{DatabaseName, DemoDatabase, ServerUrl};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let name = DatabaseName::with_prefix("backend_rs_lesson02", "backend_rs_lesson02")?;
//! let db = DemoDatabase::create(&ServerUrl::from_env(), &name).await?;
//! sqlx::query("SELECT 1").execute(db.pool()).await?;
//! db.finish(false).await?; // false: do not keep it
//! # Ok(())
//! # }
//! ```

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, PgPool};
use thiserror::Error;

use crate::discover::{Service, redact};

/// The PostgreSQL server a demo works on, and where that choice came from, so messages can say
/// which knob to turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub url: String,
    /// True when `DATABASE_URL` named it.
    pub from_env: bool,
}

impl ServerUrl {
    /// `DATABASE_URL` if it is set and not blank, else the server `cargo xtask services up`
    /// starts: the same places the test runner looks, so the demo and the tests agree (a
    /// trust-auth server ignores the password in the default).
    pub fn from_env() -> Self {
        match std::env::var(Service::Postgres.env_var()) {
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

    /// The URL with its password hidden: the only form that is ever printed.
    pub fn redacted(&self) -> String {
        redact(&self.url)
    }

    /// The URL with its password hidden, and where it came from.
    pub fn describe(&self) -> String {
        let source = if self.from_env {
            "from DATABASE_URL"
        } else {
            "the default; DATABASE_URL overrides it"
        };
        format!("{} ({source})", self.redacted())
    }
}

/// PostgreSQL's limit on an identifier, in bytes.
const MAX_IDENTIFIER: usize = 63;

/// The name of a database a demo may create and drop.
///
/// The demo runs `DROP DATABASE ... WITH (FORCE)` on this name, so it must never be a database
/// the demo did not make: a name is accepted only when it starts with the lesson's own prefix
/// (`backend_rs_lesson05`, or `backend_rs_lesson05_b` to run two demos at once), so
/// `--database postgres` is refused. The rest is limited to lower-case letters, digits and `_`,
/// which PostgreSQL takes as an identifier without quoting, and to 63 bytes. That check is what
/// makes it safe to splice the name into SQL (see [`DemoDatabase::create`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseName(String);

/// A database name that [`DatabaseName`] refuses.
#[derive(Debug, Clone, Error)]
#[error(
    "the demo drops this database, so its name must start with {prefix} and go on with \
     lower-case letters, digits or _ ({MAX_IDENTIFIER} bytes at most)"
)]
pub struct BadName {
    prefix: String,
}

impl DatabaseName {
    /// `name`, if it starts with `prefix` (a lesson's own, non-empty name) and the whole is a
    /// plain identifier.
    pub fn with_prefix(prefix: &str, name: &str) -> Result<Self, BadName> {
        let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        let valid = !prefix.is_empty()
            && name.len() <= MAX_IDENTIFIER
            && name.starts_with(prefix)
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.bytes().all(plain);
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(BadName {
                prefix: prefix.to_owned(),
            })
        }
    }

    /// A parser for a demo's `--database` flag, which accepts names with `prefix` only:
    /// `#[arg(long, default_value = DEMO_DATABASE, value_parser = DatabaseName::parser(DEMO_DATABASE))]`.
    pub fn parser(
        prefix: &'static str,
    ) -> impl Fn(&str) -> Result<DatabaseName, BadName> + Clone + Send + Sync + 'static {
        move |name| DatabaseName::with_prefix(prefix, name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DatabaseName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a demo has no database to work in. Every message names the server with its password
/// hidden, and the ones a learner can fix say how.
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
        "PostgreSQL did not answer within {after:?} at {url}: start it with `cargo xtask \
         services up` (or point DATABASE_URL at a running server)"
    )]
    Timeout { after: Duration, url: String },
    #[error("could not re-create the demo database {name}")]
    CreateDatabase {
        name: DatabaseName,
        #[source]
        source: sqlx::Error,
    },
}

/// How long to wait for the first connection. A local server answers in milliseconds; a wrong
/// host can otherwise hang for the operating system's TCP timeout, a minute or more.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A demo's own database and a pool of connections to it.
#[derive(Debug)]
pub struct DemoDatabase {
    pool: PgPool,
    name: DatabaseName,
    server: PgConnectOptions,
}

// ANCHOR: create
impl DemoDatabase {
    /// Connects to the server, drops and re-creates the database `name`, and opens a pool to it.
    pub async fn create(server: &ServerUrl, name: &DatabaseName) -> Result<Self, SetupError> {
        let shown = server.redacted();
        let options =
            PgConnectOptions::from_str(&server.url).map_err(|source| SetupError::BadUrl {
                url: shown.clone(),
                source,
            })?;
        // One plain connection to the server's default database, only to run DROP and CREATE
        // DATABASE (neither may run inside a transaction, nor in the database being dropped).
        let mut admin = tokio::time::timeout(CONNECT_TIMEOUT, admin_options(&options).connect())
            .await
            .map_err(|_| SetupError::Timeout {
                after: CONNECT_TIMEOUT,
                url: shown.clone(),
            })?
            .map_err(|source| SetupError::Unreachable {
                url: shown.clone(),
                source,
            })?;
        recreate(&mut admin, name)
            .await
            .map_err(|source| SetupError::CreateDatabase {
                name: name.clone(),
                source,
            })?;
        let _ = admin.close().await;

        // The pool the rest of the demo shares. Connections are opened on demand, up to five,
        // and reused: a new PostgreSQL connection is a new server process (a few milliseconds),
        // a pooled one is free. `acquire_timeout` bounds the wait when all five are busy.
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options.clone().database(name.as_str()))
            .await
            .map_err(|source| SetupError::Unreachable { url: shown, source })?;
        Ok(DemoDatabase {
            pool,
            name: name.clone(),
            server: options,
        })
    }
}

/// DROP DATABASE can take a second, which sqlx would log as a slow statement: not news here.
fn admin_options(server: &PgConnectOptions) -> PgConnectOptions {
    server.clone().disable_statement_logging()
}

// ANCHOR: recreate
async fn recreate(admin: &mut PgConnection, name: &DatabaseName) -> Result<(), sqlx::Error> {
    // Identifiers cannot be bind parameters, so these statements are built with format!. That
    // is safe because a DatabaseName is the lesson's prefix followed by letters, digits and `_`
    // only; AssertSqlSafe records that someone checked. WITH (FORCE) ends connections a
    // previous, interrupted run may have left open.
    sqlx::query(AssertSqlSafe(drop_statement(name)))
        .execute(&mut *admin)
        .await?;
    let create = format!("CREATE DATABASE {name}");
    sqlx::query(AssertSqlSafe(create))
        .execute(&mut *admin)
        .await?;
    Ok(())
}
// ANCHOR_END: recreate
// ANCHOR_END: create

fn drop_statement(name: &DatabaseName) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

impl DemoDatabase {
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn name(&self) -> &DatabaseName {
        &self.name
    }

    /// Closes the pool and drops the database.
    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        self.pool.close().await;
        let mut admin = admin_options(&self.server).connect().await?;
        sqlx::query(AssertSqlSafe(drop_statement(&self.name)))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }

    /// The end of a demo: closes the pool, and drops the database unless `keep` (the learner's
    /// `--keep`) asks to leave it for `psql`.
    pub async fn finish(self, keep: bool) -> Result<(), sqlx::Error> {
        if keep {
            self.pool.close().await;
            Ok(())
        } else {
            self.drop_database().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "backend_rs_lesson05";

    #[test]
    fn a_name_must_carry_the_lessons_prefix() {
        for good in [
            PREFIX,
            "backend_rs_lesson05_b",
            "backend_rs_lesson05_cli_4711",
        ] {
            let name = DatabaseName::with_prefix(PREFIX, good).expect(good);
            assert_eq!(name.as_str(), good);
        }
        let too_long = format!("{PREFIX}{}", "x".repeat(MAX_IDENTIFIER));
        for bad in [
            "postgres",
            "template1",
            "backend_rs_lesson0",
            "backend_rs_lesson05; DROP TABLE x",
            "backend_rs_lesson05-b",
            "backend_rs_lesson05_B",
            "backend_rs_lesson05_\"x\"",
            too_long.as_str(),
        ] {
            assert!(DatabaseName::with_prefix(PREFIX, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_flag_parser_applies_the_same_rule() {
        let parse = DatabaseName::parser(PREFIX);
        assert_eq!(
            parse("backend_rs_lesson05_b").unwrap().as_str(),
            "backend_rs_lesson05_b"
        );
        assert!(parse("postgres").is_err());
    }

    #[test]
    fn an_empty_or_odd_prefix_protects_nothing_and_is_refused() {
        assert!(DatabaseName::with_prefix("", "postgres").is_err());
        assert!(DatabaseName::with_prefix("1db", "1db").is_err());
    }

    #[test]
    fn the_refusal_says_what_a_name_must_look_like() {
        let error = DatabaseName::with_prefix(PREFIX, "postgres").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("must start with backend_rs_lesson05")
        );
    }

    #[test]
    fn a_server_is_described_without_its_password() {
        let server = ServerUrl {
            url: "postgres://shop:hunter2@127.0.0.1:5432/postgres".into(),
            from_env: true,
        };
        assert_eq!(
            server.describe(),
            "postgres://shop:***@127.0.0.1:5432/postgres (from DATABASE_URL)"
        );
    }
}
