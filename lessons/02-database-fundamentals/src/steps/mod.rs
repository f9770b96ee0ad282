//! The narration: each function is one step of `cargo run -p lesson-02`. It runs the library
//! code of the matching module against the real databases and prints what happened. `main.rs`
//! calls them in order.

mod mongo;
mod postgres;

use std::time::Duration;

use narrate::{duration, heading_line, say, show};
use shop_db::reviews::ReviewError;
use shop_db::seed::{SeedError, SeedSize};
use thiserror::Error;

use crate::checkout::CheckoutError;
use crate::database::{DEMO_DATABASE, ServerUrl, SetupError};

pub use mongo::reviews_in_mongodb;
pub use postgres::{
    connect, deadlines, migrate, plan_before_and_after_an_index, seed, showcase_queries,
    transactions,
};

/// What the demo was asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerUrl,
    pub mongodb_url: String,
    pub size: SeedSize,
    pub skip_mongo: bool,
    /// Keep the demo databases at the end, to explore them with `psql` or `mongosh`.
    pub keep: bool,
}

/// Why a step could not finish (after PostgreSQL was found: that case is [`SetupError`]).
#[derive(Debug, Error)]
pub enum StepError {
    #[error("a query failed")]
    Database(#[from] sqlx::Error),
    #[error("the migrations could not be applied")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("seeding failed")]
    Seed(#[from] SeedError),
    #[error("an order the demo expected to succeed failed")]
    Checkout(#[from] CheckoutError),
    #[error("the reviews store failed")]
    Reviews(#[from] ReviewError),
    #[error("a MongoDB query failed")]
    Mongo(#[from] mongodb::error::Error),
    #[error("a review could not be encoded as BSON")]
    Bson(#[from] mongodb::bson::error::Error),
    #[error("the seeded data is missing what the demo needs: {0}")]
    MissingData(&'static str),
}

/// How the MongoDB half went.
#[derive(Debug)]
pub enum MongoOutcome {
    Done { reviews: u64 },
    Skipped,
    Unreachable(ReviewError),
}

pub fn intro(settings: &Settings) {
    println!("Lesson 02 · Database fundamentals: the shop's data in PostgreSQL and MongoDB");
    println!();
    say("Eight steps: connect and migrate, seed a year of shop history, ask it questions (joins,");
    say("aggregates, CTEs, window functions), watch an index change a query plan, keep stock and");
    say("orders consistent with a transaction, give a slow query a deadline the server enforces,");
    say("then store and summarise reviews in MongoDB.");
    say(format_args!(
        "Data: {} products, {} customers, {} orders (change the scale: -- --products N).",
        narrate::thousands(settings.size.products as i64),
        narrate::thousands(settings.size.users as i64),
        narrate::thousands(settings.size.orders as i64),
    ));
}

/// PostgreSQL is down or refuses us: say what, why and how to fix it, in a few lines.
pub fn postgres_unavailable(settings: &Settings, error: &SetupError) {
    println!();
    eprintln!("  PostgreSQL is needed from step 1 on, and the demo could not use it:");
    eprintln!("    {error}");
    if let Some(cause) = std::error::Error::source(error) {
        eprintln!("    caused by: {cause}");
    }
    eprintln!("  Server tried: {}", settings.server.describe());
    eprintln!(
        "  Start the course's services with `cargo xtask services up` (`cargo xtask services"
    );
    eprintln!("  status` shows what answers), then run `cargo run -p lesson-02` again.");
}

/// The summary. `every_step` is false when `--only` picked some steps; `mongo` is `None` when
/// step 8 did not run.
pub fn outro(
    settings: &Settings,
    every_step: bool,
    mongo: Option<&MongoOutcome>,
    elapsed: Duration,
) {
    println!();
    heading_line("Summary");
    if every_step {
        say(
            "PostgreSQL: migrated, seeded, queried, explained, kept consistent and given deadlines (steps 1-7).",
        );
    } else {
        say(
            "PostgreSQL: connected, migrated and seeded (steps 1-3), then the steps --only picked.",
        );
    }
    match mongo {
        None => say("MongoDB: step 8 did not run."),
        Some(MongoOutcome::Done { reviews }) => say(format_args!(
            "MongoDB: {} reviews stored, queried and summarised (step 8).",
            narrate::thousands(*reviews as i64)
        )),
        Some(MongoOutcome::Skipped) => say("MongoDB: skipped (--skip-mongo)."),
        Some(MongoOutcome::Unreachable(_)) => {
            say("MongoDB: NOT RUN. Step 8 needs a MongoDB server and none answered; start one");
            say("with `cargo xtask services up` and run the demo again to see the reviews half.");
        }
    }
    if settings.keep {
        say("Kept the demo data to explore (psql takes the URL, with your password in it):");
        show(format_args!(
            "PostgreSQL: {}",
            postgres::demo_database_url(&settings.server)
        ));
        if let Some(MongoOutcome::Done { .. }) = mongo {
            show(format_args!(
                "MongoDB: database {DEMO_DATABASE}, collection {}",
                shop_db::reviews::ReviewStore::COLLECTION
            ));
        }
    } else {
        say(format_args!(
            "The demo database {DEMO_DATABASE} was dropped again (keep it next time: -- --keep)."
        ));
    }
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Next: the exercise, `cargo test -p exercise-02`, and chapter 02 of the book.");
}
