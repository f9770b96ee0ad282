//! Steps 1 and 2: find PostgreSQL, make a fresh database for the demo, migrate it.
//!
//! The demo never touches data it did not create: it works in its own database,
//! [`DEMO_DATABASE`], dropped and re-created at every run so each run starts from the same place
//! ([`DemoDatabase::create`], shared with lessons 05 and 06 through `testkit`).

use sqlx::PgPool;
use testkit::demo_db::DatabaseName;

/// The database the demo creates (and, without `--keep`, drops again).
pub const DEMO_DATABASE: &str = "backend_rs_lesson02";

/// The demo's own database and how to reach it. Lessons 05 and 06 have one too, so the code
/// that creates, pools and drops it lives once, in the workspace's `testkit`
/// (`testkit/src/demo_db.rs`); this lesson gives it its name.
pub use testkit::demo_db::{DemoDatabase, ServerUrl, SetupError};

/// [`DEMO_DATABASE`] as a name `testkit` accepts for a database it may drop.
pub fn demo_database() -> DatabaseName {
    DatabaseName::with_prefix(DEMO_DATABASE, DEMO_DATABASE)
        .expect("the lesson's own database name is a plain identifier")
}

/// One row of sqlx's bookkeeping table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    /// Nanoseconds, as sqlx records it.
    pub execution_time: i64,
}

// ANCHOR: migrate
/// Applies the shop's migrations and lists what the database now records as applied.
#[tracing::instrument(skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<Vec<AppliedMigration>, sqlx::migrate::MigrateError> {
    // The files in capstone/crates/shop-db/migrations/, embedded in the binary at compile
    // time, through the schema lesson 05 leaves (pinned, so that a later lesson's migration
    // does not change this demonstration). run() takes an advisory lock (two instances starting
    // at once do not race), skips versions already applied, and refuses to continue if an
    // applied file's checksum changed.
    shop_db::migrator_through(shop_db::SCHEMA_OF_LESSON_05)
        .run(pool)
        .await?;
    // sqlx keeps its own table, which is not part of our schema: a runtime query.
    let applied = sqlx::query_as::<_, AppliedMigration>(
        "SELECT version, description, execution_time FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    Ok(applied)
}
// ANCHOR_END: migrate

/// Hides the password in `scheme://user:password@host/...`, for anything printed. The same
/// function the test runner uses, from the workspace's service-discovery crate.
pub use testkit::discover::redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_database_name_is_accepted() {
        assert_eq!(demo_database().as_str(), DEMO_DATABASE);
    }

    #[test]
    fn passwords_never_reach_the_screen() {
        assert_eq!(
            redact("postgres://postgres:postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres:***@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            redact("postgres://app@db.internal/shop?sslmode=require"),
            "postgres://app@db.internal/shop?sslmode=require"
        );
    }
}
