//! The narrated demo of lesson 02: the shop's data in PostgreSQL and MongoDB, step by step.
//!
//! `cargo run -p lesson-02` runs every step (start the services first: `cargo xtask services
//! up`); `-- --help` lists the options. The code it narrates lives in the library (`src/lib.rs`
//! and its modules). Exit status: 0 when everything ran, 1 when PostgreSQL or MongoDB was
//! missing (the output says which and how to start it), 2 for a bad flag.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_02::database::ServerUrl;
use lesson_02::reviews::mongodb_url;
use lesson_02::steps::{self, MongoOutcome, Settings};
use shop_db::seed::{MAX_PRODUCTS, SeedSize};

/// Database fundamentals: schema, seed data, queries, plans and transactions in PostgreSQL;
/// documents and aggregation in MongoDB.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// How many products to seed; customers and orders scale with it (the default is the demo
    /// size: 5,000 products, 2,000 customers, 20,000 orders).
    #[arg(long, value_name = "N", default_value_t = 5_000,
          value_parser = clap::value_parser!(u32).range(10..=MAX_PRODUCTS as i64))]
    products: u32,
    /// Run the PostgreSQL steps only.
    #[arg(long)]
    skip_mongo: bool,
    /// Keep the demo databases afterwards, to explore them with psql or mongosh.
    #[arg(long)]
    keep: bool,
}

// ANCHOR: main
#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    // The narration reports every outcome itself, so the libraries' logs are off by default;
    // RUST_LOG=sqlx=info shows every statement with its timing, RUST_LOG=debug everything.
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
        mongodb_url: mongodb_url(),
        size: SeedSize::scaled(cli.products as usize),
        skip_mongo: cli.skip_mongo,
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
    let db = match steps::connect(&settings.server).await {
        Ok(db) => db,
        Err(unavailable) => {
            steps::postgres_unavailable(settings, &unavailable);
            return Ok(ExitCode::FAILURE);
        }
    };
    let pool = db.pool();
    steps::migrate(pool).await.context("step 2 (migrate)")?;
    steps::seed(pool, &settings.size)
        .await
        .context("step 3 (seed)")?;
    steps::showcase_queries(pool)
        .await
        .context("step 4 (queries)")?;
    steps::plan_before_and_after_an_index(pool)
        .await
        .context("step 5 (plans)")?;
    steps::transactions(pool)
        .await
        .context("step 6 (transactions)")?;
    steps::deadlines(pool).await.context("step 7 (deadlines)")?;
    let mongo = steps::reviews_in_mongodb(pool, settings)
        .await
        .context("step 8 (MongoDB)")?;

    db.finish(settings.keep)
        .await
        .context("dropping the demo database")?;
    steps::outro(settings, &mongo, started.elapsed());
    Ok(match mongo {
        MongoOutcome::Done { .. } | MongoOutcome::Skipped => ExitCode::SUCCESS,
        MongoOutcome::Unreachable(_) => ExitCode::FAILURE,
    })
}
// ANCHOR_END: table_of_contents
