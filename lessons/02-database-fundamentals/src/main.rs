//! The narrated demo of lesson 02: the shop's data in PostgreSQL and MongoDB, step by step.
//!
//! `cargo run -p lesson-02` runs every step (start the services first: `cargo xtask services
//! up`); `-- --list` lists them, `-- --only plans` (or `--only 5`, `--only 5,reviews`) runs some
//! after steps 1 to 3, which the others need; `-- --help` lists the options. The code it
//! narrates lives in the library (`src/lib.rs` and its modules). Exit status: 0 when everything
//! ran, 1 when PostgreSQL or MongoDB was missing (the output says which and how to start it) or
//! a step failed, 2 for a bad flag, 130 after Ctrl-C.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_02::database::ServerUrl;
use lesson_02::reviews::mongodb_url;
use lesson_02::steps::{self, MongoOutcome, Settings, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use shop_db::seed::{MAX_PRODUCTS, SeedSize};
use sqlx::PgPool;

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
    #[command(flatten)]
    contents: StepArgs<Step>,
}

// ANCHOR: main
fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    // The narration reports every outcome itself, so the libraries' logs are off by default;
    // RUST_LOG=sqlx=info shows every statement with its timing, RUST_LOG=debug everything.
    init_tracing("off");
    let settings = Settings {
        server: ServerUrl::from_env(),
        mongodb_url: mongodb_url(),
        size: SeedSize::scaled(cli.products as usize),
        skip_mongo: cli.skip_mongo,
        keep: cli.keep,
    };
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli, settings))
}
// ANCHOR_END: main

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let shutdown = cancel_on_ctrl_c();
    steps::intro(&settings);
    // Steps 1 to 3 run whatever `--only` says: every later step needs the seeded database.
    let db = match steps::connect(&settings.server).await {
        Ok(db) => db,
        Err(unavailable) => {
            steps::postgres_unavailable(&settings, &unavailable);
            return Ok(Outcome::Failure);
        }
    };
    let pool = db.pool();
    steps::migrate(pool)
        .await
        .context("step 2 (migrate) failed")?;
    steps::seed(pool, &settings.size)
        .await
        .context("step 3 (seed) failed")?;

    let mut tally = Tally::default();
    let mut mongo = None;
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes, the rest are skipped, the database is dropped.
        if shutdown.is_cancelled() {
            break;
        }
        tally.record(step, run_step(step, pool, &settings, &mut mongo).await);
    }
    if let Some(MongoOutcome::Unreachable(_)) = mongo {
        tally.service_missing();
    }

    db.finish(settings.keep)
        .await
        .context("dropping the demo database")?;
    let every_step = cli.contents.only().is_none();
    steps::outro(&settings, every_step, mongo.as_ref(), started.elapsed());
    Ok(tally.outcome(&shutdown))
}

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Queries,
    Plans,
    Transactions,
    Deadlines,
    Reviews,
}

// ANCHOR: table_of_contents
/// The table of contents: number (the place in the list), name for `--only`, title.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::always("connect", "Connect, with a pool"),
        Entry::always("migrate", "Migrate: the schema as numbered SQL files"),
        Entry::always("seed", "Seed: a year of shop history"),
        Entry::step(Step::Queries, "queries", "Questions in SQL"),
        Entry::step(Step::Plans, "plans", "EXPLAIN ANALYZE, before and after an index"),
        Entry::step(Step::Transactions, "transactions",
                    "A transaction keeps stock and orders consistent"),
        Entry::step(Step::Deadlines, "deadlines",
                    "A deadline the server enforces: statement_timeout"),
        Entry::step(Step::Reviews, "reviews", "Reviews as documents in MongoDB"),
    ]);
}

/// One call per step; step 8 also says how the MongoDB half went, for the summary.
async fn run_step(
    step: Step,
    pool: &PgPool,
    settings: &Settings,
    mongo: &mut Option<MongoOutcome>,
) -> Result<(), StepError> {
    match step {
        Step::Queries => steps::showcase_queries(pool).await,
        Step::Plans => steps::plan_before_and_after_an_index(pool).await,
        Step::Transactions => steps::transactions(pool).await,
        Step::Deadlines => steps::deadlines(pool).await,
        Step::Reviews => {
            *mongo = Some(steps::reviews_in_mongodb(pool, settings).await?);
            Ok(())
        }
    }
}
// ANCHOR_END: table_of_contents
