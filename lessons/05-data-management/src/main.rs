//! The narrated demo of lesson 05: pagination, cursors, filters, validation, PATCH and bulk
//! writes over a seeded catalog in PostgreSQL.
//!
//! `cargo run -p lesson-05` runs every step (start PostgreSQL first: `cargo xtask services
//! up`); `-- --help` lists the options. The code it narrates lives in the library (`src/lib.rs`
//! and its modules). Exit status: 0 when everything ran, 1 when PostgreSQL was missing (the
//! output says how to start it) or a step failed, 2 for a bad flag.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_05::database::{DEMO_DATABASE, DatabaseName, ServerUrl};
use lesson_05::steps::{self, Settings};
use shop_db::seed::SeedSize;

/// Data management: offset vs keyset pagination, opaque cursors, allow-listed filters as bind
/// parameters, validation at the boundary, PATCH semantics, bulk insert and upsert.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// How many products to seed (users and orders scale with it).
    #[arg(long, value_name = "N", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(100..=50_000))]
    products: u32,
    /// Rows per page in the offset-vs-keyset comparison.
    #[arg(long, value_name = "N", default_value_t = 25,
          value_parser = clap::value_parser!(u32).range(5..=100))]
    page_size: u32,
    /// Keep the demo database afterwards, to explore it with psql.
    #[arg(long)]
    keep: bool,
    /// The database to create and drop: backend_rs_lesson05, or a name that starts with it
    /// (to run two demos at once).
    #[arg(long, value_name = "NAME", default_value = DEMO_DATABASE,
          value_parser = DatabaseName::parser(DEMO_DATABASE))]
    database: DatabaseName,
}

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    // The narration reports every outcome; library logs are off unless RUST_LOG asks.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let settings = Settings {
        server: ServerUrl::from_env(),
        database: cli.database,
        size: SeedSize::scaled(cli.products as usize),
        page_size: cli.page_size,
        keep: cli.keep,
    };
    run(&settings).await
}
// ANCHOR_END: main

// ANCHOR: table_of_contents
/// The table of contents.
async fn run(settings: &Settings) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    steps::intro(settings);
    let db = match steps::setup(settings).await {
        Ok(db) => db,
        Err(error) => {
            steps::postgres_unavailable(settings, &error);
            return Ok(ExitCode::FAILURE);
        }
    };
    let pool = db.pool();
    steps::offset_vs_keyset(pool, settings.page_size)
        .await
        .context("step 2 (offset vs keyset)")?;
    let demo = steps::start_api(pool.clone())
        .await
        .context("starting the API")?;
    steps::cursors(&demo).await.context("step 3 (cursors)")?;
    steps::filters(&demo).await.context("step 4 (filters)")?;
    steps::validation(&demo)
        .await
        .context("step 5 (validation)")?;
    steps::patch(&demo).await.context("step 6 (PATCH)")?;
    demo.api.shut_down().await.context("stopping the API")?;
    steps::bulk_writes(pool, 500)
        .await
        .context("step 7 (bulk writes)")?;

    db.finish(settings.keep)
        .await
        .context("dropping the demo database")?;
    steps::outro(settings, started.elapsed());
    Ok(ExitCode::SUCCESS)
}
// ANCHOR_END: table_of_contents
