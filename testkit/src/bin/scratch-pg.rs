//! `scratch-pg`: a throwaway PostgreSQL database with migrations applied, for tools.
//!
//! `cargo xtask sqlx-prepare` needs a database whose schema is exactly what the migrations say,
//! so that sqlx's query macros can describe every query against it. This binary creates one on
//! the server discovery finds (see [`testkit::discover`]) and drops it afterwards:
//!
//! ```text
//! scratch-pg create <migrations-dir>...   # prints the new database's URL on stdout
//! scratch-pg drop <database-url>
//! ```
//!
//! It applies migrations with sqlx's own `Migrator`, so the schema is the one the applications
//! get from `MIGRATOR.run(&pool)`.

use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};
use testkit::discover::{self, Service};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.split_first() {
        Some((command, dirs)) if command == "create" && !dirs.is_empty() => create(dirs).await,
        Some((command, [url])) if command == "drop" => drop_database(url).await,
        _ => Err("usage: scratch-pg create <migrations-dir>... | scratch-pg drop <url>".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scratch-pg: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn create(dirs: &[String]) -> Result<(), String> {
    let endpoint = discover::locate(Service::Postgres).map_err(|why| {
        format!(
            "{why}; start it with: {}",
            discover::how_to_start(Service::Postgres).join(" or ")
        )
    })?;
    let server = PgConnectOptions::from_str(&endpoint.url)
        .map_err(|e| format!("{endpoint} is not a PostgreSQL URL: {e}"))?;
    let name = format!(
        "scratch_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = connect(&server).await?;
    // `name` is ours (letters, digits, `_`), which is what makes formatting it into SQL safe.
    sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("could not create database {name}: {e}"))?;

    let options = server.database(&name);
    let mut conn = connect(&options).await?;
    for dir in dirs {
        let mut migrator = Migrator::new(Path::new(dir))
            .await
            .map_err(|e| format!("could not read the migrations in {dir}: {e}"))?;
        // Several services' schemas in one scratch database (the shop's and the inventory
        // service's, which in production live in databases of their own): they share sqlx's
        // bookkeeping table, so each migrator must ignore the versions the others applied.
        // Their tables do not collide; the schema each crate's queries are checked against is
        // its own.
        migrator.set_ignore_missing(true);
        migrator
            .run(&mut conn)
            .await
            .map_err(|e| format!("migrations in {dir} failed: {e}"))?;
    }
    let _ = conn.close().await;
    println!("{}", options.to_url_lossy());
    Ok(())
}

async fn drop_database(url: &str) -> Result<(), String> {
    let options =
        PgConnectOptions::from_str(url).map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    let name = options
        .get_database()
        .filter(|name| name.starts_with("scratch_"))
        .ok_or("refusing to drop a database that scratch-pg did not create")?
        .to_owned();
    let mut admin = connect(&options.database("postgres")).await?;
    sqlx::query(AssertSqlSafe(format!(
        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
    )))
    .execute(&mut admin)
    .await
    .map_err(|e| format!("could not drop database {name}: {e}"))?;
    Ok(())
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, String> {
    options
        .connect()
        .await
        .map_err(|e| format!("PostgreSQL refused the connection: {e}"))
}
