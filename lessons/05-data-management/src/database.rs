//! Step 1: a database of the demo's own, migrated with the capstone's schema and seeded.
//!
//! The demo never touches data it did not create: it drops and re-creates [`DEMO_DATABASE`]
//! (or the name `--database` gives) at every run, and drops it again at
//! the end unless `--keep` asks otherwise. Creating and dropping is [`DemoDatabase`]'s job, in
//! `testkit`; this lesson's own part is what goes in the database ([`prepare`]).

use shop_db::seed::{self, SeedError, SeedSize};
use sqlx::PgPool;
use thiserror::Error;

/// The database the demo creates and, without `--keep`, drops. `--database` takes another
/// name only if it starts with this one (`backend_rs_lesson05_b`), so that two runs, or a run
/// and the CLI test, do not drop each other's database, and `--database postgres` is refused.
pub const DEMO_DATABASE: &str = "backend_rs_lesson05";

/// The demo's own database and how to reach it, shared with lessons 02 and 06 through the
/// workspace's `testkit` (`testkit/src/demo_db.rs`).
pub use testkit::demo_db::{DatabaseName, DemoDatabase, ServerUrl};

/// Why the demo has no database to work in.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error(transparent)]
    Create(#[from] testkit::demo_db::SetupError),
    #[error("the migrations could not be applied")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("seeding failed")]
    Seed(#[from] SeedError),
    #[error("a setup query failed")]
    Database(#[from] sqlx::Error),
}

/// The shop's schema as this lesson leaves it (pinned: a later lesson's migration does not
/// reach this demonstration), then `size` worth of seed data, then the price index.
pub async fn prepare(pool: &PgPool, size: &SeedSize) -> Result<(), SetupError> {
    shop_db::migrator_through(shop_db::SCHEMA_OF_LESSON_05)
        .run(pool)
        .await?;
    seed::seed(pool, size).await?;
    crate::pagination::create_price_index(pool).await?;
    Ok(())
}
